// hostile.test.mjs -- self-test of the mock engine's lying directives (hostile.mjs):
// exact usage numbers as text, error and null-choice bodies under 200, padding, and a
// stream of many tool-call deltas.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SERVER = fileURLToPath(new URL('./server.mjs', import.meta.url));
let child;
let base;

before(async () => {
  child = spawn(process.execPath, [SERVER, '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  base = await new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const m = buf.match(/listening on ([\d.]+):(\d+)\n/);
      if (m) resolve(`http://${m[1]}:${m[2]}`);
    });
    child.on('exit', (code) => reject(new Error(`mock engine exited with ${code}`)));
  });
});

after(() => child.kill('SIGTERM'));

const chat = (content, extra = {}) => fetch(base + '/v1/chat/completions', {
  method: 'POST', headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content }], ...extra }),
});

test('usage=P,C reports exactly those numbers, as JSON text', async () => {
  const t = await (await chat('[[mock:usage=9223372036854775807,-1000]] hi')).text();
  assert.match(t, /"usage":\{"prompt_tokens":9223372036854775807,"total_tokens":9223372036854774807,"completion_tokens":-1000\}/);
});

test('answer=error and answer=null-choices are 200 answers that are no answers', async () => {
  let r = await chat('[[mock:answer=error]] hi');
  assert.equal(r.status, 200);
  assert.deepEqual((await r.json()).choices, []);
  r = await chat('[[mock:answer=null-choices]] hi');
  assert.equal(r.status, 200);
  assert.deepEqual((await r.json()).choices, [null, 1]);
});

test('pad=N adds N bytes to the first choice', async () => {
  const plain = await (await chat('same words')).json();
  const padded = await (await chat('same words [[mock:pad=1000]]')).json();
  assert.equal(padded.choices[0].message.content.length, plain.choices[0].message.content.length + 1000);
});

test('tool-deltas=N streams one tool call in N one-byte argument deltas', async () => {
  const text = await (await chat('[[mock:tool-deltas=500]] go', { stream: true })).text();
  const deltas = text.split('\n\n').filter((e) => e.includes('"arguments":"x"'));
  assert.equal(deltas.length, 500);
  assert.match(text, /"finish_reason":"tool_calls"/);
  assert.match(text, /data: \[DONE\]/);
});

test('tool-delta-bytes=K makes each argument delta K bytes', async () => {
  const text = await (await chat('[[mock:tool-deltas=10]] [[mock:tool-delta-bytes=300]] go', { stream: true })).text();
  const deltas = text.split('\n\n').filter((e) => e.includes('"arguments":"' + 'x'.repeat(300) + '"'));
  assert.equal(deltas.length, 10);
});

test('a request with tools that asks for one ([[mock:use-tool]]) is answered with a call, whole or streamed', async () => {
  const tools = [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }];
  const whole = await (await chat('[[mock:use-tool]] find cats', { tools })).json();
  const c = whole.choices[0];
  assert.equal(c.finish_reason, 'tool_calls');
  assert.equal(c.message.tool_calls[0].function.name, 'lookup');
  assert.deepEqual(JSON.parse(c.message.tool_calls[0].function.arguments), { query: 'find cats' });
  const text = await (await chat('[[mock:use-tool]] find dogs', { tools, stream: true, stream_options: { include_usage: true } })).text();
  const args = [...text.matchAll(/"arguments":"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`)).join('');
  assert.deepEqual(JSON.parse(args), { query: 'find dogs' });
  assert.match(text, /"finish_reason":"tool_calls"/);
  assert.match(text, /"usage":\{/);
  // without the directive (or with tool_choice none) the answer is text
  const plain = await (await chat('find cats', { tools })).json();
  assert.equal(plain.choices[0].finish_reason === 'tool_calls', false);
});

test('the pooling and tokenizer endpoints answer in vLLM shapes: rerank by relevance, score per pair, tokenize and back', async () => {
  const post = (path, body) => fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const rr = await (await post('/v1/rerank', { model: 'mock-embed', query: 'red apples', documents: ['blue sky', { text: 'red apples are sweet' }, 'apples'], top_n: 2 })).json();
  assert.deepEqual(rr.results.map((r) => r.index), [1, 2]);
  assert.ok(rr.results[0].relevance_score > rr.results[1].relevance_score);
  assert.ok(rr.usage.total_tokens > 0);
  const sc = await (await post('/v1/score', { model: 'mock-embed', text_1: 'red apples', text_2: ['red apples', 'blue'] })).json();
  assert.equal(sc.data.length, 2);
  assert.ok(sc.data[0].score > sc.data[1].score);
  assert.equal(sc.usage.completion_tokens, 0);
  assert.equal((await post('/v1/rerank', { model: 'mock-llama-3-8b', query: 'q', documents: ['d'] })).status, 400, 'a generative model does not rerank');
  const tk = await (await post('/tokenize', { model: 'mock-llama-3-8b', prompt: 'Hello there, world' })).json();
  assert.equal(tk.count, tk.tokens.length);
  assert.ok(tk.count > 2);
  const dt = await (await post('/detokenize', { model: 'mock-llama-3-8b', tokens: tk.tokens })).json();
  assert.equal(dt.prompt, 'Hello there, world');
});
