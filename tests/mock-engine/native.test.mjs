// native.test.mjs -- self-test of the native surfaces vLLM serves besides chat: OpenAI's
// Responses API (POST /v1/responses) and Anthropic's Messages API (POST /v1/messages).
// node --test tests/mock-engine/
// Checks the answer shapes, the SSE event order, usage against tokenizer.mjs (a request
// counts as the chat messages it is equivalent to), tool calls, errors, faults and stats.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, stopServer } from './test_helpers.mjs';
import { countTokens, chatPromptTokens, chatSourceText, generate, MESSAGE_OVERHEAD } from './tokenizer.mjs';
import { RESPONSES_MARKER, MESSAGES_MARKER } from './vllm.mjs';

let child;
let base;

before(async () => { ({ child, base } = await startServer()); });
after(() => stopServer(child));

const MODEL = 'mock-llama-3-8b';

const post = (path, body) => fetch(base + path, {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});
const responses = (extra) => post('/v1/responses', { model: MODEL, ...extra });
const messages = (extra) => post('/v1/messages', { model: MODEL, max_tokens: 100, ...extra });

// Named SSE events: [{ event, data }] where data is the parsed JSON; every data.type is its
// event name.
function namedEvents(text) {
  assert.ok(text.endsWith('\n\n'), 'stream ends with a blank line');
  return text.slice(0, -2).split('\n\n').map((e) => {
    const m = /^event: ([a-z_.]+)\ndata: (.*)$/s.exec(e);
    assert.ok(m, `event framing: ${e.slice(0, 60)}`);
    const data = JSON.parse(m[2]);
    assert.equal(data.type, m[1], 'data.type is the event name');
    return { event: m[1], data };
  });
}

const TEXT_EVENTS = (n) => [
  'response.created', 'response.in_progress', 'response.output_item.added', 'response.content_part.added',
  ...Array(n).fill('response.output_text.delta'),
  'response.output_text.done', 'response.content_part.done', 'response.output_item.done', 'response.completed',
];

// ---- /v1/responses -------------------------------------------------------------------------

test('responses: non-stream Response object, text and usage as chat for the same conversation', async () => {
  const res = await responses({ input: 'Hello, world! How are you?', instructions: 'You are terse.', store: false });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const j = await res.json();
  const msgs = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello, world! How are you?' }];
  const g = generate(chatSourceText(msgs));
  assert.match(j.id, /^resp_[0-9a-f]{32}$/);
  assert.ok(Number.isInteger(j.created_at) && Math.abs(j.created_at - Date.now() / 1000) < 60);
  const { id, created_at, output, ...rest } = j;
  assert.deepEqual(rest, {
    object: 'response', status: 'completed', background: false, error: null, incomplete_details: null,
    instructions: 'You are terse.', max_output_tokens: null, model: MODEL, parallel_tool_calls: true,
    previous_response_id: null, reasoning: { effort: null, summary: null }, store: false, temperature: 1,
    text: { format: { type: 'text' } }, tool_choice: 'auto', tools: [], top_p: 1, truncation: 'disabled',
    usage: {
      input_tokens: chatPromptTokens(msgs), input_tokens_details: { cached_tokens: 0 },
      output_tokens: g.completionTokens, output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: chatPromptTokens(msgs) + g.completionTokens,
    },
    user: null, metadata: {},
  });
  assert.equal(output.length, 1);
  assert.match(output[0].id, /^msg_[0-9a-f]{32}$/);
  assert.deepEqual(output[0], {
    id: output[0].id, type: 'message', status: 'completed', role: 'assistant',
    content: [{ type: 'output_text', annotations: [], text: RESPONSES_MARKER + g.text }],
  });
  assert.ok(output[0].content[0].text.startsWith('[native responses] Mock answer to: Hello world'));
  assert.equal(j.usage.input_tokens, 2 * MESSAGE_OVERHEAD + countTokens('You are terse.') + countTokens('Hello, world! How are you?'));
  assert.equal(j.usage.output_tokens, 16);
});

test('responses: array input items count like the chat messages they are', async () => {
  const input = [
    { role: 'user', content: 'What is the weather?' },
    { type: 'function_call', call_id: 'call_1', name: 'weather', arguments: '{"city":"Seoul"}' },
    { type: 'function_call_output', call_id: 'call_1', output: 'Sunny, 21 degrees' },
    { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'It is sunny.' }] },
    { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'And tomorrow?' }, { type: 'input_text', text: 'Please' }] },
  ];
  const j = await (await responses({ input, temperature: 0.2, max_output_tokens: 50, metadata: { k: 'v' } })).json();
  const msgs = [
    { role: 'user', content: 'What is the weather?' }, { role: 'assistant', content: '' },
    { role: 'tool', content: 'Sunny, 21 degrees' }, { role: 'assistant', content: 'It is sunny.' },
    { role: 'user', content: 'And tomorrow? Please' },
  ];
  assert.equal(j.usage.input_tokens, chatPromptTokens(msgs));
  assert.equal(j.output[0].content[0].text, RESPONSES_MARKER + generate('And tomorrow? Please').text);
  assert.equal(j.temperature, 0.2);
  assert.equal(j.max_output_tokens, 50);
  assert.deepEqual(j.metadata, { k: 'v' });
});

test('responses: stream events in OpenAI order, sequence numbers, one delta per token', async () => {
  const res = await responses({ input: 'red green', stream: true });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const ev = namedEvents(await res.text());
  const g = generate('red green');
  assert.deepEqual(ev.map((e) => e.event), TEXT_EVENTS(g.completionTokens));
  ev.forEach((e, i) => assert.equal(e.data.sequence_number, i));
  const [created, inProgress, added, partAdded] = ev.map((e) => e.data);
  for (const r of [created.response, inProgress.response]) {
    assert.equal(r.status, 'in_progress');
    assert.deepEqual(r.output, []);
    assert.equal(r.usage, null);
  }
  assert.deepEqual(added.item, { id: added.item.id, type: 'message', status: 'in_progress', role: 'assistant', content: [] });
  assert.deepEqual(partAdded.part, { type: 'output_text', annotations: [], text: '' });
  const deltas = ev.filter((e) => e.event === 'response.output_text.delta').map((e) => e.data);
  for (const d of deltas) assert.deepEqual([d.item_id, d.output_index, d.content_index], [added.item.id, 0, 0]);
  const text = RESPONSES_MARKER + g.text;
  assert.equal(deltas.map((d) => d.delta).join(''), text);
  assert.equal(ev.find((e) => e.event === 'response.output_text.done').data.text, text);
  assert.equal(ev.find((e) => e.event === 'response.content_part.done').data.part.text, text);
  const done = ev.find((e) => e.event === 'response.output_item.done').data.item;
  assert.equal(done.status, 'completed');
  const fin = ev.at(-1).data.response;
  assert.equal(fin.id, created.response.id);
  assert.equal(fin.status, 'completed');
  assert.deepEqual(fin.output, [done]);
  assert.deepEqual(fin.usage, {
    input_tokens: MESSAGE_OVERHEAD + 2, input_tokens_details: { cached_tokens: 0 },
    output_tokens: g.completionTokens, output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: MESSAGE_OVERHEAD + 2 + g.completionTokens,
  });
});

test('responses: max_output_tokens cuts the answer: status "incomplete", response.incomplete', async () => {
  const j = await (await responses({ input: 'alpha beta', max_output_tokens: 5 })).json();
  assert.equal(j.status, 'incomplete');
  assert.deepEqual(j.incomplete_details, { reason: 'max_output_tokens' });
  assert.equal(j.output[0].status, 'incomplete');
  assert.equal(j.output[0].content[0].text, RESPONSES_MARKER + 'Mock answer to: alpha');
  assert.equal(j.usage.output_tokens, 5);
  const ev = namedEvents(await (await responses({ input: 'alpha beta', max_output_tokens: 5, stream: true })).text());
  assert.deepEqual(ev.map((e) => e.event), [...TEXT_EVENTS(5).slice(0, -1), 'response.incomplete']);
  assert.equal(ev.at(-1).data.response.status, 'incomplete');
});

test('responses: [[mock:use-tool]] with tools answers a function_call item (non-stream and stream)', async () => {
  const tools = [{ type: 'function', name: 'search', description: 'web search', parameters: { type: 'object' } }, { type: 'function', name: 'other' }];
  const input = '[[mock:use-tool]] find cats';
  const j = await (await responses({ input, tools })).json();
  assert.equal(j.status, 'completed');
  assert.deepEqual(j.tools, tools);
  assert.equal(j.output.length, 1);
  const fc = j.output[0];
  assert.match(fc.id, /^fc_[0-9a-f]{32}$/);
  assert.match(fc.call_id, /^call_[0-9a-f]{24}$/);
  assert.deepEqual(fc, { id: fc.id, type: 'function_call', status: 'completed', arguments: '{"query":"find cats"}', call_id: fc.call_id, name: 'search' });
  assert.equal(j.usage.input_tokens, MESSAGE_OVERHEAD + countTokens(input));
  assert.equal(j.usage.output_tokens, countTokens('{"query":"find cats"}'));

  const ev = namedEvents(await (await responses({ input, tools, stream: true })).text());
  const names = ev.map((e) => e.event);
  assert.deepEqual(names, [
    'response.created', 'response.in_progress', 'response.output_item.added',
    ...names.filter((n) => n === 'response.function_call_arguments.delta'),
    'response.function_call_arguments.done', 'response.output_item.done', 'response.completed',
  ]);
  assert.ok(names.includes('response.function_call_arguments.delta'));
  ev.forEach((e, i) => assert.equal(e.data.sequence_number, i));
  const added = ev[2].data.item;
  assert.equal(added.type, 'function_call');
  assert.equal(added.arguments, '');
  assert.equal(added.status, 'in_progress');
  const args = ev.filter((e) => e.event === 'response.function_call_arguments.delta').map((e) => e.data.delta).join('');
  assert.equal(args, '{"query":"find cats"}');
  assert.equal(ev.find((e) => e.event === 'response.function_call_arguments.done').data.arguments, args);
  assert.deepEqual(ev.at(-1).data.response.output, [ev.at(-2).data.item]);

  // forced by tool_choice (of the named tool); no tools or tool_choice "none": a message
  const forced = await (await responses({ input: 'plain', tools, tool_choice: { type: 'function', name: 'other' } })).json();
  assert.equal(forced.output[0].name, 'other');
  assert.equal((await (await responses({ input, tools, tool_choice: 'none' })).json()).output[0].type, 'message');
  assert.equal((await (await responses({ input })).json()).output[0].type, 'message');
  // the last item is a tool output: the model answers in text
  const after = await (await responses({ tools, input: [{ role: 'user', content: input }, { type: 'function_call_output', call_id: 'c', output: 'cats' }] })).json();
  assert.equal(after.output[0].type, 'message');
});

test('responses: errors (vLLM shape): store:true, previous_response_id, model, input', async () => {
  const store = await responses({ input: 'x', store: true });
  assert.equal(store.status, 400);
  assert.deepEqual(await store.json(), {
    error: { message: 'store is not supported by this mock; the gateway must send store:false', type: 'BadRequestError', param: null, code: 400 },
  });
  const prev = await responses({ input: 'x', store: false, previous_response_id: 'resp_abc' });
  assert.equal(prev.status, 400);
  assert.match((await prev.json()).error.message, /previous_response_id/);
  const nf = await responses({ model: 'no-such-model', input: 'x' });
  assert.equal(nf.status, 404);
  assert.equal((await nf.json()).error.message, 'The model `no-such-model` does not exist.');
  assert.equal((await responses({ model: 'mock-embed', input: 'x' })).status, 400);
  for (const extra of [{}, { input: 5 }, { input: [] }, { input: [{ type: 'item_reference', id: 'x' }] }, { input: 'x', max_output_tokens: 0 }]) {
    const r = await responses(extra);
    assert.equal(r.status, 400, JSON.stringify(extra));
    assert.equal((await r.json()).error.type, 'BadRequestError');
  }
});

test('responses: faults: injected status, error-mid stream event, token pacing', async () => {
  const st = await responses({ input: 'x [[mock:status=503]]' });
  assert.equal(st.status, 503);
  assert.equal((await st.json()).error.type, 'ServiceUnavailableError');
  const ev = namedEvents(await (await responses({ input: 'x [[mock:error-mid]]', stream: true })).text());
  const err = ev.at(-1);
  assert.equal(err.event, 'error');
  assert.equal(err.data.code, 'server_error');
  assert.equal(err.data.message, 'Mock engine failure during generation (injected)');
  assert.deepEqual(err.data.error, { message: err.data.message, type: 'server_error', param: null, code: 'server_error' });
  assert.equal(err.data.sequence_number, ev.length - 1);
  assert.ok(!ev.some((e) => e.event === 'response.completed'));
  // reset-mid: the connection closes before the closing events
  const cut = await responses({ input: 'a b [[mock:reset-mid]]', stream: true });
  await assert.rejects(cut.text());
  // hostile.mjs's chat lies leave these bodies alone (valid JSON, true usage)
  const lie = await (await responses({ input: 'x [[mock:usage=7,9]]' })).json();
  assert.equal(lie.usage.output_tokens, 16);
  const t0 = Date.now();
  const paced = namedEvents(await (await responses({ input: 'x [[mock:tokens=5]] [[mock:token-delay=30]]', stream: true })).text());
  assert.ok(Date.now() - t0 >= 140, 'paced per token');
  assert.equal(paced.filter((e) => e.event === 'response.output_text.delta').length, 5);
});

// ---- /v1/messages --------------------------------------------------------------------------

test('messages: non-stream Anthropic message, text and usage as chat for the same conversation', async () => {
  const res = await messages({ system: 'You are terse.', messages: [{ role: 'user', content: 'Hello, world! How are you?' }] });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const j = await res.json();
  assert.match(j.id, /^msg_[0-9a-f]{32}$/);
  const msgs = [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'Hello, world! How are you?' }];
  const g = generate(chatSourceText(msgs));
  assert.deepEqual(j, {
    id: j.id, type: 'message', role: 'assistant', model: MODEL,
    content: [{ type: 'text', text: MESSAGES_MARKER + g.text }],
    stop_reason: 'end_turn', stop_sequence: null,
    usage: { input_tokens: chatPromptTokens(msgs), output_tokens: g.completionTokens },
  });
  assert.ok(j.content[0].text.startsWith('[native messages] Mock answer to: Hello world'));

  // max_tokens cut: stop_reason max_tokens; stop_sequences: stop_sequence, text cut before it
  const cut = await (await messages({ max_tokens: 5, messages: [{ role: 'user', content: 'alpha beta' }] })).json();
  assert.equal(cut.stop_reason, 'max_tokens');
  assert.equal(cut.content[0].text, MESSAGES_MARKER + 'Mock answer to: alpha');
  assert.equal(cut.usage.output_tokens, 5);
  const stop = await (await messages({ stop_sequences: ['three'], messages: [{ role: 'user', content: 'one two three' }] })).json();
  assert.equal(stop.stop_reason, 'stop_sequence');
  assert.equal(stop.stop_sequence, 'three');
  assert.equal(stop.content[0].text, MESSAGES_MARKER + 'Mock answer to: one two ');
  assert.equal(stop.usage.output_tokens, countTokens('Mock answer to: one two '));

  // blocks: system text blocks, tool_use / tool_result history count like chat's
  const history = await (await messages({
    system: [{ type: 'text', text: 'Be' }, { type: 'text', text: 'brief.' }],
    messages: [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Seoul?' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Seoul' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'Sunny' }] }] },
    ],
  })).json();
  const eq = [
    { role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Weather in Seoul?' },
    { role: 'assistant', content: 'Checking.' }, { role: 'tool', content: 'Sunny' },
  ];
  assert.equal(history.usage.input_tokens, chatPromptTokens(eq));
  assert.equal(history.content[0].text, MESSAGES_MARKER + generate('Weather in Seoul?').text);
});

test('messages: stream events in Anthropic order, one text delta per token', async () => {
  const res = await messages({ stream: true, messages: [{ role: 'user', content: 'red green' }] });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const ev = namedEvents(await res.text());
  const g = generate('red green');
  assert.deepEqual(ev.map((e) => e.event), [
    'message_start', 'content_block_start', 'ping', ...Array(g.completionTokens).fill('content_block_delta'),
    'content_block_stop', 'message_delta', 'message_stop',
  ]);
  const start = ev[0].data.message;
  assert.match(start.id, /^msg_[0-9a-f]{32}$/);
  assert.deepEqual(start, {
    id: start.id, type: 'message', role: 'assistant', model: MODEL, content: [], stop_reason: null, stop_sequence: null,
    usage: { input_tokens: MESSAGE_OVERHEAD + 2, output_tokens: 1 },
  });
  assert.deepEqual(ev[1].data, { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  assert.deepEqual(ev[2].data, { type: 'ping' });
  const deltas = ev.filter((e) => e.event === 'content_block_delta').map((e) => e.data);
  for (const d of deltas) {
    assert.equal(d.index, 0);
    assert.equal(d.delta.type, 'text_delta');
  }
  assert.equal(deltas.map((d) => d.delta.text).join(''), MESSAGES_MARKER + g.text);
  assert.deepEqual(ev.at(-3).data, { type: 'content_block_stop', index: 0 });
  assert.deepEqual(ev.at(-2).data, { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: g.completionTokens } });
  assert.deepEqual(ev.at(-1).data, { type: 'message_stop' });
});

test('messages: [[mock:use-tool]] with tools answers a tool_use block (non-stream and stream)', async () => {
  const tools = [{ name: 'weather', description: 'weather of a city', input_schema: { type: 'object' } }, { name: 'other', input_schema: {} }];
  const ask = [{ role: 'user', content: '[[mock:use-tool]] weather in Seoul' }];
  const j = await (await messages({ tools, messages: ask })).json();
  assert.equal(j.stop_reason, 'tool_use');
  assert.equal(j.stop_sequence, null);
  assert.equal(j.content.length, 1);
  const tu = j.content[0];
  assert.match(tu.id, /^toolu_[0-9a-f]{24}$/);
  assert.deepEqual(tu, { type: 'tool_use', id: tu.id, name: 'weather', input: { query: 'weather in Seoul' } });
  assert.deepEqual(j.usage, { input_tokens: chatPromptTokens(ask), output_tokens: countTokens('{"query":"weather in Seoul"}') });

  const ev = namedEvents(await (await messages({ tools, messages: ask, stream: true })).text());
  const names = ev.map((e) => e.event);
  const nDeltas = names.filter((n) => n === 'content_block_delta').length;
  assert.ok(nDeltas >= 1);
  assert.deepEqual(names, ['message_start', 'content_block_start', 'ping', ...Array(nDeltas).fill('content_block_delta'), 'content_block_stop', 'message_delta', 'message_stop']);
  const block = ev[1].data.content_block;
  assert.equal(block.type, 'tool_use');
  assert.match(block.id, /^toolu_[0-9a-f]{24}$/);
  assert.equal(block.name, 'weather');
  assert.deepEqual(block.input, {});
  const json = ev.filter((e) => e.event === 'content_block_delta').map((e) => {
    assert.equal(e.data.delta.type, 'input_json_delta');
    return e.data.delta.partial_json;
  }).join('');
  assert.deepEqual(JSON.parse(json), { query: 'weather in Seoul' });
  assert.equal(ev.at(-2).data.delta.stop_reason, 'tool_use');

  // forced by tool_choice; "none" or a tool_result turn: text
  const forced = await (await messages({ tools, tool_choice: { type: 'tool', name: 'other' }, messages: [{ role: 'user', content: 'plain' }] })).json();
  assert.equal(forced.content[0].name, 'other');
  assert.equal((await (await messages({ tools, tool_choice: { type: 'none' }, messages: ask })).json()).content[0].type, 'text');
  const after = await (await messages({
    tools, messages: [...ask, { role: 'assistant', content: [tu] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: tu.id, content: 'Sunny' }] }],
  })).json();
  assert.equal(after.stop_reason, 'end_turn');
  assert.equal(after.content[0].type, 'text');
});

test('messages: errors in Anthropic shape: max_tokens, model, messages, body', async () => {
  const anth = async (res, status, type) => {
    assert.equal(res.status, status);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const j = await res.json();
    assert.deepEqual(Object.keys(j), ['type', 'error']);
    assert.equal(j.type, 'error');
    assert.equal(j.error.type, type);
    assert.equal(typeof j.error.message, 'string');
    return j.error.message;
  };
  const noMax = await post('/v1/messages', { model: MODEL, messages: [{ role: 'user', content: 'x' }] });
  assert.equal(await anth(noMax, 400, 'invalid_request_error'), 'max_tokens: Field required');
  await anth(await messages({ max_tokens: 0, messages: [{ role: 'user', content: 'x' }] }), 400, 'invalid_request_error');
  assert.equal(await anth(await messages({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }), 404, 'not_found_error'), 'model: no-such-model');
  await anth(await messages({ model: 'mock-embed', messages: [{ role: 'user', content: 'x' }] }), 400, 'invalid_request_error');
  await anth(await messages({}), 400, 'invalid_request_error');
  await anth(await messages({ messages: [] }), 400, 'invalid_request_error');
  await anth(await messages({ messages: [{ role: 'system', content: 'x' }] }), 400, 'invalid_request_error');
  await anth(await messages({ messages: [{ role: 'user', content: [{ type: 'bogus' }] }] }), 400, 'invalid_request_error');
  await anth(await post('/v1/messages', '{"model":'), 400, 'invalid_request_error');
  await anth(await messages({ max_tokens: 9000, messages: [{ role: 'user', content: 'x' }] }), 400, 'invalid_request_error');
});

test('messages: faults in Anthropic shape: injected status, error-mid event, error-mid non-stream', async () => {
  const over = await messages({ messages: [{ role: 'user', content: 'x [[mock:status=529]]' }] });
  assert.equal(over.status, 529);
  assert.deepEqual(await over.json(), { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded (injected by mock engine)' } });
  const lim = await messages({ messages: [{ role: 'user', content: 'x [[mock:status=429]]' }] });
  assert.equal((await lim.json()).error.type, 'rate_limit_error');
  const ev = namedEvents(await (await messages({ stream: true, messages: [{ role: 'user', content: 'x [[mock:error-mid]]' }] })).text());
  assert.deepEqual(ev.at(-1).data, { type: 'error', error: { type: 'api_error', message: 'Mock engine failure during generation (injected)' } });
  assert.ok(!ev.some((e) => e.event === 'message_stop'));
  const mid = await messages({ messages: [{ role: 'user', content: 'x [[mock:error-mid]]' }] });
  assert.equal(mid.status, 500);
  assert.equal((await mid.json()).error.type, 'api_error');
});

// ---- both ----------------------------------------------------------------------------------

test('stats count /v1/responses and /v1/messages by path and their tokens per model', async () => {
  assert.equal((await post('/_mock/reset-stats', {})).status, 200);
  const a = await (await responses({ input: 'one' })).json();
  const b = await (await messages({ model: 'mock-qwen-0.5b', messages: [{ role: 'user', content: 'two' }] })).json();
  await (await messages({ stream: true, messages: [{ role: 'user', content: 'three' }] })).text();
  await responses({ model: 'missing', input: 'x' });
  const s = await (await fetch(base + '/_mock/stats')).json();
  assert.deepEqual(s.requests, { '/v1/responses': 2, '/v1/messages': 2 });
  assert.deepEqual(s.by_model, { [MODEL]: 2, 'mock-qwen-0.5b': 1, missing: 1 });
  assert.deepEqual(s.responses, { 200: 3, 404: 1 });
  const three = chatPromptTokens([{ role: 'user', content: 'three' }]);
  assert.deepEqual(s.models[MODEL], {
    in_flight: 0, success: 2,
    prompt_tokens: a.usage.input_tokens + three, completion_tokens: a.usage.output_tokens + generate('three').completionTokens,
  });
  assert.equal(s.models['mock-qwen-0.5b'].prompt_tokens, b.usage.input_tokens);
  assert.equal(s.models['mock-qwen-0.5b'].completion_tokens, b.usage.output_tokens);
});
