// batch.test.mjs -- OpenAI's Batch API (POST/GET/DELETE /v1/files, GET /v1/files/{id}/content,
// POST/GET /v1/batches, POST /v1/batches/{id}/cancel) driven by the official openai SDK,
// unchanged, against the real stack: uploads checked line by line (every problem names
// its line, nothing stored), a batch of chat lines run as ordinary jobs in the batch lane
// (priority -1, jobs.batch_id / jobs.batch_line, one usage row per line), its output and
// error files, PII masking per line, cancel, expiry, a restart of aif-api and of the
// workers in the middle of a batch (every line exactly once), listing and ownership, and
// interactive requests served ahead of a batch's queued lines.
//
// Lines that must not all run at once use demo-capped (3 engine calls at once over all
// workers): its lines then run a few at a time whatever the feeder does, so that a cancel,
// a restart or an interactive request finds a batch with work left. The expiry test runs
// last, with completion_window $AIF_TEST_BATCH_WINDOW (default "30s", the shortest window
// the test config accepts): it takes about that long.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { toFile } from 'openai';
import { chatPromptTokens, generate } from '../mock-engine/tokenizer.mjs';
import {
  OpenAI, env, client, http, createKey, uniq, sql, sqlNumber, sqlValue, q, jobRow, usageRow,
  engineRequestOf, mockRequests, waitFor, sleep, stack, stopWorkers, startWorker, JOB_ID_RE,
  DEFAULT_PRIORITY, adminCreateKey,
} from './lib.mjs';

const T = { timeout: 120000 };
const FILE_ID_RE = /^file-[A-Za-z0-9]{24}$/;
const BATCH_ID_RE = /^batch_[A-Za-z0-9]{24}$/;
const BATCH_REQ_RE = /^batch_req_[A-Za-z0-9]+$/;
const CHAT = '/v1/chat/completions';
const FINAL = new Set(['completed', 'failed', 'expired', 'cancelled']);
const ORDER = ['validating', 'in_progress', 'finalizing', 'completed'];
const EMAIL = 'kim.minsu@example.co.kr';
const RRN = '900101-1234568';

// ---- helpers -------------------------------------------------------------------------------

/** A fresh key of a role (one per test, so that batches and files never mix). */
const newKey = (role = 'user') => createKey(uniq(`batch-${role}`), role);

/** One chat input line. */
function chatLine(customId, content, { model = 'demo-chat', extra = {}, url = CHAT, method = 'POST' } = {}) {
  return { custom_id: customId, method, url, body: { model, messages: [{ role: 'user', content }], ...extra } };
}

/** JSONL text of lines (objects are stringified, strings kept as they are). */
function jsonl(lines, { eol = '\n', final = true } = {}) {
  return lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join(eol) + (final ? eol : '');
}

/** Uploads lines (an array, or JSONL text) as a purpose "batch" file; returns the file object. */
async function uploadLines(lines, key, { filename = 'in.jsonl', purpose = 'batch', ...fmt } = {}) {
  const text = typeof lines === 'string' ? lines : jsonl(lines, fmt);
  return client(key).files.create({ file: await toFile(Buffer.from(text, 'utf8'), filename), purpose });
}

/** files.delete in the SDKs of today, files.del in older ones. */
function deleteFile(c, id) {
  return typeof c.files.delete === 'function' ? c.files.delete(id) : c.files.del(id);
}

/**
 * Polls batches.retrieve until the status is one of `statuses`; returns the batch. Throws at
 * once when the batch ends otherwise. `history` (an array) collects {status, counts} seen.
 */
async function waitBatch(id, statuses, { key, timeoutMs = 60000, history } = {}) {
  const want = new Set([].concat(statuses));
  const c = client(key);
  let b;
  await waitFor(async () => {
    b = await c.batches.retrieve(id);
    if (history) history.push({ status: b.status, counts: { ...b.request_counts } });
    if (want.has(b.status)) return true;
    if (FINAL.has(b.status)) {
      throw new Error(`batch ${id} ended "${b.status}" while waiting for ${[...want].join('/')}: ${JSON.stringify(b)}`);
    }
    return false;
  }, { timeoutMs, intervalMs: 200, what: `batch ${id} to be ${[...want].join('/')}` }).catch((e) => {
    if (b) e.message += ` (last seen: ${b.status} ${JSON.stringify(b.request_counts)})`;
    throw e;
  });
  return b;
}

/** The lines of a file's content, parsed (each must be JSON); also its text. */
async function readJsonl(fileId, key) {
  const text = await (await client(key).files.content(fileId)).text();
  const lines = text.split('\n').filter((l) => l.trim() !== '').map((l, i) => {
    try { return JSON.parse(l); } catch { throw new Error(`line ${i + 1} of ${fileId} is not JSON: ${l.slice(0, 200)}`); }
  });
  return Object.assign(lines, { text });
}

/**
 * The output and error files of a finished batch, checked: each a "batch_output" file of the
 * right size, null only when it would be empty; each custom_id in exactly one line of one of
 * them; output lines 200 with error null; error lines an HTTP error (status >= 400 and
 * body.error) or an unrun line (response null and error.code). Returns { out, err, text }
 * with Maps custom_id -> line and the concatenated texts.
 */
async function batchResults(b, key) {
  const out = new Map();
  const err = new Map();
  const reqIds = new Set();
  let text = '';
  for (const [fileId, m, n, which] of [
    [b.output_file_id, out, b.request_counts.completed, 'output'],
    [b.error_file_id, err, b.request_counts.failed, 'error'],
  ]) {
    if (n === 0) {
      assert.equal(fileId, null, `${which}_file_id is null when no line goes there`);
      continue;
    }
    assert.match(fileId || '', FILE_ID_RE, `${which}_file_id of a batch with ${n} such lines`);
    const f = await client(key).files.retrieve(fileId);
    assert.equal(f.object, 'file');
    assert.equal(f.purpose, 'batch_output');
    const lines = await readJsonl(fileId, key);
    assert.equal(f.bytes, Buffer.byteLength(lines.text, 'utf8'), `${which} file: bytes = its content's size`);
    text += lines.text;
    for (const l of lines) {
      assert.match(l.id, BATCH_REQ_RE, JSON.stringify(l).slice(0, 300));
      assert.ok(!reqIds.has(l.id), `batch_req id ${l.id} repeats`);
      reqIds.add(l.id);
      assert.equal(typeof l.custom_id, 'string');
      assert.ok(!out.has(l.custom_id) && !err.has(l.custom_id), `custom_id ${l.custom_id} appears twice in the output and error files`);
      m.set(l.custom_id, l);
      if (m === out) {
        assert.equal(l.error, null, JSON.stringify(l).slice(0, 300));
        assert.equal(l.response.status_code, 200, JSON.stringify(l).slice(0, 300));
        assert.match(l.response.request_id, JOB_ID_RE);
      } else if (l.response === null) {
        assert.ok(l.error && typeof l.error.code === 'string' && typeof l.error.message === 'string' && l.error.message,
          `an unrun line has error {code, message}: ${JSON.stringify(l)}`);
      } else {
        assert.ok(l.response.status_code >= 400, `error file line with status ${l.response.status_code}`);
        assert.ok(l.response.body && l.response.body.error && typeof l.response.body.error.message === 'string',
          `an HTTP error line has response.body.error: ${JSON.stringify(l).slice(0, 300)}`);
      }
    }
    assert.equal(m.size, n, `${which} file holds ${n} lines (request_counts)`);
  }
  return { out, err, text };
}

/** The batches.id of a batch's public id. */
function batchDbId(publicId) {
  const id = sqlNumber(`SELECT id FROM batches WHERE public_id = ${q(publicId)}`);
  assert.ok(id, `no batches row for ${publicId}`);
  return id;
}

/** The jobs of a batch: [{line, id (public), priority, state, started}], by line. */
function batchJobs(dbId) {
  return sql(`SELECT batch_line, public_id, priority, state, started_at FROM jobs WHERE batch_id = ${dbId} ORDER BY batch_line, id`)
    .map(([line, id, p, state, started]) => ({ line: line === null ? null : Number(line), id, priority: Number(p), state, started }));
}

/** Lines of a batch run by more than one job (should be none). */
function repeatedLines(dbId) {
  return sql(`SELECT batch_line, COUNT(*) FROM jobs WHERE batch_id = ${dbId} GROUP BY batch_line HAVING COUNT(*) > 1`);
}

/** Job states of a batch: {state: count}. */
function batchStates(dbId) {
  return Object.fromEntries(sql(`SELECT state, COUNT(*) FROM jobs WHERE batch_id = ${dbId} GROUP BY state`).map(([s, n]) => [s, Number(n)]));
}

function assertBatch(b, { endpoint = CHAT, inputFileId, window = '24h' } = {}) {
  assert.match(b.id, BATCH_ID_RE);
  assert.equal(b.object, 'batch');
  assert.equal(b.endpoint, endpoint);
  if (inputFileId) assert.equal(b.input_file_id, inputFileId);
  assert.equal(b.completion_window, window);
  assert.ok(Number.isInteger(b.created_at) && b.created_at > 1.6e9, `created_at ${b.created_at}`);
  assert.ok(Number.isInteger(b.expires_at) && b.expires_at > b.created_at, `expires_at ${b.expires_at}`);
  const rc = b.request_counts;
  for (const k of ['total', 'completed', 'failed']) assert.ok(Number.isInteger(rc[k]) && rc[k] >= 0, `request_counts.${k}: ${rc[k]}`);
  assert.ok(rc.completed + rc.failed <= rc.total, JSON.stringify(rc));
}

/** Statuses seen go forward only (validating -> in_progress -> finalizing -> completed) and
 * the counts never go back. */
function assertForward(history) {
  let last = -1;
  let prev = { completed: 0, failed: 0 };
  for (const { status, counts } of history) {
    const i = ORDER.indexOf(status);
    assert.ok(i >= 0, `unexpected status ${status} on the way to completed`);
    assert.ok(i >= last, `status went back: ${history.map((h) => h.status).join(' -> ')}`);
    last = i;
    assert.ok(counts.completed >= prev.completed && counts.failed >= prev.failed,
      `request_counts went back: ${JSON.stringify(prev)} -> ${JSON.stringify(counts)}`);
    prev = counts;
  }
}

async function assertNotFound(p, what) {
  await assert.rejects(p, (e) => {
    assert.ok(e instanceof OpenAI.NotFoundError, `${what}: 404, got ${e.status} ${e.constructor.name}: ${e.message}`);
    return true;
  });
}

/** batch.max_file_bytes of the stack's config (K/M/G suffixes read as powers of 1024), or null. */
function batchMaxFileBytes() {
  let y;
  try { y = fs.readFileSync(env.config, 'utf8'); } catch { return null; }
  const sec = y.match(/^batch:[^\n]*\n((?:(?:[ \t][^\n]*)?\n)*)/m);
  if (!sec) return null;
  const m = sec[1].match(/^[ \t]+max_file_bytes:[ \t]*["']?(\d+)[ \t]*([KMG])?i?B?["']?/mi);
  if (!m) return null;
  return Number(m[1]) * ({ K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[(m[2] || '').toUpperCase()] || 1);
}

const contentOf = (line) => line.body.messages[0].content;

// Tests that stop the workers restore the stack's two workers whatever happened.
let workersStopped = false;
after(() => {
  if (!workersStopped) return;
  startWorker(1);
  startWorker(2);
}, { timeout: 90000 });

// ---- 1. files --------------------------------------------------------------------------------

test('files: upload (CRLF kept), retrieve, content byte for byte, delete; another key sees none of it', T, async (t) => {
  const key = newKey();
  const other = newKey();
  const c = client(key);
  const tag = uniq('file');
  const lines = [
    chatLine('a', `${tag} 안녕하세요 first`),
    chatLine('b', `${tag} second "quoted" \\ back\tslash`),
    chatLine('c', `${tag} third`, { extra: { max_tokens: 5 } }),
  ];
  const bytes = Buffer.from(jsonl(lines, { eol: '\r\n' }), 'utf8');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aif-batch-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const p = path.join(dir, 'crlf.jsonl');
  fs.writeFileSync(p, bytes);

  const t0 = Math.floor(Date.now() / 1000);
  const f = await c.files.create({ file: fs.createReadStream(p), purpose: 'batch' });
  assert.match(f.id, FILE_ID_RE);
  assert.equal(f.object, 'file');
  assert.equal(f.bytes, bytes.length);
  assert.equal(f.filename, 'crlf.jsonl');
  assert.equal(f.purpose, 'batch');
  assert.equal(f.status, 'processed');
  assert.ok(Number.isInteger(f.created_at) && f.created_at >= t0 - 5 && f.created_at <= t0 + 60, `created_at ${f.created_at}`);
  assert.ok(f.expires_at === null || f.expires_at === undefined || (Number.isInteger(f.expires_at) && f.expires_at > f.created_at),
    `expires_at ${f.expires_at}`);
  assert.deepEqual(sql(`SELECT bytes, line_count, purpose, endpoint FROM files WHERE public_id = ${q(f.id)}`),
    [[String(bytes.length), '3', 'batch', CHAT]]);

  const r = await c.files.retrieve(f.id);
  for (const k of ['id', 'object', 'bytes', 'created_at', 'filename', 'purpose']) assert.deepEqual(r[k], f[k], `retrieve: same ${k}`);

  const content = Buffer.from(await (await c.files.content(f.id)).arrayBuffer());
  assert.equal(Buffer.compare(content, bytes), 0, `content is the uploaded bytes:\n${JSON.stringify(content.toString('utf8').slice(0, 300))}`);
  assert.equal(content.toString('utf8').split('\r\n').length, 4, 'CRLF line ends kept');

  // Another key: 404 for all of it, and nothing changes for the owner.
  const o = client(other);
  await assertNotFound(o.files.retrieve(f.id), "another key's retrieve");
  await assertNotFound(o.files.content(f.id), "another key's content");
  await assertNotFound(deleteFile(o, f.id), "another key's delete");
  assert.equal((await c.files.retrieve(f.id)).id, f.id, 'still there for its owner');

  // LF without a final line break, through toFile: kept as it came too.
  const text2 = jsonl(lines, { final: false });
  const f2 = await uploadLines(text2, key, { filename: 'lf.jsonl' });
  assert.equal(f2.bytes, Buffer.byteLength(text2));
  assert.equal(f2.filename, 'lf.jsonl');
  assert.equal(await (await c.files.content(f2.id)).text(), text2);
  assert.equal(sqlNumber(`SELECT line_count FROM files WHERE public_id = ${q(f2.id)}`), 3);

  // Delete: then 404 everywhere.
  const del = await deleteFile(c, f.id);
  assert.deepEqual({ id: del.id, object: del.object, deleted: del.deleted }, { id: f.id, object: 'file', deleted: true });
  await assertNotFound(c.files.retrieve(f.id), 'retrieve after delete');
  await assertNotFound(c.files.content(f.id), 'content after delete');
  await assertNotFound(deleteFile(c, f.id), 'delete after delete');
  await assert.rejects(c.batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: '24h' }),
    (e) => e instanceof OpenAI.NotFoundError || e instanceof OpenAI.BadRequestError, 'a batch of a deleted file');
  assert.equal((await c.files.retrieve(f2.id)).id, f2.id, 'the other file is untouched');
});

// ---- 2. invalid files ----------------------------------------------------------------------

test('invalid input files are refused 400 naming their lines, nothing is stored; bad batch requests are 400', T, async () => {
  const key = newKey();
  const c = client(key);
  const tag = uniq('bad');
  const good = (id, model = 'demo-chat') => chatLine(id, `${tag} ${id}`, { model });
  const count = () => ({ files: sqlNumber('SELECT COUNT(*) FROM files'), lines: sqlNumber('SELECT COUNT(*) FROM file_lines') });
  const before = count();

  /** Uploads and expects a 400 whose message matches every pattern; returns the error. */
  async function refused(what, lines, patterns, { k = key, purpose = 'batch', not = [] } = {}) {
    let err;
    try {
      await uploadLines(lines, k, { purpose, filename: 'bad.jsonl' });
    } catch (e) { err = e; }
    assert.ok(err, `${what}: the upload was accepted`);
    assert.ok(err instanceof OpenAI.BadRequestError, `${what}: 400 BadRequestError, got ${err.status} ${err.constructor.name}: ${err.message}`);
    for (const re of patterns) assert.match(err.message, re, `${what}: ${err.message}`);
    for (const re of not) assert.doesNotMatch(err.message, re, `${what}: ${err.message}`);
    return err;
  }
  const line = (n) => new RegExp(`\\bline ${n}\\b`);
  const blamed = (n) => new RegExp(`\\bline ${n}:`);

  // Several problems in one file: each named by its line, the good lines not blamed.
  const multi = [
    good('a'),
    '{"custom_id": "b", this is not json',
    good('a'),
    chatLine('d', `${tag} d`, { model: 'nope' }),
    { custom_id: 'e', method: 'POST', url: '/v1/embeddings', body: { model: 'demo-embed', input: `${tag} e` } },
    good('f'),
  ];
  await refused('several bad lines', multi,
    [line(2), line(3), line(4), line(5), /JSON/i, /nope/, /\/v1\/embeddings|url/],
    { not: [blamed(1), line(6)] });

  await refused('duplicate custom_id', [good('x'), good('y'), good('x')], [line(3), /custom_id/, /\bx\b/], { not: [blamed(1), blamed(2)] });
  await refused('not JSON', [good('x'), 'nope'], [line(2), /JSON/i], { not: [blamed(1)] });
  await refused('wrong method', [good('x'), { ...good('y'), method: 'GET' }], [line(2), /method|GET/i], { not: [blamed(1)] });
  await refused('a url a batch does not take', [{ ...good('x'), url: '/v1/moderations' }], [line(1)]);
  await refused('mixed urls', [good('x'), { custom_id: 'y', method: 'POST', url: '/v1/completions', body: { model: 'demo-chat', prompt: 'p' } }],
    [line(2), /\/v1\/completions|url/], { not: [blamed(1)] });
  await refused('unknown model', [good('x'), good('y'), good('z', 'no-such-model')], [line(3), /no-such-model/], { not: [blamed(1), blamed(2)] });
  await refused('stream: true', [good('x'), chatLine('y', `${tag} y`, { extra: { stream: true } })], [line(2), /stream/], { not: [blamed(1)] });
  await refused('no custom_id', [good('x'), { method: 'POST', url: CHAT, body: good('y').body }], [line(2), /custom_id/], { not: [blamed(1)] });
  // At most 5 problems are listed: the first five.
  const many = await refused('eight bad lines', Array.from({ length: 8 }, (_, i) => `not json ${i}`), [line(1), line(5)]);
  const named = [...new Set([...many.message.matchAll(/\bline (\d+)\b/g)].map((m) => Number(m[1])))].sort((x, y) => x - y);
  assert.deepEqual(named, [1, 2, 3, 4, 5], `the first 5 problems are named: ${many.message}`);

  // A model the key's role may not use (role batch: demo-small only).
  const batchKey = newKey('batch');
  await refused('a model the role may not use', [good('s1', 'demo-small'), good('s2', 'demo-chat')], [line(2), /demo-chat/],
    { k: batchKey, not: [blamed(1)] });

  // Purposes other than batch.
  for (const purpose of ['fine-tune', 'assistants', 'batch_output']) {
    await refused(`purpose ${purpose}`, [good('x')], [/purpose/i], { purpose });
  }

  assert.deepEqual(count(), before, 'no files or file_lines rows were written by a refused upload');

  // The batch key's own model is fine.
  const ok = await uploadLines([good('s1', 'demo-small')], batchKey);
  assert.match(ok.id, FILE_ID_RE);
  assert.equal(ok.purpose, 'batch');

  // Bad batch requests on a good file: no batch is made.
  const f = await uploadLines([good('x'), good('y')], key);
  await assert.rejects(c.batches.create({ input_file_id: f.id, endpoint: '/v1/embeddings', completion_window: '24h' }),
    (e) => e instanceof OpenAI.BadRequestError, 'endpoint other than the lines\' url');
  await assert.rejects(c.batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: 'soon' }),
    (e) => e instanceof OpenAI.BadRequestError, 'a completion_window that is not one');
  await assert.rejects(c.batches.create({ input_file_id: ok.id, endpoint: CHAT, completion_window: '24h' }),
    (e) => e instanceof OpenAI.NotFoundError || e instanceof OpenAI.BadRequestError, "another key's file as input");
  await assert.rejects(c.batches.create({ input_file_id: `file-${'Z'.repeat(24)}`, endpoint: CHAT, completion_window: '24h' }),
    (e) => e instanceof OpenAI.NotFoundError || e instanceof OpenAI.BadRequestError, 'a file that does not exist');
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM batches WHERE input_file_id IN (SELECT id FROM files WHERE public_id IN (${q(f.id)}, ${q(ok.id)}))`), 0,
    'no batch was made');
  assert.deepEqual((await c.batches.list({ limit: 10 })).data, []);
});

test('a file over batch.max_file_bytes is 413 and nothing is stored', T, async (t) => {
  const limit = batchMaxFileBytes();
  if (limit === null || limit > 8 * 1024 * 1024) {
    t.skip(`batch.max_file_bytes of ${env.config} is ${limit === null ? 'not set (default 100 MiB)' : limit}: too large to send here`);
    return;
  }
  const key = newKey();
  const pad = 'x'.repeat(900);
  const lines = [];
  let size = 0;
  for (let i = 0; size <= limit; i++) {
    const l = JSON.stringify(chatLine(`big-${i}`, `${pad} ${i}`)) + '\n';
    lines.push(l);
    size += Buffer.byteLength(l);
  }
  const before = sqlNumber('SELECT COUNT(*) FROM files');
  await assert.rejects(uploadLines(lines.join(''), key), (e) => {
    assert.equal(e.status, 413, `413 for ${size} bytes over a limit of ${limit}: ${e.status} ${e.message}`);
    return true;
  });
  assert.equal(sqlNumber('SELECT COUNT(*) FROM files'), before);
});

// ---- 3. a full batch -------------------------------------------------------------------------

test('a batch of 50 chat lines completes: request_counts, output lines by custom_id, error file, jobs at priority -1, usage per line', T, async () => {
  const key = newKey();
  const other = newKey();
  const c = client(key);
  const tag = uniq('full');
  const N = 50;
  const BAD = 17;	// the engine answers this line 400
  const lines = Array.from({ length: N }, (_, i) => {
    const n = i + 1;
    const content = n === BAD ? `${tag} line ${n} [[mock:status=400]]` : `${tag} line ${n} words w${n * 7}`;
    return chatLine(`req-${n}`, content, n % 5 === 0 ? { extra: { max_tokens: 4 } } : {});
  });
  const byId = new Map(lines.map((l, i) => [l.custom_id, { ...l, n: i + 1 }]));
  const f = await uploadLines(lines, key);
  const t0 = Math.floor(Date.now() / 1000);
  const b0 = await c.batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: '24h', metadata: { run: tag, kind: 'full' } });
  assertBatch(b0, { inputFileId: f.id });
  assert.ok(['validating', 'in_progress'].includes(b0.status), b0.status);
  assert.deepEqual(b0.metadata, { run: tag, kind: 'full' });
  assert.ok(b0.created_at >= t0 - 5);
  assert.equal(b0.output_file_id, null);
  assert.equal(b0.error_file_id, null);

  const history = [{ status: b0.status, counts: { ...b0.request_counts } }];
  const b = await waitBatch(b0.id, 'completed', { key, history, timeoutMs: 60000 });
  assertForward(history);
  assertBatch(b, { inputFileId: f.id });
  assert.deepEqual(b.request_counts, { total: N, completed: N - 1, failed: 1 });
  assert.deepEqual(b.metadata, { run: tag, kind: 'full' });
  for (const k of ['in_progress_at', 'finalizing_at', 'completed_at']) assert.ok(Number.isInteger(b[k]), `${k}: ${b[k]}`);
  assert.ok(b.in_progress_at <= b.finalizing_at && b.finalizing_at <= b.completed_at);
  for (const k of ['failed_at', 'expired_at', 'cancelling_at', 'cancelled_at']) assert.ok(b[k] === null || b[k] === undefined, `${k}: ${b[k]}`);

  // The jobs: one per line, in the batch lane.
  const dbId = batchDbId(b.id);
  assert.deepEqual(sql(`SELECT status, total, completed, failed FROM batches WHERE id = ${dbId}`), [['completed', String(N), String(N - 1), '1']]);
  const jobs = batchJobs(dbId);
  assert.equal(jobs.length, N, 'one job per line');
  assert.deepEqual(jobs.map((j) => j.line), Array.from({ length: N }, (_, i) => i + 1), 'batch_line 1..N, once each');
  assert.deepEqual([...new Set(jobs.map((j) => j.priority))], [-1], 'every line runs at priority -1');
  assert.deepEqual(repeatedLines(dbId), []);
  const jobOfLine = new Map(jobs.map((j) => [j.line, j]));
  assert.equal(jobOfLine.get(BAD).state, 'failed');
  assert.equal(jobs.filter((j) => j.state === 'succeeded').length, N - 1);

  // Output: one line per success, matched on custom_id, each the engine's answer.
  const { out, err } = await batchResults(b, key);
  assert.deepEqual([...out.keys()].sort(), [...byId.keys()].filter((k) => k !== `req-${BAD}`).sort());
  for (const [cid, l] of out) {
    const src = byId.get(cid);
    const body = l.response.body;
    assert.equal(l.response.request_id, jobOfLine.get(src.n).id, `${cid}: request_id is the job of line ${src.n}`);
    assert.equal(body.object, 'chat.completion', cid);
    assert.equal(body.model, 'demo-chat');
    assert.equal(body.choices.length, 1);
    assert.equal(body.choices[0].message.role, 'assistant');
    const want = generate(contentOf(src), src.body.max_tokens ? { maxTokens: src.body.max_tokens } : {});
    assert.equal(body.choices[0].message.content, want.text, `${cid}: the mock's answer`);
    assert.equal(body.choices[0].finish_reason, src.body.max_tokens ? 'length' : 'stop');
    const pt = chatPromptTokens(src.body.messages);
    assert.deepEqual([body.usage.prompt_tokens, body.usage.completion_tokens, body.usage.total_tokens],
      [pt, want.completionTokens, pt + want.completionTokens], `${cid}: usage`);
  }
  // Error file: the engine's 400, as the engine said it.
  assert.deepEqual([...err.keys()], [`req-${BAD}`]);
  const e = err.get(`req-${BAD}`);
  assert.equal(e.response.status_code, 400);
  assert.equal(e.response.request_id, jobOfLine.get(BAD).id);
  assert.equal(e.error, null);
  assert.equal(Number(jobRow(jobOfLine.get(BAD).id).http_status), 400);

  // Usage: one row per succeeded line, through jobs.batch_id, matching the output.
  const usage = await waitFor(() => {
    const rows = sql(`SELECT j.batch_line, j.public_id, u.prompt_tokens, u.completion_tokens FROM \`usage\` u JOIN jobs j ON j.id = u.job_id WHERE j.batch_id = ${dbId}`);
    return rows.length >= N - 1 ? rows : null;
  }, { timeoutMs: 10000, what: `${N - 1} usage rows` });
  assert.equal(usage.length, N - 1, 'one usage row per succeeded line');
  assert.equal(new Set(usage.map((r) => r[0])).size, N - 1);
  assert.ok(!usage.some((r) => Number(r[0]) === BAD), 'no usage for the failed line');
  const outByJob = new Map([...out.values()].map((l) => [l.response.request_id, l.response.body.usage]));
  for (const [, pid, pt, ct] of usage) {
    assert.deepEqual([Number(pt), Number(ct)], [outByJob.get(pid).prompt_tokens, outByJob.get(pid).completion_tokens], `usage of ${pid}`);
  }
  // the Batch object's usage: the sums of its lines' usage rows
  const sum = (k) => usage.reduce((a, r) => a + Number(r[k]), 0);
  const bu = (await c.batches.retrieve(b.id)).usage;
  assert.deepEqual({ i: bu.input_tokens, o: bu.output_tokens, t: bu.total_tokens },
    { i: sum(2), o: sum(3), t: sum(2) + sum(3) }, JSON.stringify(bu));
  assert.ok(bu.input_tokens > 0 && bu.input_tokens_details && bu.output_tokens_details);
  // the key's files by purpose: the written ones only, the output among them
  const outs = [];
  for await (const fo of c.files.list({ purpose: 'batch_output' })) outs.push(fo);
  assert.ok(outs.length >= 2 && outs.every((fo) => fo.purpose === 'batch_output'), JSON.stringify(outs.map((fo) => fo.purpose)));
  assert.ok(outs.some((fo) => fo.id === b.output_file_id) && outs.some((fo) => fo.id === b.error_file_id));
  assert.ok(!outs.some((fo) => fo.id === f.id), 'the input file is purpose batch');

  // The input stays readable; the output is its owner's only.
  assert.equal((await c.batches.retrieve(b.id)).input_file_id, f.id);
  await assertNotFound(client(other).files.retrieve(b.output_file_id), "another key's read of the output file");
  await assertNotFound(client(other).files.content(b.error_file_id), "another key's read of the error file");
});

// ---- 4. PII per line -----------------------------------------------------------------------

test('PII is masked per line: the job and the engine see the masked text; a blocked type refuses its line only', T, async () => {
  const key = newKey();
  const tag = uniq('bpii');
  const lines = [
    chatLine('pii-email', `${tag} 메일 ${EMAIL} 로 보내 주세요`),
    chatLine('pii-plain', `${tag} nothing personal here`),
    chatLine('pii-rrn', `${tag} 제 주민등록번호는 ${RRN} 입니다`),
  ];
  const f = await uploadLines(lines, key);
  const b0 = await client(key).batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: '24h' });
  const b = await waitBatch(b0.id, 'completed', { key });
  assert.deepEqual(b.request_counts, { total: 3, completed: 2, failed: 1 });
  const dbId = batchDbId(b.id);
  const { out, err, text } = await batchResults(b, key);

  // Line 1: masked in jobs.request_body and on the way to the engine.
  const pid = sqlValue(`SELECT public_id FROM jobs WHERE batch_id = ${dbId} AND batch_line = 1`);
  assert.match(pid || '', JOB_ID_RE);
  const job = jobRow(pid);
  assert.ok(!job.request_body.includes(EMAIL), `jobs.request_body holds the address: ${job.request_body}`);
  assert.ok(job.request_body.includes('[EMAIL]'), job.request_body);
  assert.equal(JSON.parse(job.pii_counts).EMAIL, 1);
  const er = await engineRequestOf(pid);
  assert.ok(er, 'the engine saw line 1');
  const sent = er.body.messages[0].content;
  assert.ok(sent.startsWith(`${tag} 메일 `) && sent.includes('[EMAIL]') && !sent.includes(EMAIL), sent);
  assert.equal(out.get('pii-email').response.request_id, pid);
  assert.equal(out.get('pii-email').response.body.choices[0].message.content, generate(sent).text, 'answered from the masked text');
  const u = await waitFor(() => usageRow(job.id), { timeoutMs: 10000, what: 'the usage row of line 1' });
  assert.deepEqual(JSON.parse(u.pii_counts), JSON.parse(job.pii_counts));
  assert.ok(!text.includes(EMAIL), 'the address is in no output line');

  // Line 3: refused before it became a job (pii_blocked), in the error file without the number.
  const r = err.get('pii-rrn');
  assert.ok(r && r.response, `line 3 is an HTTP error line: ${JSON.stringify(r)}`);
  assert.equal(r.response.status_code, 400);
  assert.equal(r.response.body.error.code, 'pii_blocked');
  assert.match(r.response.body.error.message, /KR_RRN/);
  assert.ok(!text.includes(RRN) && !text.includes('1234568'), 'the number is in no output or error line');
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM jobs WHERE batch_id = ${dbId} AND batch_line = 3`), 0, 'no job for the refused line');
  assert.equal(sqlValue(`SELECT status_code FROM batch_refusals WHERE batch_id = ${dbId} AND line_no = 3`), '400');
  assert.ok(out.has('pii-plain'));
});

// ---- 5. cancel -------------------------------------------------------------------------------

test('cancel in the middle: cancelling, then cancelled; counts add up; unrun lines are batch_cancelled; nothing left queued', T, async () => {
  const key = newKey();
  const c = client(key);
  const tag = uniq('bcancel');
  const N = 60;
  // demo-capped: 3 at a time, 400 ms each -- about 8 s for all of them.
  const lines = Array.from({ length: N }, (_, i) => chatLine(`c-${i + 1}`, `${tag} line ${i + 1} [[mock:latency=400]]`, { model: 'demo-capped' }));
  const f = await uploadLines(lines, key);
  const b0 = await c.batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: '24h' });
  const dbId = batchDbId(b0.id);
  const running = await waitFor(async () => {
    const x = await c.batches.retrieve(b0.id);
    return x.request_counts.completed >= 3 ? x : null;
  }, { timeoutMs: 30000, intervalMs: 100, what: 'request_counts.completed >= 3 (progress while running)' });
  assert.equal(running.status, 'in_progress');
  assert.ok(running.request_counts.completed < N, JSON.stringify(running.request_counts));

  const cx = await c.batches.cancel(b0.id);
  assert.equal(cx.id, b0.id);
  assert.equal(cx.status, 'cancelling');
  assert.ok(Number.isInteger(cx.cancelling_at), `cancelling_at ${cx.cancelling_at}`);
  const b = await waitBatch(b0.id, 'cancelled', { key, timeoutMs: 30000 });
  assert.ok(Number.isInteger(b.cancelled_at) && b.cancelled_at >= cx.cancelling_at);
  assert.equal(sqlValue(`SELECT status FROM batches WHERE id = ${dbId}`), 'cancelled');

  const rc = b.request_counts;
  assert.equal(rc.total, N);
  assert.equal(rc.completed + rc.failed, N, JSON.stringify(rc));
  assert.ok(rc.completed >= 3, `the lines done before the cancel count: ${JSON.stringify(rc)}`);
  assert.ok(rc.failed >= 1, `some lines never ran: ${JSON.stringify(rc)}`);

  // Nothing of the batch waits or runs any more, and no line ran twice.
  const states = batchStates(dbId);
  assert.equal(states.queued || 0, 0, JSON.stringify(states));
  assert.equal(states.running || 0, 0, JSON.stringify(states));
  assert.deepEqual(repeatedLines(dbId), []);

  const { out, err } = await batchResults(b, key);
  assert.deepEqual([...out.keys(), ...err.keys()].sort(), lines.map((l) => l.custom_id).sort(), 'every line in one file');
  const jobs = new Map(batchJobs(dbId).map((j) => [j.line, j]));
  for (const cid of out.keys()) assert.equal(jobs.get(Number(cid.slice(2))).state, 'succeeded', cid);
  let unrun = 0;
  for (let n = 1; n <= N; n++) {
    const j = jobs.get(n);
    if (j && j.started) continue;
    unrun++;
    const l = err.get(`c-${n}`);
    assert.ok(l, `line ${n} never ran: it is in the error file`);
    assert.equal(l.response, null, `line ${n}: ${JSON.stringify(l)}`);
    assert.equal(l.error.code, 'batch_cancelled', `line ${n}: ${JSON.stringify(l)}`);
  }
  assert.ok(unrun >= 1, 'some lines were never started');

  // And the engine gets no more of them.
  const seen = async () => (await mockRequests(1000, CHAT)).filter((r) => JSON.stringify(r.body || '').includes(tag)).length;
  const s0 = await seen();
  await sleep(1000);
  assert.equal(await seen(), s0, 'no line reached the engine after cancelled');
  assert.ok(s0 <= N - unrun, `the engine saw ${s0} lines; ${unrun} never ran`);
});

// ---- 7. restart ------------------------------------------------------------------------------

test('a batch survives a restart of aif-api and a stop/start of the workers: completed, every line exactly once', { timeout: 180000 }, async (t) => {
  const key = newKey();
  const c = client(key);
  const tag = uniq('brestart');
  const N = 100;
  // demo-capped, 300 ms a line, 3 at a time: about 10 s of engine time, so that aif-api's
  // restart (lines go on running meanwhile) and the workers' stop land mid-batch.
  const lines = Array.from({ length: N }, (_, i) => chatLine(`r-${i + 1}`, `${tag} line ${i + 1} [[mock:latency=300]]`, { model: 'demo-capped' }));
  const f = await uploadLines(lines, key);
  const b0 = await c.batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: '24h' });
  const dbId = batchDbId(b0.id);
  await waitFor(() => (batchStates(dbId).succeeded || 0) >= 10, { timeoutMs: 30000, intervalMs: 100, what: '10 lines done' });

  stack(['restart-api'], { timeoutMs: 120000 });
  await waitFor(async () => (await http('/healthz', { key: null })).status === 200, { timeoutMs: 30000, what: 'aif-api back' });
  const mid1 = await c.batches.retrieve(b0.id);
  assert.equal(mid1.status, 'in_progress', `after restart-api: ${mid1.status} ${JSON.stringify(mid1.request_counts)}`);

  workersStopped = true;
  stopWorkers();
  const mid = batchStates(dbId);
  t.diagnostic(`after stop-workers: ${JSON.stringify(mid)}`);
  assert.equal(mid.running || 0, 0, 'a drained worker leaves no line running');
  assert.ok((mid.succeeded || 0) >= 10 && (mid.succeeded || 0) < N, `mid-batch: ${JSON.stringify(mid)}`);
  await sleep(1500);
  assert.equal(batchStates(dbId).succeeded || 0, mid.succeeded || 0, 'no progress without workers');
  assert.equal((await c.batches.retrieve(b0.id)).status, 'in_progress');
  startWorker(1);
  startWorker(2);
  workersStopped = false;

  const b = await waitBatch(b0.id, 'completed', { key, timeoutMs: 90000 });
  assert.deepEqual(b.request_counts, { total: N, completed: N, failed: 0 });
  assert.equal(b.error_file_id, null, 'no error file when nothing failed');
  const { out } = await batchResults(b, key);
  assert.equal(out.size, N);
  assert.deepEqual([...out.keys()].sort(), lines.map((l) => l.custom_id).sort(), `${N} distinct custom_ids`);

  // Exactly once: one job per line, succeeded once, metered once; the engine saw each once.
  assert.deepEqual(repeatedLines(dbId), [], 'one job per line');
  const jobs = batchJobs(dbId);
  assert.equal(jobs.length, N);
  assert.deepEqual(batchStates(dbId), { succeeded: N });
  const per = sql(`SELECT j.batch_line, SUM(e.event = 'succeeded'), (SELECT COUNT(*) FROM \`usage\` u WHERE u.job_id = j.id)
    FROM jobs j JOIN job_timeline e ON e.job_id = j.id WHERE j.batch_id = ${dbId} GROUP BY j.id`);
  const twice = per.filter(([, s, u]) => s !== '1' || u !== '1');
  assert.deepEqual(twice.slice(0, 5), [], `${twice.length} lines not succeeded/metered exactly once`);
  const engine = new Map();
  for (const r of await mockRequests(1000, CHAT)) {
    const m = JSON.stringify(r.body || '').match(new RegExp(`${tag} line (\\d+) `));
    if (m) engine.set(m[1], (engine.get(m[1]) || 0) + 1);
  }
  assert.equal(engine.size, N, 'the engine saw every line');
  assert.deepEqual([...engine].filter(([, n]) => n !== 1), [], 'the engine saw no line twice');
  for (const l of out.values()) assert.equal(l.response.body.object, 'chat.completion');
});

// ---- 8. list and ownership -------------------------------------------------------------------

test('batches.list: newest first, limit/has_more/after, for await; the three urls; another key gets 404', T, async () => {
  const key = newKey();
  const other = newKey();
  const c = client(key);
  const o = client(other);
  const tag = uniq('blist');
  const chatF = await uploadLines([chatLine('l1', `${tag} chat one`), chatLine('l2', `${tag} chat two`)], key, { final: false });
  const embedF = await uploadLines([1, 2].map((i) => ({ custom_id: `e${i}`, method: 'POST', url: '/v1/embeddings', body: { model: 'demo-embed', input: `${tag} embed ${i}` } })), key);
  const prompts = [1, 2].map((i) => `${tag} prompt ${i}`);
  const compF = await uploadLines(prompts.map((p, i) => ({ custom_id: `p${i + 1}`, method: 'POST', url: '/v1/completions', body: { model: 'demo-chat', prompt: p, max_tokens: 5 } })), key);
  const b1 = await c.batches.create({ input_file_id: chatF.id, endpoint: CHAT, completion_window: '24h', metadata: { n: '1' } });
  const b2 = await c.batches.create({ input_file_id: embedF.id, endpoint: '/v1/embeddings', completion_window: '24h', metadata: { n: '2' } });
  const b3 = await c.batches.create({ input_file_id: compF.id, endpoint: '/v1/completions', completion_window: '24h', metadata: { n: '3' } });
  assertBatch(b2, { endpoint: '/v1/embeddings', inputFileId: embedF.id });

  const page = await c.batches.list({ limit: 2 });
  assert.deepEqual(page.data.map((x) => x.id), [b3.id, b2.id], 'newest first, limit 2');
  const raw1 = await http('/v1/batches?limit=2', { key });
  assert.equal(raw1.status, 200, raw1.text);
  assert.equal(raw1.json.object, 'list');
  assert.equal(raw1.json.has_more, true);
  assert.deepEqual(raw1.json.data.map((x) => x.id), [b3.id, b2.id]);
  const raw2 = await http(`/v1/batches?limit=2&after=${b2.id}`, { key });
  assert.equal(raw2.status, 200, raw2.text);
  assert.deepEqual(raw2.json.data.map((x) => x.id), [b1.id]);
  assert.equal(raw2.json.has_more, false);
  const all = [];
  for await (const x of c.batches.list({ limit: 2 })) all.push(x.id);
  assert.deepEqual(all, [b3.id, b2.id, b1.id], 'for await pages through all');
  assert.deepEqual(page.data[0].metadata, { n: '3' });

  // Another key: an empty list, 404 for each batch.
  assert.deepEqual((await o.batches.list({ limit: 10 })).data, []);
  await assertNotFound(o.batches.retrieve(b1.id), "another key's retrieve");
  await assertNotFound(o.batches.cancel(b1.id), "another key's cancel");
  await assertNotFound(c.batches.retrieve(`batch_${'Z'.repeat(24)}`), 'a batch that does not exist');

  // All three complete, each answered by its url.
  const [d1, d2, d3] = await Promise.all([b1, b2, b3].map((x) => waitBatch(x.id, 'completed', { key })));
  for (const d of [d1, d2, d3]) assert.deepEqual(d.request_counts, { total: 2, completed: 2, failed: 0 });
  const r1 = (await batchResults(d1, key)).out;
  for (const l of r1.values()) assert.equal(l.response.body.object, 'chat.completion');
  const r2 = (await batchResults(d2, key)).out;
  assert.deepEqual([...r2.keys()].sort(), ['e1', 'e2']);
  for (const l of r2.values()) {
    assert.equal(l.response.body.object, 'list');
    assert.equal(l.response.body.model, 'demo-embed');
    assert.equal(l.response.body.data[0].object, 'embedding');
    assert.ok(Array.isArray(l.response.body.data[0].embedding) && l.response.body.data[0].embedding.length > 0);
  }
  const r3 = (await batchResults(d3, key)).out;
  for (const [cid, l] of r3) {
    assert.equal(l.response.body.object, 'text_completion');
    assert.equal(l.response.body.choices[0].text, generate(prompts[Number(cid.slice(1)) - 1], { maxTokens: 5 }).text, cid);
  }
  for (const d of [d1, d2, d3]) {
    const prios = sql(`SELECT DISTINCT priority FROM jobs WHERE batch_id = ${batchDbId(d.id)}`).map((r) => r[0]);
    assert.deepEqual(prios, ['-1']);
  }
});

// ---- 9. interactive requests during a batch ---------------------------------------------------

test('interactive requests are served ahead of a running batch\'s queued lines', T, async () => {
  const key = newKey();
  const c = client(key);
  const tag = uniq('bprio');
  const N = 200;
  // demo-capped: 3 engine calls at once; the batch's lines and the interactive requests
  // compete for the same places, so an interactive job waiting behind the lane would start
  // after all of them.
  const lines = Array.from({ length: N }, (_, i) => chatLine(`i-${i + 1}`, `${tag} line ${i + 1} [[mock:latency=60]]`, { model: 'demo-capped' }));
  const f = await uploadLines(lines, key);
  const b0 = await c.batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: '24h' });
  const dbId = batchDbId(b0.id);
  await waitFor(() => (batchStates(dbId).succeeded || 0) >= 5, { timeoutMs: 30000, intervalMs: 100, what: '5 lines done' });

  const interactive = [];
  for (let i = 0; i < 3; i++) {
    const notStarted = N - sqlNumber(`SELECT COUNT(*) FROM jobs WHERE batch_id = ${dbId} AND started_at IS NOT NULL`);
    assert.ok(notStarted > 10, `the batch still has lines to run (${notStarted})`);
    const content = `${tag} interactive ${i}`;
    const { data, response } = await c.chat.completions.create({ model: 'demo-capped', messages: [{ role: 'user', content }] }).withResponse();
    assert.equal(response.status, 200);
    assert.equal(data.object, 'chat.completion');
    assert.equal(data.choices[0].message.content, generate(content).text);
    interactive.push({ id: response.headers.get('x-aif-job-id'), notStarted });
  }
  const during = await c.batches.retrieve(b0.id);
  assert.equal(during.status, 'in_progress', 'the batch was still running');

  const b = await waitBatch(b0.id, 'completed', { key, timeoutMs: 60000 });
  assert.deepEqual(b.request_counts, { total: N, completed: N, failed: 0 });
  for (const { id, notStarted } of interactive) {
    assert.match(id || '', JOB_ID_RE);
    const [prio, bid, started] = sql(`SELECT priority, batch_id, started_at FROM jobs WHERE public_id = ${q(id)}`)[0];
    assert.equal(Number(prio), DEFAULT_PRIORITY);
    assert.equal(bid, null, 'an interactive job belongs to no batch');
    const later = sqlNumber(`SELECT COUNT(*) FROM jobs WHERE batch_id = ${dbId} AND started_at > ${q(started)}`);
    assert.ok(later > 0, `${id} started before the last batch line`);
    assert.ok(later >= notStarted / 2, `${id}: ${notStarted} lines waited when it came, ${later} started after it`);
  }
});

// ---- 10. conflicts, roles, limits and queue caps --------------------------------------------

test('a file a batch still reads cannot be deleted (409); an ended batch cannot be cancelled (409); a role without the files endpoint is 403', T, async () => {
  const key = newKey();
  const c = client(key);
  const tag = uniq('b409');
  const f = await uploadLines([chatLine('s1', `${tag} [[mock:latency=1500]]`, { model: 'demo-capped' })], key);
  const b0 = await c.batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: '24h' });
  await assert.rejects(deleteFile(c, f.id), (e) => e.status === 409 && /file_in_use|batch/.test(`${e.code} ${e.message}`));
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM files WHERE public_id = ${q(f.id)}`), 1, 'the file is still there');
  const b = await waitBatch(b0.id, 'completed', { key });
  await assert.rejects(c.batches.cancel(b.id), (e) => e.status === 409 && e.code === 'batch_not_cancellable');
  assert.equal((await c.batches.retrieve(b.id)).status, 'completed', 'a refused cancel changes nothing');
  const gone = await deleteFile(c, f.id);
  assert.equal(gone.deleted, true, 'once the batch ended its file may go');

  // a role whose endpoints lack files and batches (embedder: embeddings and models)
  const emb = client(newKey('embedder'));
  await assert.rejects(emb.files.create({ file: await toFile(Buffer.from(jsonl([chatLine('e', 'x', { model: 'demo-embed' })])), 'in.jsonl'), purpose: 'batch' }),
    (e) => e.status === 403);
  await assert.rejects(emb.batches.list(), (e) => e.status === 403);
});

test('rate limits: a line no wait can let through is refused 429 at once; the batch\'s lines fill buckets of their own, not the key\'s', T, async () => {
  const made = await adminCreateKey({ name: uniq('batch-tpm'), role: 'user', tpm: 400 });
  const key = made.key;
  const c = client(key);
  const tag = uniq('brl');
  const lines = [
    chatLine('ok-1', `${tag} one`, { extra: { max_tokens: 8 } }),
    chatLine('big', `${tag} big`, { extra: { max_tokens: 1000 } }),	// costs more than 400 a minute holds
    chatLine('ok-2', `${tag} two`, { extra: { max_tokens: 8 } }),
  ];
  const f = await uploadLines(lines, key);
  const b0 = await c.batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: '24h' });
  const b = await waitBatch(b0.id, 'completed', { key, timeoutMs: 30000 });
  assert.deepEqual(b.request_counts, { total: 3, completed: 2, failed: 1 });
  const { out, err } = await batchResults(b, key);
  assert.deepEqual([...out.keys()].sort(), ['ok-1', 'ok-2']);
  const big = err.get('big');
  assert.equal(big.response.status_code, 429, JSON.stringify(big));
  assert.equal(big.response.request_id, null, 'refused before it became a job');
  assert.match(big.response.body.error.message, /token|limit/i);
  // the batch's tokens went to the key's batch bucket; its interactive bucket is untouched
  const lineage = made.id;
  const subjects = sql(`SELECT subject FROM rate_limits WHERE subject LIKE ${q(`key:${lineage}:%`)}`).map((r) => r[0]);
  assert.ok(subjects.includes(`key:${lineage}:batch:tpm`), `batch bucket: ${JSON.stringify(subjects)}`);
  assert.ok(!subjects.includes(`key:${lineage}:tpm`), `no interactive charge yet: ${JSON.stringify(subjects)}`);
  const r = await c.chat.completions.create({ model: 'demo-chat', max_tokens: 8, messages: [{ role: 'user', content: `${tag} interactive` }] });
  assert.equal(r.object, 'chat.completion');
  assert.ok(sql(`SELECT subject FROM rate_limits WHERE subject = ${q(`key:${lineage}:tpm`)}`).length === 1);
});

test('a tenant\'s running batch does not fill its interactive queue cap (team-queue: 3 queued at most)', T, async () => {
  const made = await adminCreateKey({ name: uniq('batch-tq'), role: 'user', tenant: 'team-queue' });
  const key = made.key;
  const c = client(key);
  const tag = uniq('btq');
  const lines = Array.from({ length: 12 }, (_, i) => chatLine(`q-${i}`, `${tag} ${i} [[mock:latency=300]]`, { model: 'demo-capped' }));
  const f = await uploadLines(lines, key);
  const b0 = await c.batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: '24h' });
  const dbId = batchDbId(b0.id);
  await waitFor(() => sqlNumber(`SELECT COUNT(*) FROM jobs WHERE batch_id = ${dbId} AND state = 'queued'`) > 3,
    { timeoutMs: 20000, intervalMs: 100, what: 'more than 3 of the batch queued' });
  const r = await c.chat.completions.create({ model: 'demo-chat', max_tokens: 8, messages: [{ role: 'user', content: `${tag} interactive` }] });
  assert.equal(r.object, 'chat.completion', 'an interactive request is not refused tenant_queue_full by the batch\'s lines');
  const b = await waitBatch(b0.id, 'completed', { key, timeoutMs: 60000 });
  assert.deepEqual(b.request_counts, { total: 12, completed: 12, failed: 0 });
});

// ---- 6. expiry (last: it takes about the window) ------------------------------------------------

const WINDOW = process.env.AIF_TEST_BATCH_WINDOW || '30s';
const windowMs = (w) => {
  const m = /^(\d+)([smh])$/.exec(w);
  return m ? Number(m[1]) * { s: 1000, m: 60000, h: 3600000 }[m[2]] : null;
};
const EXPIRY_MS = windowMs(WINDOW);

test(`a batch unfinished after its completion_window (${WINDOW}) expires: done lines kept, the rest batch_expired`, { timeout: (EXPIRY_MS && EXPIRY_MS <= 120000 ? EXPIRY_MS : 0) + 90000 }, async (t) => {
  if (!EXPIRY_MS || EXPIRY_MS > 120000) {
    t.skip(`AIF_TEST_BATCH_WINDOW=${WINDOW}: not a window this file waits for`);
    return;
  }
  const key = newKey();
  const c = client(key);
  const tag = uniq('bexpire');
  const N = 40;
  // demo-capped runs 3 at a time: half again as much work as the window holds.
  const latency = Math.max(2000, Math.ceil((EXPIRY_MS * 3 * 1.5) / N));
  const lines = Array.from({ length: N }, (_, i) => chatLine(`x-${i + 1}`, `${tag} line ${i + 1} [[mock:latency=${latency}]]`, { model: 'demo-capped' }));
  const f = await uploadLines(lines, key);
  const b0 = await c.batches.create({ input_file_id: f.id, endpoint: CHAT, completion_window: WINDOW });
  assertBatch(b0, { inputFileId: f.id, window: WINDOW });
  assert.ok(Math.abs(b0.expires_at - b0.created_at - EXPIRY_MS / 1000) <= 1, `expires_at = created_at + ${WINDOW}: ${b0.created_at} ${b0.expires_at}`);
  const dbId = batchDbId(b0.id);

  const b = await waitBatch(b0.id, 'expired', { key, timeoutMs: EXPIRY_MS + 60000 });
  assert.ok(Number.isInteger(b.expired_at) && b.expired_at >= b0.expires_at - 1, `expired_at ${b.expired_at}, expires_at ${b0.expires_at}`);
  assert.equal(sqlValue(`SELECT status FROM batches WHERE id = ${dbId}`), 'expired');
  const rc = b.request_counts;
  assert.equal(rc.total, N);
  assert.equal(rc.completed + rc.failed, N, JSON.stringify(rc));
  assert.ok(rc.completed >= 1, `lines done within the window are kept: ${JSON.stringify(rc)}`);
  assert.ok(rc.failed >= 1, `some lines were left: ${JSON.stringify(rc)}`);

  assert.equal(batchStates(dbId).queued || 0, 0, 'no line of an expired batch stays queued');
  await waitFor(() => (batchStates(dbId).running || 0) === 0, { timeoutMs: latency + 15000, what: 'no line of the expired batch running' });
  assert.deepEqual(repeatedLines(dbId), []);

  const { out, err } = await batchResults(b, key);
  assert.deepEqual([...out.keys(), ...err.keys()].sort(), lines.map((l) => l.custom_id).sort(), 'every line in one file');
  for (const l of out.values()) assert.equal(l.response.body.object, 'chat.completion');
  const jobs = new Map(batchJobs(dbId).map((j) => [j.line, j]));
  let unrun = 0;
  for (let n = 1; n <= N; n++) {
    const j = jobs.get(n);
    if (j && j.started) continue;
    unrun++;
    const l = err.get(`x-${n}`);
    assert.ok(l, `line ${n} never ran: it is in the error file`);
    assert.equal(l.response, null, `line ${n}: ${JSON.stringify(l)}`);
    assert.equal(l.error.code, 'batch_expired', `line ${n}: ${JSON.stringify(l)}`);
  }
  assert.ok(unrun >= 1, 'some lines never started');
});
