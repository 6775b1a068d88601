// passthrough.test.mjs -- the Responses and Messages APIs passed through to an engine that
// serves them itself (demo-native: the vLLM mock with kinds [chat, responses, messages]),
// driven by the official openai and @anthropic-ai/sdk clients, unchanged. What the engine
// receives is the surface's own request (masked, store: false, the history the gateway
// keeps put in front); what the client gets is the engine's answer and events, under the
// job's id; the job is a job like any other (kind responses / messages, its usage row).
// The mock marks a native answer with "[native responses] " / "[native messages] ".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import {
  env, client, http, jobRow, usageRow, uniq, sqlValue, q, engineRequestOf,
} from './lib.mjs';

const T = { timeout: 60000 };
const MODEL = 'demo-native';
const anthropic = (apiKey = env.apiKey) =>
  new Anthropic({ apiKey, baseURL: env.origin, maxRetries: 0, timeout: 30000 });
const jobOfResp = (id) => `job_${id.replace(/^resp_/, '')}`;
const jobOfMsg = (id) => `job_${id.replace(/^msg_/, '')}`;
const storedRequest = (jobId) => JSON.parse(sqlValue(`SELECT request_body FROM jobs WHERE public_id = ${q(jobId)}`));
const storedAnswer = (jobId) => JSON.parse(sqlValue(`SELECT response_body FROM jobs WHERE public_id = ${q(jobId)}`));

test('responses.create passed through: the engine answers /v1/responses itself (store: false, upstream model, no gateway note); the job, its usage row and retrieve', T, async () => {
  const marker = uniq('pt');
  const r = await client().responses.create({
    model: MODEL, instructions: 'Be brief.', input: `Hello ${marker}`, max_output_tokens: 60,
    metadata: { ticket: marker },
  });
  assert.match(r.output_text, /^\[native responses\] /, 'served by the engine\'s own Responses API');
  assert.match(r.id, /^resp_[A-Za-z0-9]{24}$/);
  assert.equal(r.model, MODEL);
  assert.equal(r.store, true, 'the gateway keeps it');
  const jobId = jobOfResp(r.id);
  const row = jobRow(jobId);
  assert.equal(row.kind, 'responses');
  assert.equal(row.state, 'succeeded');
  const u = usageRow(row.id);
  assert.equal(Number(u.prompt_tokens), r.usage.input_tokens);
  assert.equal(Number(u.completion_tokens), r.usage.output_tokens);
  const sent = await engineRequestOf(jobId);
  assert.ok(sent, 'the engine saw the job');
  assert.equal(sent.path, '/v1/responses');
  assert.equal(sent.body.store, false, 'engines keep nothing');
  assert.equal(sent.body.model, 'mock-llama-3-8b');
  assert.equal(sent.body.instructions, 'Be brief.');
  assert.equal(sent.body.input, `Hello ${marker}`);
  assert.equal(sent.body.x_aif_responses, undefined, 'the gateway\'s note stays home');
  const stored = storedRequest(jobId);
  assert.equal(stored.messages, undefined, 'stored as the Responses request, not bridged');
  assert.equal(stored.input, `Hello ${marker}`);
  const again = await client().responses.retrieve(r.id);
  assert.equal(again.output_text, r.output_text);
  assert.deepEqual(again.usage, r.usage);
  assert.deepEqual(again.metadata, { ticket: marker });
});

test('previous_response_id passed through: the gateway sends the stored history as input items; crossing to a bridged model is refused; delete', T, async () => {
  const first = await client().responses.create({ model: MODEL, input: `My name is Ana ${uniq('n')}` });
  const second = await client().responses.create({ model: MODEL, previous_response_id: first.id, input: 'What is my name?' });
  assert.match(second.output_text, /^\[native responses\] /);
  assert.equal(second.previous_response_id, first.id, 'the answer names what it continues');
  // counting a continuation counts the history too (and refuses nothing)
  const alone = await client().responses.inputTokens.count({ model: MODEL, input: 'What is my name?' });
  const chained = await client().responses.inputTokens.count({ model: MODEL, previous_response_id: first.id, input: 'What is my name?' });
  assert.ok(chained.input_tokens > alone.input_tokens, `${chained.input_tokens} vs ${alone.input_tokens}`);
  const sent = await engineRequestOf(jobOfResp(second.id));
  assert.equal(sent.body.previous_response_id, undefined, 'the engine keeps no responses');
  assert.deepEqual(sent.body.input.map((i) => i.type), ['message', 'message', 'message']);
  assert.match(sent.body.input[0].content, /My name is \[PERSON\] n-/, 'the stored history is the masked one');
  assert.equal(sent.body.input[1].role, 'assistant');
  assert.equal(sent.body.input[1].content[0].text, first.output_text);
  assert.equal(sent.body.input[2].content, 'What is my name?');
  assert.equal((await client().responses.retrieve(second.id)).previous_response_id, first.id);
  // a bridged response cannot be continued by a passed-through model, nor the reverse
  const bridged = await client().responses.create({ model: 'demo-chat', input: 'hi' });
  await assert.rejects(client().responses.create({ model: MODEL, previous_response_id: bridged.id, input: 'x' }),
    (e) => e.status === 400 && e.code === 'previous_response_not_continuable');
  await assert.rejects(client().responses.create({ model: 'demo-chat', previous_response_id: first.id, input: 'x' }),
    (e) => e.status === 400 && e.code === 'previous_response_not_continuable');
  // delete forgets it: retrieve and continue then 404
  const del = await client().responses.delete(second.id);
  assert.equal(del.deleted, true);
  await assert.rejects(client().responses.retrieve(second.id), (e) => e.status === 404);
});

test('responses.stream passed through: the engine\'s own events, named as it named them; the stored answer is the completed Response', T, async () => {
  const stream = client().responses.stream({ model: MODEL, input: `Stream it ${uniq('s')}`, max_output_tokens: 40 });
  const types = [];
  let text = '';
  for await (const ev of stream) {
    types.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
  }
  const final = await stream.finalResponse();
  assert.equal(types[0], 'response.created');
  assert.ok(types.includes('response.output_item.added'));
  assert.ok(types.filter((t) => t === 'response.output_text.delta').length > 1, 'token by token');
  assert.equal(types.at(-1), 'response.completed');
  assert.match(text, /^\[native responses\] /);
  assert.equal(final.output_text, text);
  const jobId = jobOfResp(final.id);
  assert.equal(jobRow(jobId).kind, 'responses');
  const answer = storedAnswer(jobId);
  assert.equal(answer.id, final.id);
  assert.equal(answer.output[0].content[0].text, text);
  assert.equal(Number(usageRow(jobRow(jobId).id).completion_tokens), final.usage.output_tokens);
});

test('function calls passed through over two turns: the engine\'s function_call item, then its output as input', T, async () => {
  const tools = [{ type: 'function', name: 'find', description: 'Find things.', parameters: { type: 'object', properties: { q: { type: 'string' } } } }];
  const r = await client().responses.create({ model: MODEL, tools, input: '[[mock:use-tool]] find cats' });
  const call = r.output.find((o) => o.type === 'function_call');
  assert.ok(call, JSON.stringify(r.output));
  assert.equal(call.name, 'find');
  const next = await client().responses.create({
    model: MODEL, tools, previous_response_id: r.id,
    input: [{ type: 'function_call_output', call_id: call.call_id, output: '3 cats' }],
  });
  assert.equal(next.status, 'completed');
  const sent = await engineRequestOf(jobOfResp(next.id));
  assert.deepEqual(sent.body.input.map((i) => i.type), ['message', 'function_call', 'function_call_output']);
});

test('messages.create and stream passed through: the engine\'s /v1/messages answers and events; kind messages; PII masked before the engine', T, async () => {
  const phone = '010-4821-7736';
  const { data: msg, response } = await anthropic().messages.create({
    model: MODEL, max_tokens: 40, system: 'Be brief.',
    messages: [{ role: 'user', content: `Call me at ${phone} ${uniq('m')}` }],
  }).withResponse();
  assert.match(msg.content[0].text, /^\[native messages\] /);
  const jobId = response.headers.get('x-aif-job-id');
  assert.equal(jobOfMsg(msg.id), jobId);
  const row = jobRow(jobId);
  assert.equal(row.kind, 'messages');
  assert.equal(Number(usageRow(row.id).prompt_tokens), msg.usage.input_tokens);
  const sent = await engineRequestOf(jobId);
  assert.equal(sent.path, '/v1/messages');
  assert.equal(sent.body.system, 'Be brief.');
  assert.ok(!JSON.stringify(sent.body).includes(phone), 'the phone number never reached the engine');
  assert.ok(!msg.content[0].text.includes(phone));
  // the stream: Anthropic's events from the engine, the stored answer put together
  const stream = anthropic().messages.stream({ model: MODEL, max_tokens: 30, messages: [{ role: 'user', content: `Stream ${uniq('ms')}` }] });
  const names = [];
  stream.on('streamEvent', (ev) => names.push(ev.type));
  const final = await stream.finalMessage();
  assert.equal(names[0], 'message_start');
  assert.ok(names.filter((n) => n === 'content_block_delta').length > 1);
  assert.equal(names.at(-1), 'message_stop');
  assert.match(final.content[0].text, /^\[native messages\] /);
  const stored = storedAnswer(jobOfMsg(final.id));
  assert.equal(stored.content[0].text, final.content[0].text);
  assert.equal(stored.stop_reason, final.stop_reason);
  assert.equal(stored.usage.output_tokens, final.usage.output_tokens);
});

test('tool use passed through, streamed: the tool_use block\'s input put together from its pieces, as stored', T, async () => {
  const tools = [{ name: 'get_weather', description: 'Weather.', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
  const stream = anthropic().messages.stream({ model: MODEL, max_tokens: 100, tools, messages: [{ role: 'user', content: '[[mock:use-tool]] weather in Seoul' }] });
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  const use = final.content.find((b) => b.type === 'tool_use');
  assert.ok(use && typeof use.input === 'object', JSON.stringify(final.content));
  const stored = storedAnswer(jobOfMsg(final.id));
  assert.deepEqual(stored.content.find((b) => b.type === 'tool_use').input, use.input);
  // the second turn: the tool's result goes back, the engine answers in text
  const next = await anthropic().messages.create({
    model: MODEL, max_tokens: 40, tools, messages: [
      { role: 'user', content: 'weather in Seoul' },
      { role: 'assistant', content: final.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'Sunny, 21C' }] },
    ],
  });
  assert.equal(next.content[0].type, 'text');
  assert.match(next.content[0].text, /^\[native messages\] /);
});

test('an engine error mid-stream reaches the Anthropic SDK as an error; bad input is refused before any engine call', T, async () => {
  const stream = anthropic().messages.stream({ model: MODEL, max_tokens: 30, messages: [{ role: 'user', content: `[[mock:error-mid]] ${uniq('e')}` }] });
  await assert.rejects(stream.finalMessage(), (e) => e instanceof Error);
  // and the openai SDK on a Responses stream: an error event it throws on
  const rs = client().responses.stream({ model: MODEL, input: `[[mock:error-mid]] ${uniq('e')}` });
  await assert.rejects(rs.finalResponse(), (e) => e instanceof Error && /interrupted|error/i.test(e.message));
  const r = await http('/v1/messages', { key: null, headers: { 'x-api-key': env.apiKey }, json: { model: MODEL, messages: [{ role: 'user', content: 'x' }] } });
  assert.equal(r.status, 400, 'max_tokens is required');
  assert.equal(r.json.type, 'error');
  assert.equal(r.json.error.type, 'invalid_request_error');
  // count_tokens never calls the engine, passed through or not
  const { data, response } = await anthropic().messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'Hello there' }] }).withResponse();
  assert.ok(data.input_tokens > 0);
  assert.equal(response.headers.get('x-aif-token-count'), 'estimate');
});

test('a passed-through stream sent again with its Idempotency-Key is replayed from the stored answer in the surface\'s full order', T, async () => {
  const key = uniq('idem');
  const input = `Replay me ${uniq('r')}`;
  const read = async () => {
    const stream = client().responses.stream({ model: MODEL, input, max_output_tokens: 30 }, { headers: { 'Idempotency-Key': key } });
    const types = [];
    let text = '';
    for await (const ev of stream) {
      types.push(ev.type);
      if (ev.type === 'response.output_text.delta') text += ev.delta;
    }
    return { types, text, final: await stream.finalResponse() };
  };
  const a = await read();
  const b = await read();
  assert.equal(b.final.id, a.final.id, 'the same job');
  assert.equal(b.text, a.text, 'the text comes as deltas again');
  assert.equal(b.final.output_text, a.final.output_text);
  for (const t of ['response.created', 'response.output_item.added', 'response.output_text.done', 'response.output_item.done', 'response.completed'])
    assert.ok(b.types.includes(t), `${t} in ${b.types.join(',')}`);
  const seq = [];
  const raw = await http('/v1/messages', { key: null, headers: { 'x-api-key': env.apiKey, 'Idempotency-Key': `${key}-m` }, json: { model: MODEL, max_tokens: 20, stream: true, messages: [{ role: 'user', content: input }] } });
  const again = await http('/v1/messages', { key: null, headers: { 'x-api-key': env.apiKey, 'Idempotency-Key': `${key}-m` }, json: { model: MODEL, max_tokens: 20, stream: true, messages: [{ role: 'user', content: input }] } });
  // the same events in the same order (the replay sends each text as one delta)
  for (const r of [raw, again]) seq.push([...r.text.matchAll(/^event: (\S+)$/gm)].map((m) => m[1]).filter((e, i, all) => e !== 'ping' && e !== all[i - 1]));
  assert.deepEqual(seq[1], seq[0], 'the replayed Messages stream has the events of the first');
  assert.equal(again.headers.get('x-aif-idempotent-replay'), 'true');
  const text = (t) => [...t.matchAll(/"text_delta","text":"([^"]*)"/g)].map((m) => m[1]).join('');
  assert.equal(text(again.text), text(raw.text));
});
