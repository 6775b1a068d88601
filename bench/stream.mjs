// stream.mjs -- time to first token and tokens/s of streamed chat completions, relayed
// through the gateway (nginx -> aif-api -> queue -> worker -> engine -> worker relay ->
// aif-api SSE) versus straight to the mock engine, in one run with the same load.
// Usage: node bench/stream.mjs GATEWAY_BASE KEY DIRECT_BASE [streams] [concurrency] [token_ms]
const [gw, key, direct, nArg, cArg, tArg] = process.argv.slice(2);
const N = Number(nArg || 200), C = Number(cArg || 16), TOKEN_MS = Number(tArg || 5), TOKENS = 64;

async function one(base, model, auth) {
  const t0 = performance.now();
  const r = await fetch(`${base}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
    body: JSON.stringify({ model, stream: true, max_tokens: TOKENS,
      messages: [{ role: 'user', content: `[[mock:token-delay=${TOKEN_MS}]] [[mock:tokens=${TOKENS}]] bench stream` }] }),
  });
  if (r.status !== 200) throw new Error(`HTTP ${r.status}`);
  const dec = new TextDecoder();
  let first = 0, tokens = 0, buf = '';
  for await (const part of r.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i); buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      const c = j.choices && j.choices[0] && j.choices[0].delta && j.choices[0].delta.content;
      if (c) { if (!first) first = performance.now() - t0; tokens++; }
    }
  }
  return { ttft: first, total: performance.now() - t0, tokens };
}

async function run(name, base, model, auth) {
  const out = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: C }, async () => {
    while (next < N) { next++; out.push(await one(base, model, auth)); }
  }));
  const wall = (performance.now() - t0) / 1000;
  const q = (a, p) => a.slice().sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))];
  const ttft = out.map((o) => o.ttft);
  const tok = out.reduce((a, o) => a + o.tokens, 0);
  return { name, streams: out.length, ttft_p50: q(ttft, 0.5), ttft_p99: q(ttft, 0.99),
    tokens_per_s: tok / wall, per_stream_tokens_per_s: out.reduce((a, o) => a + o.tokens / ((o.total - o.ttft) / 1000 || 1), 0) / out.length };
}

const g = await run('gateway', gw, 'demo-chat', key);
const d = await run('direct', direct, 'mock-llama-3-8b', null);
console.log(`| path | streams | concurrency | TTFT p50 ms | TTFT p99 ms | tokens/s (all streams) | tokens/s per stream |`);
console.log(`|---|---|---|---|---|---|---|`);
for (const x of [g, d]) console.log(`| ${x.name} | ${x.streams} | ${C} | ${x.ttft_p50.toFixed(2)} | ${x.ttft_p99.toFixed(2)} | ${x.tokens_per_s.toFixed(0)} | ${x.per_stream_tokens_per_s.toFixed(1)} |`);
console.log(`\nadded TTFT p50: ${(g.ttft_p50 - d.ttft_p50).toFixed(2)} ms; gateway/direct tokens/s: ${(g.tokens_per_s / d.tokens_per_s).toFixed(3)} (engine pacing ${TOKEN_MS} ms/token, ${TOKENS} tokens)`);
