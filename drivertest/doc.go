// Package drivertest holds the compliance suites that the author of a bento
// driver runs from go test, shaped like golang.org/x/net/nettest and
// testing/fstest: [L1] for a [bento.L1Driver], [L2] for a [bento.L2Driver]
// and its optional [bento.L2BatchDriver] and [bento.Pruner] capabilities
// (skipped, naming the interface, when absent), [Bus] for a [bento.Bus] and
// [Adapter] for a [bento.DatabaseAdapter]. Each suite runs one parallel
// subtest per rule of the contract, named hierarchically without spaces
// (Get/Missing, Clear/KeepsSiblingPrefix, Namespace/ReachableFromRoot), so
// that go test -run 'L2/Namespace' selects a group; L1 and L2 then re-run
// their core cases on Namespace("ns") under InNamespace/. A failure names
// the call, its arguments, what came back, what was wanted and the rule
// broken. Every subtest has a watchdog ([Options.Timeout]) that fails it and
// cancels the context of its calls rather than let it hang.
//
// A suite calls open once per subtest, and two or three times where a case
// needs several drivers on one backend (two prefixes of one Redis, two buses
// on one server), possibly from parallel subtests. open returns a driver on a
// fresh random prefix (L1, L2), an adapter on a fresh random table (Adapter)
// or a bus on the transport that the subtest's other buses share (Bus: the
// suite picks random channel names), and releases it with t.Cleanup; a case
// may call Disconnect first. The subtests start once the test function that
// called the suite has returned, so a backend they share is released with
// t.Cleanup, not defer. [Options] states what the suite cannot find out by
// itself, such as the TTL granularity of the backend.
//
// A pass shows that the driver keeps the contracts of package bento on every
// path the suites exercise: key layout and namespaces, clears that stay
// within their prefix, expiry, binary values, hostile keys (stored exactly,
// or rejected with an error, never confused with another key) and the
// delivery guarantees of a bus. It does not show behaviour under failures,
// reconnects ([bento.Bus.OnReconnect] is never triggered), memory limits or
// heavy concurrency; the meaning of an empty prefix (every driver is opened
// on a random one); that a pruner physically removes entries (through the L2
// interface an expired entry and a pruned one look alike); or that nothing
// arrives late on a bus (a check that something is not delivered is made once
// a later payload has arrived).
//
//	func TestDriver(t *testing.T) {
//		client := goredis.NewClient(&goredis.Options{Addr: addr})
//		t.Cleanup(func() { client.Close() })
//		drivertest.L2(t, func(t *testing.T) bento.L2Driver {
//			dr := redis.New(redis.Options{Client: client, Prefix: "test-" + rand.Text()})
//			t.Cleanup(func() { dr.Disconnect() })
//			return dr
//		}, drivertest.Options{})
//	}
package drivertest
