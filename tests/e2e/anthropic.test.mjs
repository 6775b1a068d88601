// anthropic.test.mjs -- the Anthropic Messages surface (POST /v1/messages and
// /v1/messages/count_tokens) driven by the official @anthropic-ai/sdk, unchanged, against
// the real stack: a message, its stream, tool use over two turns, token counting without a
// job, Anthropic's error shapes (401 with a bad x-api-key, 403, 404, 400). Each message is
// a chat job like any other: its row, its usage row, its stored (bridged) request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import {
  env, http, jobRow, jobEvents, usageRow, uniq, sqlNumber, sqlValue, q, adminCreateKey, mockRequests,
} from './lib.mjs';

const T = { timeout: 60000 };
const anthropic = (apiKey = env.apiKey, opts = {}) =>
  new Anthropic({ apiKey, baseURL: env.origin, maxRetries: 0, timeout: 30000, ...opts });
const jobOf = (msgId) => `job_${msgId.replace(/^msg_/, '')}`;

test('messages.create: a Message with text, stop_reason and usage; the job, its usage row and the bridged request behind it', T, async () => {
  const marker = uniq('anth');
  const { data: msg, response } = await anthropic().messages.create({
    model: 'demo-chat', max_tokens: 40, system: 'Be brief.',
    messages: [{ role: 'user', content: `Hello there ${marker}` }],
  }).withResponse();
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.content[0].type, 'text');
  assert.ok(msg.content[0].text.length > 0);
  assert.ok(['end_turn', 'max_tokens'].includes(msg.stop_reason), msg.stop_reason);
  assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0);
  const jobId = response.headers.get('x-aif-job-id');
  assert.equal(jobOf(msg.id), jobId, 'the message id names its job');
  const row = jobRow(jobId);
  assert.equal(row.state, 'succeeded');
  assert.equal(row.kind, 'chat');
  const u = usageRow(row.id);
  assert.equal(Number(u.prompt_tokens), msg.usage.input_tokens);
  assert.equal(Number(u.completion_tokens), msg.usage.output_tokens);
  // stored as the chat request it was bridged to: the system prompt first
  const stored = JSON.parse(sqlValue(`SELECT request_body FROM jobs WHERE id = ${Number(row.id)}`));
  assert.deepEqual(stored.messages.map((m) => m.role), ['system', 'user']);
  assert.equal(stored.max_tokens, 40);
});

test('messages.stream: Anthropic events in order, the same text as the whole answer, usage at the end', T, async () => {
  const body = { model: 'demo-chat', max_tokens: 30, messages: [{ role: 'user', content: `Stream me ${uniq('as')}` }] };
  const whole = await anthropic().messages.create(body);
  const stream = anthropic().messages.stream(body);
  const types = [];
  let text = '';
  stream.on('streamEvent', (e) => types.push(e.type));
  stream.on('text', (t) => { text += t; });
  const final = await stream.finalMessage();
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  assert.equal(types.at(-2), 'message_delta');
  assert.ok(types.includes('content_block_start') && types.includes('content_block_delta') && types.includes('content_block_stop'));
  assert.equal(text, whole.content[0].text, 'the stream says what the whole answer says');
  assert.equal(final.content[0].text, text);
  assert.equal(final.stop_reason, whole.stop_reason);
  assert.equal(final.usage.output_tokens, whole.usage.output_tokens);
  const row = jobRow(jobOf(final.id));
  assert.equal(row.state, 'succeeded');
});

test('tool use: the call comes back as a tool_use block (whole and streamed); its result goes back as a tool message', T, async () => {
  const tools = [{ name: 'get_weather', description: 'The weather of a city', input_schema: { type: 'object', properties: { query: { type: 'string' } } } }];
  const ask = { role: 'user', content: '[[mock:use-tool]] weather in Seoul' };
  const msg = await anthropic().messages.create({ model: 'demo-chat', max_tokens: 50, tools, messages: [ask] });
  assert.equal(msg.stop_reason, 'tool_use');
  const use = msg.content.find((b) => b.type === 'tool_use');
  assert.ok(use, JSON.stringify(msg.content));
  assert.equal(use.name, 'get_weather');
  assert.deepEqual(use.input, { query: 'weather in Seoul' });
  // streamed: input_json_delta pieces assemble into the same input
  const streamed = await anthropic().messages.stream({ model: 'demo-chat', max_tokens: 50, tools, messages: [ask] }).finalMessage();
  const suse = streamed.content.find((b) => b.type === 'tool_use');
  assert.deepEqual(suse.input, { query: 'weather in Seoul' });
  assert.equal(streamed.stop_reason, 'tool_use');
  // the second turn: the result of the call, then the answer in text
  const { data: next, response } = await anthropic().messages.create({
    model: 'demo-chat', max_tokens: 30, tools,
    messages: [ask, { role: 'assistant', content: msg.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '3 degrees' }] }],
  }).withResponse();
  assert.equal(next.content[0].type, 'text');
  const stored = JSON.parse(sqlValue(`SELECT request_body FROM jobs WHERE public_id = ${q(response.headers.get('x-aif-job-id'))}`));
  const roles = stored.messages.map((m) => m.role);
  assert.deepEqual(roles, ['user', 'assistant', 'tool']);
  assert.equal(stored.messages[1].tool_calls[0].id, use.id);
  assert.equal(stored.messages[2].tool_call_id, use.id);
  assert.equal(stored.messages[2].content, '3 degrees');
});

test('messages.countTokens: the engine tokenizer\'s count when the model has one (masked, no job, no charge), else the estimate; each said', T, async () => {
  const marker = uniq('count');
  const before = sqlNumber(`SELECT COUNT(*) FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)}`);
  const { data: small, response } = await anthropic().messages.countTokens({
    model: 'demo-chat', messages: [{ role: 'user', content: `hi ${marker} call 010-4821-7736` }],
  }).withResponse();
  assert.equal(response.headers.get('x-aif-token-count'), 'engine');
  // what the engine counted: the masked messages; its own answer to the same body
  const sent = (await mockRequests(50, '/tokenize')).filter((r) => JSON.stringify(r.body).includes(marker)).at(-1);
  assert.ok(sent, 'the tokenizer endpoint was called');
  assert.ok(!JSON.stringify(sent.body).includes('010-4821-7736'), 'masked before the engine');
  assert.equal(sent.body.model, 'mock-llama-3-8b');
  const direct = await (await fetch(`${env.mockURL}/tokenize`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sent.body) })).json();
  assert.equal(small.input_tokens, direct.count);
  const large = await anthropic().messages.countTokens({
    model: 'demo-chat', system: 'You are a careful assistant.',
    messages: [{ role: 'user', content: `${'a long question '.repeat(50)} ${marker}` }],
  });
  assert.ok(large.input_tokens > small.input_tokens + 100, `${large.input_tokens} vs ${small.input_tokens}`);
  // a model without a tokenizer (demo-small), or an engine that fails: the estimate
  const { response: r2 } = await anthropic().messages.countTokens({ model: 'demo-small', messages: [{ role: 'user', content: 'hi' }] }).withResponse();
  assert.equal(r2.headers.get('x-aif-token-count'), 'estimate');
  const { data: d3, response: r3 } = await anthropic().messages.countTokens({ model: 'demo-chat', messages: [{ role: 'user', content: `[[mock:status=500]] ${marker}` }] }).withResponse();
  assert.equal(r3.headers.get('x-aif-token-count'), 'estimate');
  assert.ok(d3.input_tokens > 0);
  const t0 = Date.now();
  const { response: r4 } = await anthropic().messages.countTokens({ model: 'demo-chat', messages: [{ role: 'user', content: `[[mock:hang]] ${marker}` }] }).withResponse();
  assert.equal(r4.headers.get('x-aif-token-count'), 'estimate', 'a hung tokenizer: the estimate after a short wait');
  assert.ok(Date.now() - t0 < 10000);
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)}`), before, 'no job, so no usage row');
});

test('errors come in Anthropic shape: 401 for a bad x-api-key, 403 for a role without the endpoint, 404 model, 400 body; nothing is enqueued', T, async () => {
  await assert.rejects(anthropic('aif_not_a_real_key_000000000000000000000').messages.create({
    model: 'demo-chat', max_tokens: 5, messages: [{ role: 'user', content: 'x' }],
  }), (e) => e instanceof Anthropic.AuthenticationError && e.status === 401 && e.error?.type === 'error' &&
    e.error?.error?.type === 'authentication_error');
  // the SDK's Bearer mode (authToken) is accepted as well
  const viaBearer = await anthropic(null, { authToken: env.apiKey }).messages.create({
    model: 'demo-chat', max_tokens: 5, messages: [{ role: 'user', content: 'bearer' }],
  });
  assert.equal(viaBearer.type, 'message');
  const embedder = await adminCreateKey({ name: uniq('emb'), role: 'embedder' });
  await assert.rejects(anthropic(embedder.key).messages.create({
    model: 'demo-chat', max_tokens: 5, messages: [{ role: 'user', content: 'x' }],
  }), (e) => e instanceof Anthropic.PermissionDeniedError && e.error?.error?.type === 'permission_error');
  await assert.rejects(anthropic().messages.create({
    model: 'no-such-model', max_tokens: 5, messages: [{ role: 'user', content: 'x' }],
  }), (e) => e instanceof Anthropic.NotFoundError && e.error?.error?.type === 'not_found_error');
  const marker = uniq('bad');
  for (const body of [
    { model: 'demo-chat', messages: [{ role: 'user', content: marker }] },
    { model: 'demo-chat', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', data: marker } }] }] },
    { model: 'demo-chat', max_tokens: 5, messages: [{ role: 'tool', content: marker }] },
  ]) {
    const r = await http('/v1/messages', { json: body, key: null, headers: { 'x-api-key': env.apiKey, 'anthropic-version': '2023-06-01' } });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.type, 'error');
    assert.equal(r.json.error.type, 'invalid_request_error');
    assert.ok(r.json.error.message.length > 0);
  }
  const bad = await http('/v1/messages', { body: '{"model":', key: null, headers: { 'x-api-key': env.apiKey, 'content-type': 'application/json' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.json.error.type, 'invalid_request_error');
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)}`), 0, 'no job');
});

test('a failure after a Messages stream started reaches the SDK as an error event', T, async () => {
  const stream = anthropic().messages.stream({
    model: 'demo-chat', max_tokens: 30, messages: [{ role: 'user', content: `[[mock:error-mid]] ${uniq('em')}` }],
  });
  let id = null;
  stream.on('streamEvent', (e) => { if (e.type === 'message_start') id = e.message.id; });
  await assert.rejects(stream.finalMessage(), (e) => e instanceof Anthropic.APIError);
  assert.ok(id, 'the stream had started');
  const row = jobRow(jobOf(id));
  assert.ok(row, 'its job exists');
  assert.ok(jobEvents(row.id).length > 0);
});
