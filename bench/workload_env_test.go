package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bentocache/bento/internal/testenv"
)

// workloadEnv is what one run of a workload's sub-benchmark owns: a key
// prefix of its own, so that runs and peers never read each other's keys,
// and the Redis address when the peers need one. Every key the run leaves in
// Redis is deleted when it ends.
type workloadEnv struct {
	b      *testing.B
	prefix string
	redis  string     // "" for a run without Redis
	used   [][]string // the keys handed out, to delete
}

// newWorkloadEnv starts a run. With withRedis, it skips (or fails) b when
// Redis does not answer, as every test of the repository does.
func newWorkloadEnv(b *testing.B, withRedis bool) *workloadEnv {
	b.Helper()
	e := &workloadEnv{b: b, prefix: testenv.Prefix(b)}
	if withRedis {
		e.redis = testenv.Redis(b)
		// Registered before any peer, so it runs after they are closed and
		// their last writes are in.
		b.Cleanup(e.deleteKeys)
	}
	return e
}

// deleteKeys removes the run's keys from Redis. It deletes the keys that
// keys handed out, not those a SCAN of the prefix would find: every peer
// writes under the keys it is given and nothing else, and a SCAN walks the
// whole database, which other tests may fill with keys of their own.
func (e *workloadEnv) deleteKeys() {
	ctx := context.Background()
	client := goredis.NewClient(&goredis.Options{Addr: e.redis})
	defer client.Close()
	const batch = 1000
	_, err := client.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for _, ks := range e.used {
			for len(ks) > 0 {
				n := min(batch, len(ks))
				pipe.Unlink(ctx, ks[:n]...)
				ks = ks[n:]
			}
		}
		return nil
	})
	if err != nil {
		e.b.Errorf("deleting the run's keys: %v", err)
	}
}

// peer builds the named peer on the run's Redis, if the run has one (otter
// never does), and closes it when the run ends.
func (e *workloadEnv) peer(name string, cfg Config) Peer {
	e.b.Helper()
	if name != PeerOtter {
		cfg.Redis = e.redis
	}
	p, err := NewPeer(name, cfg)
	if err != nil {
		e.b.Fatalf("building %s: %v", name, err)
	}
	e.b.Cleanup(func() {
		if err := p.Close(); err != nil {
			e.b.Errorf("closing %s: %v", name, err)
		}
	})
	return p
}

// keys returns n keys of the run: "<prefix>:<i>". Every peer gets these
// same strings, so none pays for building a key in the timed loop.
func (e *workloadEnv) keys(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = e.prefix + ":" + strconv.Itoa(i)
	}
	e.used = append(e.used, ks)
	return ks
}

// workloadFillers is how many goroutines fill a peer before the timer
// starts: enough to hide most of Redis's round trips.
const workloadFillers = 16

// fill reads every key through p's GetOrSet, which loads and stores it,
// then settles p, so that the timed loop finds every key in place.
func (e *workloadEnv) fill(p Peer, keys []string) {
	e.b.Helper()
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs workloadErrors
	)
	for range workloadFillers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(keys) || errs.failed() {
					return
				}
				u, err := p.GetOrSet(e.b.Context(), keys[i])
				if err := checkUser(keys[i], u, NewUser(i), err); err != nil {
					errs.set(fmt.Errorf("filling: %w", err))
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errs.get(); err != nil {
		e.b.Fatal(err)
	}
	if err := p.Settle(); err != nil {
		e.b.Fatalf("filling: %v", err)
	}
}

// workloadVerified is how many keys verify reads back at most: enough to
// catch a peer that lost its writes, few enough to cost little.
const workloadVerified = 64

// verify reads keys spread over keys through a new instance of peer name,
// whose L1 is empty and whose factory fails, so that each value must come
// from Redis, in the format the peer wrote it. keys[i] must hold NewUser(i).
func (e *workloadEnv) verify(name string, keys []string) {
	e.b.Helper()
	if len(keys) == 0 {
		return
	}
	r := e.peer(name, Config{Load: failingLoad})
	step := max(1, len(keys)/workloadVerified)
	for i := 0; i < len(keys); i += step {
		u, err := r.GetOrSet(e.b.Context(), keys[i])
		if err := checkUser(keys[i], u, NewUser(i), err); err != nil {
			e.b.Fatalf("reading back from Redis: %v", err)
		}
	}
}

// keyIndex is the i of a key "<prefix>:<i>".
func keyIndex(key string) (int, error) {
	return strconv.Atoi(key[strings.LastIndexByte(key, ':')+1:])
}

// countingLoad returns a factory that counts its runs in n and returns the
// User of the key.
func countingLoad(n *atomic.Int64) func(context.Context, string) (User, error) {
	return func(_ context.Context, key string) (User, error) {
		n.Add(1)
		i, err := keyIndex(key)
		return NewUser(i), err
	}
}

// errFactoryRan is the error of a factory that must not run: the value
// should have come from a cache.
var errFactoryRan = errors.New("the factory ran: a layer should have held the value")

// failingLoad is the factory of a reader that must find every key cached.
func failingLoad(context.Context, string) (User, error) {
	return User{}, errFactoryRan
}

// checkUser reports a failed read, or a value that is not want.
func checkUser(key string, got, want User, err error) error {
	if err != nil {
		return fmt.Errorf("key %s: %w", key, err)
	}
	if got != want {
		return fmt.Errorf("key %s: got %+v, want %+v", key, got, want)
	}
	return nil
}

// workloadErrors keeps the first error of the goroutines of a workload:
// they may not call b.Fatal, so the benchmark reports it once they are done.
// parallelOps resets the timer and runs op b.N times over gpc goroutines per
// core, with i the op's number: each of 0…b.N-1 once, whichever goroutine
// takes it. A goroutine stops at its first error; the first one is returned.
// The caller stops the timer, after any work the ops left to finish.
func parallelOps(b *testing.B, gpc int, op func(i int) error) error {
	var (
		errs workloadErrors
		next atomic.Int64
	)
	b.SetParallelism(gpc)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(int(next.Add(1) - 1)); err != nil {
				errs.set(err)
				return
			}
		}
	})
	return errs.get()
}

// readKey is the op that reads keys[i] through p's read-through call and
// checks that it holds NewUser(i).
func readKey(ctx context.Context, p Peer, keys []string) func(i int) error {
	return func(i int) error {
		u, err := p.GetOrSet(ctx, keys[i])
		if err != nil || u != NewUser(i) {
			return checkUser(keys[i], u, NewUser(i), err)
		}
		return nil
	}
}

type workloadErrors struct {
	mu  sync.Mutex
	err error
	bad atomic.Bool
}

func (w *workloadErrors) set(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.bad.Store(true)
}

func (w *workloadErrors) failed() bool { return w.bad.Load() }

func (w *workloadErrors) get() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
