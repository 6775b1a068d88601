// triton.test.mjs -- self-test of the mock engine's Triton protocol: node --test
// tests/mock-engine/. Starts server.mjs --protocol triton on a free port and checks the
// KServe v2 / Triton wire format (docs/ADAPTERS.md, "triton"): typed infer tensors, the generate
// extension and its SSE stream (no terminator), the echoed request id, embeddings,
// {"error": ...} bodies, fault directives and the empty-body health endpoints.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, stopServer } from './test_helpers.mjs';
import { generate, embedVector } from './tokenizer.mjs';

let child;
let base;

before(async () => { ({ child, base } = await startServer(['--protocol', 'triton'])); });
after(() => stopServer(child));

const post = (path, body) => fetch(base + path, {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

const tensor = (name, datatype, data, shape = [1, 1]) => ({ name, shape, datatype, data });
const inferBody = (prompt, maxTokens, extra = {}) => ({
  inputs: [tensor('text_input', 'BYTES', [prompt]), tensor('max_tokens', 'INT32', [maxTokens])],
  outputs: [{ name: 'text_output' }], ...extra,
});

function sseEvents(text) {
  assert.ok(text.endsWith('\n\n'), 'stream ends with a blank line');
  return text.slice(0, -2).split('\n\n').map((e) => {
    assert.ok(e.startsWith('data: '), `event framing: ${e.slice(0, 40)}`);
    return JSON.parse(e.slice(6));
  });
}

test('infer: typed tensors in, BYTES text_output out, request id echoed', async () => {
  const res = await post('/v2/models/ensemble/infer', inferBody('What is ML?', 5, { id: 'req-1' }));
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  const j = await res.json();
  assert.deepEqual(j, {
    id: 'req-1', model_name: 'ensemble', model_version: '1',
    outputs: [{ name: 'text_output', datatype: 'BYTES', shape: [1, 1], data: ['Mock answer to: What'] }],
  });
  assert.equal(j.outputs[0].data[0], generate('What is ML?', { maxTokens: 5 }).text);
  // chat prompts rendered with chatml answer the last user turn; nested data is accepted
  const chat = '<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n';
  const n = await (await post('/v2/models/ensemble/infer', {
    inputs: [tensor('text_input', 'BYTES', [[chat]]), tensor('max_tokens', 'INT32', [[64]]), tensor('stream', 'BOOL', [false]),
      tensor('temperature', 'FP32', [0.5]), tensor('top_p', 'FP32', [0.9])],
  })).json();
  assert.equal(n.id, undefined, 'no id, none echoed');
  assert.deepEqual(n.outputs.map((o) => o.name), ['text_output', 'cum_log_probs']);
  assert.equal(n.outputs[0].data[0], generate('Hello there', { maxTokens: 64 }).text);
  // [[mock:echo]]: the output starts with the prompt
  const e = await (await post('/v2/models/ensemble/infer', inferBody('hi [[mock:echo]]', 4))).json();
  assert.equal(e.outputs[0].data[0], 'hi [[mock:echo]]Mock answer to:');
});

test('infer: tensor errors are 400 {"error"} naming the input and the model', async () => {
  const cases = [
    [{ inputs: [tensor('prompt', 'BYTES', ['x']), tensor('max_tokens', 'INT32', [1])] }, /unexpected inference input 'prompt' for model 'ensemble'/],
    [{ inputs: [tensor('text_input', 'BYTES', ['x']), tensor('max_tokens', 'UINT32', [1])] }, /data-type is 'UINT32', but model 'ensemble' expects 'INT32'/],
    [{ inputs: [tensor('text_input', 'BYTES', ['x'])] }, /missing required input\(s\) \["max_tokens"\]/],
    [{ inputs: [tensor('text_input', 'BYTES', ['x', 'y']), tensor('max_tokens', 'INT32', [1])] }, /Shape does not match/],
    [{ inputs: [tensor('text_input', 'BYTES', ['x']), tensor('max_tokens', 'INT32', ['1'])] }, /Unable to parse 'data'/],
    [{ ...inferBody('x', 1), outputs: [{ name: 'nope' }] }, /unexpected inference output 'nope'/],
    [{ inputs: [tensor('text_input', 'BYTES', ['w '.repeat(5000)]), tensor('max_tokens', 'INT32', [1])] }, /Prompt length \(5000\) exceeds maximum input length \(4096\)/],
  ];
  for (const [body, re] of cases) {
    const r = await post('/v2/models/ensemble/infer', body);
    assert.equal(r.status, 400, String(re));
    const j = await r.json();
    assert.deepEqual(Object.keys(j), ['error']);
    assert.match(j.error, re);
  }
  const unknown = await post('/v2/models/nope/infer', inferBody('x', 1));
  assert.equal(unknown.status, 404);
  assert.deepEqual(await unknown.json(), { error: "Request for unknown model: 'nope' is not found" });
});

test('generate: top-level keys are tensors or parameters; text_output in the answer', async () => {
  const res = await post('/v2/models/ensemble/generate', { id: 'g1', text_input: 'What is machine learning?', max_tokens: 20, bad_words: '', stop_words: '', temperature: 0.5, custom: 'p' });
  assert.equal(res.status, 200);
  const j = await res.json();
  assert.equal(j.id, 'g1');
  assert.equal(j.model_name, 'ensemble');
  assert.equal(j.model_version, '1');
  assert.equal(j.text_output, generate('What is machine learning?', { maxTokens: 20 }).text);
  assert.equal(j.sequence_end, false);
  // a parameter must be a string, an integer or a boolean
  const bad = await post('/v2/models/ensemble/generate', { text_input: 'x', max_tokens: 2, weird: 0.5 });
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /parameter 'weird' has invalid type/);
  const miss = await post('/v2/models/ensemble/generate', { text_input: 'x' });
  assert.equal(miss.status, 400);
  // streaming on /generate is a decoupled model's error
  assert.equal((await post('/v2/models/ensemble/generate', { text_input: 'x', max_tokens: 2, stream: true })).status, 400);
});

test('generate_stream: `data: {...}` deltas, no [DONE]; stream:false sends one event', async () => {
  const res = await post('/v2/models/ensemble/generate_stream', { id: 's1', text_input: 'red green', max_tokens: 6, stream: true });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
  const text = await res.text();
  assert.ok(!text.includes('[DONE]'));
  const ev = sseEvents(text);
  assert.equal(ev.length, 6);
  assert.ok(ev.every((e) => e.id === 's1' && e.model_name === 'ensemble'));
  assert.equal(ev.map((e) => e.text_output).join(''), 'Mock answer to: red green');
  const one = sseEvents(await (await post('/v2/models/ensemble/generate_stream', { text_input: 'red', max_tokens: 3 })).text());
  assert.equal(one.length, 1);
  assert.equal(one[0].text_output, 'Mock answer to');
  // echo: the first delta starts with the prompt
  const echo = sseEvents(await (await post('/v2/models/ensemble/generate_stream', { text_input: 'p [[mock:echo]]', max_tokens: 2, stream: true })).text());
  assert.equal(echo[0].text_output, 'p [[mock:echo]]Mock');
});

test('embeddings: BYTES [n,1] in, FP32 [n,dim] out, deterministic', async () => {
  const res = await post('/v2/models/mock-embed/infer', { id: 'e1', inputs: [tensor('text_input', 'BYTES', ['first text', 'second'], [2, 1])], outputs: [{ name: 'embedding' }] });
  assert.equal(res.status, 200);
  const j = await res.json();
  assert.equal(j.id, 'e1');
  const o = j.outputs[0];
  assert.equal(o.name, 'embedding');
  assert.equal(o.datatype, 'FP32');
  assert.deepEqual(o.shape, [2, 8]);
  assert.deepEqual(o.data, [...embedVector('first text'), ...embedVector('second')]);
  const gen = await post('/v2/models/mock-embed/infer', inferBody('x', 1));
  assert.equal(gen.status, 400);
});

test('faults: injected status gives Triton bodies; error-mid is an in-band event; reset-mid cuts', async () => {
  const r = await post('/v2/models/ensemble/generate', { text_input: 'x [[mock:status=503]]', max_tokens: 2 });
  assert.equal(r.status, 503);
  assert.deepEqual(await r.json(), { error: 'Exceeds maximum queue size (injected by mock engine)' });
  const r500 = await post('/v2/models/ensemble/infer', inferBody('x [[mock:status=500]]', 2));
  assert.deepEqual(await r500.json(), { error: 'Internal Server Error (injected by mock engine)' });
  const mid = sseEvents(await (await post('/v2/models/ensemble/generate_stream', { text_input: 'x [[mock:error-mid]]', max_tokens: 8, stream: true })).text());
  assert.equal(mid.length, 3);
  assert.deepEqual(mid.at(-1), { error: 'Mock engine failure during generation (injected)' });
  const cut = await (await post('/v2/models/ensemble/generate_stream', { text_input: 'x [[mock:reset-mid]]', max_tokens: 8, stream: true })).text().catch(() => '');
  assert.ok(cut.split('data: ').length - 1 <= 3);
});

test('health: 200 or the fault status, empty bodies; metadata and server info', async () => {
  for (const p of ['/v2/health/ready', '/v2/health/live', '/v2/models/ensemble/ready']) {
    const h = await fetch(base + p);
    assert.equal(h.status, 200, p);
    assert.equal(await h.text(), '');
  }
  await post('/_mock/faults', { health_status: 400 });
  const nr = await fetch(base + '/v2/health/ready');
  assert.equal(nr.status, 400);
  assert.equal(await nr.text(), '');
  await fetch(base + '/_mock/faults', { method: 'DELETE' });
  const meta = await (await fetch(base + '/v2/models/ensemble')).json();
  assert.equal(meta.name, 'ensemble');
  assert.deepEqual(meta.versions, ['1']);
  assert.deepEqual(meta.inputs.slice(0, 2), [
    { name: 'text_input', datatype: 'BYTES', shape: [-1, 1] }, { name: 'max_tokens', datatype: 'INT32', shape: [-1, 1] },
  ]);
  assert.deepEqual(meta.outputs[0], { name: 'text_output', datatype: 'BYTES', shape: [-1, -1] });
  const srv = await (await fetch(base + '/v2')).json();
  assert.equal(srv.name, 'triton');
  const nf = await fetch(base + '/v2/nothing');
  assert.equal(nf.status, 404);
  assert.deepEqual(await nf.json(), { error: 'Not Found' });
  assert.equal((await fetch(base + '/v2/models/ensemble/infer')).status, 405);
});

test('stats count Triton requests by model', async () => {
  await post('/_mock/reset-stats', {});
  await post('/v2/models/ensemble/infer', inferBody('a', 2));
  await post('/v2/models/mock-embed/infer', { inputs: [tensor('text_input', 'BYTES', ['a'])] });
  const s = await (await fetch(base + '/_mock/stats')).json();
  assert.deepEqual(s.by_model, { ensemble: 1, 'mock-embed': 1 });
  assert.deepEqual(s.tokens, { prompt: 2, completion: 2 });
});
