-- wrk's done hook for bench/http/run: one line the script reads, with the
-- request count, the duration and the latency quantiles in microseconds
-- (the same histogram --latency prints).
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format("result requests=%d duration_us=%d p50_us=%d p99_us=%d errors=%d non2xx=%d\n",
		summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
		e.connect + e.read + e.write + e.timeout, e.status))
end
