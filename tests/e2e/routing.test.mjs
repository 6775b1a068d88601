// routing.test.mjs -- replicas, circuit breakers and fallbacks (config/aif.yaml):
//   demo-ha        two replicas: the stack's mock engine and a second one this test starts
//                  on AIF_MOCK_PORT+10 and kills under load: no client request may fail;
//   demo-fallback  one replica where nothing listens, fallbacks [demo-chat]: answered
//                  by the fallback, recorded as a `fallback` event;
//   demo-down      one dead replica and no fallback: a clear 503 after the retry
//                  policy, quickly.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import {
  env, client, REPO, jobRow, jobEvents, uniq, pool, sleep, waitFor, submitAsync, waitAllFinal, mockStats, mockResetStats, OpenAI,
} from './lib.mjs';

const T = { timeout: 90000 };
const MOCK2_PORT = Number(env.mockPort ?? process.env.AIF_MOCK_PORT) + 10;
let mock2;

function startMock2() {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [path.join(REPO, 'tests/mock-engine/server.mjs'), '--port', String(MOCK2_PORT)],
      { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => reject(new Error('mock 2 did not start')), 10000);
    p.stdout.on('data', (d) => { if (String(d).includes('listening')) { clearTimeout(timer); resolve(p); } });
    p.on('exit', (code) => reject(new Error(`mock 2 exited with ${code}`)));
  });
}

after(() => { if (mock2 && mock2.exitCode === null) mock2.kill('SIGKILL'); });

test('one replica killed under load: every request still succeeds', T, async () => {
  mock2 = await startMock2();
  const url = `http://127.0.0.1:${MOCK2_PORT}`;
  const c = client(env.apiKey, { timeout: 60000 });
  // the workers' health probes (about 1 s) put the replica back in rotation: wait until
  // it has served a request (a few small ones at a time), not for a fixed time
  const served2 = async () => Object.values((await (await fetch(`${url}/_mock/stats`)).json()).requests || {})
    .reduce((a, b) => a + b, 0);
  await sleep(1500);
  await waitFor(async () => {
    await pool([0, 1, 2, 3], 4, (i) => c.chat.completions.create({ model: 'demo-ha', messages: [{ role: 'user', content: `warm ${i} ${uniq('w')}` }] }));
    return (await served2()) > 0;
  }, { timeoutMs: 30000, intervalMs: 300, what: 'the second replica to serve a request' });
  let done = 0, killedAt = -1, servedBy2 = 0;
  const n = 240;
  const results = await pool(Array.from({ length: n }, (_, i) => i), 16, async (i) => {
    const r = await c.chat.completions.create({
      model: 'demo-ha', messages: [{ role: 'user', content: `[[mock:latency=15]] ha ${i} ${uniq('h')}` }],
    });
    if (++done === 60) {
      const st = await (await fetch(`${url}/_mock/stats`)).json();
      servedBy2 = Object.values(st.requests || {}).reduce((a, b) => a + b, 0);
      killedAt = done;
      mock2.kill('SIGKILL');
    }
    return r;
  });
  assert.equal(results.length, n);
  for (const r of results) assert.equal(r.object, 'chat.completion');
  assert.ok(killedAt > 0, 'the second replica was killed mid-run');
  assert.ok(servedBy2 > 0, `the killed replica had served requests before (${servedBy2})`);
});

test('all replicas of a model down: its fallback model answers, recorded as an event', T, async () => {
  const { data, response } = await client().chat.completions.create({
    model: 'demo-fallback', messages: [{ role: 'user', content: `fall back ${uniq('f')}` }],
  }).withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.model, 'demo-chat', 'the answer names the model that served it');
  const row = jobRow(response.headers.get('x-aif-job-id'));
  const events = jobEvents(row.id);
  const fb = events.find((e) => e.event === 'fallback');
  assert.ok(fb, `a fallback event: ${JSON.stringify(events.map((e) => e.event))}`);
  assert.match(fb.detail, /demo-fallback.*demo-chat/);
});

test('all replicas down and no fallback: a clear 503 after the retry policy, quickly', T, async () => {
  const t0 = Date.now();
  let jobId;
  await assert.rejects(client().chat.completions.create({
    model: 'demo-down', messages: [{ role: 'user', content: `down ${uniq('d')}` }],
  }).withResponse().catch((e) => { jobId = e.headers?.get?.('x-aif-job-id'); throw e; }),
  (e) => e instanceof OpenAI.InternalServerError && e.status === 503 && e.code === 'engine_unavailable');
  const ms = Date.now() - t0;
  assert.ok(ms < 10000, `answered in ${ms} ms`);
  if (jobId) {
    const row = await waitFor(() => jobRow(jobId), { what: 'the job row' });
    assert.equal(row.state, 'failed');
    assert.equal(Number(row.attempts), Number(row.max_attempts), 'the whole retry policy ran');
  }
});

test('a replica max_in_flight holds across both workers; the rest waits in the queue by priority', T, async () => {
  // demo-capped: one replica (the stack's mock) with max_in_flight 3, two workers running
  await mockResetStats();
  // the low ones are submitted all at once and are slow enough (300 ms, 3 at a time) that
  // at most a few have started when the high ones arrive, however loaded the machine is
  const low = await Promise.all(Array.from({ length: 18 }, (_, i) =>
    submitAsync(`[[mock:latency=300]] low ${i} ${uniq('c')}`, { model: 'demo-capped', priority: 1, key: env.adminKey })));
  // the high ones together too: submitted one by one, a loaded machine lets several
  // rounds of low ones finish between them
  const high = await Promise.all(Array.from({ length: 4 }, (_, i) =>
    submitAsync(`[[mock:latency=150]] high ${i} ${uniq('c')}`, { model: 'demo-capped', priority: 8, key: env.adminKey })));
  await waitAllFinal([...low, ...high], { timeoutMs: 60000 });
  const st = await mockStats();
  assert.ok(st.max_in_flight <= 3, `the engine never saw more than 3 calls at once (saw ${st.max_in_flight})`);
  assert.ok(st.max_in_flight >= 2, `both workers' shares were used (saw ${st.max_in_flight})`);
  // the high-priority jobs, enqueued last, finished before most of the low ones
  const fin = (ids) => ids.map((id) => Date.parse(jobRow(id).finished_at.replace(' ', 'T') + 'Z'));
  const lastHigh = Math.max(...fin(high));
  const lowAfter = fin(low).filter((t) => t > lastHigh).length;
  assert.ok(lowAfter >= 8, `${lowAfter} of 18 earlier low-priority jobs finished after every high-priority one`);
});
