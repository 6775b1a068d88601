// server.test.mjs -- self-test of the mock HTTP service (node --test tests/mock-http/):
// starts server.mjs on a free port and checks every endpoint, the call log and the admin
// API, so that the workflow tests can trust what /_calls says.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));
let child;
let base;

before(async () => {
  child = spawn(process.execPath, [SERVER, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  base = await new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('mock-http did not start')); }, 5000);
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/^mock-http listening on (127\.0\.0\.1):(\d+)\n/);
      if (m) { clearTimeout(t); resolve(`http://${m[1]}:${m[2]}`); }
    });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`mock-http exited with ${code}`)); });
  });
});

after(async () => {
  if (!child || child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', (code) => r(code)));
  child.kill('SIGTERM');
  assert.equal(await exited, 0, 'SIGTERM exits 0');
});

async function call(path, { method, json, headers = {}, redirect = 'manual' } = {}) {
  const h = { ...headers };
  if (json !== undefined) h['content-type'] = 'application/json';
  const r = await fetch(base + path, {
    method: method || (json === undefined ? 'GET' : 'POST'), headers: h,
    body: json === undefined ? undefined : JSON.stringify(json), redirect, signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  let body;
  try { body = JSON.parse(text); } catch { body = text; }
  return { status: r.status, headers: r.headers, body, text };
}

const reset = () => call('/_reset', { json: {} });
const callsOf = async (p) => (await call(`/_calls?path=${encodeURIComponent(p)}`)).body.calls;

test('binds 127.0.0.1 and answers /health without recording it', async () => {
  await reset();
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
  const r = await call('/health');
  assert.equal(r.status, 200);
  assert.deepEqual((await call('/_calls')).body.calls, []);
});

test('/search: hits depend on the query; "nothing" finds none', async () => {
  await reset();
  const none = await call('/search', { json: { q: 'there is nothing here' } });
  assert.equal(none.status, 200);
  assert.equal(none.body.hits, 0);
  assert.deepEqual(none.body.docs, []);
  const some = await call('/search', { json: { q: 'how long does shipping take?' } });
  assert.equal(some.body.hits, 1);
  assert.equal(some.body.docs[0].id, 'doc-2');
  assert.match(some.body.docs[0].owner, /@example\.com$/);
  const all = await call('/search?q=everything', {});
  assert.equal(all.body.hits, 3);
  const fallback = await call('/search', { json: { q: 'zzz' } });
  assert.equal(fallback.body.hits, 1, 'an unmatched query still finds doc-1');
  assert.equal((await callsOf('/search')).length, 4);
});

test('/charge: one charge per Idempotency-Key; /refund; /fulfil fails as configured', async () => {
  await reset();
  const a = await call('/charge', { json: { amount: 1200, order: 'o-1' }, headers: { 'Idempotency-Key': 'job_x:charge' } });
  assert.equal(a.status, 200);
  assert.match(a.body.id, /^ch_[0-9a-f]{20}$/);
  assert.equal(a.body.amount, 1200);
  assert.equal(a.body.replayed, false);
  const b = await call('/charge', { json: { amount: 1200, order: 'o-1' }, headers: { 'Idempotency-Key': 'job_x:charge' } });
  assert.equal(b.body.id, a.body.id);
  assert.equal(b.body.replayed, true);
  const c = await call('/charge', { json: { amount: 5 }, headers: { 'Idempotency-Key': 'job_y:charge' } });
  assert.notEqual(c.body.id, a.body.id);

  assert.equal((await call('/fulfil', { json: {} })).status, 500, 'default: 500');
  await call('/_config', { json: { fulfil_status: 400 } });
  assert.equal((await call('/fulfil', { json: {} })).status, 400);
  await call('/_config', { json: { fulfil_status: 200 } });
  const ok = await call('/fulfil', { json: { order: 'o-1' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.fulfilled, true);

  const r = await call('/refund', { json: { charge: a.body.id }, headers: { 'Idempotency-Key': 'job_x:charge:compensation' } });
  assert.equal(r.status, 200);
  assert.equal(r.body.charge, a.body.id);
  assert.equal(r.body.refunded, true);
  await call('/_config', { json: { refund_failures: 1 } });
  const k = { 'Idempotency-Key': 'job_z:charge:compensation' };
  assert.equal((await call('/refund', { json: {}, headers: k })).status, 503);
  assert.equal((await call('/refund', { json: {}, headers: k })).status, 200);
});

test('every call is recorded with method, path, headers, Idempotency-Key, X-AIF-Job and body', async () => {
  await reset();
  await call('/echo?a=1', { json: { x: [1, 2] }, headers: { 'Idempotency-Key': 'job_a:s1', 'X-AIF-Job': 'job_a' } });
  await call('/echo', { method: 'DELETE' });
  const all = (await call('/_calls')).body;
  assert.equal(all.calls.length, 2);
  const [c1, c2] = all.calls;
  assert.equal(c1.method, 'POST');
  assert.equal(c1.path, '/echo');
  assert.equal(c1.query, 'a=1');
  assert.equal(c1.idempotency_key, 'job_a:s1');
  assert.equal(c1.job, 'job_a');
  assert.equal(c1.headers['content-type'], 'application/json');
  assert.deepEqual(c1.body, { x: [1, 2] });
  assert.ok(c1.seq < c2.seq && c1.time <= c2.time);
  assert.equal(c2.method, 'DELETE');
  assert.equal(c2.body, null);
  assert.equal(c2.idempotency_key, null);
  assert.equal((await call('/_calls?key=job_a:s1')).body.calls.length, 1);
  assert.equal((await call('/_calls?job=job_a')).body.calls.length, 1);
  assert.equal((await call(`/_calls?since=${c1.seq}`)).body.calls.length, 1);
  assert.equal(all.last_seq, c2.seq);
  // /echo gives back what it got
  const e = await call('/echo?q=2', { json: 'text', headers: { 'X-Trace': 't1' } });
  assert.equal(e.body.method, 'POST');
  assert.equal(e.body.query, 'q=2');
  assert.equal(e.body.headers['x-trace'], 't1');
  assert.equal(e.body.body, 'text');
  const any = await call('/any/reload-v2', { json: { v: 2 } });
  assert.equal(any.status, 200);
  assert.equal(any.body.path, '/any/reload-v2');
  const n = await call('/notify', { json: { event: 'receipt_voided' } });
  assert.deepEqual(n.body, { notified: true, event: 'receipt_voided' });
  // /_reset empties the log
  await reset();
  assert.deepEqual((await call('/_calls')).body.calls, []);
});

test('/flaky fails the first K calls per Idempotency-Key, then succeeds', async () => {
  await reset();
  const h = (k) => ({ headers: { 'Idempotency-Key': k }, json: {} });
  assert.equal((await call('/flaky', h('k1'))).status, 503);
  assert.equal((await call('/flaky', h('k1'))).status, 503);
  const third = await call('/flaky', h('k1'));
  assert.equal(third.status, 200);
  assert.equal(third.body.attempt, 3);
  assert.equal((await call('/flaky', h('k2'))).status, 503, 'another key counts on its own');
  await call('/_config', { json: { flaky_failures: 1, flaky_status: 429 } });
  assert.equal((await call('/flaky', h('k3'))).status, 429);
  assert.equal((await call('/flaky', h('k3'))).status, 200);
  assert.equal((await call('/flaky?fail=0', h('k4'))).status, 200);
});

test('/slow waits; /big is large; /redirect is a 302; /status?code=N', async () => {
  await reset();
  const t0 = Date.now();
  const s = await call('/slow?ms=300', { json: { n: 1 } });
  assert.equal(s.status, 200);
  assert.ok(Date.now() - t0 >= 290, 'waited');
  assert.deepEqual(s.body.body, { n: 1 });
  const big = await call('/big?bytes=100000');
  assert.equal(big.text.length, 100000);
  assert.equal(big.headers.get('content-type'), 'application/json');
  assert.equal((await call('/big')).text.length, 2 * 1024 * 1024, 'default: 2 MiB, past the default response_max');
  const r = await call('/redirect');
  assert.equal(r.status, 302);
  assert.equal(r.headers.get('location'), '/echo');
  assert.equal((await call('/status?code=429')).status, 429);
  assert.equal((await call('/nope')).status, 404);
});

test('/_config: forced statuses and delays per path; bad settings are 400; /_reset restores', async () => {
  await reset();
  const bad = await call('/_config', { json: { nope: 1 } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /unknown setting "nope"/);
  assert.equal((await call('/_config', { json: { fulfil_status: 99 } })).status, 400);
  assert.equal((await call('/_config', { json: { status: { search: 500 } } })).status, 400);
  const set = await call('/_config', { json: { status: { '/search': 502 }, delay_ms: { '/echo': 200 }, slow_ms: 100 } });
  assert.equal(set.status, 200);
  assert.equal(set.body.slow_ms, 100);
  assert.equal((await call('/search', { json: { q: 'x' } })).status, 502);
  const t0 = Date.now();
  assert.equal((await call('/echo', { json: {} })).status, 200);
  assert.ok(Date.now() - t0 >= 190);
  const t1 = Date.now();
  await call('/slow', { json: {} });
  assert.ok(Date.now() - t1 < 2000, 'slow_ms applied');
  const cfg = (await call('/_config')).body;
  assert.deepEqual(cfg.status, { '/search': 502 });
  await reset();
  const d = (await call('/_config')).body;
  assert.deepEqual(d.status, {});
  assert.equal(d.fulfil_status, 500);
  assert.equal(d.slow_ms, 3000);
  assert.equal((await call('/search', { json: { q: 'x' } })).status, 200);
});
