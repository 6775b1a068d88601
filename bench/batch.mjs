// batch.mjs -- the Batch API benchmark (issue 17), against a zero-latency engine, all
// in one run so the figures sit side by side:
//   1. the sync path's req/s: N chat completions at 32 clients;
//   2. a batch of LINES chat lines (the same request) from create to completed: lines/s;
//   3. interactive latency, p50 and p90 of sequential chat completions at 2 clients,
//      without a batch, then while a second batch of LINES lines runs (the batch must
//      still be running when the measurement ends, or the run says so).
// Usage: node bench/batch.mjs BASE KEY [lines, default 10000] [sync requests, 3000]
const [base, key, linesArg, syncArg] = process.argv.slice(2);
const LINES = Number(linesArg || 10000);
const SYNC = Number(syncArg || 3000);
const auth = { authorization: `Bearer ${key}` };
const body = (i) => ({ model: 'demo-chat', max_tokens: 16, messages: [{ role: 'user', content: `bench ${i}` }] });

async function chat(i) {
  const t0 = performance.now();
  const r = await fetch(`${base}/chat/completions`, {
    method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body(i)),
  });
  await r.arrayBuffer();
  if (r.status !== 200) throw new Error(`chat: HTTP ${r.status}`);
  return performance.now() - t0;
}

async function load(n, clients) {
  const ms = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < n) { const i = next++; ms.push(await chat(i)); }
  }));
  return { ms, wall: (performance.now() - t0) / 1000 };
}

const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };

async function api(method, path, json) {
  const r = await fetch(`${base}${path}`, {
    method, headers: { ...auth, ...(json ? { 'content-type': 'application/json' } : {}) },
    body: json ? JSON.stringify(json) : undefined,
  });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`${method} ${path}: HTTP ${r.status} ${JSON.stringify(j).slice(0, 300)}`);
  return j;
}

async function startBatch(tag) {
  const text = Array.from({ length: LINES }, (_, i) => JSON.stringify({
    custom_id: `${tag}-${i}`, method: 'POST', url: '/v1/chat/completions', body: body(i),
  })).join('\n') + '\n';
  const form = new FormData();
  form.append('purpose', 'batch');
  form.append('file', new Blob([text]), `${tag}.jsonl`);
  const r = await fetch(`${base}/files`, { method: 'POST', headers: auth, body: form });
  const f = await r.json();
  if (r.status !== 200) throw new Error(`upload: HTTP ${r.status} ${JSON.stringify(f).slice(0, 300)}`);
  const t0 = performance.now();
  const b = await api('POST', '/batches', { input_file_id: f.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
  return { id: b.id, t0, bytes: f.bytes };
}

async function waitBatch(b) {
  for (;;) {
    const s = await api('GET', `/batches/${b.id}`);
    if (['completed', 'failed', 'expired', 'cancelled'].includes(s.status)) return { s, secs: (performance.now() - b.t0) / 1000 };
    await new Promise((r) => setTimeout(r, 100));
  }
}

await load(300, 16);	// warm up
const sync = await load(SYNC, 32);
const syncRps = SYNC / sync.wall;
console.log(`sync path: ${SYNC} requests at 32 clients in ${sync.wall.toFixed(2)} s: ${syncRps.toFixed(0)} req/s (p50 ${pct(sync.ms, 0.5).toFixed(1)} ms)`);

const b1 = await startBatch('thru');
const d1 = await waitBatch(b1);
const batchRps = LINES / d1.secs;
console.log(`batch: ${LINES} lines (${b1.bytes} bytes) ${d1.s.status} in ${d1.secs.toFixed(2)} s: ${batchRps.toFixed(0)} lines/s`
  + `, counts ${JSON.stringify(d1.s.request_counts)}; ratio to the sync path ${(batchRps / syncRps).toFixed(2)}`);

const N = 2000;
const alone = await load(N, 2);
const b2 = await startBatch('busy');
// the lane full and running at full speed first
for (;;) {
  const s = await api('GET', `/batches/${b2.id}`);
  if (s.request_counts.completed >= 2000 || s.status !== 'in_progress' && s.status !== 'validating') break;
  await new Promise((r) => setTimeout(r, 50));
}
const busy = await load(N, 2);
const mid = await api('GET', `/batches/${b2.id}`);
const p50a = pct(alone.ms, 0.5), p50b = pct(busy.ms, 0.5);
console.log(`interactive at 2 clients, ${N} requests: alone p50 ${p50a.toFixed(2)} ms p90 ${pct(alone.ms, 0.9).toFixed(2)} ms;`
  + ` with a batch running p50 ${p50b.toFixed(2)} ms p90 ${pct(busy.ms, 0.9).toFixed(2)} ms; p50 ratio ${(p50b / p50a).toFixed(2)}`);
console.log(`the batch during the measurement: ${mid.status}, ${JSON.stringify(mid.request_counts)}`
  + (mid.status === 'in_progress' ? '' : ' (it ended before the measurement did: the ratio understates)'));
const d2 = await waitBatch(b2);
console.log(`second batch ${d2.s.status} after ${d2.secs.toFixed(1)} s`);
