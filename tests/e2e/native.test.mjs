// native.test.mjs -- the engine-native endpoints as job kinds (docs/ADAPTERS.md): POST
// /v1/rerank (strings or {text} documents, the Jina/Cohere shape), /v1/score,
// /v1/tokenize and /v1/detokenize, through the real stack to the vLLM mock. Each call is a
// job of its kind with its usage row and cost; PII in the texts is masked before the
// engine sees it; roles, model kinds and bad bodies are refused before a job exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  http, jobRow, usageRow, uniq, sqlNumber, q, adminCreateKey, engineRequestOf,
} from './lib.mjs';

const T = { timeout: 60000 };

test('rerank: documents ordered by relevance, top_n kept, a rerank job with its usage row; the engine sees masked documents', T, async () => {
  const r = await http('/v1/rerank', { json: {
    model: 'demo-rerank', query: 'red apples',
    documents: ['blue sky over kim@example.com', { text: 'red apples are sweet' }, 'apples'], top_n: 2,
  } });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.results.map((x) => x.index), [1, 2]);
  assert.ok(r.json.results[0].relevance_score > r.json.results[1].relevance_score);
  assert.equal(r.json.model, 'demo-rerank');
  assert.ok(r.json.usage.prompt_tokens > 0);
  const jobId = r.headers.get('x-aif-job-id');
  const row = jobRow(jobId);
  assert.equal(row.kind, 'rerank');
  assert.equal(row.state, 'succeeded');
  const u = usageRow(row.id);
  assert.equal(u.prompt_tokens, r.json.usage.prompt_tokens);
  assert.equal(u.completion_tokens, 0);
  assert.ok(u.cost_micros > 0);
  const er = await engineRequestOf(jobId);
  assert.equal(er.path, '/v1/rerank');
  assert.equal(er.body.model, 'mock-embed');
  assert.ok(!JSON.stringify(er.body.documents).includes('kim@example.com'), 'the e-mail was masked');
});

test('score: one score per pair; tokenize and detokenize give the text back; each is a job of its kind', T, async () => {
  const s = await http('/v1/score', { json: { model: 'demo-rerank', text_1: 'red apples', text_2: ['red apples', 'blue'] } });
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.data.length, 2);
  assert.ok(s.json.data[0].score > s.json.data[1].score);
  assert.equal(jobRow(s.headers.get('x-aif-job-id')).kind, 'score');
  const text = `Hello there, ${uniq('tok')}`;
  const t = await http('/v1/tokenize', { json: { model: 'demo-chat', prompt: text } });
  assert.equal(t.status, 200, t.text);
  assert.equal(t.json.count, t.json.tokens.length);
  const trow = jobRow(t.headers.get('x-aif-job-id'));
  assert.equal(trow.kind, 'tokenize');
  assert.equal(usageRow(trow.id).prompt_tokens, t.json.count, 'the tokens counted are the usage');
  const d = await http('/v1/detokenize', { json: { model: 'demo-chat', tokens: t.json.tokens } });
  assert.equal(d.status, 200, d.text);
  assert.equal(d.json.prompt, text);
  assert.equal(jobRow(d.headers.get('x-aif-job-id')).kind, 'detokenize');
});

test('native kinds are refused before a job exists: role endpoint, model kind, stream, bad bodies', T, async () => {
  const marker = uniq('native');
  const before = sqlNumber(`SELECT COUNT(*) FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)}`);
  const emb = await adminCreateKey({ name: uniq('emb'), role: 'embedder' });
  let r = await http('/v1/rerank', { key: emb.key, json: { model: 'demo-rerank', query: marker, documents: ['a'] } });
  assert.equal(r.status, 403);
  assert.equal(r.json.error.code, 'endpoint_forbidden');
  r = await http('/v1/rerank', { json: { model: 'demo-chat', query: marker, documents: ['a'] } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'model_not_supported');
  r = await http('/v1/rerank', { json: { model: 'demo-rerank', query: marker, documents: ['a'], stream: true } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'stream');
  r = await http('/v1/rerank', { json: { model: 'demo-rerank', query: marker, documents: [] } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'documents');
  r = await http('/v1/score', { json: { model: 'demo-rerank', text_1: marker } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.param, 'text_2');
  r = await http('/v1/tokenize', { json: { model: 'demo-chat' } });
  assert.equal(r.status, 400);
  r = await http('/v1/tokenize', { json: { model: 'demo-rerank', prompt: marker } });
  assert.equal(r.status, 400, 'demo-rerank does not tokenize');
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)}`), before, 'no job');
});
