// lib.mjs -- shared helpers of the end-to-end tests (not a test file itself).
//
// The running stack is described by the variables of $AIF_VAR_DIR/stack.env, which the
// test runner exports (scripts/run-tests.sh; by hand: set -a; . var/…/stack.env; set +a):
//   AIF_BASE_URL AIF_API_KEY AIF_ADMIN_KEY AIF_DB_SOCKET AIF_DB_NAME AIF_CONFIG
//   AIF_VAR_DIR AIF_PORT AIF_MOCK_PORT AIF_MOCK_URL
// Everything here is bounded in time: every child process has a timeout, every HTTP
// request an AbortSignal.timeout, every wait loop a deadline.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import OpenAI from 'openai';

export { OpenAI };

/** Repository root (tests/e2e/../..). */
export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The programs of the stack under test (stack.env's AIF_BIN_DIR; bin/ by default). */
export const BIN = process.env.AIF_BIN_DIR || path.join(REPO, 'bin');

const REQUIRED = [
  'AIF_BASE_URL', 'AIF_API_KEY', 'AIF_ADMIN_KEY', 'AIF_DB_SOCKET', 'AIF_DB_NAME',
  'AIF_CONFIG', 'AIF_VAR_DIR', 'AIF_PORT', 'AIF_MOCK_PORT', 'AIF_MOCK_URL',
];

function loadEnv() {
  const missing = REQUIRED.filter((k) => !process.env[k]);
  if (missing.length) {
    throw new Error(
      `e2e: missing environment variable(s) ${missing.join(', ')}.\n` +
      'These tests need a running stack: start one with scripts/stack.sh up, then export its\n' +
      'settings (set -a; . "$AIF_VAR_DIR/stack.env"; set +a) and run\n' +
      '  node --test --test-concurrency=1 tests/e2e/\n' +
      'from the repository root (make test does all of this).');
  }
  const e = process.env;
  return Object.freeze({
    baseURL: e.AIF_BASE_URL.replace(/\/+$/, ''),
    origin: new URL(e.AIF_BASE_URL).origin,
    apiKey: e.AIF_API_KEY,
    adminKey: e.AIF_ADMIN_KEY,
    dbSocket: e.AIF_DB_SOCKET,
    dbName: e.AIF_DB_NAME,
    config: e.AIF_CONFIG,
    varDir: e.AIF_VAR_DIR,
    port: e.AIF_PORT,
    mockPort: e.AIF_MOCK_PORT,
    mockURL: e.AIF_MOCK_URL.replace(/\/+$/, ''),
  });
}

/** The stack's settings (throws a clear error at import time when they are missing). */
export const env = loadEnv();

/** Environment for child processes (aifctl, stack.sh): ours, with the stack's settings. */
function childEnv() {
  return {
    ...process.env,
    AIF_VAR_DIR: env.varDir,
    AIF_PORT: env.port,
    AIF_MOCK_PORT: env.mockPort,
    AIF_DB_NAME: env.dbName,
    AIF_CONFIG: env.config,
  };
}

// ---- constants of config/aif.yaml that the tests rely on ---------------------------------

export const MODELS = {
  'demo-chat': { input_per_mtok: 150000, output_per_mtok: 600000 },
  'demo-small': { input_per_mtok: 50000, output_per_mtok: 100000 },
};
export const ROLE_MAX_PRIORITY = { user: 6, batch: 2, admin: 9 };
export const DEFAULT_PRIORITY = 4;
/** aif-api caches key lookups this long (core/gate/auth.h AIF_AUTH_CACHE_MS). */
export const AUTH_CACHE_MS = 2000;

/** ceil((p*in + c*out) / 1e6), exactly, in BigInt. */
export function expectedCost(model, promptTokens, completionTokens) {
  const m = MODELS[model];
  const num = BigInt(promptTokens) * BigInt(m.input_per_mtok) + BigInt(completionTokens) * BigInt(m.output_per_mtok);
  return Number((num + 999999n) / 1000000n);
}

export const JOB_ID_RE = /^job_[A-Za-z0-9]{24}$/;

// ---- SQL ------------------------------------------------------------------------------------

/**
 * Runs SQL through the mariadb client; returns rows as arrays of strings (NULL -> null).
 * `usage` is a reserved word: write it as \`usage\`.
 */
export function sql(query, { timeoutMs = 30000 } = {}) {
  let out;
  try {
    out = execFileSync('mariadb', [
      `--socket=${env.dbSocket}`, env.dbName, '-N', '-B', '--connect-timeout=5', '-e', query,
    ], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`SQL failed: ${query.slice(0, 300)}\n${e.stderr || e.message}`);
  }
  if (out === '') return [];
  return out.replace(/\n$/, '').split('\n').map((line) =>
    line.split('\t').map((v) => (v === 'NULL' ? null : unescapeBatch(v))));
}

function unescapeBatch(v) {
  if (v.indexOf('\\') < 0) return v;
  return v.replace(/\\([\\ntr0])/g, (_, c) => ({ '\\': '\\', n: '\n', t: '\t', r: '\r', 0: '\0' }[c]));
}

/** First column of the first row (or null). */
export function sqlValue(query) {
  const rows = sql(query);
  return rows.length ? rows[0][0] : null;
}

/** A number from a single-value query. */
export function sqlNumber(query) {
  const v = sqlValue(query);
  return v === null ? null : Number(v);
}

/** SQL string literal (the values we quote are ids and names we generated). */
export function q(s) {
  return "'" + String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";
}

/** IN (...) list of quoted strings. */
export function inList(values) {
  if (!values.length) throw new Error('inList: empty list');
  return '(' + values.map(q).join(',') + ')';
}

/** The jobs row of a public job id, as an object (or null). */
export function jobRow(publicId) {
  const cols = ['id', 'public_id', 'api_key_id', 'tenant', 'model', 'kind', 'priority', 'state',
    'attempts', 'max_attempts', 'worker_id', 'request_id', 'request_body', 'response_body',
    'http_status', 'pii_counts', 'created_at', 'started_at', 'finished_at', 'traceparent'];
  const rows = sql(`SELECT ${cols.join(',')} FROM jobs WHERE public_id = ${q(publicId)}`);
  if (!rows.length) return null;
  return Object.fromEntries(cols.map((c, i) => [c, rows[0][i]]));
}

/** Events of a job (by internal id), in order: [{event, attempt, worker_id, replica, detail}]. */
export function jobEvents(jobId) {
  return sql(`SELECT event, attempt, worker_id, replica, detail FROM job_timeline WHERE job_id = ${Number(jobId)} ORDER BY at, seq`)
    .map(([event, attempt, worker_id, replica, detail]) => ({ event, attempt: Number(attempt), worker_id, replica, detail }));
}

/** The usage row of a job (by internal id), or null. */
export function usageRow(jobId) {
  const cols = ['job_id', 'api_key_id', 'tenant', 'model', 'engine', 'replica', 'prompt_tokens',
    'completion_tokens', 'total_tokens', 'cost_micros', 'queue_ms', 'engine_ms', 'pii_counts'];
  const rows = sql(`SELECT ${cols.join(',')} FROM \`usage\` WHERE job_id = ${Number(jobId)}`);
  if (!rows.length) return null;
  const o = Object.fromEntries(cols.map((c, i) => [c, rows[0][i]]));
  for (const k of ['job_id', 'api_key_id', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_micros', 'queue_ms', 'engine_ms']) o[k] = Number(o[k]);
  return o;
}

export function countJobs() {
  return sqlNumber('SELECT COUNT(*) FROM jobs');
}

/** The api_keys.id of a key (by its 12-character prefix). */
export function keyId(key) {
  return sqlNumber(`SELECT id FROM api_keys WHERE key_prefix = ${q(key.slice(0, 12))}`);
}

// ---- keys and stack control ------------------------------------------------------------------

/** Creates an API key with bin/aifctl; returns the secret. */
export function createKey(name, role) {
  let out;
  try {
    out = execFileSync(path.join(BIN, 'aifctl'),
      ['--config', env.config, 'keys', 'create', '--name', name, '--role', role],
      { encoding: 'utf8', timeout: 60000, env: childEnv(), cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new Error(`aifctl keys create --name ${name} --role ${role} failed: ${e.stderr || e.message}`);
  }
  const key = out.split('\n')[0].trim();
  if (!/^\S{16,}$/.test(key)) throw new Error(`aifctl printed no key: ${JSON.stringify(out)}`);
  return key;
}

/** A unique name for keys and prompts of one test run. */
export function uniq(prefix = 'e2e') {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/**
 * Runs scripts/stack.sh with the stack's environment; returns its output (stdout+stderr).
 * Throws with the output when it fails; the error has .missing = true when stack.sh does
 * not know the subcommand.
 */
export function stack(args, { timeoutMs = 120000 } = {}) {
  try {
    return execFileSync(path.join(REPO, 'scripts', 'stack.sh'), args,
      { encoding: 'utf8', timeout: timeoutMs, env: childEnv(), cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const out = `${e.stdout || ''}${e.stderr || ''}`;
    const err = new Error(`scripts/stack.sh ${args.join(' ')} failed (${e.status ?? e.signal ?? e.code}):\n${out}`);
    err.missing = /unknown command/.test(out);
    throw err;
  }
}

export const stopWorkers = () => stack(['stop-workers']);
export const stopWorker = (n) => stack(['stop-worker', String(n)]);
export const startWorker = (n, slots) => stack(['start-worker', String(n), ...(slots ? ['--slots', String(slots)] : [])]);
/** Subcommands that stack.sh did not know, and the fallback used instead (for reports). */
export const stackFallbacks = [];
function stackOr(args, fallback) {
  try {
    return stack(args);
  } catch (e) {
    if (!e.missing) throw e;
    stackFallbacks.push(`stack.sh ${args.join(' ')} is missing; used stack.sh ${fallback.join(' ')}`);
    return stack(fallback);
  }
}
export const stopDb = () => stackOr(['stop-db'], ['stop', 'db']);
export const startDb = () => stackOr(['start-db'], ['start', 'db']);

// ---- HTTP -----------------------------------------------------------------------------------

/** An SDK client: no retries, bounded timeout. */
export function client(apiKey = env.apiKey, opts = {}) {
  return new OpenAI({ apiKey, baseURL: env.baseURL, maxRetries: 0, timeout: 30000, ...opts });
}

/**
 * A raw HTTP call to the gateway. path is relative to the origin ("/v1/models", "/healthz").
 * opts: method, key (null: no Authorization), json (object: JSON body), body (raw string/
 * Buffer), headers, timeoutMs. Returns { status, headers, text, json, ms }.
 */
export async function http(pathname, opts = {}) {
  const { method = opts.json !== undefined || opts.body !== undefined ? 'POST' : 'GET', timeoutMs = 30000 } = opts;
  const headers = { ...(opts.headers || {}) };
  const key = opts.key === undefined ? env.apiKey : opts.key;
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json';
  }
  const t0 = Date.now();
  const res = await fetch(env.origin + pathname, { method, headers, body, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  let json;
  try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json, ms: Date.now() - t0 };
}

/** Chat request body with one user message. */
export function chatBody(content, extra = {}) {
  return { model: 'demo-chat', messages: [{ role: 'user', content }], ...extra };
}

/** POST /admin/keys with the stack's admin key; asserts 201 and the key's format and
 * returns the answer ({ id, key, ... }). */
export async function adminCreateKey(body) {
  const r = await http('/admin/keys', { key: env.adminKey, json: body });
  assert.equal(r.status, 201, `admin create: ${r.text}`);
  assert.match(r.json.key, /^aif_[0-9A-Za-z]{38}$/);
  return r.json;
}

/** POST an async chat job (Prefer: respond-async); returns the public job id. */
export async function submitAsync(content, { key = env.apiKey, priority, model = 'demo-chat', extra = {}, timeoutMs = 30000 } = {}) {
  const headers = { Prefer: 'respond-async' };
  if (priority !== undefined) headers['X-Priority'] = String(priority);
  const r = await http('/v1/chat/completions', { key, headers, json: { ...chatBody(content, extra), model }, timeoutMs });
  if (r.status !== 202 || !r.json || !JOB_ID_RE.test(r.json.id)) {
    throw new Error(`async submit: expected 202 with a job id, got ${r.status} ${r.text.slice(0, 300)}`);
  }
  return r.json.id;
}

/** GET /v1/jobs/{id}. */
export function getJob(id, key = env.apiKey) {
  return http(`/v1/jobs/${id}`, { key });
}

/** Asserts an OpenAI-shaped error body; returns body.error. */
export function errorOf(r) {
  if (!r.json || typeof r.json.error !== 'object' || r.json.error === null) {
    throw new Error(`expected an OpenAI error body, got ${r.status} ${r.headers.get('content-type')} ${r.text.slice(0, 300)}`);
  }
  const e = r.json.error;
  for (const k of ['message', 'type', 'param', 'code']) {
    if (!(k in e)) throw new Error(`error body lacks "${k}": ${r.text.slice(0, 300)}`);
  }
  if (typeof e.message !== 'string' || !e.message) throw new Error(`error.message is not a non-empty string: ${r.text.slice(0, 300)}`);
  return e;
}

// ---- mock engine ---------------------------------------------------------------------------

export async function mockStats() {
  const r = await fetch(`${env.mockURL}/_mock/stats`, { signal: AbortSignal.timeout(10000) });
  if (r.status !== 200) throw new Error(`GET /_mock/stats: ${r.status}`);
  return r.json();
}

export async function mockResetStats() {
  const r = await fetch(`${env.mockURL}/_mock/reset-stats`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(10000) });
  if (r.status !== 200) throw new Error(`POST /_mock/reset-stats: ${r.status}`);
}

/** The last n requests the mock engine received (oldest first). */
export async function mockRequests(n, pathFilter) {
  const qs = new URLSearchParams({ last: String(n) });
  if (pathFilter) qs.set('path', pathFilter);
  const r = await fetch(`${env.mockURL}/_mock/requests?${qs}`, { signal: AbortSignal.timeout(10000) });
  if (r.status !== 200) throw new Error(`GET /_mock/requests: ${r.status}`);
  return (await r.json()).requests;
}

/** The engine request that served a job (the worker sends x-request-id: <job id>), or undefined. */
export async function engineRequestOf(jobId) {
  const reqs = await mockRequests(200);
  return reqs.find((r) => r.headers && r.headers['x-request-id'] === jobId);
}

/** Chat-completion requests the mock has answered or seen (from its stats). */
export function chatRequestCount(stats) {
  return stats.requests['/v1/chat/completions'] || 0;
}

// ---- waiting and concurrency ------------------------------------------------------------------

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn() until it returns a truthy value (returned) or the deadline passes (throws). */
/** The chunks of an SDK stream, each with the ms since reading began (`at`). */
export async function collect(stream) {
  const t0 = Date.now();
  const chunks = [];
  for await (const chunk of stream) chunks.push({ at: Date.now() - t0, chunk });
  return chunks;
}

export async function waitFor(fn, { timeoutMs = 30000, intervalMs = 200, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) return last;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** Runs fn(item, index) over items with at most `limit` in flight; returns results in order. */
export async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}

/** Job states by public id, for a list of public ids: Map(public_id -> state). */
export function jobStates(publicIds) {
  const m = new Map();
  for (let i = 0; i < publicIds.length; i += 500) {
    const part = publicIds.slice(i, i + 500);
    for (const [id, st] of sql(`SELECT public_id, state FROM jobs WHERE public_id IN ${inList(part)}`)) m.set(id, st);
  }
  return m;
}

/** Counts of jobs per state among publicIds. */
export function stateCounts(publicIds) {
  const c = {};
  for (const st of jobStates(publicIds).values()) c[st] = (c[st] || 0) + 1;
  return c;
}

const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** Waits until every job of publicIds is in a final state; returns stateCounts. */
export async function waitAllFinal(publicIds, { timeoutMs = 120000, intervalMs = 500 } = {}) {
  let counts;
  await waitFor(() => {
    const states = jobStates(publicIds);
    counts = {};
    let final = 0;
    for (const st of states.values()) {
      counts[st] = (counts[st] || 0) + 1;
      if (FINAL.has(st)) final++;
    }
    return final === publicIds.length;
  }, { timeoutMs, intervalMs, what: `${publicIds.length} jobs to be final (last: ${JSON.stringify(counts)})` }).catch((e) => {
    e.message += ` ${JSON.stringify(counts)}`;
    throw e;
  });
  return counts;
}

/**
 * Waits (bounded) until no job of the stack is queued or running, so that a test's
 * engine-request counts are its own. Returns the number still busy (0 when idle).
 */
export async function waitQueueIdle({ timeoutMs = 30000 } = {}) {
  const busy = () => sqlNumber("SELECT COUNT(*) FROM jobs WHERE state IN ('queued','running')");
  try {
    await waitFor(() => busy() === 0, { timeoutMs, intervalMs: 200, what: 'an idle queue' });
    return 0;
  } catch {
    return busy();
  }
}
