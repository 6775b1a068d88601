// async.test.mjs -- Prefer: respond-async (202 + job object + Location), polling
// GET /v1/jobs/{id} until the job is final, ownership of jobs, failed jobs, and the sync
// path's 504 (the stack runs with AIF_SYNC_TIMEOUT_MS=5000) after which the job still
// finishes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chatPromptTokens, generate } from '../mock-engine/tokenizer.mjs';
import {
  OpenAI, env, client, http, createKey, uniq, errorOf, chatBody, getJob, jobRow, jobEvents,
  usageRow, waitFor, JOB_ID_RE, DEFAULT_PRIORITY, expectedCost,
} from './lib.mjs';

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);
const JOB_KEYS = ['id', 'object', 'model', 'kind', 'status', 'priority', 'attempts', 'created_at',
  'started_at', 'finished_at', 'http_status', 'response', 'error'];

/** Polls GET /v1/jobs/{id} until final; returns the last job object and every status seen. */
async function pollJob(id, { key = env.apiKey, timeoutMs = 30000 } = {}) {
  const seen = [];
  let job;
  await waitFor(async () => {
    const r = await getJob(id, key);
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.equal(r.headers.get('x-aif-job-id'), id);
    job = r.json;
    if (seen[seen.length - 1] !== job.status) seen.push(job.status);
    return FINAL.has(job.status);
  }, { timeoutMs, intervalMs: 100, what: `job ${id} to be final` });
  return { job, seen };
}

function assertJobShape(j) {
  assert.deepEqual(Object.keys(j).sort(), [...JOB_KEYS].sort());
  assert.match(j.id, JOB_ID_RE);
  assert.equal(j.object, 'job');
  assert.ok(['queued', 'running', 'succeeded', 'failed', 'cancelled'].includes(j.status), j.status);
  assert.ok(Number.isInteger(j.created_at) && j.created_at > 1.6e9, `created_at ${j.created_at}`);
  for (const k of ['started_at', 'finished_at', 'http_status']) assert.ok(j[k] === null || Number.isInteger(j[k]), `${k}: ${j[k]}`);
}

test('Prefer: respond-async -> 202 job, Location, polling to the same body the sync call returns', { timeout: 60000 }, async () => {
  const content = `async hello ${uniq('a')} [[mock:latency=1500]]`;
  const t0 = Math.floor(Date.now() / 1000);
  const r = await http('/v1/chat/completions', { headers: { Prefer: 'respond-async' }, json: chatBody(content) });
  assert.equal(r.status, 202, r.text);
  assert.ok(r.ms < 1000, `202 came at once (${r.ms} ms), not after the engine`);
  const j = r.json;
  assertJobShape(j);
  assert.equal(j.status, 'queued');
  assert.equal(j.model, 'demo-chat');
  assert.equal(j.kind, 'chat');
  assert.equal(j.priority, DEFAULT_PRIORITY);
  assert.equal(j.attempts, 0);
  assert.equal(j.response, null);
  assert.equal(j.error, null);
  assert.equal(j.finished_at, null);
  assert.ok(j.created_at >= t0 - 5);
  assert.equal(r.headers.get('location'), `/v1/jobs/${j.id}`);
  assert.equal(r.headers.get('x-aif-job-id'), j.id);
  assert.match(r.headers.get('x-request-id') || '', /^req_/);

  // Follow the Location header.
  const first = await http(r.headers.get('location'));
  assert.equal(first.status, 200);
  assertJobShape(first.json);
  assert.ok(['queued', 'running'].includes(first.json.status), `1.5 s engine latency: not final yet (${first.json.status})`);

  const { job, seen } = await pollJob(j.id);
  assertJobShape(job);
  assert.equal(job.status, 'succeeded', JSON.stringify(job));
  assert.ok(seen.includes('running') || seen.includes('queued'), `statuses seen: ${seen}`);
  assert.equal(job.attempts, 1);
  assert.equal(job.http_status, 200);
  assert.equal(job.error, null);
  assert.ok(job.started_at >= job.created_at && job.finished_at >= job.started_at);

  // The response is the OpenAI body a sync call returns.
  const resp = job.response;
  assert.equal(resp.object, 'chat.completion');
  assert.equal(resp.model, 'demo-chat');
  assert.equal(resp.choices[0].message.content, generate(content).text);
  const pt = chatPromptTokens([{ role: 'user', content }]);
  assert.deepEqual([resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens], [pt, 16, pt + 16]);
  const sync = await client().chat.completions.create(chatBody(content));
  for (const k of ['object', 'model', 'usage']) assert.deepEqual(resp[k], sync[k], `same ${k} as the sync call`);
  assert.deepEqual(resp.choices, sync.choices);

  // And what the database holds.
  const row = jobRow(j.id);
  assert.deepEqual(JSON.parse(row.response_body), resp);
  const u = usageRow(row.id);
  assert.equal(u.prompt_tokens, pt);
  assert.equal(u.cost_micros, expectedCost('demo-chat', pt, 16));
});

test('async via the SDK: legacy completion with Prefer header', { timeout: 30000 }, async () => {
  const { data, response } = await client().completions
    .create({ model: 'demo-small', prompt: 'async prompt', max_tokens: 3 }, { headers: { Prefer: 'respond-async' } })
    .withResponse();
  assert.equal(response.status, 202);
  assert.equal(data.object, 'job');
  assert.equal(data.kind, 'completion');
  assert.equal(data.model, 'demo-small');
  const { job } = await pollJob(data.id);
  assert.equal(job.status, 'succeeded');
  assert.equal(job.response.object, 'text_completion');
  assert.equal(job.response.choices[0].text, generate('async prompt', { maxTokens: 3 }).text);
  assert.equal(job.response.usage.completion_tokens, 3);
});

test('a job is visible to its own key only (another key gets 404)', { timeout: 30000 }, async () => {
  const r = await http('/v1/chat/completions', { headers: { Prefer: 'respond-async' }, json: chatBody('mine') });
  assert.equal(r.status, 202);
  const id = r.json.id;
  const other = createKey(uniq('other'), 'user');
  const o = await getJob(id, other);
  assert.equal(o.status, 404);
  assert.equal(errorOf(o).code, 'job_not_found');
  assert.equal(o.headers.get('x-aif-job-id'), null, 'no job id leaks to another key');
  // The SDK's generic GET sees the same.
  await assert.rejects(client(other).get(`/jobs/${id}`), (e) => e instanceof OpenAI.NotFoundError && e.status === 404);
  // The owner still sees it.
  const mine = await getJob(id);
  assert.equal(mine.status, 200);
  assert.equal(mine.json.id, id);
  const { job } = await pollJob(id);
  assert.equal(job.status, 'succeeded');
  // Still 404 for the other key once final.
  assert.equal((await getJob(id, other)).status, 404);
});

test('an engine 400 fails the job once, no retry; the job shows the error', { timeout: 30000 }, async () => {
  const r = await http('/v1/chat/completions', { headers: { Prefer: 'respond-async' }, json: chatBody('bad [[mock:status=400]]') });
  assert.equal(r.status, 202);
  const { job } = await pollJob(r.json.id);
  assertJobShape(job);
  assert.equal(job.status, 'failed');
  assert.equal(job.response, null);
  assert.equal(job.attempts, 1);
  assert.equal(job.http_status, 400);
  assert.ok(job.error && typeof job.error.message === 'string' && job.error.message, JSON.stringify(job.error));
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in job.error, `error has ${k}`);
  const ev = jobEvents(jobRow(job.id).id).map((e) => e.event);
  assert.equal(ev.filter((e) => e === 'claimed').length, 1, `events: ${ev}`);
  assert.equal(ev[ev.length - 1], 'failed');
  assert.equal(usageRow(jobRow(job.id).id), null, 'no usage for a failed job');
  // The sync call answers the same error class.
  await assert.rejects(client().chat.completions.create(chatBody('bad [[mock:status=400]]')),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /^job_/.test(e.headers.get('x-aif-job-id') || ''));
});

// The test stack runs with AIF_SYNC_TIMEOUT_MS=5000 (scripts/run-tests.sh exports it; the
// engine latency is that plus 2 s).
const SYNC_MS = Number(process.env.AIF_SYNC_TIMEOUT_MS || 5000);
const SLOW_MS = SYNC_MS + 2000;

test(`sync wait times out after ${SYNC_MS} ms -> 504 with the job id; the job then succeeds`, { timeout: SLOW_MS + 40000 }, async () => {
  const content = `slow ${uniq('slow')} [[mock:latency=${SLOW_MS}]]`;
  const t0 = Date.now();
  let err;
  try {
    await client().chat.completions.create(chatBody(content));
  } catch (e) { err = e; }
  const ms = Date.now() - t0;
  assert.ok(err, 'the request failed');
  assert.ok(err instanceof OpenAI.InternalServerError, `InternalServerError, got ${err.constructor.name}: ${err.message}`);
  assert.equal(err.status, 504);
  assert.ok(ms >= SYNC_MS - 500 && ms < SLOW_MS - 100, `answered after the ${SYNC_MS} ms sync timeout, before the engine (${ms} ms)`);
  const id = err.headers.get('x-aif-job-id');
  assert.match(id || '', JOB_ID_RE);
  assert.ok(err.error.message.includes(id), `the message names the job: ${err.error.message}`);
  assert.match(err.headers.get('x-request-id') || '', /^req_/);

  // The job goes on and succeeds.
  const now = await getJob(id);
  assert.equal(now.status, 200);
  assert.ok(['queued', 'running'].includes(now.json.status), `still going after the 504: ${now.json.status}`);
  const { job } = await pollJob(id, { timeoutMs: 20000 });
  assert.equal(job.status, 'succeeded');
  assert.equal(job.http_status, 200);
  assert.equal(job.response.choices[0].message.content, generate(content).text);
  assert.ok(Date.now() - t0 >= SLOW_MS - 100, 'finished after the engine latency');
});
