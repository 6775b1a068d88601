// basic.test.mjs -- the happy path through the whole stack with the official SDK:
// chat and legacy completions, models, the request/job id headers, and what lands in
// the database (jobs, job_events, usage), plus "the API key is never stored".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chatPromptTokens, countTokens, generate } from '../mock-engine/tokenizer.mjs';
import {
  env, client, http, sql, sqlNumber, q, jobRow, jobEvents, usageRow, keyId, createKey, uniq,
  expectedCost, engineRequestOf, JOB_ID_RE, DEFAULT_PRIORITY, OpenAI,
} from './lib.mjs';

const T = { timeout: 60000 };

test('GET /healthz answers without a key, with x-request-id', T, async () => {
  const r = await http('/healthz', { key: null });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') || '', /application\/json/);
  assert.match(r.headers.get('x-request-id') || '', /^req_[A-Za-z0-9_-]+$/);
  assert.equal(r.headers.get('x-aif-job-id'), null, 'no job, no x-aif-job-id');
});

test('SDK chat completion: parsed object, usage, headers, and the job/events/usage rows', T, async () => {
  const c = client();
  const content = `Hello gateway ${uniq('basic')}`;
  const messages = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content }];
  const t0 = Math.floor(Date.now() / 1000);
  const { data, response, request_id } = await c.chat.completions
    .create({ model: 'demo-chat', messages }).withResponse();

  // The OpenAI response, as the SDK parsed it.
  assert.equal(response.status, 200);
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.model, 'demo-chat', 'the response names the gateway model, not the upstream one');
  assert.equal(typeof data.id, 'string');
  assert.ok(Number.isInteger(data.created) && data.created >= t0 - 5, `created=${data.created}`);
  assert.equal(data.choices.length, 1);
  const want = generate(content);
  assert.equal(data.choices[0].index, 0);
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].message.content, want.text);
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.deepEqual(
    { p: data.usage.prompt_tokens, c: data.usage.completion_tokens, t: data.usage.total_tokens },
    { p: chatPromptTokens(messages), c: want.completionTokens, t: chatPromptTokens(messages) + want.completionTokens });

  // Headers: request id, job id.
  assert.match(request_id || '', /^req_[A-Za-z0-9_-]+$/);
  const jobId = response.headers.get('x-aif-job-id');
  assert.match(jobId || '', JOB_ID_RE);

  // The engine got the upstream model name and the messages.
  const er = await engineRequestOf(jobId);
  assert.ok(er, `the mock engine saw no request with x-request-id ${jobId}`);
  assert.equal(er.path, '/v1/chat/completions');
  assert.equal(er.body.model, 'mock-llama-3-8b');
  assert.deepEqual(er.body.messages, messages);

  // jobs row.
  const job = jobRow(jobId);
  assert.ok(job, 'job row exists');
  assert.equal(job.state, 'succeeded');
  assert.equal(job.kind, 'chat');
  assert.equal(job.model, 'demo-chat');
  assert.equal(Number(job.priority), DEFAULT_PRIORITY);
  assert.equal(Number(job.attempts), 1);
  assert.equal(Number(job.http_status), 200);
  assert.equal(Number(job.api_key_id), keyId(env.apiKey));
  assert.equal(job.request_id, request_id, 'jobs.request_id is the x-request-id of the creating request');
  assert.ok(job.started_at && job.finished_at, 'started_at and finished_at are set');
  assert.deepEqual(JSON.parse(job.response_body), data, 'response_body is exactly what the client got');
  assert.deepEqual(JSON.parse(job.request_body).messages, messages);

  // its timeline (job_timeline): enqueued -> claimed -> succeeded.
  const ev = jobEvents(job.id);
  assert.deepEqual(ev.map((e) => e.event), ['enqueued', 'claimed', 'succeeded']);
  assert.equal(ev[1].attempt, 1);
  assert.equal(ev[2].attempt, 1);
  assert.ok(ev[1].worker_id !== null, 'the claim names the worker');
  assert.equal(ev[2].worker_id, ev[1].worker_id, 'the claiming worker finished it');
  assert.equal(ev[2].replica, usageRow(job.id).replica, 'and names the replica');
  // the first attempt's success writes no event row: the job row stands for all three
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM job_events WHERE job_id = ${Number(job.id)}`), 0);

  // usage row: tokens equal the response's, cost from the YAML pricing.
  const u = usageRow(job.id);
  assert.ok(u, 'usage row exists');
  assert.equal(u.api_key_id, Number(job.api_key_id));
  assert.equal(u.model, 'demo-chat');
  assert.equal(u.engine, 'vllm');
  assert.equal(u.replica, `http://127.0.0.1:${env.mockPort}`);
  assert.equal(u.prompt_tokens, data.usage.prompt_tokens);
  assert.equal(u.completion_tokens, data.usage.completion_tokens);
  assert.equal(u.total_tokens, data.usage.total_tokens);
  assert.equal(u.cost_micros, expectedCost('demo-chat', data.usage.prompt_tokens, data.usage.completion_tokens));
  assert.ok(u.queue_ms >= 0 && u.engine_ms >= 0);
});

test('SDK legacy completion on demo-small honours max_tokens; usage and cost', T, async () => {
  const c = client();
  const prompt = `Say this is a test ${uniq('cmpl')}`;
  const { data, response } = await c.completions
    .create({ model: 'demo-small', prompt, max_tokens: 7 }).withResponse();
  assert.equal(data.object, 'text_completion');
  assert.equal(data.model, 'demo-small');
  const want = generate(prompt, { maxTokens: 7 });
  assert.equal(data.choices[0].text, want.text);
  assert.equal(data.choices[0].finish_reason, 'length');
  assert.equal(data.usage.prompt_tokens, countTokens(prompt));
  assert.equal(data.usage.completion_tokens, 7);
  assert.equal(data.usage.total_tokens, countTokens(prompt) + 7);

  const jobId = response.headers.get('x-aif-job-id');
  assert.match(jobId || '', JOB_ID_RE);
  const er = await engineRequestOf(jobId);
  assert.ok(er, 'engine request found');
  assert.equal(er.path, '/v1/completions');
  assert.equal(er.body.model, 'mock-qwen-0.5b');
  assert.equal(er.body.max_tokens, 7);

  const job = jobRow(jobId);
  assert.equal(job.kind, 'completion');
  assert.equal(job.model, 'demo-small');
  assert.equal(job.state, 'succeeded');
  const u = usageRow(job.id);
  assert.equal(u.prompt_tokens, data.usage.prompt_tokens);
  assert.equal(u.completion_tokens, 7);
  assert.equal(u.cost_micros, expectedCost('demo-small', data.usage.prompt_tokens, 7));
});

test('cost is rounded up: ceil((p*in + c*out)/1e6)', T, async () => {
  // demo-small: 50000*p + 100000*c; pick c=1 and a prompt with p tokens so the sum is not a
  // multiple of 1e6 (the round-up must show).
  const c = client();
  const content = 'one two three'; // 4 + 3 = 7 prompt tokens -> 350000 + 100000 = 450000 -> 1
  const r = await c.chat.completions.create({ model: 'demo-small', messages: [{ role: 'user', content }], max_tokens: 1 }).withResponse();
  assert.equal(r.data.usage.prompt_tokens, 7);
  assert.equal(r.data.usage.completion_tokens, 1);
  const job = jobRow(r.response.headers.get('x-aif-job-id'));
  assert.equal(usageRow(job.id).cost_micros, 1);
  assert.equal(expectedCost('demo-small', 7, 1), 1);
});

test('models: list and retrieve with the SDK, filtered by role', T, async () => {
  const c = client();
  const list = await c.models.list();
  const ids = list.data.map((m) => m.id).sort();
  // Role user may use demo-*: both chat models at least, and nothing outside demo-*.
  assert.ok(ids.includes('demo-chat') && ids.includes('demo-small'), `models: ${ids}`);
  assert.ok(ids.every((id) => id.startsWith('demo-')), `only demo-* for role user: ${ids}`);
  for (const m of list.data) {
    assert.equal(m.object, 'model');
    // workflows are listed as models their callers name (docs/WORKFLOWS.md)
    assert.equal(m.owned_by, m.id.startsWith('demo-wf-') || ['demo-rag', 'demo-payment', 'demo-approval'].includes(m.id) ?
      'aif-workflow' : 'aif-demo', m.id);
    assert.equal(typeof m.created, 'number');
  }
  const { data: one, response } = await c.models.retrieve('demo-chat').withResponse();
  assert.equal(one.id, 'demo-chat');
  assert.equal(one.object, 'model');
  assert.match(response.headers.get('x-request-id') || '', /^req_/);
  assert.equal(response.headers.get('x-aif-job-id'), null, 'no job for GET /v1/models/{id}');

  // role batch may use demo-small only.
  const batchKey = createKey(uniq('batch'), 'batch');
  const b = client(batchKey);
  assert.deepEqual((await b.models.list()).data.map((m) => m.id), ['demo-small']);
  await assert.rejects(b.models.retrieve('demo-chat'), (e) => e instanceof OpenAI.NotFoundError && e.status === 404 && e.code === 'model_not_found');
  const ok = await b.chat.completions.create({ model: 'demo-small', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(ok.object, 'chat.completion');
});

test('model aliases: listed after their model, resolved at admission; jobs and usage name the model', T, async () => {
  const c = client();
  const list = (await c.models.list()).data;
  const i = list.findIndex((m) => m.id === 'demo-chat');
  assert.equal(list[i + 1].id, 'demo-latest');
  assert.equal(list[i + 1].aif_alias_of, 'demo-chat');
  assert.equal(list[i].aif_alias_of, undefined);
  assert.equal((await c.models.retrieve('demo-latest')).aif_alias_of, 'demo-chat');
  const { data: r, response } = await c.chat.completions.create({ model: 'demo-latest', messages: [{ role: 'user', content: `alias ${uniq('al')}` }] }).withResponse();
  assert.equal(r.object, 'chat.completion');
  const row = jobRow(response.headers.get('x-aif-job-id'));
  assert.equal(row.model, 'demo-chat', 'the job names the model');
  assert.equal(usageRow(row.id).model, 'demo-chat');
  // a role that may not use the model may not use its alias either
  const b = client(createKey(uniq('batch'), 'batch'));
  assert.ok(!(await b.models.list()).data.some((m) => m.id === 'demo-latest'));
  await assert.rejects(b.models.retrieve('demo-latest'), (e) => e instanceof OpenAI.NotFoundError);
  await assert.rejects(b.chat.completions.create({ model: 'demo-latest', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e instanceof OpenAI.PermissionDeniedError && e.code === 'model_forbidden');
});

test('x-request-id is unique per response', T, async () => {
  const a = await http('/v1/models');
  const b = await http('/v1/models');
  assert.equal(a.status, 200);
  assert.match(a.headers.get('x-request-id') || '', /^req_/);
  assert.notEqual(a.headers.get('x-request-id'), b.headers.get('x-request-id'));
});

test('the API key secret is stored nowhere in the database', T, async () => {
  const name = uniq('secret');
  const key = createKey(name, 'user');
  // Use it, so that every path that could log or store it has run.
  const r = await client(key).chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: 'store nothing' }] });
  assert.equal(r.object, 'chat.completion');
  const asyncRes = await http('/v1/chat/completions', { key, headers: { Prefer: 'respond-async' }, json: { model: 'demo-chat', messages: [{ role: 'user', content: 'x' }] } });
  assert.equal(asyncRes.status, 202);

  // api_keys: prefix = first 12 characters, a 32-byte hash.
  const row = sql(`SELECT key_prefix, LENGTH(secret_hash), role, name FROM api_keys WHERE name = ${q(name)}`);
  assert.equal(row.length, 1);
  assert.equal(row[0][0], key.slice(0, 12));
  assert.equal(Number(row[0][1]), 32);
  assert.equal(row[0][2], 'user');

  // Every character/binary/JSON column of every table of the database, for the full key,
  // its secret part (after the 12-character prefix) and the other keys of the stack.
  const cols = sql(`SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
    AND DATA_TYPE IN ('char','varchar','text','tinytext','mediumtext','longtext','binary','varbinary','blob','tinyblob','mediumblob','longblob','json','enum','set')`);
  assert.ok(cols.length > 10, `found ${cols.length} text columns`);
  const needles = [key, key.slice(12), env.apiKey, env.apiKey.slice(12), env.adminKey, env.adminKey.slice(12)];
  const conds = [];
  for (const [t, col] of cols) {
    for (const n of needles) conds.push(`SELECT ${q(t + '.' + col)} FROM \`${t}\` WHERE INSTR(\`${col}\`, ${q(n)}) > 0`);
  }
  const hits = sql(conds.join(' UNION ALL '));
  assert.deepEqual(hits, [], `the key appears in ${JSON.stringify(hits)}`);
  // Sanity: the search itself finds what is there (the prefix is stored).
  const prefixHits = sqlNumber(`SELECT COUNT(*) FROM api_keys WHERE INSTR(key_prefix, ${q(key.slice(0, 12))}) > 0`);
  assert.equal(prefixHits, 1);
});
