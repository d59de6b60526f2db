package bento

// StoreStats are a store's running totals and gauges at one moment, read
// from the counters the Prometheus collector reads (see [Bento.Collector]):
// one count, several readers. docs/observability.md gives the metric each
// field is.
type StoreStats struct {
	// Hits are the reads that found a value, by layer and whether it was
	// served stale: Hits[0] for L1, Hits[1] for L2; [i][1] for graced.
	Hits [2][2]uint64
	// Misses, Writes, Deletes, Expires and Clears are bento_misses_total and
	// its siblings.
	Misses, Writes, Deletes, Expires, Clears uint64
	// FactoryCalls are the factory runs by result, keyed by the result label
	// of bento_factory_calls_total: ok, error, soft_timeout, hard_timeout,
	// skipped.
	FactoryCalls map[string]uint64
	// L2Errors are the failed L2 operations by operation (the op label of
	// bento_l2_errors_total); nil for a store without L2.
	L2Errors map[string]uint64
	// HasL2 reports an L2; L2CircuitOpen is then whether its breaker is open.
	HasL2, L2CircuitOpen bool
	// HasBus reports a bus; the Bus fields are then its messages sent
	// (out) and applied (in), and its outbox length.
	HasBus                                         bool
	BusOutOK, BusOutError, BusInOK, BusInMalformed uint64
	BusQueueLength                                 uint64
	// HasL1Stats reports an L1 driver with [L1Stats]; the L1 fields are then
	// what it returned.
	HasL1Stats                        bool
	L1Entries, L1SizeBytes, L1Evicted uint64
}

// Stats returns the totals of the store called name; false when there is
// no such store.
func (b *Bento) Stats(name string) (StoreStats, bool) {
	st := b.stores[name]
	if st == nil {
		return StoreStats{}, false
	}
	s := st.stats
	out := StoreStats{
		Misses:       s.misses.load(),
		Writes:       s.writes.Load(),
		Deletes:      s.deletes.Load(),
		Expires:      s.expires.Load(),
		Clears:       s.clears.Load(),
		FactoryCalls: make(map[string]uint64, factoryResults),
	}
	for i := range s.hits {
		for j := range s.hits[i] {
			out.Hits[i][j] = s.hits[i][j].load()
		}
	}
	for i, r := range factoryResultNames {
		out.FactoryCalls[r] = s.factory[i].Load()
	}
	if st.l2 != nil {
		out.HasL2 = true
		out.L2Errors = make(map[string]uint64, len(l2Ops))
		for i, op := range l2Ops {
			out.L2Errors[op] = s.l2Errors[i].Load()
		}
		out.L2CircuitOpen = st.breaker.openUntil.Load() != 0 || st.breaker.recovering.Load()
	}
	if st.bus != nil {
		out.HasBus = true
		out.BusOutOK, out.BusOutError = s.busOut[0].Load(), s.busOut[1].Load()
		out.BusInOK, out.BusInMalformed = s.busIn[0].Load(), s.busIn[1].Load()
		out.BusQueueLength = uint64(st.bus.out.len())
	}
	if l1, ok := st.l1Driver.(L1Stats); ok {
		out.HasL1Stats = true
		out.L1Entries, out.L1SizeBytes, out.L1Evicted = l1.L1Stats()
	}
	return out, true
}
