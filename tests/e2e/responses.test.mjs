// responses.test.mjs -- OpenAI's Responses API (POST /v1/responses, GET/DELETE
// /v1/responses/{id}, .../cancel, POST /v1/responses/input_tokens) driven by the official
// openai SDK, unchanged, against the real stack: create, stream, retrieve, continue with
// previous_response_id, tool calls over two turns, background, delete, store: false, and
// errors. Each response is a chat job like any other (its row, its usage row); the gateway
// keeps responses itself, for the key that made them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  env, client, http, jobRow, usageRow, uniq, sqlNumber, sqlValue, q, adminCreateKey, waitFor, OpenAI,
  engineRequestOf,
} from './lib.mjs';

const T = { timeout: 60000 };
const jobOf = (respId) => `job_${respId.replace(/^resp_/, '')}`;
const storedRequest = (respId) => JSON.parse(sqlValue(`SELECT request_body FROM jobs WHERE public_id = ${q(jobOf(respId))}`));

test('responses.create and retrieve: a Response with output_text, usage and the echoed instructions; the job and usage row behind it', T, async () => {
  const { data: r, response } = await client().responses.create({
    model: 'demo-chat', instructions: 'Be brief.', input: `Hello there ${uniq('resp')}`, max_output_tokens: 200,
    metadata: { ticket: 'T-17' },
  }).withResponse();
  assert.deepEqual(r.metadata, { ticket: 'T-17' });
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_[A-Za-z0-9]+$/);
  assert.equal(response.headers.get('x-aif-job-id'), jobOf(r.id));
  assert.equal(r.status, 'completed');
  assert.ok(r.output_text.length > 0);
  assert.equal(r.output[0].type, 'message');
  assert.equal(r.output[0].content[0].type, 'output_text');
  assert.equal(r.instructions, 'Be brief.');
  assert.equal(r.model, 'demo-chat');
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  const row = jobRow(jobOf(r.id));
  assert.equal(row.state, 'succeeded');
  assert.equal(Number(usageRow(row.id).completion_tokens), r.usage.output_tokens);
  const stored = storedRequest(r.id);
  assert.deepEqual(stored.messages.map((m) => m.role), ['system', 'user']);
  assert.equal(stored.max_tokens, 200);
  // retrieve: the same response, from the gateway's store
  const again = await client().responses.retrieve(r.id);
  assert.equal(again.id, r.id);
  assert.equal(again.status, 'completed');
  assert.equal(again.output_text, r.output_text);
  assert.deepEqual(again.usage, r.usage);
  assert.equal(again.instructions, 'Be brief.');
  assert.deepEqual(again.metadata, { ticket: 'T-17' }, 'kept for retrieve');
  assert.equal((await engineRequestOf(jobOf(r.id))).body.metadata, undefined, 'not sent to the engine');
});

test('previous_response_id: the new response sees the earlier input and answer (not its instructions); only the same key may continue or read it', T, async () => {
  const first = await client().responses.create({ model: 'demo-chat', instructions: 'First rules.', input: `My name is Ana ${uniq('n')}` });
  const second = await client().responses.create({ model: 'demo-chat', previous_response_id: first.id, input: 'What is my name?' });
  assert.equal(second.previous_response_id, first.id);
  assert.equal(second.status, 'completed');
  const stored = storedRequest(second.id);
  assert.deepEqual(stored.messages.map((m) => m.role), ['user', 'assistant', 'user']);
  assert.match(stored.messages[0].content, /My name is \[PERSON\] n-/, 'the history is kept masked');
  assert.equal(stored.messages[1].content, first.output_text);
  assert.equal(stored.messages[2].content, 'What is my name?');
  // a chain of three keeps growing
  const third = await client().responses.create({ model: 'demo-chat', previous_response_id: second.id, input: 'Thanks.' });
  assert.equal(storedRequest(third.id).messages.length, 5);
  // another key sees none of it
  const other = await adminCreateKey({ name: uniq('other'), role: 'user' });
  await assert.rejects(client(other.key).responses.retrieve(first.id), (e) => e instanceof OpenAI.NotFoundError);
  await assert.rejects(client(other.key).responses.create({ model: 'demo-chat', previous_response_id: first.id, input: 'x' }),
    (e) => e instanceof OpenAI.NotFoundError && e.code === 'response_not_found');
});

test('responses.stream: the Responses events in order, the same text as the whole answer, a completed final response', T, async () => {
  const input = `Stream this ${uniq('rs')}`;
  const whole = await client().responses.create({ model: 'demo-chat', input, max_output_tokens: 40 });
  const stream = client().responses.stream({ model: 'demo-chat', input, max_output_tokens: 40 });
  const types = [];
  let text = '';
  stream.on('event', (e) => types.push(e.type));
  stream.on('response.output_text.delta', (e) => { text += e.delta; });
  const final = await stream.finalResponse();
  assert.equal(types[0], 'response.created');
  assert.equal(types[1], 'response.in_progress');
  assert.ok(['response.completed', 'response.incomplete'].includes(types.at(-1)), types.at(-1));
  for (const t of ['response.output_item.added', 'response.content_part.added', 'response.output_text.done', 'response.output_item.done'])
    assert.ok(types.includes(t), t);
  assert.equal(text, whole.output_text);
  assert.equal(final.output_text, whole.output_text);
  assert.equal(final.status, whole.status);
  assert.equal(final.usage.output_tokens, whole.usage.output_tokens);
  // the streamed response is kept like the others
  const kept = await client().responses.retrieve(final.id);
  assert.equal(kept.output_text, whole.output_text);
});

test('function calls: a function_call item (whole and streamed), answered with function_call_output through previous_response_id', T, async () => {
  const tools = [{ type: 'function', name: 'lookup', description: 'Looks things up', parameters: { type: 'object', properties: { query: { type: 'string' } } } }];
  const r = await client().responses.create({ model: 'demo-chat', tools, input: '[[mock:use-tool]] find cats' });
  const call = r.output.find((o) => o.type === 'function_call');
  assert.ok(call, JSON.stringify(r.output));
  assert.equal(call.name, 'lookup');
  assert.deepEqual(JSON.parse(call.arguments), { query: 'find cats' });
  assert.equal(r.tools[0].name, 'lookup');
  const streamed = await client().responses.stream({ model: 'demo-chat', tools, input: '[[mock:use-tool]] find cats' }).finalResponse();
  const scall = streamed.output.find((o) => o.type === 'function_call');
  assert.deepEqual(JSON.parse(scall.arguments), { query: 'find cats' });
  const next = await client().responses.create({
    model: 'demo-chat', tools, previous_response_id: r.id,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: '3 cats' }],
  });
  assert.equal(next.status, 'completed');
  assert.ok(next.output_text.length > 0);
  const m = storedRequest(next.id).messages;
  assert.deepEqual(m.map((x) => x.role), ['user', 'assistant', 'tool']);
  assert.equal(m[1].tool_calls[0].id, call.call_id);
  assert.equal(m[2].tool_call_id, call.call_id);
  assert.equal(m[2].content, '3 cats');
});

test('hosted tools (web search, ...) are left out and named in x-aif-dropped-tools; the functions of a namespace are offered', T, async () => {
  const { data: r, response } = await client().responses.create({
    model: 'demo-chat', input: `tools ${uniq('hosted')}`,
    tools: [{ type: 'web_search', external_web_access: false },
      { type: 'namespace', name: 'agents', description: 'sub-agents', tools: [{ type: 'function', name: 'spawn_agent', parameters: { type: 'object' } }] }],
  }).withResponse();
  assert.equal(r.status, 'completed');
  assert.equal(response.headers.get('x-aif-dropped-tools'), 'web_search');
  const stored = storedRequest(r.id);
  assert.deepEqual(stored.tools.map((t) => t.function.name), ['spawn_agent']);
});

test('background responses run as async jobs; delete forgets a response; store: false keeps none', T, async () => {
  const bg = await client().responses.create({ model: 'demo-chat', input: `later ${uniq('bg')}`, background: true });
  assert.ok(['queued', 'in_progress'].includes(bg.status), bg.status);
  const done = await waitFor(async () => {
    const x = await client().responses.retrieve(bg.id);
    return x.status === 'completed' ? x : null;
  }, { timeoutMs: 20000, what: 'the background response' });
  assert.ok(done.output_text.length > 0);
  // delete: its stored request and answer go; the job and its usage row stay
  const del = await http(`/v1/responses/${bg.id}`, { method: 'DELETE' });
  assert.equal(del.status, 200, del.text);
  assert.deepEqual(del.json, { id: bg.id, object: 'response.deleted', deleted: true });
  await assert.rejects(client().responses.retrieve(bg.id), (e) => e instanceof OpenAI.NotFoundError);
  await assert.rejects(client().responses.create({ model: 'demo-chat', previous_response_id: bg.id, input: 'x' }),
    (e) => e instanceof OpenAI.NotFoundError);
  const row = jobRow(jobOf(bg.id));
  assert.equal(row.state, 'succeeded');
  assert.equal(sqlValue(`SELECT response_body IS NULL FROM jobs WHERE id = ${Number(row.id)}`), '1');
  assert.ok(usageRow(row.id));
  // store: false: answered, never kept
  const marker = uniq('nostore');
  const ns = await client().responses.create({ model: 'demo-chat', input: marker, store: false });
  assert.equal(ns.status, 'completed');
  assert.ok(ns.output_text.length > 0);
  await assert.rejects(client().responses.retrieve(ns.id), (e) => e instanceof OpenAI.NotFoundError);
  assert.equal(sqlValue(`SELECT response_body IS NULL FROM jobs WHERE public_id = ${q(jobOf(ns.id))}`), '1');
});

test('input_tokens counts without a job (by the engine tokenizer); bad requests are refused before one exists', T, async () => {
  const marker = uniq('it');
  const { data: small, response } = await client().responses.inputTokens.count({ model: 'demo-chat', input: `hi ${marker}` }).withResponse();
  assert.equal(response.headers.get('x-aif-token-count'), 'engine', 'demo-chat has a tokenizer');
  const large = await client().responses.inputTokens.count({ model: 'demo-chat', input: `${'a long question '.repeat(50)} ${marker}` });
  assert.equal(small.object, 'response.input_tokens');
  assert.ok(large.input_tokens > small.input_tokens + 100);
  await assert.rejects(client().responses.create({ model: 'no-such-model', input: marker }), (e) => e instanceof OpenAI.NotFoundError);
  await assert.rejects(client().responses.create({ model: 'demo-chat', input: marker, tools: [{ type: 'custom', name: 'apply_patch' }] }),
    (e) => e instanceof OpenAI.BadRequestError && /cannot be bridged/.test(e.message));
  await assert.rejects(client().responses.create({ model: 'demo-chat', input: [] }), (e) => e instanceof OpenAI.BadRequestError);
  await assert.rejects(client().responses.create({ model: 'demo-chat', input: marker, background: true, store: false }),
    (e) => e instanceof OpenAI.BadRequestError);
  const bad = await http('/v1/responses', { body: '{"model":', headers: { 'content-type': 'application/json' } });
  assert.equal(bad.status, 400);
  assert.ok(bad.json.error.message);
  assert.equal((await http('/v1/responses/resp_nope', {})).status, 404);
  assert.equal((await http('/v1/responses/not-an-id', {})).status, 404);
  assert.equal((await http('/v1/responses', {})).status, 405);
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)}`), 0, 'no job');
});
