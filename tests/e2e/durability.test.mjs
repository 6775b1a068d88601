// durability.test.mjs -- idempotency (Idempotency-Key, and the official SDKs' retries
// marked x-stainless-retry-count attaching to the original job), x-should-retry,
// cancellation of queued and running jobs (POST /v1/jobs/{id}/cancel, aifctl jobs
// cancel) with their budget holds released, retry policies with run_after backoff, and
// the job timeline of `aifctl jobs show`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  env, http, sql, sqlNumber, jobRow, jobEvents, uniq, waitFor, getJob, REPO, BIN, chatBody as chat,
} from './lib.mjs';

const T = { timeout: 90000 };
const aifctl = (...args) => execFileSync(path.join(BIN, 'aifctl'), ['--config', env.config, ...args],
  { encoding: 'utf8', env: { ...process.env, AIF_VAR_DIR: env.varDir }, cwd: REPO, timeout: 30000 });

test('Idempotency-Key: the same key and body return the original job; another body is 409', T, async () => {
  const key = uniq('idem');
  const body = chat(`idempotent ${key}`);
  const a = await http('/v1/chat/completions', { json: body, headers: { 'Idempotency-Key': key } });
  assert.equal(a.status, 200);
  const b = await http('/v1/chat/completions', { json: body, headers: { 'Idempotency-Key': key } });
  assert.equal(b.status, 200);
  assert.equal(b.headers.get('x-aif-job-id'), a.headers.get('x-aif-job-id'), 'the same job');
  assert.equal(b.headers.get('x-aif-idempotent-replay'), 'true');
  assert.deepEqual(b.json, a.json, 'the same answer');
  const c = await http('/v1/chat/completions', { json: chat('something else'), headers: { 'Idempotency-Key': key } });
  assert.equal(c.status, 409);
  assert.equal(c.json.error.code, 'idempotency_key_reused');
  assert.equal(c.headers.get('x-should-retry'), 'false');
  // async with the same key: 202 with the same (finished) job
  const d = await http('/v1/chat/completions', { json: body, headers: { 'Idempotency-Key': key, Prefer: 'respond-async' } });
  assert.equal(d.status, 202);
  assert.equal(d.json.id, a.headers.get('x-aif-job-id'));
  assert.equal(d.json.status, 'succeeded');
  const row = jobRow(a.headers.get('x-aif-job-id'));
  assert.equal(jobEvents(row.id).filter((e) => e.event === 'claimed').length, 1, 'the engine ran once');
});

test('an SDK retry (x-stainless-retry-count) of a request whose job exists attaches to it', T, async () => {
  const body = chat(`[[mock:latency=800]] retried ${uniq('r')}`);
  const first = http('/v1/chat/completions', { json: body, headers: { 'x-stainless-retry-count': '0' } });
  await new Promise((r) => setTimeout(r, 250));	// the first is queued or running now
  const retry = await http('/v1/chat/completions', { json: body, headers: { 'x-stainless-retry-count': '1' } });
  const a = await first;
  assert.equal(a.status, 200);
  assert.equal(retry.status, 200);
  assert.equal(retry.headers.get('x-aif-job-id'), a.headers.get('x-aif-job-id'), 'the retry joined the first job');
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM jobs WHERE request_sha256 = (SELECT request_sha256 FROM jobs WHERE public_id = '${a.headers.get('x-aif-job-id')}')`), 1);
});

test('x-should-retry: false on errors a retry cannot fix', T, async () => {
  const r400 = await http('/v1/chat/completions', { json: { model: 'demo-chat' } });
  assert.equal(r400.status, 400);
  assert.equal(r400.headers.get('x-should-retry'), 'false');
  const r404 = await http('/v1/chat/completions', { json: chat('x', { model: 'nope' }) });
  assert.equal(r404.headers.get('x-should-retry'), 'false');
});

test('cancel: a queued job at once, a running one by aborting its engine call', T, async () => {
  const admin = await http('/admin/keys', { key: env.adminKey, json: { name: uniq('cx'), role: 'user', monthly_budget_micros: 1000000 } });
  const k = admin.json.key;
  // running: a slow engine call
  const run = await http('/v1/chat/completions', { key: k, json: chat(`[[mock:latency=20000]] slow ${uniq('c')}`), headers: { Prefer: 'respond-async' } });
  assert.equal(run.status, 202);
  await waitFor(() => jobRow(run.json.id).state === 'running', { what: 'the job to run' });
  const t0 = Date.now();
  const c1 = await http(`/v1/jobs/${run.json.id}/cancel`, { key: k, json: {} });
  assert.equal(c1.status, 200);
  assert.equal(c1.json.status, 'cancelled');
  const row = jobRow(run.json.id);
  assert.equal(row.state, 'cancelled');
  // the worker aborts the call: it does not succeed 20 s later, and no usage row appears
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(jobRow(run.json.id).state, 'cancelled');
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM \`usage\` WHERE job_id = ${row.id}`), 0);
  assert.ok(Date.now() - t0 < 5000);
  const ev = jobEvents(row.id).map((e) => e.event);
  assert.ok(ev.includes('cancelled'));
  const ledger = sql(`SELECT entry FROM budget_ledger WHERE job_id = ${row.id} ORDER BY id`).map((r) => r[0]);
  assert.deepEqual(ledger, ['hold', 'release'], 'the hold was released');
  // cancelling again: 409, already final
  const again = await http(`/v1/jobs/${run.json.id}/cancel`, { key: k, json: {} });
  assert.equal(again.status, 409);
  // another key cannot cancel it (404)
  const other = await http(`/v1/jobs/${run.json.id}/cancel`, { json: {} });
  assert.equal(other.status, 404);
  // aifctl jobs cancel on a queued-or-running job
  const q2 = await http('/v1/chat/completions', { key: k, json: chat(`[[mock:latency=20000]] slow2 ${uniq('c')}`), headers: { Prefer: 'respond-async' } });
  aifctl('jobs', 'cancel', q2.json.id);
  assert.equal(jobRow(q2.json.id).state, 'cancelled');
  assert.equal((await getJob(q2.json.id, k)).json.status, 'cancelled');
});

test('retry policy: a retryable engine error is retried with run_after backoff, then fails with the events', T, async () => {
  // demo-chat retries (default policy: 500ms, x2, 3 attempts); the engine answers 503
  const r = await http('/v1/chat/completions', { json: chat(`[[mock:status=503]] ${uniq('p')}`) });
  assert.equal(r.status, 503);
  assert.equal(r.json.error.code, 'engine_overloaded');
  const row = jobRow(r.headers.get('x-aif-job-id'));
  assert.equal(Number(row.attempts), 3);
  const ev = jobEvents(row.id).map((e) => e.event);
  assert.deepEqual(ev.filter((e) => e === 'retry_scheduled').length, 2);
  assert.equal(ev[ev.length - 1], 'failed');
  // backoff: the claims are at least ~0.45 s and ~0.9 s apart (jitter 10 %)
  const claims = sql(`SELECT UNIX_TIMESTAMP(at) FROM job_timeline WHERE job_id = ${row.id} AND event = 'claimed' ORDER BY at, seq`).map((x) => Number(x[0]));
  assert.ok(claims[1] - claims[0] >= 0.44, `first backoff ${claims[1] - claims[0]}`);
  assert.ok(claims[2] - claims[1] >= 0.89, `second backoff ${claims[2] - claims[1]}`);
  // fatal errors fail at once
  const f = await http('/v1/chat/completions', { json: chat(`[[mock:status=400]] ${uniq('p')}`) });
  assert.equal(f.status, 400);
  assert.equal(Number(jobRow(f.headers.get('x-aif-job-id')).attempts), 1);
});

test('aifctl jobs show prints the job and its timeline; jobs list filters by state', T, async () => {
  const r = await http('/v1/chat/completions', { json: chat(`timeline ${uniq('t')}`) });
  const id = r.headers.get('x-aif-job-id');
  const out = aifctl('jobs', 'show', id);
  assert.match(out, new RegExp(`job\\s+${id}`));
  assert.match(out, /state\s+succeeded/);
  for (const ev of ['enqueued', 'claimed', 'succeeded']) assert.match(out, new RegExp(`\\b${ev}\\b`));
  assert.match(out, /usage\s+\d+ prompt \+ \d+ completion tokens/);
  const list = aifctl('jobs', 'list', '--state', 'succeeded', '--limit', '5');
  assert.match(list, /^JOB\s+MODEL/m);
  assert.ok(list.split('\n').slice(1).filter(Boolean).every((l) => l.includes('succeeded')));
});

test('saga: a job that fails for good runs its compensations in reverse order, durably, then is failed', T, async () => {
  await fetch(`${env.mockURL}/_mock/compensations`, { method: 'DELETE' });
  const admin = await http('/admin/keys', { key: env.adminKey, json: { name: uniq('saga'), role: 'user', monthly_budget_micros: 1000000 } });
  const r = await http('/v1/chat/completions', { key: admin.json.key, json: { model: 'demo-saga', messages: [{ role: 'user', content: `[[mock:status=400]] ${uniq('s')}` }] } });
  assert.equal(r.status, 400, 'the client learns the failure at once');
  const id = r.headers.get('x-aif-job-id');
  const row = jobRow(id);
  assert.ok(['compensating', 'failed'].includes(row.state));
  await waitFor(() => jobRow(id).state === 'failed', { timeoutMs: 40000, intervalMs: 500, what: 'the saga to finish' });
  const ev = jobEvents(row.id).map((e) => e.event);
  const i = (e, from = 0) => ev.indexOf(e, from);
  assert.ok(i('compensating') >= 0 && i('compensation_budget_released') >= 0 && i('compensation_scheduled') >= 0, ev.join(','));
  assert.equal(ev.filter((e) => e === 'compensation_failed').length, 2, 'release-inventory failed twice');
  assert.equal(ev.filter((e) => e === 'compensation_succeeded').length, 2);
  assert.equal(ev[ev.length - 1], 'failed');
  const details = jobEvents(row.id).filter((e) => e.event === 'compensation_succeeded').map((e) => e.detail);
  assert.match(details[0], /^release-inventory/, 'the last declared ran first');
  assert.match(details[1], /^refund-payment/);
  const calls = (await (await fetch(`${env.mockURL}/_mock/compensations`)).json()).calls;
  assert.deepEqual(calls.map((c) => c.step), ['release-inventory', 'refund-payment']);
  assert.equal(JSON.parse(calls[0].body).order, id, 'the template was filled in');
  const ledger = sql(`SELECT entry FROM budget_ledger WHERE job_id = ${row.id} ORDER BY id`).map((x) => x[0]);
  assert.deepEqual(ledger, ['hold', 'release']);
  const view = await getJob(id, admin.json.key);
  assert.equal(view.json.status, 'failed');
  assert.equal(view.json.error.type, 'invalid_request_error');
});
