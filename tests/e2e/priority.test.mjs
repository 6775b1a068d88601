// priority.test.mjs -- X-Priority: clamped to the key's role maximum (stored in
// jobs.priority), and the queue runs higher priorities first (then older jobs first):
// with the workers stopped, queue jobs of mixed priority, start one worker with one
// slot, and check the order in which they succeed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, client, http, createKey, uniq, chatBody, jobRow, sql, inList, stopWorkers, stopWorker,
  startWorker, submitAsync, waitAllFinal, jobStates, DEFAULT_PRIORITY, ROLE_MAX_PRIORITY,
} from './lib.mjs';

const clampJobs = [];

async function asyncPriority(key, header) {
  const headers = { Prefer: 'respond-async' };
  if (header !== undefined) headers['X-Priority'] = header;
  const r = await http('/v1/chat/completions', { key, headers, json: chatBody('prio') });
  assert.equal(r.status, 202, r.text);
  clampJobs.push(r.json.id);
  return { body: r.json.priority, db: Number(jobRow(r.json.id).priority) };
}

test('X-Priority is clamped to the role maximum (user 6, batch 2, admin 9)', { timeout: 30000 }, async () => {
  const batchKey = createKey(uniq('batch'), 'batch');
  const cases = [
    // key, header, expected
    [env.apiKey, undefined, DEFAULT_PRIORITY],
    [env.apiKey, '0', 0],
    [env.apiKey, '5', 5],
    [env.apiKey, '6', 6],
    [env.apiKey, '7', ROLE_MAX_PRIORITY.user],
    [env.apiKey, '9', ROLE_MAX_PRIORITY.user],
    [env.adminKey, '9', 9],
    [env.adminKey, '0', 0],
    [env.adminKey, undefined, DEFAULT_PRIORITY],
  ];
  for (const [key, h, want] of cases) {
    const got = await asyncPriority(key, h);
    assert.deepEqual(got, { body: want, db: want }, `X-Priority ${h} with ${key === env.adminKey ? 'admin' : 'user'} key`);
  }
  // batch: demo-small only.
  for (const [h, want] of [['9', 2], ['1', 1], [undefined, Math.min(DEFAULT_PRIORITY, ROLE_MAX_PRIORITY.batch)]]) {
    const headers = { Prefer: 'respond-async' };
    if (h !== undefined) headers['X-Priority'] = h;
    const r = await http('/v1/chat/completions', { key: batchKey, headers, json: chatBody('prio', { model: 'demo-small' }) });
    assert.equal(r.status, 202, r.text);
    assert.equal(r.json.priority, want, `batch key, X-Priority ${h}`);
    assert.equal(Number(jobRow(r.json.id).priority), want);
    clampJobs.push(r.json.id);
  }
  // The sync path clamps too.
  const { response } = await client().chat.completions.create(chatBody('sync prio'), { headers: { 'X-Priority': '9' } }).withResponse();
  assert.equal(Number(jobRow(response.headers.get('x-aif-job-id')).priority), ROLE_MAX_PRIORITY.user);
  // Leave nothing queued for the next test.
  assert.deepEqual(await waitAllFinal(clampJobs, { timeoutMs: 30000 }), { succeeded: clampJobs.length });
});

let workersStopped = false;
after(() => {
  // Restore the stack's workers whatever happened (worker 9 is ours).
  if (!workersStopped) return;
  try { stopWorker(9); } finally {
    startWorker(1);
    startWorker(2);
  }
}, { timeout: 90000 });

test('higher priority runs first, then older first (one worker, one slot)', { timeout: 120000 }, async () => {
  stopWorkers();
  workersStopped = true;
  const prios = [3, 9, 0, 5, 9, 1, 7, 3, 5, 0, 8, 2];
  const tag = uniq('order');
  const ids = [];
  for (const [i, p] of prios.entries()) {
    // Sequential, so that jobs.id follows the submit order.
    ids.push(await submitAsync(`${tag} job ${i}`, { key: env.adminKey, priority: p }));
  }
  // Nothing runs them yet.
  const st = jobStates(ids);
  assert.deepEqual([...new Set(st.values())], ['queued'], 'all queued while no worker runs');

  startWorker(9, 1);
  const counts = await waitAllFinal(ids, { timeoutMs: 60000 });
  assert.deepEqual(counts, { succeeded: ids.length });

  const rows = sql(`SELECT j.public_id, j.priority, j.id FROM job_timeline e JOIN jobs j ON j.id = e.job_id
    WHERE e.event = 'succeeded' AND j.public_id IN ${inList(ids)} ORDER BY e.at, e.seq`);
  assert.equal(rows.length, ids.length, 'one succeeded event per job');
  const got = rows.map(([pid, p]) => `${p}:${ids.indexOf(pid)}`);
  const want = prios.map((p, i) => ({ p, i })).sort((a, b) => b.p - a.p || a.i - b.i).map(({ p, i }) => `${p}:${i}`);
  assert.deepEqual(got, want, 'succeeded in priority desc, then id asc order');
  // And they were claimed in that order too, by worker 9's single slot (never two at once).
  const claims = sql(`SELECT j.public_id FROM job_timeline e JOIN jobs j ON j.id = e.job_id
    WHERE e.event = 'claimed' AND j.public_id IN ${inList(ids)} ORDER BY e.at, e.seq`).map(([pid]) => pid);
  assert.deepEqual(claims, rows.map(([pid]) => pid), 'claim order = completion order');
});
