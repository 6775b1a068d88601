// apikey.test.mjs -- self-test of the mock engines' --api-key mode: node --test
// tests/mock-engine/. Each protocol's server is started with a key and must refuse a
// request without it the way that engine does (vLLM `--api-key`: 401 {"error":
// "Unauthorized"} on /v1/*; TGI `--api-key`: 401 on its inference routes; Triton's
// restricted APIs: 403 "This API is restricted, expecting header '...'"), accept the
// right header, and leave the health paths open (the gateway probes them).

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { SERVER, startServer, stopServer } from './test_helpers.mjs';

const KEY = 'mock-key-0123456789abcdef';
const children = [];

/** Starts a server with args for one test (stopped after them all); its base URL. */
async function start(args) {
  const { child, base } = await startServer(args);
  children.push(child);
  return base;
}

after(() => Promise.all(children.map(stopServer)));

const post = (url, body, headers = {}) => fetch(url, {
  method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body),
});
const CHAT = { model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'hi' }], max_tokens: 3 };

test('vllm --api-key: 401 {"error":"Unauthorized"} without Bearer KEY; /health open', async () => {
  const base = await start(['--api-key', KEY]);
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: KEY }, { 'x-api-key': KEY }]) {
    const r = await post(`${base}/v1/chat/completions`, CHAT, headers);
    assert.equal(r.status, 401, JSON.stringify(headers));
    assert.deepEqual(await r.json(), { error: 'Unauthorized' });
  }
  const ok = await post(`${base}/v1/chat/completions`, CHAT, { authorization: `Bearer ${KEY}` });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).object, 'chat.completion');
  assert.equal((await fetch(`${base}/health`)).status, 200);
  assert.equal((await fetch(`${base}/v1/models`)).status, 401, '/v1/models is behind the key too');
});

test('vllm --api-key --api-key-header X-API-Key: the key in that header, as it is', async () => {
  const base = await start(['--api-key', KEY, '--api-key-header', 'X-API-Key']);
  assert.equal((await post(`${base}/v1/chat/completions`, CHAT, { authorization: `Bearer ${KEY}` })).status, 401);
  assert.equal((await post(`${base}/v1/chat/completions`, CHAT, { 'x-api-key': `Bearer ${KEY}` })).status, 401);
  const ok = await post(`${base}/v1/chat/completions`, CHAT, { 'X-API-Key': KEY });
  assert.equal(ok.status, 200);
  // the request log shows what the engine received (the gateway's e2e tests read it)
  const log = await (await fetch(`${base}/_mock/requests?last=1`)).json();
  assert.equal(log.requests[0].headers['x-api-key'], KEY);
});

test('tgi --api-key: 401 without Bearer KEY on /generate; /health and /info open', async () => {
  const base = await start(['--protocol', 'tgi', '--api-key', KEY]);
  const body = { inputs: 'hi', parameters: { max_new_tokens: 2 } };
  const r = await post(`${base}/generate`, body);
  assert.equal(r.status, 401);
  assert.equal((await r.json()).error_type, 'authentication');
  assert.equal((await post(`${base}/generate`, body, { authorization: `Bearer ${KEY}` })).status, 200);
  assert.equal((await fetch(`${base}/health`)).status, 200);
  assert.equal((await fetch(`${base}/info`)).status, 200);
});

test('triton --api-key --api-key-header infer-key: 403 restricted API without it; health open', async () => {
  const base = await start(['--protocol', 'triton', '--api-key', KEY, '--api-key-header', 'infer-key']);
  const body = { text_input: 'hi', max_tokens: 2 };
  const url = `${base}/v2/models/ensemble/generate`;
  const r = await post(url, body);
  assert.equal(r.status, 403);
  assert.deepEqual(await r.json(), { error: "This API is restricted, expecting header 'infer-key'" });
  assert.equal((await post(url, body, { 'infer-key': KEY })).status, 200);
  assert.equal((await fetch(`${base}/v2/health/ready`)).status, 200);
});

test('--api-key-file: the key read from a file (its newline dropped), not from argv', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(`${tmpdir()}/mock-key-`);
  try {
    writeFileSync(`${dir}/key`, `${KEY}\n`, { mode: 0o600 });
    const base = await start(['--api-key-file', `${dir}/key`]);
    assert.equal((await post(`${base}/v1/chat/completions`, CHAT)).status, 401);
    assert.equal((await post(`${base}/v1/chat/completions`, CHAT, { authorization: `Bearer ${KEY}` })).status, 200);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--api-key-header without --api-key is a usage error', async () => {
  const child = spawn(process.execPath, [SERVER, '--port', '0', '--api-key-header', 'X-API-Key'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => { err += d; });
  const code = await new Promise((r) => child.once('exit', r));
  assert.equal(code, 2);
  assert.match(err, /--api-key-header needs --api-key/);
});
