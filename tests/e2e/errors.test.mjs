// errors.test.mjs -- every client error of the gateway, in the OpenAI error shape:
// typed SDK exceptions where the SDK can send the request, raw fetch for what it cannot
// (malformed JSON, wrong content type, huge bodies, wrong methods). Bad input must
// change nothing: no job is created.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  OpenAI, env, client, http, sql, sqlNumber, q, createKey, uniq, errorOf, chatBody,
} from './lib.mjs';

const T = { timeout: 30000 };
let maxJobBefore;

/** Rows created for jobs newer than maxJobBefore: [jobs, job_events, usage]. */
function newRows() {
  const m = Number(maxJobBefore);
  const [[j, e, u]] = sql(`SELECT (SELECT COUNT(*) FROM jobs WHERE id > ${m}),
    (SELECT COUNT(*) FROM job_timeline WHERE job_id > ${m}), (SELECT COUNT(*) FROM \`usage\` WHERE job_id > ${m})`);
  return [Number(j), Number(e), Number(u)];
}

before(() => { maxJobBefore = sqlNumber('SELECT COALESCE(MAX(id), 0) FROM jobs'); });

/** Asserts a typed SDK exception; returns it. */
async function sdkError(promise, Cls, status, { code, param, type } = {}) {
  let err;
  try {
    const v = await promise;
    assert.fail(`expected ${Cls.name} (${status}), got a result: ${JSON.stringify(v).slice(0, 200)}`);
  } catch (e) {
    if (e instanceof assert.AssertionError) throw e;
    err = e;
  }
  assert.ok(err instanceof Cls, `expected ${Cls.name}, got ${err && err.constructor && err.constructor.name}: ${err && err.message}`);
  assert.equal(err.status, status);
  if (code !== undefined) assert.equal(err.code, code, `code of: ${err.message}`);
  if (param !== undefined) assert.equal(err.param, param, `param of: ${err.message}`);
  if (type !== undefined) assert.equal(err.type, type);
  assert.equal(typeof err.error?.message, 'string', 'error.message is a string');
  for (const k of ['message', 'type', 'param', 'code']) assert.ok(k in err.error, `error has "${k}"`);
  assert.match(err.headers.get('x-request-id') || '', /^req_/, 'x-request-id on the error');
  assert.equal(err.headers.get('x-aif-job-id'), null, 'no job for a rejected request');
  return err;
}

/** Asserts a raw JSON error response; returns body.error. */
function rawError(r, status, { code, param } = {}) {
  assert.equal(r.status, status, `status; body: ${r.text.slice(0, 300)}`);
  assert.match(r.headers.get('content-type') || '', /^application\/json/, 'JSON content type');
  const e = errorOf(r);
  if (code !== undefined) assert.equal(e.code, code);
  if (param !== undefined) assert.equal(e.param, param);
  assert.ok(r.headers.get('x-request-id'), 'x-request-id on the error');
  return e;
}

// ---- 401 ------------------------------------------------------------------------------

test('401: unknown key -> AuthenticationError invalid_api_key', T, async () => {
  const bad = client('aif_' + 'x'.repeat(38));
  await sdkError(bad.chat.completions.create(chatBody('hi')), OpenAI.AuthenticationError, 401, { code: 'invalid_api_key' });
  await sdkError(bad.models.list(), OpenAI.AuthenticationError, 401, { code: 'invalid_api_key' });
  // A real key with one character changed.
  const k = env.apiKey;
  const flipped = k.slice(0, -1) + (k.endsWith('A') ? 'B' : 'A');
  await sdkError(client(flipped).models.list(), OpenAI.AuthenticationError, 401, { code: 'invalid_api_key' });
});

test('401: missing or non-Bearer Authorization (raw)', T, async () => {
  rawError(await http('/v1/chat/completions', { key: null, json: chatBody('hi') }), 401, { code: 'invalid_api_key' });
  rawError(await http('/v1/models', { key: null }), 401, { code: 'invalid_api_key' });
  rawError(await http('/v1/models', { key: null, headers: { Authorization: `Basic ${env.apiKey}` } }), 401, { code: 'invalid_api_key' });
  rawError(await http('/v1/models', { key: null, headers: { Authorization: 'Bearer ' } }), 401, { code: 'invalid_api_key' });
});

// ---- 403 ------------------------------------------------------------------------------

test('403: a key whose role may not use the endpoint -> PermissionDeniedError', T, async () => {
  // config/aif.yaml gives every role all four endpoints, so the only way to a 403 is a
  // role that grants nothing: a key whose role is not in the config (set in the DB before
  // the key is first used, so no cached principal exists).
  const name = uniq('norole');
  const key = createKey(name, 'user');
  sql(`UPDATE api_keys SET role = 'e2e_no_such_role' WHERE name = ${q(name)}`);
  const c = client(key);
  await sdkError(c.chat.completions.create(chatBody('hi')), OpenAI.PermissionDeniedError, 403);
  await sdkError(c.models.list(), OpenAI.PermissionDeniedError, 403);
});

// ---- 404 ------------------------------------------------------------------------------

test('404: unknown model -> NotFoundError model_not_found, param model', T, async () => {
  const c = client();
  await sdkError(c.chat.completions.create(chatBody('hi', { model: 'no-such-model' })), OpenAI.NotFoundError, 404,
    { code: 'model_not_found', param: 'model' });
  await sdkError(c.completions.create({ model: 'no-such-model', prompt: 'x' }), OpenAI.NotFoundError, 404,
    { code: 'model_not_found', param: 'model' });
  await sdkError(c.models.retrieve('no-such-model'), OpenAI.NotFoundError, 404, { code: 'model_not_found' });
});

test('403: a model the role may not use is permission_denied (batch key, demo-chat)', T, async () => {
  const b = client(createKey(uniq('batch'), 'batch'));
  await sdkError(b.chat.completions.create(chatBody('hi')), OpenAI.PermissionDeniedError, 403, { code: 'model_forbidden', param: 'model' });
});

test('404: unknown route -> unknown_url (app and nginx)', T, async () => {
  rawError(await http('/v1/no-such-route'), 404, { code: 'unknown_url' });
  rawError(await http('/v1/embeddingz', { json: { x: 1 } }), 404, { code: 'unknown_url' });
  rawError(await http('/v1/chat/completions/extra', { json: chatBody('hi') }), 404, { code: 'unknown_url' });
  rawError(await http('/not-the-api'), 404, { code: 'unknown_url' });
  // SDK: a resource the gateway does not offer.
  await sdkError(client().fineTuning.jobs.list(), OpenAI.NotFoundError, 404, { code: 'unknown_url' });
});

test('404: unknown job id', T, async () => {
  rawError(await http('/v1/jobs/job_' + 'A'.repeat(24)), 404);
  rawError(await http('/v1/jobs/not-a-job'), 404);
});

// ---- 405 ------------------------------------------------------------------------------

test('405: wrong method -> JSON error with Allow', T, async () => {
  const cases = [
    ['GET', '/v1/chat/completions', 'POST'],
    ['PUT', '/v1/completions', 'POST'],
    ['DELETE', '/v1/models', 'GET'],
    ['POST', '/v1/models/demo-chat', 'GET'],
    ['DELETE', '/v1/jobs/job_' + 'B'.repeat(24), 'GET'],
  ];
  for (const [method, p, allow] of cases) {
    const r = await http(p, { method, ...(method === 'GET' || method === 'DELETE' ? {} : { json: {} }) });
    rawError(r, 405);
    assert.equal(r.headers.get('allow'), allow, `${method} ${p}: Allow header`);
  }
});

// ---- 400 ------------------------------------------------------------------------------

test('400: malformed JSON -> invalid_json (raw)', T, async () => {
  for (const body of ['{"model":"demo-chat","messages":[', 'not json', '', '{"model":"demo-chat",}']) {
    const r = await http('/v1/chat/completions', { body, headers: { 'Content-Type': 'application/json' } });
    rawError(r, 400, { code: 'invalid_json' });
  }
  // Valid JSON that is not an object.
  const arr = await http('/v1/chat/completions', { body: '[1,2]', headers: { 'Content-Type': 'application/json' } });
  rawError(arr, 400);
});

test('400: wrong field type names the field (SDK)', T, async () => {
  const c = client();
  await sdkError(c.chat.completions.create(chatBody('hi', { temperature: 'hot' })), OpenAI.BadRequestError, 400, { param: 'temperature' });
  await sdkError(c.chat.completions.create(chatBody('hi', { max_tokens: 'ten' })), OpenAI.BadRequestError, 400, { param: 'max_tokens' });
  await sdkError(c.chat.completions.create({ model: 42, messages: [{ role: 'user', content: 'hi' }] }), OpenAI.BadRequestError, 400, { param: 'model' });
  await sdkError(c.chat.completions.create({ model: 'demo-chat', messages: 'hi' }), OpenAI.BadRequestError, 400, { param: 'messages' });
  await sdkError(c.completions.create({ model: 'demo-chat', prompt: 'x', temperature: 'hot' }), OpenAI.BadRequestError, 400, { param: 'temperature' });
});

test('400: missing required fields (SDK)', T, async () => {
  const c = client();
  await sdkError(c.chat.completions.create({ model: 'demo-chat' }), OpenAI.BadRequestError, 400, { param: 'messages' });
  await sdkError(c.chat.completions.create({ messages: [{ role: 'user', content: 'hi' }] }), OpenAI.BadRequestError, 400, { param: 'model' });
  await sdkError(c.completions.create({ model: 'demo-chat' }), OpenAI.BadRequestError, 400, { param: 'prompt' });
});

test('400: "stream": true on embeddings is refused, param stream', T, async () => {
  const r = await http('/v1/embeddings', { json: { model: 'demo-embed', input: 'x', stream: true } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'stream');
});

test('400: invalid X-Priority header, param X-Priority (SDK)', T, async () => {
  const c = client();
  for (const v of ['high', '10', '-1', '1.5', '']) {
    await sdkError(c.chat.completions.create(chatBody('hi'), { headers: { 'X-Priority': v } }), OpenAI.BadRequestError, 400,
      { param: 'X-Priority' });
  }
});

// ---- 413, 415 ---------------------------------------------------------------------------

test('415: non-JSON content type (raw)', T, async () => {
  const body = JSON.stringify(chatBody('hi'));
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
    rawError(await http('/v1/chat/completions', { body, headers: { 'Content-Type': ct } }), 415);
  }
  // No content type at all (fetch sends text/plain for a string body; send bytes instead).
  rawError(await http('/v1/chat/completions', { body: Buffer.from(body) }), 415);
  // application/json with parameters is fine.
  const ok = await http('/v1/chat/completions', { body, headers: { 'Content-Type': 'application/json; charset=utf-8' } });
  assert.equal(ok.status, 200, ok.text.slice(0, 300));
});

test('413: body over 1 MiB (app) and over 2 MiB (nginx), both JSON', T, async () => {
  const big = (n) => JSON.stringify(chatBody('x'.repeat(n)));
  const r1 = await http('/v1/chat/completions', { body: big(1024 * 1024 + 1000), headers: { 'Content-Type': 'application/json' } });
  rawError(r1, 413);
  assert.match(r1.headers.get('x-request-id') || '', /^req_/);
  // Just under the limit is accepted (a body of exactly 1 MiB minus a little).
  const under = JSON.stringify({ model: 'demo-chat', messages: [{ role: 'user', content: 'x'.repeat(1024 * 1024 - 200) }], max_tokens: 1 });
  assert.ok(Buffer.byteLength(under) <= 1024 * 1024);
  const ok = await http('/v1/chat/completions', { body: under, headers: { 'Content-Type': 'application/json' } });
  assert.equal(ok.status, 200, ok.text.slice(0, 300));
  // nginx's own limit.
  const r2 = await http('/v1/chat/completions', { body: big(3 * 1024 * 1024), headers: { 'Content-Type': 'application/json' } });
  rawError(r2, 413);
});

// ---- nothing changed ---------------------------------------------------------------------

after(() => {
  // Only the two accepted requests (415 test: charset; 413 test: just under the limit)
  // created jobs.
  const [j, e, u] = newRows();
  assert.equal(j, 2, 'rejected requests created no job');
  assert.equal(u, 2, 'rejected requests created no usage row');
  assert.equal(e, 6, 'rejected requests created no job event');
});

test('bad input changes nothing: job count unchanged by a burst of rejected requests', T, async () => {
  const n0 = sqlNumber('SELECT COUNT(*) FROM jobs');
  const c = client();
  const bad = [
    http('/v1/chat/completions', { body: '{', headers: { 'Content-Type': 'application/json' } }),
    http('/v1/chat/completions', { key: null, json: chatBody('hi') }),
    http('/v1/chat/completions', { json: chatBody('hi', { model: 'nope' }) }),
    http('/v1/chat/completions', { json: chatBody('hi', { temperature: 'hot' }) }),
    http('/v1/chat/completions', { json: chatBody('hi'), headers: { 'X-Priority': 'x' } }),
    http('/v1/embeddings', { json: { model: 'demo-embed', input: 'x', stream: true } }),
    http('/v1/chat/completions', { json: chatBody('hi'), headers: { 'Content-Type': 'text/plain' } }),
  ];
  const rs = await Promise.all(bad);
  assert.deepEqual(rs.map((r) => r.status), [400, 401, 404, 400, 400, 400, 415]);
  await assert.rejects(c.chat.completions.create({ model: 'demo-chat' }), OpenAI.BadRequestError);
  assert.equal(sqlNumber('SELECT COUNT(*) FROM jobs'), n0);
});
