// handoff.test.mjs -- a request whose caller waits is handed to a live worker at insert
// (core/store/queue.h, sql/013_handoff.sql): its first row is already `running` under
// the worker's lease, no claim in between; a model with a backlog queues as before; a
// job handed to a worker that stopped goes back to the queue at once, one handed to a
// worker that hangs waits for its lease like a claimed job; each runs once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  env, client, http, uniq, chatBody, jobRow, jobEvents, sql, sqlNumber, q, pool, sleep,
  waitFor, waitAllFinal, stopWorker, startWorker,
} from './lib.mjs';

const T = { timeout: 120000 };

/** The hand-off columns of job publicId: was it written handed (started when created,
 * first lease token), and how did it end. */
function handoff(publicId) {
  const [r] = sql(`SELECT started_at = created_at, lease_token, attempts, state, worker_id
    FROM jobs WHERE public_id = ${q(publicId)}`);
  return { handed: r[0] === '1', token: Number(r[1]), attempts: Number(r[2]), state: r[3], worker: r[4] };
}

const usageRows = (publicId) =>
  sqlNumber(`SELECT COUNT(*) FROM \`usage\` WHERE job_id = (SELECT id FROM jobs WHERE public_id = ${q(publicId)})`);

async function syncJob(content, opts = {}) {
  const { data, response } = await client().chat.completions.create(chatBody(content, opts.body), { headers: opts.headers }).withResponse();
  assert.ok(data.choices[0].message.content.length > 0);
  return response.headers.get('x-aif-job-id');
}

test('a sync request is handed to a worker at insert: running from its first row, its timeline whole, billed once', T, async () => {
  // the files before this one reload the workers, which register again under new ids;
  // aif-api reads the live workers again every 2 s (fcgi-app/wake.c): a hand-off to a
  // worker id from before a reload is given back and queued, so wait out one refresh
  await sleep(2500);
  const id = await syncJob(`handed ${uniq('h')}`);
  const h = handoff(id);
  assert.deepEqual({ handed: h.handed, token: h.token, attempts: h.attempts, state: h.state },
    { handed: true, token: 1, attempts: 1, state: 'succeeded' });
  assert.ok(Number(h.worker) > 0, 'the worker that ran it stays on the row');
  const row = jobRow(id);
  assert.deepEqual(jobEvents(row.id).map((e) => e.event), ['enqueued', 'claimed', 'succeeded']);
  assert.equal(jobEvents(row.id)[1].worker_id, h.worker, 'claimed by the worker it was handed to');
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM job_events WHERE job_id = ${Number(row.id)}`), 0, 'no event rows on this path');
  assert.equal(usageRows(id), 1);
  // a stream is handed too; an async job (nobody waits) is queued and claimed
  const s = await client().chat.completions.create(chatBody(`handed stream ${uniq('s')}`, { stream: true })).withResponse();
  let text = '';
  for await (const ch of s.data) text += ch.choices[0]?.delta?.content ?? '';
  assert.ok(text.length > 0);
  assert.equal(handoff(s.response.headers.get('x-aif-job-id')).handed, true);
  const a = await http('/v1/chat/completions', { json: chatBody(`queued ${uniq('a')}`), headers: { Prefer: 'respond-async' } });
  assert.equal(a.status, 202);
  await waitAllFinal([a.json.id], { timeoutMs: 30000 });
  assert.deepEqual({ handed: handoff(a.json.id).handed, token: handoff(a.json.id).token }, { handed: false, token: 1 });
});

test('a model with a backlog queues its sync requests: none goes ahead of queued work', T, async () => {
  // demo-capped: 3 calls in flight at most. Three slow jobs fill it, one more waits
  // (short enough that the sync request below ends within this stack's 5 s timeout)
  const fill = [];
  for (let i = 0; i < 4; i++) {
    const r = await http('/v1/chat/completions', {
      json: chatBody(`[[mock:latency=1000]] backlog ${uniq('b')}`, { model: 'demo-capped' }),
      headers: { Prefer: 'respond-async', 'X-Priority': '0' },
    });
    assert.equal(r.status, 202, r.text);
    fill.push(r.json.id);
  }
  await waitFor(() => sqlNumber(`SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND public_id IN (${fill.map(q).join(',')})`) >= 1,
    { what: 'a backlog on demo-capped' });
  const id = await syncJob(`behind ${uniq('q')}`, { body: { model: 'demo-capped' }, headers: { 'X-Priority': '0' } });
  const h = handoff(id);
  assert.equal(h.handed, false, 'queued, not handed, while its model has a backlog');
  assert.equal(h.state, 'succeeded');
  // same priority: it started after every job that was queued before it; two jobs
  // claimed at once by two workers (a slot each) may be stamped in either order by a few
  // microseconds, so "after" allows 50 ms
  const lead = (pid) => sqlNumber(`SELECT TIMESTAMPDIFF(MICROSECOND, (SELECT started_at FROM jobs WHERE public_id = ${q(id)}), started_at) FROM jobs WHERE public_id = ${q(pid)}`);
  for (const f of fill) assert.ok(lead(f) <= 50000, `${f} started ${lead(f)} us after the later request`);
  await waitAllFinal(fill, { timeoutMs: 30000 });
});

test('jobs handed to a worker that stopped go back to the queue at once and finish once', T, async () => {
  try {
    stopWorker(2);	// aif-api still lists it for up to 2 s: its bell is refused
    const ids = [];
    await pool([...Array(12).keys()], 4, async (i) => { ids.push(await syncJob(`after stop ${i} ${uniq('g')}`)); });
    assert.equal(ids.length, 12);
    for (const id of ids) {
      assert.equal(handoff(id).state, 'succeeded');
      assert.equal(usageRows(id), 1);
    }
  } finally {
    startWorker(2);
  }
});

test('jobs handed to a worker that hangs wait for their leases, like claimed jobs, and run once', { timeout: 180000 }, async () => {
  const pid = Number(fs.readFileSync(path.join(env.varDir, 'run', 'worker-1.pid'), 'utf8'));
  process.kill(pid, 'SIGSTOP');
  const ids = [];
  try {
    // some go to the hung worker: a started job and one never taken look alike in the
    // database (taking writes nothing), so nobody gives them back; their leases run
    // out (30 s) and a peer reaps and runs them. Their callers get 504 job_timeout
    // (this stack waits 5 s): each job is read from its row.
    await pool([...Array(6).keys()], 6, async (i) => {
      const r = await http('/v1/chat/completions', { json: chatBody(`hung ${i} ${uniq('z')}`), timeoutMs: 60000 });
      assert.ok(r.status === 200 || r.status === 504, r.text);
      ids.push(r.headers.get('x-aif-job-id'));
    });
    assert.deepEqual(await waitAllFinal(ids, { timeoutMs: 90000 }), { succeeded: ids.length });
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const rows = ids.map((id) => ({ id, ...handoff(id), usage: usageRows(id) }));
  for (const r of rows) assert.equal(r.usage, 1, JSON.stringify(r));
  // those that went to the hung worker: reaped (lease_expired) and run as attempt 2
  const reaped = rows.filter((r) => jobEvents(jobRow(r.id).id).some((e) => e.event === 'lease_expired'));
  assert.ok(reaped.length >= 1, `a job went to the hung worker: ${JSON.stringify(rows)}`);
  for (const r of reaped) assert.deepEqual({ attempts: r.attempts, token: r.token }, { attempts: 2, token: 2 });
  // the worker wakes up with bells for jobs it no longer holds: it runs none of them
  await sleep(2500);
  for (const r of rows) assert.equal(usageRows(r.id), 1, `${r.id} ran once`);
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM jobs WHERE state IN ('queued','running') AND public_id IN (${ids.map(q).join(',')})`), 0);
});
