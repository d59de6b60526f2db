package integration_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/bentocache/bento"
	"github.com/bentocache/bento/internal/faultl2"
	"github.com/bentocache/bento/internal/tcpproxy"
	"github.com/bentocache/bento/internal/testenv"
	pgadapter "github.com/bentocache/bento/modules/adapters/postgres"
	pgbus "github.com/bentocache/bento/modules/buses/postgres"
	redisbus "github.com/bentocache/bento/modules/buses/redis"
	"github.com/bentocache/bento/modules/drivers/database"
	"github.com/bentocache/bento/modules/drivers/memory"
	"github.com/bentocache/bento/modules/drivers/redis"
)

// The tests of this file run on each backend that has an L2 and a bus —
// Redis (L2 and pub/sub) and PostgreSQL (a table through the database
// driver, and LISTEN/NOTIFY) — through a rig that builds the instances of
// one test. Their helpers are named rig…, fault…, so that they never meet
// those of the package's other files.

// rig builds the instances of one test on one backend: every instance has
// its own memory L1, L2 client and bus, on the test's own keys and channel.
type rig struct {
	name string
	// route returns a route to the server that the test can cut, in the
	// form the rig's store takes.
	route func(t *testing.T) (*tcpproxy.Proxy, string)
	// store defines an instance's store with opts, its L2 and its bus
	// reaching the server through l2Route and busRoute ("" for the direct
	// route), its L2 driver passed through wrap.
	store func(t *testing.T, l2Route, busRoute string, wrap func(bento.L2Driver) bento.L2Driver, logger *zap.Logger, opts ...bento.Option) *bento.Store
	// l2 is a driver that reads the test's L2 directly, for checks.
	l2 func(t *testing.T) bento.L2Driver
}

// rigs returns a rig on each backend whose server answers.
func rigs(t *testing.T) []rig {
	return []rig{redisRig(t), postgresRig(t)}
}

func redisRig(t *testing.T) rig {
	addr := testenv.Redis(t)
	prefix := testenv.Prefix(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dr := redis.New(redis.Options{Addrs: []string{addr}, Prefix: prefix})
		defer func() { _ = dr.Disconnect() }()
		if err := dr.Clear(ctx); err != nil {
			t.Errorf("removing the keys under %q: %v", prefix, err)
		}
	})
	return rig{
		name: "Redis",
		route: func(t *testing.T) (*tcpproxy.Proxy, string) {
			p := tcpproxy.Start(t, addr)
			return p, p.Addr()
		},
		store: func(t *testing.T, l2Route, busRoute string, wrap func(bento.L2Driver) bento.L2Driver, logger *zap.Logger, opts ...bento.Option) *bento.Store {
			return bento.NewStore(append([]bento.Option{bento.Prefix(prefix), bento.BusChannel(prefix)}, opts...)...).
				UseL1(memory.New(memory.Options{})).
				UseL2(wrap(redis.New(redis.Options{Addrs: []string{cmp.Or(l2Route, addr)}, DialTimeout: time.Second}))).
				UseBus(redisbus.New(redisbus.Options{Addrs: []string{cmp.Or(busRoute, addr)}, Logger: logger.Named("bus")}))
		},
		l2: func(t *testing.T) bento.L2Driver {
			dr := redis.New(redis.Options{Addrs: []string{addr}})
			t.Cleanup(func() { _ = dr.Disconnect() })
			return dr.Namespace(prefix)
		},
	}
}

func postgresRig(t *testing.T) rig {
	dsn := testenv.Postgres(t)
	table := testenv.Prefix(t)
	pool := rigPool(t, dsn)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{table}.Sanitize()); err != nil {
			t.Errorf("dropping table %q: %v", table, err)
		}
	})
	l2 := func(p *pgxpool.Pool) bento.L2Driver {
		return database.New(database.Options{Adapter: pgadapter.New(pgadapter.Options{Pool: p}), TableName: table})
	}
	return rig{
		name: "Postgres",
		route: func(t *testing.T) (*tcpproxy.Proxy, string) {
			return proxied(t, dsn, "bento-faults")
		},
		store: func(t *testing.T, l2Route, busRoute string, wrap func(bento.L2Driver) bento.L2Driver, logger *zap.Logger, opts ...bento.Option) *bento.Store {
			p, bo := pool, pgbus.Options{Pool: pool, DSN: dsn}
			if l2Route != "" {
				p = rigPool(t, l2Route)
			}
			if busRoute != "" {
				bo = pgbus.Options{DSN: busRoute}
			}
			bo.ReconnectDelay, bo.MaxReconnectDelay, bo.Logger = 10*time.Millisecond, 100*time.Millisecond, logger.Named("bus")
			return bento.NewStore(append([]bento.Option{bento.BusChannel(table)}, opts...)...).
				UseL1(memory.New(memory.Options{})).
				UseL2(wrap(l2(p))).
				UseBus(pgbus.New(bo))
		},
		l2: func(t *testing.T) bento.L2Driver {
			dr := l2(pool)
			return dr.Namespace(bento.DefaultPrefix)
		},
	}
}

// rigPool opens a small pool on dsn, closed when t ends.
func rigPool(t *testing.T, dsn string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgxpool.ParseConfig: %v", err)
	}
	cfg.MaxConns = 4 // tests run in parallel: spare the server's max_connections
	cfg.ConnConfig.ConnectTimeout = time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("pgxpool.NewWithConfig: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func unwrapped(d bento.L2Driver) bento.L2Driver { return d }

// faultInstance is one instance of a rig: its manager, its logs and the bus
// messages it applied.
type faultInstance struct {
	name     string
	m        *bento.Bento
	logs     *observer.ObservedLogs
	received atomic.Int64
}

// instance starts an instance of the rig's store, closed when t ends; see
// rig.store for the routes.
func (r rig) instance(t *testing.T, name, l2Route, busRoute string, wrap func(bento.L2Driver) bento.L2Driver, opts ...bento.Option) *faultInstance {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	logger := zap.New(core).Named(name)
	fi := &faultInstance{name: name, logs: logs}
	m, err := bento.New(bento.Config{
		Stores: map[string]*bento.Store{"main": r.store(t, l2Route, busRoute, wrap, logger, opts...)},
		Logger: logger,
	})
	if err != nil {
		t.Fatalf("%s: bento.New = %v", name, err)
	}
	t.Cleanup(func() { _ = m.Close() })
	m.On(func(e bento.Event) {
		if e.Kind == bento.EventBusReceived {
			fi.received.Add(1)
		}
	})
	fi.m = m
	return fi
}

// faultGet reads key on fi as a string and fails the test on an error.
func faultGet(t *testing.T, fi *faultInstance, key string) (string, bool) {
	t.Helper()
	v, found, err := bento.Get[string](t.Context(), fi.m.Default(), key)
	if err != nil {
		t.Fatalf("%s: Get(%q) = %v", fi.name, key, err)
	}
	return v, found
}

// TestFaults_ReadInFlightNeverResurrects: three instances on a real L2 and
// bus. A's L2 read of k is caught in flight, holding the old value, while k
// is invalidated — on A itself, or on B, whose message reaches A over the
// bus. The read's caller gets what it read, but A never stores it: A and C
// then read the invalidated state.
func TestFaults_ReadInFlightNeverResurrects(t *testing.T) {
	t.Parallel()
	invalidations := []struct {
		name  string
		do    func(ctx context.Context, c *bento.Cache) error
		value string
		found bool
	}{
		{"Set", func(ctx context.Context, c *bento.Cache) error { return c.Set(ctx, "k", "new") }, "new", true},
		{"Delete", func(ctx context.Context, c *bento.Cache) error { _, err := c.Delete(ctx, "k"); return err }, "", false},
		{"Expire", func(ctx context.Context, c *bento.Cache) error { return c.Expire(ctx, "k") }, "", false},
		{"Clear", func(ctx context.Context, c *bento.Cache) error { return c.Clear(ctx) }, "", false},
	}
	for _, r := range rigs(t) {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			for _, inv := range invalidations {
				for _, origin := range []string{"A", "B"} {
					t.Run(inv.name+"/on"+origin, func(t *testing.T) {
						ctx := t.Context()
						var fa *faultl2.Driver
						wrap := func(d bento.L2Driver) bento.L2Driver { fa = faultl2.Wrap(d); return fa }
						opts := []bento.Option{bento.TTL(time.Hour), bento.RetryQueue(0, 20*time.Millisecond)}
						a := r.instance(t, "a", "", "", wrap, opts...)
						b := r.instance(t, "b", "", "", unwrapped, opts...)
						c := r.instance(t, "c", "", "", unwrapped, opts...)
						if err := b.m.Default().Clear(ctx); err != nil { // what an earlier subtest left
							t.Fatal(err)
						}
						if err := b.m.Default().Set(ctx, "k", "old", bento.SkipBusNotify()); err != nil {
							t.Fatal(err)
						}
						if v, _ := faultGet(t, c, "k"); v != "old" { // C holds it in L1
							t.Fatalf("c: Get(k) = %q; want \"old\"", v)
						}

						held, release := fa.HoldNextRead()
						defer release()
						got := make(chan string, 1)
						go func() {
							v, _, _ := bento.Get[string](ctx, a.m.Default(), "k")
							got <- v
						}()
						<-held
						by := a
						if origin == "B" {
							by = b
						}
						before := a.received.Load()
						if err := inv.do(ctx, by.m.Default()); err != nil {
							t.Fatalf("%s on %s: %v", inv.name, by.name, err)
						}
						if by == b && !poll(t, 10*time.Second, func() bool { return a.received.Load() > before }) {
							t.Fatalf("b's %s never reached a over the bus", inv.name)
						}
						release()
						if v := <-got; v != "old" {
							t.Errorf("a: the held Get(k) = %q; want what it read, \"old\"", v)
						}
						for _, fi := range []*faultInstance{a, c} {
							want := func() bool {
								v, found := faultGet(t, fi, "k")
								return v == inv.value && found == inv.found
							}
							if !poll(t, 10*time.Second, want) {
								v, found := faultGet(t, fi, "k")
								t.Errorf("%s: Get(k) after %s on %s during a's held read = %q, %t; want %q, %t",
									fi.name, inv.name, by.name, v, found, inv.value, inv.found)
							}
						}
					})
				}
			}
		})
	}
}

// faultErrorDocumented reports whether err is one of the errors bento
// documents for its callers.
func faultErrorDocumented(err error) bool {
	var l2 *bento.L2Error
	var fe *bento.FactoryError
	return errors.As(err, &l2) || errors.As(err, &fe) ||
		errors.Is(err, bento.ErrLockTimeout) || errors.Is(err, bento.ErrHardTimeout) || errors.Is(err, bento.ErrSoftTimeout)
}

// TestFaults_AgreementAfterACut: three instances on a real L2 and bus, 32
// goroutines doing GetOrSet, Set, Delete and Get on 256 keys. In "cut",
// instance A's L2 and bus connections are cut for a second, from half-way
// through the load to half a second after it stopped, and then restored;
// "control" runs without a cut.
// Each key has one writer goroutine, which writes through one instance, so
// the last write of every key is known. Once the load has stopped, every
// instance must agree with L2 on every key, and L2 must hold each key's last
// write that returned without error: none is lost. Callers see only
// documented errors, and nothing panics.
func TestFaults_AgreementAfterACut(t *testing.T) {
	t.Parallel()
	for _, r := range rigs(t) {
		for _, cut := range []bool{false, true} {
			name := r.name + "/control"
			if cut {
				name = r.name + "/cut"
			}
			t.Run(name, func(t *testing.T) {
				faultAgreement(t, r, cut)
			})
		}
	}
}

func faultAgreement(t *testing.T, r rig, cut bool) {
	const (
		writers      = 32
		keysPerOwner = 8
		load         = time.Second
	)
	ctx := t.Context()
	proxy, route := r.route(t)
	opts := []bento.Option{bento.TTL(time.Hour), bento.L2CircuitBreaker(200 * time.Millisecond), bento.RetryQueue(0, 20*time.Millisecond)}
	instances := []*faultInstance{
		r.instance(t, "a", route, route, unwrapped, opts...),
		r.instance(t, "b", "", "", unwrapped, opts...),
		r.instance(t, "c", "", "", unwrapped, opts...),
	}
	if err := instances[1].m.Default().Clear(ctx); err != nil { // what the other run left
		t.Fatal(err)
	}

	type state struct {
		value string
		found bool
	}
	last := make([][]state, writers) // last[g][i]: the last write of key g-i that returned nil
	var undocumented, ops atomic.Int64
	var firstBad atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := range writers {
		last[g] = make([]state, keysPerOwner)
		own := instances[g%len(instances)].m.Default()
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				i := rng.IntN(keysPerOwner)
				key := fmt.Sprintf("k%d-%d", g, i)
				value := fmt.Sprintf("%d-%d", g, seq)
				var err error
				switch op := rng.IntN(100); {
				case op < 35:
					ran := false
					_, err = bento.GetOrSet(ctx, own, key, func(context.Context, *bento.FactoryContext[string]) (string, error) {
						ran = true
						return value, nil
					})
					if err == nil && ran {
						last[g][i] = state{value, true}
					}
				case op < 65:
					if err = own.Set(ctx, key, value); err == nil {
						last[g][i] = state{value, true}
					}
				case op < 80:
					if _, err = own.Delete(ctx, key); err == nil {
						last[g][i] = state{}
					}
				default:
					other := instances[rng.IntN(len(instances))].m.Default()
					_, _, err = bento.Get[string](ctx, other, key)
				}
				ops.Add(1)
				if err != nil && !faultErrorDocumented(err) {
					undocumented.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
				}
			}
		})
	}
	// The load stops half-way through the cut, so that the last writes of
	// many of A's keys are made while its L2 is unreachable.
	time.Sleep(load / 2)
	if cut {
		proxy.Cut()
	}
	time.Sleep(load / 2)
	close(stop)
	wg.Wait()
	if cut {
		time.Sleep(time.Second - load/2)
		proxy.Restore()
	}
	t.Logf("%d calls by %d goroutines", ops.Load(), writers)
	if n := ops.Load(); n < writers*10 {
		t.Fatalf("only %d calls were made under load; the test would prove little", n)
	}
	if n := undocumented.Load(); n > 0 {
		t.Errorf("%d calls returned an undocumented error, the first: %v", n, firstBad.Load())
	}

	l2 := r.l2(t)
	inL2 := func(key string) state {
		raw, found, err := l2.Get(ctx, key)
		if err != nil || !found {
			return state{}
		}
		e, err := entryValue(raw)
		if err != nil {
			return state{value: "<undecodable: " + err.Error() + ">", found: true}
		}
		return state{e, true}
	}
	var disagree []string
	agreed := poll(t, 30*time.Second, func() bool {
		disagree = disagree[:0]
		for g := range writers {
			for i := range keysPerOwner {
				key := fmt.Sprintf("k%d-%d", g, i)
				want := last[g][i]
				if got := inL2(key); got != want {
					disagree = append(disagree, fmt.Sprintf("L2 %s = %v; want the last write %v", key, got, want))
					continue
				}
				for _, fi := range instances {
					v, found, err := bento.Get[string](ctx, fi.m.Default(), key)
					if err != nil || v != want.value || found != want.found {
						disagree = append(disagree, fmt.Sprintf("%s: Get(%s) = %q, %t, %v; want %v, as L2", fi.name, key, v, found, err, want))
					}
				}
			}
		}
		return len(disagree) == 0
	})
	if !agreed {
		n := min(len(disagree), 10)
		t.Errorf("30s after the load stopped, %d disagreements remain; the first %d:\n%s", len(disagree), n, joinLines(disagree[:n]))
	}
}

// entryValue decodes the value of a JSON entry envelope holding a string.
func entryValue(raw []byte) (string, error) {
	var env struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return "", err
	}
	return env.Value, nil
}

func joinLines(lines []string) string {
	s := ""
	for _, l := range lines {
		s += "\t" + l + "\n"
	}
	return s
}

// TestFaults_UnreachableL2FailsFast: a store whose L2 server does not
// answer logs one warning when it starts, and its calls then skip L2 while
// the circuit breaker is open instead of each failing slowly: 20 GetOrSet
// calls and 20 Sets make at most one L2 error between them, all succeed from
// the factory and L1, and the write is kept for when L2 is back.
func TestFaults_UnreachableL2FailsFast(t *testing.T) {
	t.Parallel()
	for _, r := range rigs(t) {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			proxy, route := r.route(t)
			proxy.Cut()
			a := r.instance(t, "a", route, "", unwrapped, bento.L2CircuitBreaker(time.Minute))
			const warning = "l2 does not answer; calls skip it while the circuit breaker is open"
			if !poll(t, 10*time.Second, func() bool { return a.logs.FilterMessage(warning).Len() > 0 }) {
				t.Fatalf("a store whose L2 is cut never logged %q", warning)
			}
			var l2errors atomic.Int64
			a.m.On(func(e bento.Event) {
				if e.Kind == bento.EventError && e.Layer == bento.LayerL2 {
					l2errors.Add(1)
				}
			})
			ctx := t.Context()
			for i := range 20 {
				key := "k" + strconv.Itoa(i)
				v, err := bento.GetOrSet(ctx, a.m.Default(), key, func(context.Context, *bento.FactoryContext[string]) (string, error) {
					return "v", nil
				})
				if err != nil || v != "v" {
					t.Fatalf("GetOrSet(%s) with L2 cut = %q, %v; want \"v\", <nil>", key, v, err)
				}
				if err := a.m.Default().Set(ctx, key, "w"); err != nil {
					t.Fatalf("Set(%s) with L2 cut = %v; want <nil>", key, err)
				}
			}
			if n := l2errors.Load(); n > 1 {
				t.Errorf("40 calls with L2 cut and the breaker open made %d L2 errors; want at most 1", n)
			}
			if n := a.logs.FilterMessage(warning).Len(); n != 1 {
				t.Errorf("%q logged %d times; want once", warning, n)
			}
		})
	}
}
