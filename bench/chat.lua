-- chat.lua -- wrk script: one non-streaming chat completion per request.
-- Env: AIF_API_KEY (bearer key; ignored by the mock engine), AIF_BENCH_MODEL,
-- AIF_BENCH_PORTKEY_HOST (when set: the headers that send a request through Portkey's
-- gateway to an OpenAI-compatible engine at that base URL; bench/peers.sh),
-- AIF_BENCH_PROMPT (the user message; mock directives such as [[mock:latency=N]] go
-- here), AIF_BENCH_DELAY_MS (a pause before each request of a connection: bench/soak.sh
-- paces the load with it).
local key = os.getenv("AIF_API_KEY") or "none"
local model = os.getenv("AIF_BENCH_MODEL") or "demo-chat"
wrk.method = "POST"
local prompt = os.getenv("AIF_BENCH_PROMPT") or "Say hello to the benchmark"
wrk.body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"' .. prompt .. '"}],"max_tokens":16}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. key
local portkey_host = os.getenv("AIF_BENCH_PORTKEY_HOST")
if portkey_host and portkey_host ~= "" then
  wrk.headers["x-portkey-provider"] = "openai"
  wrk.headers["x-portkey-custom-host"] = portkey_host
end

local pause = tonumber(os.getenv("AIF_BENCH_DELAY_MS") or "0")
if pause > 0 then
  delay = function() return pause end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f errors=%d requests=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.status + summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.requests))
end
