// workflows.test.mjs -- issue 12, workflows (docs/WORKFLOWS.md), through the official SDK and
// plain HTTP: listing and roles, every step kind (http, model, transform, branch, parallel,
// wait, final), sync / async / stream calls and POST /v1/workflows/{name}/runs with any
// JSON input, compensations in reverse order with their Idempotency-Keys, who may signal
// and cancel, usage as the sum of the model steps, and the definition errors with their
// file:line:column. The crash, restart, timer and reload cases are in
// workflows-durable.test.mjs. The workflows are those of config/aif.yaml (`workflows:`);
// their http steps call tests/mock-http, whose call log the tests read.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import {
  OpenAI, env, client, http, createKey, uniq, adminCreateKey, mockStats, waitQueueIdle, sleep, waitFor, JOB_ID_RE, sql,
} from './lib.mjs';
import {
  MOCK_HTTP, mhReset, mhConfig, mhCalls, callsOfRun, startRun, chatAsync, job, waitFinal, waitAtStep,
  stepOf, answerOf, outputOf, signal, assertFailedAt, aifctl, configWithWorkflows,
} from './wflib.mjs';

const T = { timeout: 90000 };
const EXAMPLES = ['demo-rag', 'demo-payment', 'demo-approval'];
const chargeId = (jobId) => `ch_${createHash('sha256').update(`${jobId}:charge`).digest('hex').slice(0, 20)}`;
const paths = (calls) => calls.map((c) => c.path);

before(async () => {
  const r = await fetch(`${MOCK_HTTP}/health`, { signal: AbortSignal.timeout(5000) }).catch((e) => e);
  assert.ok(r && r.status === 200, `the mock HTTP service answers on ${MOCK_HTTP} (scripts/stack.sh starts it): ${r}`);
  await mhReset();
});
after(async () => { await mhReset().catch(() => {}); });

// ---- listing and roles -------------------------------------------------------------------------

test('GET /v1/models lists the workflows (owned_by aif-workflow) to roles whose globs match', T, async () => {
  const c = client();
  const list = await c.models.list();
  const wf = list.data.filter((m) => m.owned_by === 'aif-workflow').map((m) => m.id);
  for (const id of EXAMPLES) assert.ok(wf.includes(id), `${id} listed as a workflow: ${wf}`);
  for (const m of list.data.filter((x) => x.owned_by === 'aif-workflow')) {
    assert.equal(m.object, 'model');
    assert.equal(typeof m.created, 'number');
  }
  assert.ok(list.data.some((m) => m.id === 'demo-chat' && m.owned_by !== 'aif-workflow'), 'the models are still there');
  const one = await c.models.retrieve('demo-rag');
  assert.equal(one.id, 'demo-rag');
  assert.equal(one.owned_by, 'aif-workflow');
  // role batch may use demo-small only: no workflow is listed to it
  const b = client(createKey(uniq('batch'), 'batch'));
  assert.deepEqual((await b.models.list()).data.map((m) => m.id), ['demo-small']);
});

test('roles: a role not allowed the workflow gets 403 model_forbidden (chat, runs), as for a model', T, async () => {
  const key = createKey(uniq('batch'), 'batch');
  await assert.rejects(client(key).chat.completions.create({ model: 'demo-rag', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e instanceof OpenAI.PermissionDeniedError && e.status === 403 && e.code === 'model_forbidden', 'chat');
  const r = await http('/v1/workflows/demo-rag/runs', { key, json: { input: { text: 'hi' } } });
  assert.equal(r.status, 403, r.text);
  // the role may not use the workflow -- or, when its endpoints lack "workflows", the route
  assert.ok(['model_forbidden', 'endpoint_forbidden'].includes(r.json.error.code), r.text);
  const calls = await mhCalls({ path: '/search' });
  assert.equal(calls.length, 0, 'nothing ran');
  // an unknown workflow is 404, like an unknown model
  const u = await http('/v1/workflows/no-such-workflow/runs', { json: { input: {} } });
  assert.equal(u.status, 404, u.text);
});

// ---- the RAG example: http, branch, model, transform (pii_mask), final ---------------------------

test('demo-rag (sync, SDK): hits -> model A (demo-chat) with the documents, the owner e-mail masked', T, async () => {
  await mhReset();
  await waitQueueIdle();
  const s0 = await mockStats();
  const question = `How long does shipping take? ${uniq('rag')}`;
  const { data: r, response } = await client().chat.completions
    .create({ model: 'demo-rag', messages: [{ role: 'user', content: question }] }).withResponse();
  const id = response.headers.get('x-aif-job-id');
  assert.match(id || '', JOB_ID_RE);
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, 'demo-rag');
  const text = r.choices[0].message.content;
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.match(text, /^Mock answer to:/, 'the model step answered');
  assert.match(text, /\(source: Shipping times, owner /, 'the transform appended the first hit');
  assert.ok(!text.includes('@example.com'), `the owner's e-mail is masked: ${text}`);
  assert.match(text, /\[EMAIL/, `masked as the PII policy says: ${text}`);
  assert.ok(r.usage.prompt_tokens > 0 && r.usage.completion_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  // model A ran, model B did not
  const s1 = await mockStats();
  assert.equal((s1.by_model['mock-llama-3-8b'] || 0) - (s0.by_model['mock-llama-3-8b'] || 0), 1, 'demo-chat once');
  assert.equal((s1.by_model['mock-qwen-0.5b'] || 0) - (s0.by_model['mock-qwen-0.5b'] || 0), 0, 'demo-small not');
  // the http step: one call, its Idempotency-Key, X-AIF-Job, the templated header and body
  const calls = await callsOfRun(id);
  assert.deepEqual(paths(calls), ['/search']);
  const [c] = calls;
  assert.equal(c.method, 'POST');
  assert.equal(c.idempotency_key, `${id}:retrieve`);
  assert.equal(c.job, id);
  assert.equal(c.headers['x-trace'], id, '{{run.id}} in a header');
  assert.deepEqual(c.body, { q: question });
  // the run's view: the branch taken, the untaken side never ran
  const j = await job(id);
  assert.equal(j.status, 'succeeded');
  assert.equal(j.model, 'demo-rag');
  assert.equal(stepOf(j, 'retrieve').state, 'succeeded');
  assert.equal(stepOf(j, 'retrieve').attempts, 1);
  assert.equal(stepOf(j, 'decide').branch_taken, 'answer_from_docs');
  for (const s of ['answer_from_docs', 'mask_docs', 'done_docs']) assert.equal(stepOf(j, s).state, 'succeeded', s);
  for (const s of ['answer_plain', 'mask_plain', 'done_plain']) {
    const st = stepOf(j, s);
    assert.ok(!st || !['succeeded', 'running', 'failed'].includes(st.state), `${s} did not run: ${JSON.stringify(st)}`);
  }
  // aifctl jobs show draws the steps and the branch taken
  const show = aifctl(['--config', env.config, 'jobs', 'show', id]);
  assert.equal(show.status, 0, show.stderr);
  for (const s of ['retrieve', 'decide', 'answer_from_docs', 'mask_docs']) assert.match(show.stdout, new RegExp(`\\b${s}\\b`));
  assert.match(show.stdout, /answer_from_docs/);
});

test('demo-rag: no hits -> model B (demo-small); completion kind too', T, async () => {
  await mhReset();
  const { data: r, response } = await client().chat.completions
    .create({ model: 'demo-rag', messages: [{ role: 'user', content: `there is nothing to find ${uniq('n')}` }] }).withResponse();
  const id = response.headers.get('x-aif-job-id');
  assert.match(r.choices[0].message.content, /^Mock answer to: there is nothing to find .*\(no document found\)$/);
  const j = await job(id);
  assert.equal(stepOf(j, 'decide').branch_taken, 'answer_plain');
  assert.equal(stepOf(j, 'decide').state, 'succeeded');
  assert.equal(stepOf(j, 'answer_plain').state, 'succeeded');
  const st = stepOf(j, 'answer_from_docs');
  assert.ok(!st || st.state !== 'succeeded', 'model A did not run');
  // kinds: [chat, completion]: the legacy completions endpoint calls it with the prompt
  const c = await client().completions.create({ model: 'demo-rag', prompt: 'nothing here either' });
  assert.equal(c.object, 'text_completion');
  assert.equal(c.model, 'demo-rag');
  assert.match(c.choices[0].text, /nothing here either.*\(no document found\)$/);
  // demo-payment is chat only
  await assert.rejects(client().completions.create({ model: 'demo-payment', prompt: 'x' }),
    (e) => e instanceof OpenAI.APIError && e.status >= 400 && e.status < 500);
});

// ---- the payment saga: compensations -----------------------------------------------------------------

test('demo-payment: a permanent failure at step 3 runs step 2\'s then step 1\'s compensation, once each', T, async () => {
  await mhReset();
  await mhConfig({ fulfil_status: 400 });	// 400: fails at once, no retry
  const run = await startRun('demo-payment', { text: `order ${uniq('pay')}`, amount: 1200 });
  assert.equal(run.object, 'job');
  assert.equal(run.model, 'demo-payment');
  assert.ok(['queued', 'running'].includes(run.status), run.status);
  const id = run.id;
  const later = [];
  const j = await waitFinal(id);
  assertFailedAt(j, 'fulfil', later);
  assert.equal(stepOf(j, 'charge').state, 'succeeded');
  assert.equal(stepOf(j, 'receipt').state, 'succeeded');
  assert.equal(stepOf(j, 'fulfil').attempts, 1, 'a 4xx is not retried');
  // the calls, in order: step 1, step 3 (step 2 is a model), then the compensations of
  // step 2 and step 1 -- the reverse order
  await sleep(1500);	// nothing more comes after the run is final
  const calls = await callsOfRun(id);
  assert.deepEqual(paths(calls), ['/charge', '/fulfil', '/notify', '/refund']);
  const keys = calls.map((c) => c.idempotency_key);
  assert.deepEqual(keys, [`${id}:charge`, `${id}:fulfil`, `${id}:receipt:compensation`, `${id}:charge:compensation`]);
  assert.equal(new Set(keys).size, 4, 'one Idempotency-Key per (job, step)');
  for (const c of calls) assert.equal(c.job, id, 'X-AIF-Job');
  // the templates saw the recorded outputs: the refund names the charge step 1 got
  const [charge, fulfil, notify, refund] = calls;
  assert.deepEqual(charge.body, { amount: 1200, currency: 'krw', order: id });
  assert.deepEqual(fulfil.body, { order: id, charge: chargeId(id) });
  assert.equal(notify.body.event, 'receipt_voided');
  assert.equal(notify.body.order, id);
  assert.match(notify.body.receipt, /^Mock answer to: Write a receipt for charge/, 'step 2\'s own output');
  assert.deepEqual(refund.body, { charge: chargeId(id), amount: 1200 });
  // the header secret came from the file, not from the YAML
  const secret = fs.readFileSync(path.join(env.varDir, 'secrets', 'engine-key'), 'utf8').replace(/\r?\n$/, '');
  assert.equal(charge.headers.authorization, `Bearer ${secret}`);
  assert.ok(!configWithWorkflows().includes(secret), 'the secret is not in the YAML');
  assert.equal(fulfil.headers.authorization, undefined, 'only the step that names it sends it');
  for (const f of later) f();
});

test('demo-payment: a retryable failure is retried with the same key; a failing compensation is retried until done', T, async () => {
  await mhReset();
  await mhConfig({ fulfil_status: 503, refund_failures: 2 });
  const id = await chatAsync('demo-payment', `order ${uniq('pay2')}`);
  const later = [];
  const j = await waitFinal(id, { timeoutMs: 60000 });
  assertFailedAt(j, 'fulfil', later);
  assert.equal(stepOf(j, 'fulfil').attempts, 2, 'maximum_attempts: 2');
  await sleep(1000);
  const calls = await callsOfRun(id);
  assert.deepEqual(paths(calls), ['/charge', '/fulfil', '/fulfil', '/notify', '/refund', '/refund', '/refund']);
  assert.equal(calls[1].idempotency_key, calls[2].idempotency_key, 'a retry repeats the key');
  const refunds = calls.filter((c) => c.path === '/refund');
  assert.ok(refunds.every((c) => c.idempotency_key === `${id}:charge:compensation`));
  // through chat, input.amount is absent: the whole-value template gives null
  assert.equal(calls[0].body.amount, null);
  for (const f of later) f();
});

test('demo-payment: when every step succeeds, no compensation runs and the output is the final template', T, async () => {
  await mhReset();
  await mhConfig({ fulfil_status: 200 });
  const run = await startRun('demo-payment', { text: 'fine', amount: 7 });
  const j = await waitFinal(run.id);
  assert.equal(j.status, 'succeeded', JSON.stringify(j.error));
  assert.equal(outputOf(j).charge, chargeId(run.id));
  assert.match(outputOf(j).receipt, /^Mock answer to: Write a receipt/);
  assert.deepEqual(outputOf(j).fulfilment, { fulfilled: true, order: run.id });
  await sleep(500);
  assert.deepEqual(paths(await callsOfRun(run.id)), ['/charge', '/fulfil']);
});

test('demo-payment: cancelling a run in the middle runs the compensations of its finished steps', T, async () => {
  await mhReset();
  await mhConfig({ fulfil_status: 200, delay_ms: { '/fulfil': 4000 } });
  const run = await startRun('demo-payment', { text: 'cancel me', amount: 3 });
  await waitFor(async () => paths(await callsOfRun(run.id)).includes('/fulfil'), { timeoutMs: 30000, what: 'step 3 to start' });
  const c = await http(`/v1/jobs/${run.id}/cancel`, { json: {} });
  assert.ok([200, 202].includes(c.status), c.text);
  const j = await waitFinal(run.id, { timeoutMs: 60000 });
  assert.equal(j.status, 'cancelled');
  await sleep(4500);	// the cut-off /fulfil call has ended on the mock's side too
  const calls = await callsOfRun(run.id);
  const comps = calls.filter((x) => x.path === '/notify' || x.path === '/refund');
  assert.deepEqual(paths(comps), ['/notify', '/refund'], 'step 2\'s, then step 1\'s');
  assert.deepEqual(comps.map((x) => x.idempotency_key), [`${run.id}:receipt:compensation`, `${run.id}:charge:compensation`]);
});

test('demo-payment: a model step whose budget hold is refused fails the run (insufficient_quota) and compensates', T, async () => {
  await mhReset();
  await mhConfig({ fulfil_status: 200 });
  const poor = (await adminCreateKey({ name: uniq('poor'), role: 'user', monthly_budget_micros: 1 })).key;
  const run = await startRun('demo-payment', { text: 'a receipt I cannot pay for', amount: 5 }, { key: poor });
  const j = await waitFinal(run.id, { key: poor, timeoutMs: 60000 });
  assert.equal(j.status, 'failed', JSON.stringify(j).slice(0, 600));
  assert.equal(j.error.code, 'insufficient_quota', JSON.stringify(j.error));
  assert.equal(stepOf(j, 'charge').state, 'succeeded');
  assert.notEqual(stepOf(j, 'receipt').state, 'succeeded');
  await sleep(1000);
  const calls = await callsOfRun(run.id);
  assert.deepEqual(paths(calls), ['/charge', '/refund'], 'the charge is refunded; fulfil never ran');
  assert.equal(calls[1].idempotency_key, `${run.id}:charge:compensation`);
});

test('PII: what an http step sends is masked with the workflow\'s policy, from chat and from /runs input', T, async () => {
  await mhReset();
  const mail = 'lee.minho@example.com';
  const run = await startRun('demo-wf-stream', { text: `write to ${mail} about order 7` });
  const j = await waitFinal(run.id);
  assert.equal(j.status, 'succeeded', JSON.stringify(j.error));
  const [lookup] = await callsOfRun(run.id);
  assert.equal(lookup.path, '/echo');
  assert.ok(!JSON.stringify(lookup.body).includes(mail), `the e-mail left unmasked: ${JSON.stringify(lookup.body)}`);
  assert.match(lookup.body.question, /^write to \S*EMAIL\S* about order 7$/);
  const { response } = await client().chat.completions
    .create({ model: 'demo-wf-stream', messages: [{ role: 'user', content: `write to ${mail} now` }] }).withResponse();
  const [c2] = await callsOfRun(response.headers.get('x-aif-job-id'));
  assert.ok(!JSON.stringify(c2.body).includes(mail), 'masked through chat too');
});

// ---- the approval example: wait for a signal; who may signal and cancel ------------------------------

test('demo-approval (sync): the caller\'s timeout is 504 job_timeout and the run goes on waiting, not expired', T, async () => {
  const r = await http('/v1/chat/completions', { json: { model: 'demo-approval', messages: [{ role: 'user', content: `sync approval ${uniq('sy')}` }] } });
  assert.equal(r.status, 504, r.text);
  assert.equal(r.json.error.code, 'job_timeout');
  const id = r.headers.get('x-aif-job-id');
  assert.match(id, JOB_ID_RE);
  const w = await waitAtStep(id, 'approval');
  assert.equal(w.status, 'waiting');
  // personal data in a signal's payload is masked before it is stored
  assert.equal((await signal(id, 'approval', { approved: true, note: 'later, ask kim.minsu@example.com' })).status, 202);
  assert.equal((await waitFinal(id)).status, 'succeeded');
  const stored = sql(`SELECT s.payload FROM job_signals s JOIN jobs j ON j.id = s.job_id WHERE j.public_id = '${id}'`);
  assert.equal(stored.length, 1);
  assert.ok(!stored[0][0].includes('kim.minsu@example.com') && stored[0][0].includes('[EMAIL'), stored[0][0]);
  assert.ok(!JSON.stringify(await job(id)).includes('kim.minsu@example.com'), 'nor does the run show it');
});

test('demo-approval: waits for the signal; only the owner key or an admin may signal or cancel', T, async () => {
  const owner = (await adminCreateKey({ name: uniq('own'), role: 'user' })).key;
  const other = (await adminCreateKey({ name: uniq('oth'), role: 'user' })).key;
  const id = await chatAsync('demo-approval', `please refund order seven ${uniq('ap')}`, { key: owner });
  const w = await waitAtStep(id, 'approval', { key: owner });
  assert.ok(['waiting', 'queued', 'running'].includes(w.status), w.status);
  assert.equal(stepOf(w, 'draft').state, 'succeeded');
  assert.match(String(stepOf(w, 'approval').waiting_for), /approval/);
  // the DBA's view: the run, at its wait step, waiting for the signal
  assert.deepEqual(sql(`SELECT workflow, current_step, step_kind, step_state, waiting_for FROM v_running_workflows WHERE public_id = '${id}'`),
    [['demo-approval', 'approval', 'wait', 'waiting', 'signal:approval']], 'v_running_workflows');
  // another key: 404 (it cannot see the job), for GET, signal and cancel
  assert.equal((await http(`/v1/jobs/${id}`, { key: other })).status, 404);
  assert.equal((await signal(id, 'approval', { approved: true }, other)).status, 404);
  assert.equal((await http(`/v1/jobs/${id}/cancel`, { key: other, json: {} })).status, 404);
  // a bad signal name is 400
  assert.equal((await signal(id, 'bad name!', {}, owner)).status, 400);
  await sleep(500);
  assert.equal((await job(id, owner)).workflow.current_step, 'approval', 'still waiting');
  // the owner signals
  const s = await signal(id, 'approval', { approved: true, note: 'looks good' }, owner);
  assert.equal(s.status, 202, s.text);
  assert.deepEqual(s.json, { object: 'workflow.signal', job: id, name: 'approval', accepted: true });
  const j = await waitFinal(id, { key: owner });
  assert.equal(j.status, 'succeeded');
  const text = answerOf(j);
  assert.match(text, /^Mock answer to: Finalise this draft looks good Mock answer to/, 'the payload reached finalise');
  assert.equal(stepOf(j, 'check').branch_taken, 'finalise');
  // the run is final: 409
  assert.equal((await signal(id, 'approval', { approved: true }, owner)).status, 409);
  // an admin may signal another key's run
  const id2 = await chatAsync('demo-approval', 'second one', { key: owner });
  await waitAtStep(id2, 'approval', { key: owner });
  const s2 = await signal(id2, 'approval', { approved: false, note: 'no budget' }, env.adminKey);
  assert.equal(s2.status, 202, s2.text);
  const j2 = await waitFinal(id2, { key: owner });
  assert.equal(j2.status, 'succeeded');
  assert.equal(answerOf(j2), 'Rejected: no budget');
  assert.equal(stepOf(j2, 'check').branch_taken, 'rejected');
  // the owner may cancel a waiting run
  const id3 = await chatAsync('demo-approval', 'third one', { key: owner });
  await waitAtStep(id3, 'approval', { key: owner });
  const c = await http(`/v1/jobs/${id3}/cancel`, { key: owner, json: {} });
  assert.ok([200, 202].includes(c.status), c.text);
  const j3 = await waitFinal(id3, { key: owner });
  assert.equal(j3.status, 'cancelled');
  assert.equal((await signal(id3, 'approval', { approved: true }, owner)).status, 409);
});

// ---- stream --------------------------------------------------------------------------------------------

test('stream: a final model step streams through the relay; otherwise the answer is one chunk', T, async () => {
  const content = `stream me please ${uniq('st')}`;
  const sync = await client().chat.completions.create({ model: 'demo-wf-stream', messages: [{ role: 'user', content }] });
  const stream = await client().chat.completions.create({ model: 'demo-wf-stream', messages: [{ role: 'user', content }], stream: true });
  let text = '';
  let pieces = 0;
  let finish = null;
  const models = new Set();
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    models.add(chunk.model);
    const d = chunk.choices[0]?.delta?.content;
    if (d) { text += d; pieces++; }
    if (chunk.choices[0]?.finish_reason) finish = chunk.choices[0].finish_reason;
  }
  assert.equal(text, sync.choices[0].message.content, 'the same answer');
  assert.ok(pieces > 3, `token by token (${pieces} pieces)`);
  assert.ok(finish, 'a finish_reason');
  // demo-rag ends in a transform: one chunk with the whole answer
  const q = `How long does shipping take? ${uniq('st2')}`;
  const rs = await client().chat.completions.create({ model: 'demo-rag', messages: [{ role: 'user', content: q }], stream: true });
  const parts = [];
  for await (const chunk of rs) { const d = chunk.choices[0]?.delta?.content; if (d) parts.push(d); }
  assert.equal(parts.length, 1, `one content chunk: ${JSON.stringify(parts)}`);
  assert.match(parts[0], /^Mock answer to: .*\(source: Shipping times/);
  assert.deepEqual([...models], ['demo-wf-stream'], 'every chunk names the workflow, not the step\'s model');
});

// ---- POST /v1/workflows/{name}/runs, transforms, parallel, http edge cases -----------------------------

test('runs: any JSON input, 202 job, GET the run; a strict extract fails the run at that step', T, async () => {
  const run = await startRun('demo-wf-extract', { order: { id: 'o-7', lines: [1, 2] } }, { headers: { Prefer: 'wait' } });
  assert.equal(run.object, 'job');
  assert.equal(run.model, 'demo-wf-extract');
  const j = await waitFinal(run.id);
  assert.equal(j.status, 'succeeded');
  assert.deepEqual(outputOf(j), { id: 'o-7', run: 'demo-wf-extract' });
  // other JSON values as input: the path is absent -> non-retryable failure of "pick"
  const later = [];
  for (const input of [[1, 2], 'text', 42, null, { order: {} }]) {
    const r = await startRun('demo-wf-extract', input);
    const f = await waitFinal(r.id);
    assertFailedAt(f, 'pick', later);
    assert.equal(stepOf(f, 'pick').attempts, 1, 'extract failures are not retried');
  }
  // a body that is not JSON
  const bad = await http('/v1/workflows/demo-wf-extract/runs', { body: '{"input": ', headers: { 'Content-Type': 'application/json' } });
  assert.equal(bad.status, 400);
  for (const f of later) f();
});

test('transforms: extract (with default), truncate (UTF-8 safe, 4 bytes a token), format', T, async () => {
  const a = await startRun('demo-wf-transform', { text: 'shipping question with many words here' });
  const ja = await waitFinal(a.id);
  assert.equal(ja.status, 'succeeded', JSON.stringify(ja.error));
  assert.equal(answerOf(ja), 'title=Shipping times|cut=shipping questio|hits=1');
  // 4 tokens = 16 bytes; the 6th Hangul syllable (bytes 16..18) is not cut in the middle
  const b = await startRun('demo-wf-transform', { text: '가나다라마바사' });
  const jb = await waitFinal(b.id);
  assert.equal(answerOf(jb), 'title=Refund policy|cut=가나다라마|hits=1');
  // no hit: the extract's default
  const c = await startRun('demo-wf-transform', { text: 'nothing' });
  const jc = await waitFinal(c.id);
  assert.equal(answerOf(jc), 'title=(none)|cut=nothing|hits=0');
});

test('parallel: wait all joins every member; wait first continues with the first to finish', T, async () => {
  await mhReset();
  const run = await startRun('demo-wf-parallel', { text: `shipping please ${uniq('par')}` });
  const j = await waitFinal(run.id);
  assert.equal(j.status, 'succeeded', JSON.stringify(j.error));
  assert.match(answerOf(j), /^hits=1 echo=200 summary=Mock answer to: shipping please/);
  for (const s of ['fan', 'docs', 'echo', 'summary', 'join']) assert.equal(stepOf(j, s).state, 'succeeded', s);
  assert.deepEqual(paths(await callsOfRun(run.id)).sort(), ['/any/parallel-echo', '/search']);
  await mhConfig({ slow_ms: 8000 });
  try {
    const race = await startRun('demo-wf-race', {});
    const jr = await waitFinal(race.id, { timeoutMs: 30000 });
    assert.equal(jr.status, 'succeeded', JSON.stringify(jr.error));
    assert.deepEqual(outputOf(jr), { first: 'quick', status: 200 });
  } finally {
    await mhConfig({ slow_ms: 3000 });
  }
});

test('http: a redirect is not followed, a body past response_max fails, a retryable status is retried with one key', T, async () => {
  await mhReset();
  const r = await startRun('demo-wf-http-edges', { text: 'redirect' });
  const later = [];
  const jr = await waitFinal(r.id);
  assertFailedAt(jr, 'redirect', later);
  assert.equal(stepOf(jr, 'redirect').attempts, 1, 'a 3xx is not retried');
  assert.deepEqual(paths(await callsOfRun(r.id)), ['/redirect'], 'Location not followed');
  assert.equal((await mhCalls({ path: '/echo' })).length, 0);

  const b = await startRun('demo-wf-http-edges', { text: 'big' });
  const jb = await waitFinal(b.id);
  assertFailedAt(jb, 'big', later);

  const f = await startRun('demo-wf-http-edges', { text: `flaky ${uniq('f')}` });
  const jf = await waitFinal(f.id);
  assert.equal(jf.status, 'succeeded', JSON.stringify(jf.error));
  assert.deepEqual(outputOf(jf), { attempt: 3 });
  const calls = await callsOfRun(f.id);
  assert.deepEqual(paths(calls), ['/flaky', '/flaky', '/flaky']);
  assert.ok(calls.every((c) => c.idempotency_key === `${f.id}:flaky`));
  assert.equal(stepOf(jf, 'flaky').attempts, 3);
  assert.equal(stepOf(jf, 'pick').branch_taken, 'flaky');
  for (const f of later) f();
});

// ---- usage ---------------------------------------------------------------------------------------------

test('usage: the answer\'s usage is the sum of the model steps (pre -> model A -> model B -> post)', T, async () => {
  await waitQueueIdle();
  const s0 = await mockStats();
  const r = await client().chat.completions.create({ model: 'demo-wf-pipeline', messages: [{ role: 'user', content: `sum me ${uniq('u')}` }] });
  const s1 = await mockStats();
  const d = (k) => (s1.tokens[k] || 0) - (s0.tokens[k] || 0);
  const req = (p) => (s1.requests[p] || 0) - (s0.requests[p] || 0);
  assert.equal(req('/v1/chat/completions'), 1, 'model A (messages)');
  assert.equal(req('/v1/completions'), 1, 'model B (prompt)');
  assert.equal(r.usage.prompt_tokens, d('prompt'));
  assert.equal(r.usage.completion_tokens, d('completion'));
  assert.equal(r.usage.total_tokens, d('prompt') + d('completion'));
  // post truncates model B's answer to 8 tokens = 32 bytes
  const text = r.choices[0].message.content;
  assert.equal(Buffer.byteLength(text), 32, text);
  assert.match(text, /^Mock answer to: Improve Mock/);
});

// ---- definitions: errors with their position -------------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aif-wf-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Position (1-based line, column) of offset i in text. */
function pos(text, i) {
  const before = text.slice(0, i);
  return { line: before.split('\n').length, col: i - before.lastIndexOf('\n') };
}

/**
 * The config with workflows, with `find` (unique) replaced by `repl`; returns the file and
 * the position of `mark` inside repl (where the error must point).
 */
function broken(name, edits) {
  let text = configWithWorkflows();
  const marks = [];
  for (const { find, repl, mark } of edits) {
    const i = text.indexOf(find);
    assert.ok(i >= 0 && text.indexOf(find, i + 1) < 0, `${name}: "${find}" occurs once in the config`);
    text = text.slice(0, i) + repl + text.slice(i + find.length);
    // earlier marks after i move with the edit
    for (const m of marks) if (m.off > i) m.off += repl.length - find.length;
    marks.push({ off: i + repl.indexOf(mark) });
  }
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return { file, at: marks.map((m) => pos(text, m.off)) };
}

function check(file) {
  const r = aifctl(['config', 'check', file]);
  return { ...r, out: `${r.stdout}${r.stderr}` };
}

/** Asserts out names file:line:col (col or col+1: a quoted scalar's quote or its text) with re. */
function assertAt(out, file, at, re) {
  const base = path.basename(file).replace(/\./g, '\\.');
  const line = new RegExp(`${base}:${at.line}:(?:${at.col}|${at.col + 1}): ([^\\n]*)`);
  const m = out.match(line);
  assert.ok(m, `expected ${path.basename(file)}:${at.line}:${at.col} in:\n${out}`);
  assert.match(m[1], re, 'the message (after the position)');
}

test('config check: the workflows of config/aif.yaml are valid', T, () => {
  const file = path.join(tmp, 'good.yaml');
  fs.writeFileSync(file, configWithWorkflows());
  const r = check(file);
  assert.equal(r.status, 0, r.out);
});

test('config check: invalid workflows are refused with file:line:column, every error collected', T, () => {
  const cases = [
    ['kind.yaml', [{ find: 'name: pick\n        kind: transform', repl: 'name: pick\n        kind: foo', mark: 'foo' }],
      /workflows\[\d+\]\.steps\[0\]\.kind: unknown step kind 'foo' \(model, http, transform, branch, parallel, wait, final\)/],
    ['model.yaml', [{ find: 'model: demo-small\n        prompt:', repl: 'model: demo-nope\n        prompt:', mark: 'demo-nope' }],
      /steps\[2\]\.model: unknown model 'demo-nope'/],
    ['cycle.yaml', [{ find: 'max_tokens: 8\n        next: done', repl: 'max_tokens: 8\n        next: model_a', mark: 'model_a' }],
      /next: 'model_a' closes a cycle: model_a -> model_b -> post -> model_a/],
    ['unreachable.yaml', [{ find: 'run: "{{run.workflow}}"}\n', repl: 'run: "{{run.workflow}}"}\n      - name: orphan\n        kind: final\n        output: never\n', mark: 'orphan' }],
      /steps\[\d+\]\.name: step 'orphan' is not reachable from start step 'pick'/],
    ['dominate.yaml', [{ find: '"{{steps.answer_plain.output.text}} (no document found)"', repl: '"{{steps.answer_from_docs.output.text}} (no document found)"', mark: '"' }],
      /steps\.answer_from_docs is not run on every path to step 'mask_plain'/],
    ['unknown-step.yaml', [{ find: 'template: "Question: {{input.text}}"', repl: 'template: "Question: {{steps.nope.output}}"', mark: '"' }],
      /unknown step 'nope'/],
    ['unterminated.yaml', [{ find: 'template: "Question: {{input.text}}"', repl: 'template: "Question: {{input.text"', mark: '"' }],
      /template: unterminated '\{\{'/],
    ['next.yaml', [{ find: 'next: late_done', repl: 'next: nowhere', mark: 'nowhere' }], /next: .*'nowhere'/],
    ['name.yaml', [{ find: '- name: demo-wf-extract\n', repl: '- name: demo-chat\n', mark: 'demo-chat' }], /name: 'demo-chat' is a model id/],
  ];
  for (const [name, edits, re] of cases) {
    const { file, at } = broken(name, edits);
    const r = check(file);
    assert.notEqual(r.status, 0, `${name} is refused:\n${r.out}`);
    assertAt(r.out, file, at[0], re);
  }
  // two faults in one file: both reported
  const { file, at } = broken('two.yaml', [
    { find: 'name: pick\n        kind: transform', repl: 'name: pick\n        kind: foo', mark: 'foo' },
    { find: 'model: demo-small\n        prompt:', repl: 'model: demo-nope\n        prompt:', mark: 'demo-nope' },
  ]);
  const r = check(file);
  assert.notEqual(r.status, 0);
  assertAt(r.out, file, at[0], /unknown step kind 'foo'/);
  assertAt(r.out, file, at[1], /unknown model/);
});
