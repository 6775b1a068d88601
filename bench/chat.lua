-- chat.lua -- wrk script: one non-streaming chat completion per request.
-- Env: AIF_API_KEY (bearer key; ignored by the mock engine), AIF_BENCH_MODEL.
local key = os.getenv("AIF_API_KEY") or "none"
local model = os.getenv("AIF_BENCH_MODEL") or "demo-chat"
wrk.method = "POST"
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"Say hello to the benchmark"}],"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.requests))
end
