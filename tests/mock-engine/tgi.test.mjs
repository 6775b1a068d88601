// tgi.test.mjs -- self-test of the mock engine's TGI protocol: node --test tests/mock-engine/
// Starts server.mjs --protocol tgi on a free port and checks TGI's native wire format
// (docs/ADAPTERS.md, "tgi"): /generate and /generate_stream shapes, `data:` without a space, no
// [DONE], details, finish reasons, validation errors, in-band stream errors, fault
// directives and the health and info endpoints.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, stopServer } from './test_helpers.mjs';
import { countTokens, generate } from './tokenizer.mjs';
import { promptSourceText } from './tgi.mjs';

let child;
let base;

before(async () => { ({ child, base } = await startServer(['--protocol', 'tgi', '--max-model-len', '64'])); });
after(() => stopServer(child));

const post = (path, body, headers = {}) => fetch(base + path, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers },
  body: typeof body === 'string' ? body : JSON.stringify(body),
});

const CHATML = '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello, world! How are you?<|im_end|>\n<|im_start|>assistant\n';

// TGI's framing: `data:{json}` events, `:` comments, blank-line separated, no [DONE].
function tgiEvents(text) {
  assert.ok(text.endsWith('\n\n'), 'stream ends with a blank line');
  const out = [];
  for (const e of text.slice(0, -2).split('\n\n')) {
    if (e.startsWith(':')) continue;
    assert.ok(e.startsWith('data:{'), `event framing: ${e.slice(0, 40)}`);
    out.push(JSON.parse(e.slice(5)));
  }
  return out;
}

test('/generate: generated_text and details; the answer echoes the last user turn', async () => {
  const res = await post('/generate', { inputs: CHATML, parameters: { max_new_tokens: 6, details: true } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'application/json');
  assert.equal(res.headers.get('x-prompt-tokens'), String(countTokens(CHATML)));
  assert.equal(res.headers.get('x-generated-tokens'), '6');
  const j = await res.json();
  assert.deepEqual(Object.keys(j), ['generated_text', 'details']);
  assert.equal(promptSourceText(CHATML), 'Hello, world! How are you?');
  assert.equal(j.generated_text, 'Mock answer to: Hello world');
  assert.equal(j.generated_text, generate('Hello, world! How are you?', { maxTokens: 6 }).text);
  assert.equal(j.details.finish_reason, 'length');
  assert.equal(j.details.generated_tokens, 6);
  assert.equal(j.details.seed, null);
  assert.deepEqual(j.details.prefill, []);
  assert.equal(j.details.tokens.length, 6);
  assert.equal(j.details.tokens.map((t) => t.text).join(''), j.generated_text);
  for (const t of j.details.tokens) {
    assert.equal(typeof t.id, 'number');
    assert.equal(t.special, false);
  }
});

test('/generate: eos_token counts the EOS token; stop_sequence keeps the stop; no details unless asked', async () => {
  const eos = await (await post('/generate', { inputs: 'alpha beta', parameters: { details: true } })).json();
  assert.equal(eos.details.finish_reason, 'eos_token');
  assert.equal(eos.generated_text, generate('alpha beta').text);
  assert.equal(eos.details.generated_tokens, 17);
  assert.deepEqual(eos.details.tokens.at(-1), { id: 2, text: '</s>', logprob: -0.01, special: true });
  const stop = await (await post('/generate', { inputs: 'one two three', parameters: { stop: ['two'], details: true } })).json();
  assert.equal(stop.details.finish_reason, 'stop_sequence');
  assert.equal(stop.generated_text, 'Mock answer to: one two');
  const bare = await (await post('/generate', { inputs: 'x', parameters: { max_new_tokens: 2 } })).json();
  assert.deepEqual(bare, { generated_text: 'Mock' + ' answer' });
  const prefill = await (await post('/generate', { inputs: 'a b c', parameters: { max_new_tokens: 1, details: true, decoder_input_details: true } })).json();
  assert.equal(prefill.details.prefill.length, 3);
  assert.equal(prefill.details.prefill[0].logprob, null);
  const full = await (await post('/generate', { inputs: 'q', parameters: { max_new_tokens: 1, return_full_text: true } })).json();
  assert.equal(full.generated_text, 'qMock');
  // the `/` route answers with an array of one
  const compat = await (await post('/', { inputs: 'q', parameters: { max_new_tokens: 1 } })).json();
  assert.deepEqual(compat, [{ generated_text: 'Mock' }]);
});

test('/generate_stream: data: without a space, one event per token, last has generated_text', async () => {
  const res = await post('/generate_stream', { inputs: 'red green', parameters: { max_new_tokens: 6, details: true } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const text = await res.text();
  assert.ok(text.startsWith(':\n\n'), 'a keep-alive comment first');
  assert.ok(!text.includes('[DONE]'));
  assert.ok(!text.includes('data: '));
  const ev = tgiEvents(text);
  assert.equal(ev.length, 6);
  ev.forEach((e, i) => {
    assert.equal(e.index, i + 1);
    assert.equal(typeof e.token.text, 'string');
    if (i < 5) {
      assert.equal(e.generated_text, null);
      assert.equal(e.details, null);
    }
  });
  const last = ev.at(-1);
  assert.equal(last.generated_text, 'Mock answer to: red green');
  assert.equal(ev.map((e) => e.token.text).join(''), last.generated_text);
  assert.deepEqual(last.details, { finish_reason: 'length', generated_tokens: 6, seed: null, input_length: 2 });

  // natural end: the EOS token closes the stream; without details:true, details stay null
  const ev2 = tgiEvents(await (await post('/generate_stream', { inputs: 'red', parameters: {} })).text());
  assert.equal(ev2.length, 17);
  assert.equal(ev2.at(-1).token.special, true);
  assert.equal(ev2.at(-1).details, null);
  assert.equal(ev2.at(-1).generated_text, generate('red').text);
});

test('validation: 422 {"error","error_type"}; inside a stream the error is an event under 200', async () => {
  const cases = [
    [{ temperature: 0 }, '`temperature` must be strictly positive'],
    [{ top_p: 1 }, '`top_p` must be > 0.0 and < 1.0'],
    [{ max_new_tokens: 0 }, '`max_new_tokens` must be strictly positive'],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, '`stop` supports up to 4 stop sequences. Given: 5'],
    [{ max_new_tokens: 60 }, '`inputs` tokens + `max_new_tokens` must be <= 64. Given: 5 `inputs` tokens and 60 `max_new_tokens`'],
  ];
  for (const [parameters, msg] of cases) {
    const r = await post('/generate', { inputs: 'a b c d e', parameters });
    assert.equal(r.status, 422, msg);
    assert.deepEqual(await r.json(), { error: `Input validation error: ${msg}`, error_type: 'validation' });
    const s = await post('/generate_stream', { inputs: 'a b c d e', parameters });
    assert.equal(s.status, 200);
    assert.deepEqual(tgiEvents(await s.text()), [{ error: `Input validation error: ${msg}`, error_type: 'validation' }]);
  }
  const long = await post('/generate', { inputs: 'w '.repeat(70), parameters: {} });
  assert.equal(long.status, 422);
  assert.match((await long.json()).error, /`inputs` must have less than 63 tokens\. Given: 70/);
  // axum's own rejections: plain text, before any stream is opened
  const missing = await post('/generate_stream', { parameters: {} });
  assert.equal(missing.status, 422);
  assert.match(await missing.text(), /missing field `inputs`/);
  assert.equal((await post('/generate', '{bad')).status, 400);
  const ct = await fetch(base + '/generate', { method: 'POST', body: '{"inputs":"x"}' });
  assert.equal(ct.status, 415);
});

test('fault directives give TGI bodies: status, error-mid, reset-mid', async () => {
  const r = await post('/generate', { inputs: 'x [[mock:status=429]]', parameters: {} });
  assert.equal(r.status, 429);
  assert.deepEqual(await r.json(), { error: 'Model is overloaded', error_type: 'overloaded' });
  const r424 = await post('/generate', { inputs: 'x [[mock:status=424]]', parameters: {} });
  assert.equal((await r424.json()).error_type, 'generation');
  const r500 = await post('/generate', { inputs: 'x [[mock:status=500]]', parameters: {} });
  assert.deepEqual(await r500.json(), { error: 'Internal Server Error (injected by mock engine)', error_type: 'incomplete_generation' });
  // on /generate_stream every error is in-band, status 200
  const s = await post('/generate_stream', { inputs: 'x [[mock:status=429]]', parameters: {} });
  assert.equal(s.status, 200);
  assert.deepEqual(tgiEvents(await s.text()), [{ error: 'Model is overloaded', error_type: 'overloaded' }]);
  const mid = tgiEvents(await (await post('/generate_stream', { inputs: 'x [[mock:error-mid]]', parameters: {} })).text());
  assert.equal(mid.length, 3);
  assert.equal(mid.at(-1).error_type, 'generation');
  assert.ok(mid.every((e, i) => i === 2 || e.generated_text === null));
  const raw = await (await post('/generate_stream', { inputs: 'x [[mock:reset-mid]]', parameters: {} })).text().catch(() => '');
  const cut = raw ? tgiEvents(raw) : [];
  assert.ok(cut.every((e) => e.generated_text === null), 'a cut stream has no final event');
});

test('health, info, unknown routes', async () => {
  const h = await fetch(base + '/health');
  assert.equal(h.status, 200);
  assert.equal(await h.text(), '');
  const info = await (await fetch(base + '/info')).json();
  assert.equal(info.model_id, 'mock-tgi');
  assert.equal(info.max_total_tokens, 64);
  assert.equal(info.max_input_tokens, 63);
  assert.equal(info.max_stop_sequences, 4);
  await post('/_mock/faults', { health_status: 503 });
  const dead = await fetch(base + '/health');
  assert.equal(dead.status, 503);
  assert.deepEqual(await dead.json(), { error: 'unhealthy', error_type: 'healthcheck' });
  await fetch(base + '/_mock/faults', { method: 'DELETE' });
  assert.equal((await fetch(base + '/health')).status, 200);
  assert.equal((await fetch(base + '/v1/chat/completions')).status, 404);
  assert.equal((await fetch(base + '/generate')).status, 405);
});

test('stats count TGI requests by the served model', async () => {
  await post('/_mock/reset-stats', {});
  await post('/generate', { inputs: 'a', parameters: { max_new_tokens: 2 } });
  await post('/generate_stream', { inputs: 'a', parameters: { max_new_tokens: 2 } });
  const s = await (await fetch(base + '/_mock/stats')).json();
  assert.deepEqual(s.requests, { '/generate': 1, '/generate_stream': 1 });
  assert.deepEqual(s.by_model, { 'mock-tgi': 2 });
  assert.deepEqual(s.tokens, { prompt: 2, completion: 4 });
});
