// mock.test.mjs -- self-test of the mock engine: node --test tests/mock-engine/
// Starts server.mjs on a free port (--port 0, port read from its ready line) and checks the
// vLLM wire format, determinism against tokenizer.mjs, fault injection and stats.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, stopServer } from './test_helpers.mjs';
import {
  tokenize, countTokens, chatPromptTokens, chatSourceText, generate, embedVector, base64ToFloats,
  MESSAGE_OVERHEAD,
} from './tokenizer.mjs';

let child;
let base;

before(async () => { ({ child, base } = await startServer(['--host', '127.0.0.1'])); });
after(() => stopServer(child));

const post = (path, body, headers = {}) => fetch(base + path, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

const chat = (content, extra = {}) => post('/v1/chat/completions', {
  model: 'mock-llama-3-8b', messages: [{ role: 'user', content }], ...extra,
});

function sseEvents(text) {
  assert.ok(text.endsWith('\n\n'), 'stream ends with a blank line');
  return text.slice(0, -2).split('\n\n').map((e) => {
    assert.ok(e.startsWith('data: '), `event framing: ${e.slice(0, 40)}`);
    return e.slice(6);
  });
}

test('chat completion: vLLM shape, deterministic text, usage from tokenizer.mjs', async () => {
  const messages = [
    { role: 'system', content: 'You are terse.' },
    { role: 'user', content: 'Hello, world! How are you?' },
  ];
  const res = await post('/v1/chat/completions', { model: 'mock-llama-3-8b', messages });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.match(res.headers.get('x-request-id'), /^[0-9a-f]{32}$/);
  const raw = await res.text();
  const j = JSON.parse(raw);
  assert.match(j.id, /^chatcmpl-[0-9a-f]{32}$/);
  assert.equal(j.object, 'chat.completion');
  assert.ok(Number.isInteger(j.created) && Math.abs(j.created - Date.now() / 1000) < 60);
  assert.equal(j.model, 'mock-llama-3-8b');
  assert.equal(j.system_fingerprint, null);
  assert.equal(j.prompt_logprobs, null);
  assert.equal(j.kv_transfer_params, null);
  assert.equal(j.choices.length, 1);
  const c = j.choices[0];
  assert.equal(c.index, 0);
  assert.equal(c.logprobs, null);
  assert.equal(c.finish_reason, 'stop');
  assert.equal(c.stop_reason, null);
  assert.equal(c.message.role, 'assistant');
  assert.equal(c.message.refusal, null);
  assert.deepEqual(c.message.tool_calls, []);
  assert.equal(c.message.reasoning, null);

  // deterministic text = tokenizer.mjs generate()
  const g = generate(chatSourceText(messages), {});
  assert.equal(c.message.content, g.text);
  assert.equal(c.message.content, 'Mock answer to: Hello world How are you Hello world How are you Hello world');
  assert.deepEqual(tokenize('Hello, world!'), ['Hello', ',', 'world', '!']);

  // usage: 4 tokens per message + content tokens; completion = tokens of the text (16)
  const prompt = 2 * MESSAGE_OVERHEAD + countTokens('You are terse.') + countTokens('Hello, world! How are you?');
  assert.equal(prompt, chatPromptTokens(messages));
  assert.deepEqual(Object.keys(j.usage).slice(0, 3), ['prompt_tokens', 'total_tokens', 'completion_tokens']);
  assert.equal(j.usage.prompt_tokens, prompt);
  assert.equal(j.usage.completion_tokens, 16);
  assert.equal(j.usage.completion_tokens, countTokens(c.message.content));
  assert.equal(j.usage.total_tokens, prompt + 16);

  // same input, same output
  const j2 = await (await post('/v1/chat/completions', { model: 'mock-llama-3-8b', messages })).json();
  assert.equal(j2.choices[0].message.content, c.message.content);
  assert.notEqual(j2.id, j.id);
});

test('max_tokens / max_completion_tokens cut the answer: finish_reason "length"', async () => {
  for (const key of ['max_tokens', 'max_completion_tokens']) {
    const j = await (await chat('alpha beta', { [key]: 5 })).json();
    assert.equal(j.choices[0].finish_reason, 'length');
    assert.equal(j.choices[0].stop_reason, null);
    assert.equal(j.choices[0].message.content, 'Mock answer to: alpha');
    assert.equal(j.usage.completion_tokens, 5);
  }
  // a cap above the natural length changes nothing
  const j = await (await chat('alpha beta', { max_tokens: 100 })).json();
  assert.equal(j.choices[0].finish_reason, 'stop');
  assert.equal(j.usage.completion_tokens, 16);
  // [[mock:tokens=N]] sets the natural length; directives are not echoed
  const d = await (await chat('alpha [[mock:tokens=7]] beta')).json();
  assert.equal(d.choices[0].message.content, 'Mock answer to: alpha beta alpha');
  assert.equal(d.choices[0].finish_reason, 'stop');
  assert.equal(d.usage.completion_tokens, 7);
  assert.equal(d.usage.prompt_tokens, MESSAGE_OVERHEAD + countTokens('alpha [[mock:tokens=7]] beta'));
  // max_tokens 0 is a vLLM 400
  const bad = await chat('x', { max_tokens: 0 });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.type, 'BadRequestError');
});

test('stop strings: cut before the stop string, stop_reason = the string', async () => {
  const j = await (await chat('one two three', { stop: ['three', 'zzz'] })).json();
  assert.equal(j.choices[0].message.content, 'Mock answer to: one two ');
  assert.equal(j.choices[0].finish_reason, 'stop');
  assert.equal(j.choices[0].stop_reason, 'three');
  assert.equal(j.usage.completion_tokens, countTokens('Mock answer to: one two '));
  const k = await (await chat('one two three', { stop: 'two', include_stop_str_in_output: true })).json();
  assert.equal(k.choices[0].message.content, 'Mock answer to: one two');
  assert.equal(k.choices[0].stop_reason, 'two');
});

test('streaming: role chunk, one chunk per token, finish chunk, usage chunk, [DONE]', async () => {
  const res = await chat('red green', { stream: true, max_tokens: 6, stream_options: { include_usage: true } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  assert.ok(res.headers.get('x-request-id'));
  const ev = sseEvents(await res.text());
  assert.equal(ev.at(-1), '[DONE]');
  const chunks = ev.slice(0, -1).map((e) => JSON.parse(e));
  const id = chunks[0].id;
  assert.match(id, /^chatcmpl-[0-9a-f]{32}$/);
  for (const c of chunks) {
    assert.equal(c.id, id);
    assert.equal(c.object, 'chat.completion.chunk');
    assert.equal(c.model, 'mock-llama-3-8b');
    assert.equal(c.created, chunks[0].created);
  }
  assert.deepEqual(chunks[0].choices, [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }]);
  // 6 tokens: 5 plain content chunks, the 6th token rides on the finish chunk (finish "length")
  const content = chunks.slice(1, -1);
  assert.equal(content.length, 6);
  for (const c of content.slice(0, -1)) {
    assert.equal(c.choices.length, 1);
    assert.equal(c.choices[0].finish_reason, null);
    assert.equal(countTokens(c.choices[0].delta.content), 1);
    assert.ok(!('usage' in c));
  }
  const fin = content.at(-1).choices[0];
  assert.equal(fin.finish_reason, 'length');
  assert.equal(fin.stop_reason, null);
  assert.equal(content.map((c) => c.choices[0].delta.content).join(''), 'Mock answer to: red green');
  const usage = chunks.at(-1);
  assert.deepEqual(usage.choices, []);
  assert.deepEqual(usage.usage, { prompt_tokens: MESSAGE_OVERHEAD + 2, total_tokens: MESSAGE_OVERHEAD + 2 + 6, completion_tokens: 6 });

  // natural end: final chunk has an empty delta and finish "stop"; no stream_options -> no usage chunk
  const ev2 = sseEvents(await (await chat('red', { stream: true })).text());
  assert.equal(ev2.at(-1), '[DONE]');
  const c2 = ev2.slice(0, -1).map((e) => JSON.parse(e));
  const last = c2.at(-1).choices[0];
  assert.deepEqual(last.delta, { content: '' });
  assert.equal(last.finish_reason, 'stop');
  assert.equal(c2.length, 1 + 16 + 1);
  assert.ok(c2.every((c) => c.choices.length === 1));
  // include_usage:false -> no usage chunk
  const ev3 = sseEvents(await (await chat('red', { stream: true, stream_options: { include_usage: false } })).text());
  assert.ok(ev3.slice(0, -1).every((e) => JSON.parse(e).choices.length === 1));
  // stream_options without stream -> 400
  assert.equal((await chat('red', { stream_options: {} })).status, 400);
});

test('legacy completions: shape and streaming', async () => {
  const j = await (await post('/v1/completions', { model: 'mock-qwen-0.5b', prompt: 'Say this is a test', max_tokens: 7 })).json();
  assert.match(j.id, /^cmpl-[0-9a-f]{32}$/);
  assert.equal(j.object, 'text_completion');
  assert.equal(j.choices[0].text, 'Mock answer to: Say this is');
  assert.equal(j.choices[0].finish_reason, 'length');
  assert.equal(j.usage.prompt_tokens, countTokens('Say this is a test'));
  assert.equal(j.usage.completion_tokens, 7);
  const ev = sseEvents(await (await post('/v1/completions', { model: 'mock-qwen-0.5b', prompt: 'x', stream: true, stream_options: {} })).text());
  assert.equal(ev.at(-1), '[DONE]');
  const chunks = ev.slice(0, -1).map((e) => JSON.parse(e));
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.equal(chunks.at(-1).usage.completion_tokens, 16);
  assert.equal(chunks.slice(0, -1).map((c) => c.choices[0].text).join(''), generate('x').text);
  const missing = await post('/v1/completions', { model: 'mock-qwen-0.5b' });
  assert.equal(missing.status, 400);
});

test('errors: unknown model 404, missing messages / bad JSON 400, unknown route', async () => {
  const res = await chat('hi', { model: 'no-such-model' });
  assert.equal(res.status, 404);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.ok(res.headers.get('x-request-id'));
  assert.deepEqual(await res.json(), {
    error: { message: 'The model `no-such-model` does not exist.', type: 'NotFoundError', param: null, code: 404 },
  });
  for (const body of ['{"model":"mock-llama-3-8b"}', '{not json', '']) {
    const r = await post('/v1/chat/completions', body);
    assert.equal(r.status, 400, body);
    const e = (await r.json()).error;
    assert.equal(e.type, 'BadRequestError');
    assert.equal(e.code, 400);
    assert.equal(e.param, null);
    assert.equal(typeof e.message, 'string');
  }
  const nf = await fetch(base + '/v1/nothing');
  assert.equal(nf.status, 404);
  assert.deepEqual(await nf.json(), { detail: 'Not Found' });
});

test('fault directives: status, latency, reset, malformed', async () => {
  const r = await chat('hello [[mock:status=503]]');
  assert.equal(r.status, 503);
  assert.ok(r.headers.get('x-request-id'));
  assert.deepEqual((await r.json()).error, {
    message: 'Service Unavailable (injected by mock engine)', type: 'ServiceUnavailableError', param: null, code: 503,
  });
  const t0 = Date.now();
  const slow = await chat('hello [[mock:latency=150]]');
  assert.equal(slow.status, 200);
  assert.ok(Date.now() - t0 >= 140, 'latency applied');
  assert.equal((await slow.json()).choices[0].message.content.includes('mock'), false);
  await assert.rejects(chat('hello [[mock:reset]]'));
  const bad = await chat('hello [[mock:malformed]]');
  assert.equal(bad.status, 200);
  await assert.rejects(bad.json(), SyntaxError);
});

test('run-wide faults: status for the next N requests, then cleared', async () => {
  const set = await post('/_mock/faults', { status: 503, status_count: 2 });
  assert.equal(set.status, 200);
  assert.equal((await chat('a')).status, 503);
  assert.equal((await chat('b')).status, 503);
  assert.equal((await chat('c')).status, 200);
  await post('/_mock/faults', { status: 500 });
  assert.equal((await chat('d')).status, 500);
  const del = await fetch(base + '/_mock/faults', { method: 'DELETE' });
  assert.equal(del.status, 200);
  assert.equal((await chat('e')).status, 200);
});

test('embeddings: float and base64 forms agree, unit norm, deterministic', async () => {
  const input = ['first text', 'second text'];
  const f = await (await post('/v1/embeddings', { model: 'mock-embed', input })).json();
  assert.match(f.id, /^embd-[0-9a-f]{32}$/);
  assert.equal(f.object, 'list');
  assert.equal(f.model, 'mock-embed');
  assert.equal(f.data.length, 2);
  assert.deepEqual(f.usage, { prompt_tokens: 4, total_tokens: 4, completion_tokens: 0, prompt_tokens_details: null });
  const b = await (await post('/v1/embeddings', { model: 'mock-embed', input, encoding_format: 'base64' })).json();
  for (let i = 0; i < 2; i++) {
    assert.equal(f.data[i].index, i);
    assert.equal(f.data[i].object, 'embedding');
    assert.equal(f.data[i].embedding.length, 8);
    assert.deepEqual(f.data[i].embedding, embedVector(input[i]));
    const norm = Math.hypot(...f.data[i].embedding);
    assert.ok(Math.abs(norm - 1) < 1e-6, `unit norm ${norm}`);
    assert.equal(typeof b.data[i].embedding, 'string');
    assert.deepEqual(base64ToFloats(b.data[i].embedding), f.data[i].embedding);
    const bytes = Buffer.from(b.data[i].embedding, 'base64');
    assert.deepEqual(Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)), f.data[i].embedding);
  }
  const d = await (await post('/v1/embeddings', { model: 'mock-embed', input: 'x', dimensions: 3 })).json();
  assert.equal(d.data[0].embedding.length, 3);
  // generative model on /v1/embeddings -> 400
  assert.equal((await post('/v1/embeddings', { model: 'mock-llama-3-8b', input: 'x' })).status, 400);
});

test('info endpoints: models, health, version, metrics', async () => {
  const m = await (await fetch(base + '/v1/models')).json();
  assert.equal(m.object, 'list');
  assert.deepEqual(m.data.map((x) => x.id), ['mock-llama-3-8b', 'mock-qwen-0.5b', 'mock-embed']);
  for (const x of m.data) {
    assert.equal(x.object, 'model');
    assert.equal(x.owned_by, 'vllm');
    assert.equal(x.root, x.id);
    assert.equal(x.parent, null);
    assert.ok(x.max_model_len > 0);
    assert.equal(x.permission[0].object, 'model_permission');
  }
  const h = await fetch(base + '/health');
  assert.equal(h.status, 200);
  assert.equal(await h.text(), '');
  assert.deepEqual(await (await fetch(base + '/version')).json(), { version: '0.11.0-mock' });
  const met = await (await fetch(base + '/metrics')).text();
  assert.match(met, /^vllm:num_requests_running\{engine="0",model_name="mock-llama-3-8b"\} \d/m);
});

test('stats and request log count what the engine received', async () => {
  assert.equal((await post('/_mock/reset-stats', {})).status, 200);
  await chat('one');
  await chat('two', { model: 'mock-qwen-0.5b' });
  await chat('three', { model: 'missing-model' });
  await post('/v1/embeddings', { model: 'mock-embed', input: 'x' });
  await fetch(base + '/health');
  const s = await (await fetch(base + '/_mock/stats')).json();
  assert.deepEqual(s.requests, { '/v1/chat/completions': 3, '/v1/embeddings': 1, '/health': 1 });
  assert.deepEqual(s.by_model, { 'mock-llama-3-8b': 1, 'mock-qwen-0.5b': 1, 'missing-model': 1, 'mock-embed': 1 });
  assert.equal(s.in_flight, 0);
  assert.ok(s.max_in_flight >= 1);
  assert.equal(s.responses['200'], 4);
  assert.equal(s.responses['404'], 1);

  const log = await (await fetch(base + '/_mock/requests?last=2&path=/v1/chat/completions')).json();
  assert.equal(log.requests.length, 2);
  assert.equal(log.requests[0].body.messages[0].content, 'two');
  assert.equal(log.requests[1].body.model, 'missing-model');
  assert.equal(log.requests[1].headers['content-type'], 'application/json');

  // x-request-id is echoed when the client sends one
  const r = await chat('id');
  assert.ok(r.headers.get('x-request-id'));
  const e = await post('/v1/chat/completions', { model: 'mock-llama-3-8b', messages: [] }, { 'x-request-id': 'abc-123' });
  assert.equal(e.headers.get('x-request-id'), 'abc-123');
});

test('concurrency: in_flight / max_in_flight track parallel slow requests', async () => {
  await post('/_mock/reset-stats', {});
  const p = Array.from({ length: 5 }, (_, i) => chat(`slow ${i} [[mock:latency=200]]`));
  await new Promise((r) => setTimeout(r, 80));
  const mid = await (await fetch(base + '/_mock/stats')).json();
  assert.equal(mid.in_flight, 5);
  await Promise.all(p);
  const s = await (await fetch(base + '/_mock/stats')).json();
  assert.equal(s.in_flight, 0);
  assert.equal(s.max_in_flight, 5);
});
