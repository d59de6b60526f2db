package clock

import (
	"testing"
	"testing/synctest"
	"time"
)

func TestClock_FollowsTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(time.Millisecond, time.Second)
		defer c.Stop()
		start := time.Now().UnixMilli()
		if got := c.NowMilli(); got != start {
			t.Fatalf("NowMilli() = %d; want %d", got, start)
		}
		for _, d := range []time.Duration{5 * time.Millisecond, 300 * time.Millisecond, time.Hour} {
			time.Sleep(d)
			synctest.Wait()
			want := time.Now().UnixMilli()
			if got := c.NowMilli(); got < want-1 || got > want {
				t.Errorf("NowMilli() after %s = %d; want %d (within the 1ms resolution)", d, got, want)
			}
		}
	})
}

func TestClock_ParksWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(time.Millisecond, 10*time.Millisecond)
		defer c.Stop()
		c.NowMilli()
		c.NowMilli() // two reads in a row wake it
		synctest.Wait()
		if c.now.Load() == 0 {
			t.Fatal("clock not running after a read")
		}
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		if n := c.now.Load(); n != 0 {
			t.Errorf("clock still running 20ms after its last reader (awake for 10ms): now = %d", n)
		}
	})
}

func TestClock_StopTwice(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(time.Millisecond, time.Second)
		c.NowMilli()
		c.Stop()
		c.Stop()
		if got, want := c.NowMilli(), time.Now().UnixMilli(); got != want {
			t.Errorf("NowMilli() after Stop = %d; want the precise %d", got, want)
		}
	})
}

func TestClock_LoneReadsDoNotWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := New(time.Millisecond, 10*time.Millisecond)
		defer c.Stop()
		for range 5 {
			time.Sleep(time.Second) // a periodic clean-up, once a second
			c.NowMilli()
			synctest.Wait()
			if n := c.now.Load(); n != 0 {
				t.Fatalf("a read once a second woke the clock (now = %d); want it parked", n)
			}
		}
	})
}
