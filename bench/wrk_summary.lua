-- wrk script for bench/run.py: at the end print one machine-readable line with the totals,
-- the error counts by kind and latency percentiles in microseconds.
-- WRK_DELAY_MS=N (environment): each connection waits N ms before its next request, so a probe
-- beside a load samples latency at a bounded rate instead of competing with the load for CPU.
local delay_ms = tonumber(os.getenv("WRK_DELAY_MS") or "")
if delay_ms then
   delay = function()
      return delay_ms
   end
end

done = function(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      "BENCH requests=%d duration_us=%d connect=%d read=%d write=%d status=%d timeout=%d " ..
      "p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
      summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
