package bento_test

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/faultl2"
	busmem "github.com/bentocache/bento/modules/buses/memory"
)

// recoveryPeers starts A, whose L2 can be made to fail, and B, on one L2 and
// bus, with grace and a short circuit breaker, plus the options extra on A.
func recoveryPeers(t *testing.T, extra ...bento.Option) (ps *peers, fl *faultl2.Driver, a, b *peer) {
	t.Helper()
	ps = newPeers(t, 0, bento.Grace(time.Hour), bento.L2CircuitBreaker(100*time.Millisecond))
	fl = faultl2.Wrap(ps.l2)
	a = ps.addWith(t, fl, busmem.New(busmem.Options{Hub: ps.hub}), extra...)
	b = ps.add(t)
	return ps, fl, a, b
}

// TestL2Recovery_ReplaysFailedChanges pins that the L2 changes a store made
// while its L2 was down (errors suppressed) are not lost: once L2 answers
// again they reach it, and the other instances, whose L1 re-read the old
// values meanwhile, drop them.
func TestL2Recovery_ReplaysFailedChanges(t *testing.T) {
	t.Parallel()
	for _, trigger := range []string{"a call", "the store itself"} {
		t.Run(trigger, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ps, fl, a, b := recoveryPeers(t)
				defer ps.close()
				ctx := t.Context()
				for _, k := range []string{"d", "e", "t"} {
					b.mustSet(t, "", k, "old", bento.Tags("x"))
				}
				advance(5 * time.Millisecond)

				fl.Fail(errDown)
				a.mustSet(t, "", "k", "fromA")
				if _, err := a.cache("").Delete(ctx, "d"); err != nil {
					t.Fatal(err)
				}
				if err := a.cache("").Expire(ctx, "e"); err != nil {
					t.Fatal(err)
				}
				if err := a.cache("").DeleteByTag(ctx, "y"); err != nil { // a tag record L2 did not take
					t.Fatal(err)
				}
				synctest.Wait()
				// B heard of the delete and the expire, but L2 still has the old
				// entries: B reads them again.
				if got := b.read(t, "", "d"); got.value != "old" {
					t.Fatalf("Get(d) on B while A's delete waits = %v; want \"old\" (L2 has not changed yet)", got)
				}

				fl.Heal()
				advance(100 * time.Millisecond)
				if trigger == "a call" {
					a.read(t, "", "other") // the breaker's trial
				} else {
					advance(time.Second) // the store tries on its own
				}
				synctest.Wait()

				c := ps.add(t) // a new instance reads L2 alone
				for _, p := range []*peer{c, b, a} {
					if got := p.read(t, "", "k"); got.value != "fromA" {
						t.Errorf("Get(k) on %s after L2 came back = %v; want \"fromA\", the Set made while it was down", p.name, got)
					}
					if got := p.read(t, "", "d"); got.found {
						t.Errorf("Get(d) on %s after L2 came back = %v; want not found, deleted while it was down", p.name, got)
					}
					if got := p.read(t, "", "e"); !got.found || !got.graced {
						t.Errorf("Get(e) on %s after L2 came back = %v; want \"old\", graced: expired while it was down", p.name, got)
					}
				}
				// The tag record reached L2, for the instances that start later.
				if _, found, err := ps.l2.Namespace("bento").Get(ctx, "__bento:tag:y"); !found || err != nil {
					t.Errorf("the L2 record of tag y, invalidated while L2 was down: found %t, %v; want found", found, err)
				}
			})
		})
	}
}

// TestL2Recovery_NeverOverANewerEntry: a replayed write does not overwrite
// an entry another instance created after it, and the replaying instance
// drops its own superseded copy.
func TestL2Recovery_NeverOverANewerEntry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ps, fl, a, b := recoveryPeers(t)
		defer ps.close()
		fl.Fail(errDown)
		a.mustSet(t, "", "n", "fromA")
		advance(5 * time.Millisecond)
		b.mustSet(t, "", "n", "fromB")
		fl.Heal()
		advance(100 * time.Millisecond)
		a.read(t, "", "other") // the trial
		synctest.Wait()
		for _, p := range []*peer{b, a} {
			if got := p.read(t, "", "n"); got.value != "fromB" {
				t.Errorf("Get(n) on %s after A's replay = %v; want \"fromB\", the newer write", p.name, got)
			}
		}
	})
}

// TestL2Recovery_Bounded: past L2RecoveryQueue changes the oldest is dropped,
// with an error event naming its key.
func TestL2Recovery_Bounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ps, fl, a, _ := recoveryPeers(t, bento.L2RecoveryQueue(2))
		defer ps.close()
		fl.Fail(errDown)
		for _, k := range []string{"k1", "k2", "k3"} {
			a.mustSet(t, "", k, "v")
		}
		var dropped []string
		for _, e := range a.ev.all() {
			if e.Kind == bento.EventError && errors.Is(e.Err, bento.ErrL2RecoveryDropped) {
				dropped = append(dropped, e.Key)
			}
		}
		if len(dropped) != 1 || dropped[0] != "k1" {
			t.Errorf("keys of the recovery-queue overflow events = %q; want [\"k1\"]", dropped)
		}
		fl.Heal()
		advance(100 * time.Millisecond)
		a.read(t, "", "other")
		synctest.Wait()
		c := ps.add(t)
		for k, want := range map[string]bool{"k1": false, "k2": true, "k3": true} {
			if got := c.read(t, "", k); got.found != want {
				t.Errorf("Get(%s) on a new instance after the replay = %v; want found %t", k, got, want)
			}
		}
	})
}
