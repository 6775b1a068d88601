// harness.mjs -- the machinery of the fault suite (not a test file itself): stack control
// that never blocks the event loop, a load generator of bounded concurrency that records
// every request, and a Jepsen-style checker over every job the load caused.
//
// Vocabulary (after Jepsen's queue checkers, https://jepsen.io/):
//   accepted       the gateway acknowledged the request: HTTP 2xx, or any response that
//                  names a job (x-aif-job-id, e.g. 504 job_timeout, 503 gateway_restarting)
//   refused        a definite answer without a job (503 database down, 502 api down, 4xx),
//                  or a 504 request_expired (the job did not start in time and was not run)
//   indeterminate  no answer at all (connection reset, timeout)
//   recovered      a job found in the database for a request that was not accepted
//   lost           an accepted job that is missing or not final within the bound
//   duplicated     a job with two `succeeded` events or two usage rows, or one request
//                  that produced two jobs
// Every wait is bounded; every child process has a timeout.

import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { env, REPO, OpenAI } from '../e2e/lib.mjs';

export { env, REPO, OpenAI, delay };

export const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

/** This run's id: every prompt of the suite carries fz-<RUN>-<phase>-<seq>-zf. */
export const RUN = (Date.now().toString(36).slice(-4) + Math.random().toString(36).slice(2, 6)).toLowerCase();

// ---- child processes (async: the load keeps running meanwhile) ---------------------------------

function run(file, args, { timeoutMs = 60000, env: e = process.env } = {}) {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', timeout: timeoutMs, env: e, cwd: REPO, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal ?? 1) : 0, stdout, stderr, err }));
  });
}

/**
 * The AIF_* environment aif-api was started with (/proc/<pid>/environ), so that stack.sh
 * restarts keep the stack's settings (AIF_SYNC_TIMEOUT_MS is not in stack.env).
 */
let stackEnvExtra = null;
export function captureStackEnv() {
  if (stackEnvExtra) return stackEnvExtra;
  const extra = {};
  try {
    const pid = readPid('api');
    const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
    for (const kv of raw.split('\0')) {
      const i = kv.indexOf('=');
      if (i > 0 && kv.startsWith('AIF_')) extra[kv.slice(0, i)] = kv.slice(i + 1);
    }
  } catch { /* not readable: fall back to ours */ }
  stackEnvExtra = extra;
  return extra;
}

function stackEnv() {
  return {
    ...process.env,
    ...captureStackEnv(),
    AIF_VAR_DIR: env.varDir,
    AIF_PORT: env.port,
    AIF_MOCK_PORT: env.mockPort,
    AIF_DB_NAME: env.dbName,
    AIF_CONFIG: env.config,
  };
}

/** scripts/stack.sh ARGS, asynchronously; throws with its output on failure. */
export async function stack(args, { timeoutMs = 120000 } = {}) {
  const t0 = Date.now();
  let r;
  for (;;) {
    r = await run(path.join(REPO, 'scripts', 'stack.sh'), args, { timeoutMs, env: stackEnv() });
    // A concurrent `make` removes a binary for a moment: wait for it (bounded).
    if (r.code === 0 || !/is missing: build it first/.test(r.stdout + r.stderr) || Date.now() - t0 > 60000) break;
    await delay(1000);
  }
  if (r.code !== 0) {
    throw new Error(`scripts/stack.sh ${args.join(' ')} failed (${r.code}) after ${Date.now() - t0} ms:\n${(r.stdout + r.stderr).slice(-3000)}`);
  }
  return { ms: Date.now() - t0, out: r.stdout + r.stderr };
}

/** Exit code of `stack.sh status` (0: everything runs). */
export async function stackStatus() {
  const r = await run(path.join(REPO, 'scripts', 'stack.sh'), ['status'], { timeoutMs: 30000, env: stackEnv() });
  return { code: r.code, out: r.stdout + r.stderr };
}

/** Brings back whatever a fault left down (`stack.sh up` is idempotent). */
export async function heal() {
  const s = await stackStatus();
  if (s.code === 0) return null;
  await stack(['up'], { timeoutMs: 240000 });
  return s.out;
}

export function readPid(name) {
  const f = path.join(env.varDir, 'run', `${name}.pid`);
  const pid = Number(readFileSync(f, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${f}: no pid`);
  return pid;
}

export function alive(pid) {
  try { process.kill(pid, 0); } catch { return false; }
  // a zombie counts as dead
  try { return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return false; }
}

export async function waitDead(pid, timeoutMs) {
  const end = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < end) await delay(50);
  return !alive(pid);
}

// ---- SQL (async mariadb client) --------------------------------------------------------------

export async function sql(query, { timeoutMs = 30000 } = {}) {
  const r = await run('mariadb', [`--socket=${env.dbSocket}`, env.dbName, '-N', '-B', '--connect-timeout=5', '-e', query],
    { timeoutMs });
  if (r.code !== 0) throw new Error(`SQL failed: ${query.slice(0, 300)}\n${r.stderr || r.err?.message}`);
  if (r.stdout === '') return [];
  return r.stdout.replace(/\n$/, '').split('\n').map((l) => l.split('\t').map((v) => (v === 'NULL' ? null : v)));
}

export async function sqlNumber(query) {
  const rows = await sql(query);
  return rows.length ? Number(rows[0][0]) : null;
}

export const q = (s) => "'" + String(s).replace(/\\/g, '\\\\').replace(/'/g, "\\'") + "'";

// ---- configuration values the bounds depend on ---------------------------------------------

const CONFIG_TEXT = (() => { try { return readFileSync(env.config, 'utf8'); } catch { return ''; } })();

/** A scalar of config/aif.yaml by key (first match), with ${VAR:-default} expanded. */
export function configValue(key, fallback) {
  const m = CONFIG_TEXT.match(new RegExp(`^\\s*${key}:\\s*([^#\\n]+)`, 'm'));
  if (!m) return fallback;
  const extra = captureStackEnv();
  const v = m[1].trim().replace(/\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g,
    (_, name, def) => extra[name] ?? process.env[name] ?? def ?? '');
  return v === '' ? fallback : v;
}

/** The block of one model in the config (text from "- id: X" to the next "- id:"). */
export function modelBlock(id) {
  const lines = CONFIG_TEXT.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^\\s*- id:\\s*${id}\\s*$`).test(l));
  if (start < 0) return null;
  let end = start + 1;
  while (end < lines.length && !/^\s*- id:/.test(lines[end]) && !/^[a-z_]+:/.test(lines[end])) end++;
  return lines.slice(start, end).join('\n');
}

export const SYNC_TIMEOUT_MS = Number(configValue('sync_timeout_ms', 60000));
export const LEASE_MS = Number(configValue('lease_seconds', 30)) * 1000;
export const STREAM_DISCONNECT = String(configValue('stream_disconnect', 'finish'));

// ---- clients ---------------------------------------------------------------------------------

/** SDK client: no retries (one call = at most one job), timeout past the sync timeout. */
export function sdk(apiKey) {
  return new OpenAI({ apiKey, baseURL: env.baseURL, maxRetries: 0, timeout: SYNC_TIMEOUT_MS + 20000 });
}

export async function admin(pathname, body) {
  const res = await fetch(env.origin + pathname, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { Authorization: `Bearer ${env.adminKey}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(30000),
  });
  const text = await res.text();
  let json; try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text };
}

export async function mock(pathname, method = 'GET', body) {
  const res = await fetch(env.mockURL + pathname, {
    method, headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  try { return JSON.parse(text); } catch { return text; }
}

export async function listModels() {
  const res = await fetch(`${env.baseURL}/models`, { headers: { Authorization: `Bearer ${env.apiKey}` }, signal: AbortSignal.timeout(15000) });
  if (res.status !== 200) return [];
  return ((await res.json()).data || []).map((m) => m.id);
}

// ---- the load generator ----------------------------------------------------------------------

/** Every request of the run, in order of sending. */
export const REQUESTS = [];
let seq = 0;

/**
 * One request, recorded: {seq, tag, phase, lane, kind, key, model, t0, t1, ms, status,
 * jobId, code, err, chunks, done}. kind: sync | async | stream.
 */
export async function request(phase, lane, keys) {
  const s = ++seq;
  const tag = `fz-${RUN}-${phase}-${s.toString(36)}-zf`;
  const rec = {
    seq: s, tag, phase, lane: lane.name, kind: lane.kind, key: lane.key, model: lane.model || 'demo-chat',
    t0: Date.now(), t1: null, ms: null, status: null, jobId: null, code: null, err: null, chunks: 0, done: false,
  };
  REQUESTS.push(rec);
  const client = keys[lane.key].client;
  const body = {
    model: rec.model,
    messages: [{ role: 'user', content: `${tag} ${lane.directive || ''}`.trim() }],
    max_tokens: lane.maxTokens || 8,
  };
  try {
    if (lane.kind === 'stream') {
      const { data: stream, response } = await client.chat.completions.create({ ...body, stream: true }).withResponse();
      rec.status = response.status;
      rec.jobId = response.headers.get('x-aif-job-id');
      for await (const chunk of stream) {
        void chunk;
        rec.chunks++;
        if (lane.abortAfter && rec.chunks >= lane.abortAfter) {
          rec.aborted = true;
          stream.controller.abort();
          break;
        }
      }
      if (!rec.aborted) rec.streamComplete = true;
    } else {
      const opts = lane.kind === 'async' ? { headers: { Prefer: 'respond-async' } } : {};
      const { data, response } = await client.chat.completions.create(body, opts).withResponse();
      rec.status = response.status;
      rec.jobId = response.headers.get('x-aif-job-id') || (lane.kind === 'async' ? data?.id : null);
    }
  } catch (e) {
    if (e instanceof OpenAI.APIUserAbortError && rec.aborted) {
      // our own abort of a stream
    } else if (e instanceof OpenAI.APIError && e.status) {
      rec.status = e.status;
      rec.code = e.code ?? e.error?.code ?? null;
      rec.jobId = rec.jobId || e.headers?.get?.('x-aif-job-id') || null;
      rec.err = String(e.message).slice(0, 200);
    } else {
      // connection error, timeout, or an error in the middle of a stream
      rec.err = `${e.constructor?.name || 'Error'}: ${String(e.message).slice(0, 200)}`;
      rec.conn = !rec.status;
      if (rec.status && !rec.aborted) rec.streamBroken = true;
    }
  }
  rec.t1 = Date.now();
  rec.ms = rec.t1 - rec.t0;
  rec.done = true;
  return rec;
}

// A 504 request_expired names its job but says it was not run (its deadline passed
// before any attempt started): a definite refusal, not an acceptance.
export const accepted = (r) => (!!r.jobId && r.code !== 'request_expired') ||
  (r.status >= 200 && r.status < 300);

/**
 * Lanes of the steady load: `n` lanes of each spec, each sending one request at a time
 * (async lanes pause `pauseMs` between submits so that they do not flood the queue).
 */
export function lanes(...specs) {
  const out = [];
  for (const s of specs) {
    for (let i = 0; i < (s.n || 1); i++) out.push({ ...s, name: `${s.kind}-${s.key}-${out.length}` });
  }
  return out;
}

/** The default steady load: 12 lanes, 7 sync and 5 async, a third on the budget key. */
export function steadyLanes(directive = '[[mock:latency=300]]') {
  return lanes(
    { kind: 'sync', key: 'demo', n: 5, directive },
    { kind: 'sync', key: 'budget', n: 2, directive },
    { kind: 'async', key: 'demo', n: 3, directive, pauseMs: 150 },
    { kind: 'async', key: 'budget', n: 2, directive, pauseMs: 150 },
  );
}

export class Load {
  constructor(phase, laneList, keys) {
    this.phase = phase;
    this.lanes = laneList;
    this.keys = keys;
    this.stopped = false;
    this.running = [];
  }

  start() {
    this.t0 = Date.now();
    this.running = this.lanes.map(async (lane) => {
      while (!this.stopped) {
        const r = await request(this.phase, lane, this.keys);
        const failed = !(r.status >= 200 && r.status < 300);
        const pause = (lane.pauseMs || 0) + (failed ? 200 : 0);
        if (pause && !this.stopped) await delay(pause);
      }
    });
    return this;
  }

  /** Stops sending; waits (bounded) for the requests in flight. Returns those still pending. */
  async stop(boundMs = SYNC_TIMEOUT_MS + 25000) {
    this.stopped = true;
    const all = Promise.all(this.running);
    await Promise.race([all, delay(boundMs)]);
    this.t1 = Date.now();
    return REQUESTS.filter((r) => r.phase === this.phase && !r.done);
  }
}

/** n async submits at once (no concurrency limit), recorded like the load's. */
export async function burst(phase, n, keys, { key = 'demo', directive = '', model } = {}) {
  const lane = { kind: 'async', key, directive, model, name: `burst-${key}` };
  return Promise.all(Array.from({ length: n }, () => request(phase, lane, keys)));
}

// ---- the checker -----------------------------------------------------------------------------

const JOB_COLS = ['id', 'public_id', 'state', 'attempts', 'max_attempts', 'budget_state', 'api_key_id',
  'error_code', 'model', 'succeeded_ev', 'claimed_ev', 'lease_expired_ev', 'disconnect_ev', 'usage_rows',
  'usage_cost', 'holds', 'captures', 'releases', 'captured_micros', 'tag', 'hold_micros'];

function jobQuery(where) {
  return `SELECT j.id, j.public_id, j.state, j.attempts, j.max_attempts, j.budget_state, j.api_key_id,
      j.error_code, j.model,
      (SELECT COUNT(*) FROM job_timeline e WHERE e.job_id = j.id AND e.event = 'succeeded'),
      (SELECT COUNT(*) FROM job_timeline e WHERE e.job_id = j.id AND e.event = 'claimed'),
      (SELECT COUNT(*) FROM job_timeline e WHERE e.job_id = j.id AND e.event = 'lease_expired'),
      (SELECT COUNT(*) FROM job_timeline e WHERE e.job_id = j.id AND e.event = 'client_disconnected'),
      (SELECT COUNT(*) FROM \`usage\` u WHERE u.job_id = j.id),
      (SELECT COALESCE(SUM(u.cost_micros), 0) FROM \`usage\` u WHERE u.job_id = j.id),
      (SELECT COUNT(*) FROM budget_ledger l WHERE l.job_id = j.id AND l.entry = 'hold'),
      (SELECT COUNT(*) FROM budget_ledger l WHERE l.job_id = j.id AND l.entry = 'capture'),
      (SELECT COUNT(*) FROM budget_ledger l WHERE l.job_id = j.id AND l.entry = 'release'),
      (SELECT COALESCE(SUM(l.amount_micros), 0) FROM budget_ledger l WHERE l.job_id = j.id AND l.entry = 'capture'),
      REGEXP_SUBSTR(j.request_body, 'fz-[a-z0-9]+-[a-z0-9]+-[a-z0-9]+-zf'), j.budget_hold_micros
    FROM jobs j WHERE ${where}`;
}

const NUMERIC = new Set(['id', 'attempts', 'max_attempts', 'api_key_id', 'succeeded_ev', 'claimed_ev',
  'lease_expired_ev', 'disconnect_ev', 'usage_rows', 'usage_cost', 'holds', 'captures', 'releases', 'captured_micros']);

function toJob(row) {
  const o = {};
  JOB_COLS.forEach((c, i) => { o[c] = NUMERIC.has(c) ? Number(row[i]) : row[i]; });
  return o;
}

/** Where-clause of the jobs of a phase (or of the whole run: phase = null). */
function phaseWhere(phase, minId, jobIds) {
  const like = `j.request_body LIKE ${q(`%fz-${RUN}-${phase === null ? '' : phase + '-'}%`)}`;
  const byId = jobIds.length ? ` OR j.public_id IN (${jobIds.map(q).join(',')})` : '';
  return `j.id > ${Number(minId)} AND (${like}${byId})`;
}

export async function maxJobId() {
  return (await sqlNumber('SELECT COALESCE(MAX(id), 0) FROM jobs')) || 0;
}

/** Every job of a phase (tagged with it, or named by one of its responses). */
export async function phaseJobs(phase, minId, records) {
  const ids = [...new Set(records.filter((r) => r.jobId).map((r) => r.jobId))];
  const rows = [];
  // the id list can be long: query it in parts, the LIKE part once
  rows.push(...await sql(jobQuery(phaseWhere(phase, minId, []))));
  for (let i = 0; i < ids.length; i += 400) {
    rows.push(...await sql(jobQuery(`j.public_id IN (${ids.slice(i, i + 400).map(q).join(',')})`)));
  }
  const byId = new Map();
  for (const r of rows) { const j = toJob(r); byId.set(j.public_id, j); }
  return [...byId.values()];
}

/** Waits (bounded) until every accepted job exists and every job of the phase is final. */
export async function settle(phase, minId, records, boundMs) {
  const t0 = Date.now();
  const want = new Set(records.filter((r) => r.jobId).map((r) => r.jobId));
  let jobs = [];
  for (;;) {
    jobs = await phaseJobs(phase, minId, records);
    const have = new Set(jobs.map((j) => j.public_id));
    const missing = [...want].filter((id) => !have.has(id)).length;
    const open = jobs.filter((j) => !FINAL.has(j.state)).length;
    if ((missing === 0 && open === 0) || Date.now() - t0 >= boundMs) {
      return { jobs, settleMs: Date.now() - t0, settled: missing === 0 && open === 0 };
    }
    await delay(open > 50 ? 500 : 1000);
  }
}

/**
 * The invariants over the jobs of a phase and the requests that caused them. Returns
 * {row (for the table), violations: [string], notes: [string]}.
 */
export function check(phase, label, records, jobs, { budgetKeyId, fault = '', injected = '', extraViolations = [], notes = [] } = {}) {
  const v = [...extraViolations];
  const byPublic = new Map(jobs.map((j) => [j.public_id, j]));
  const byTag = new Map();
  for (const j of jobs) {
    if (!j.tag) continue;
    if (!byTag.has(j.tag)) byTag.set(j.tag, []);
    byTag.get(j.tag).push(j);
  }
  const acc = records.filter(accepted);
  const refused = records.filter((r) => !accepted(r) && r.status);
  const indet = records.filter((r) => !accepted(r) && !r.status);

  // lost: accepted, but no row, or no final state within the bound
  const lost = [];
  for (const r of acc) {
    const j = r.jobId ? byPublic.get(r.jobId) : (byTag.get(r.tag) || [])[0];
    if (!j) lost.push(`${r.tag} (${r.kind} ${r.status}, job ${r.jobId}): no job row`);
    else if (!FINAL.has(j.state)) lost.push(`${r.tag} job ${j.public_id}: still '${j.state}' (attempts ${j.attempts}/${j.max_attempts}, budget ${j.budget_state})`);
  }
  // recovered: jobs of requests that were not accepted
  const accTags = new Set(acc.map((r) => r.tag));
  const accIds = new Set(acc.filter((r) => r.jobId).map((r) => r.jobId));
  const recovered = jobs.filter((j) => !accIds.has(j.public_id) && !(j.tag && accTags.has(j.tag)));
  const stuck = jobs.filter((j) => !FINAL.has(j.state));
  for (const j of recovered.filter((x) => !FINAL.has(x.state))) {
    lost.push(`${j.tag} job ${j.public_id} (unacknowledged request): still '${j.state}'`);
  }
  const sentTags = new Set(records.map((r) => r.tag));
  const unexpected = jobs.filter((j) => j.tag && !sentTags.has(j.tag));

  // duplicates
  const dups = [];
  for (const j of jobs) {
    if (j.succeeded_ev > 1) dups.push(`${j.public_id}: ${j.succeeded_ev} 'succeeded' events`);
    if (j.usage_rows > 1) dups.push(`${j.public_id}: ${j.usage_rows} usage rows`);
  }
  for (const [tag, js] of byTag) {
    if (js.length > 1) dups.push(`request ${tag} made ${js.length} jobs: ${js.map((j) => j.public_id).join(' ')}`);
  }
  // exactly one final state, consistent with events and billing; grouped by kind
  const groups = new Map();
  const bad = (kind, example) => {
    if (!groups.has(kind)) groups.set(kind, []);
    groups.get(kind).push(example);
  };
  for (const j of jobs.filter((x) => FINAL.has(x.state))) {
    const ok = j.state === 'succeeded';
    const desc = `${j.public_id} (${j.model}, ${j.state}, ${j.error_code || 'no error'}, budget ${j.budget_state})`;
    if (j.succeeded_ev !== (ok ? 1 : 0)) bad(`${j.state} job with ${j.succeeded_ev} 'succeeded' events`, desc);
    if (j.usage_rows !== (ok ? 1 : 0)) bad(`${j.state} job with ${j.usage_rows} usage rows (want ${ok ? 1 : 0})`, desc);
    if (j.budget_state === 'held') bad(`final (${j.state}) job whose budget_state is still 'held'`, desc);
    if (budgetKeyId && j.api_key_id === budgetKeyId && Number(j.hold_micros) === 0) {
      // a model without a price (demo-timeout): nothing to hold, so nothing to settle
      if (j.budget_state !== 'none') bad(`${j.state} budget-key job of a free model with budget_state '${j.budget_state}' (want none)`, desc);
      if (j.holds + j.captures + j.releases !== 0) bad('budget-key job of a free model with budget_ledger rows', desc);
    } else if (budgetKeyId && j.api_key_id === budgetKeyId) {
      const want = ok ? 'captured' : 'released';
      if (j.budget_state !== want && j.budget_state !== 'held') bad(`${j.state} budget-key job with budget_state '${j.budget_state}' (want ${want})`, desc);
      if (j.holds < 1) bad('budget-key job without a hold in budget_ledger', desc);
      if (j.releases !== j.holds) bad(`${j.state} budget-key job with ${j.holds} hold(s) and ${j.releases} release(s) in budget_ledger`, desc);
      if (j.captures !== (ok ? j.holds : 0)) bad(`${j.state} budget-key job with ${j.captures} capture(s) for ${j.holds} hold(s)`, desc);
      if (ok && j.captured_micros !== j.usage_cost * j.holds) bad('captured amount differs from the usage cost', `${desc}: captured ${j.captured_micros} µ, usage ${j.usage_cost} µ`);
    }
  }
  // what the clients saw agrees with the rows
  for (const r of records) {
    const j = r.jobId ? byPublic.get(r.jobId) : null;
    if (r.kind === 'sync' && r.status === 200 && j && j.state !== 'succeeded') bad('sync 200 whose job did not succeed', `${r.tag} ${j.public_id} ${j.state}`);
    if (r.kind === 'stream' && r.streamComplete && j && j.state !== 'succeeded') bad('complete stream whose job did not succeed', `${r.tag} ${j.public_id} ${j.state}`);
    if (r.status >= 200 && r.status < 300 && !r.jobId) bad('2xx answer without x-aif-job-id', `${r.tag} ${r.kind} ${r.status}`);
    if (!r.done) bad('request that never returned', `${r.tag} ${r.kind} sent ${new Date(r.t0).toISOString()}`);
  }
  for (const j of unexpected) bad('job whose tag was never sent', `${j.public_id} ${j.tag}`);
  for (const l of lost) bad('LOST: accepted job missing or not final within the bound', l);
  for (const d of dups) bad('DUPLICATED', d);
  for (const [kind, ex] of groups) v.push(`${kind}: ${ex.length} -- e.g. ${ex.slice(0, 4).join('; ')}`);

  const states = { succeeded: 0, failed: 0, cancelled: 0 };
  for (const j of jobs) if (FINAL.has(j.state)) states[j.state]++;
  const row = {
    phase, label, fault, injected,
    sent: records.length, accepted: acc.length, refused: refused.length, indeterminate: indet.length,
    recovered: recovered.length, jobs: jobs.length,
    ...states, open: stuck.length, lost: lost.length, duplicated: dups.length,
    reclaimed: jobs.filter((j) => j.claimed_ev > 1).length,
    lease_expired: jobs.reduce((s, j) => s + j.lease_expired_ev, 0),
    violations: v.length,
  };
  return { row, violations: v, notes };
}

/** Requests by outcome, for diagnostics: {"200": n, "503 gateway_restarting": n, "conn": n}. */
export function outcomes(records) {
  const c = {};
  for (const r of records) {
    const k = r.status ? `${r.status}${r.code ? ' ' + r.code : ''}` : (r.done ? 'conn' : 'pending');
    c[k] = (c[k] || 0) + 1;
  }
  return c;
}

// ---- the table -------------------------------------------------------------------------------

export function table(rows) {
  const cols = [
    ['fault', (r) => r.label], ['sent', (r) => r.sent], ['accepted', (r) => r.accepted],
    ['refused', (r) => r.refused], ['indet.', (r) => r.indeterminate], ['recovered', (r) => r.recovered],
    ['injected', (r) => r.injected], ['succeeded', (r) => r.succeeded], ['failed', (r) => r.failed],
    ['cancelled', (r) => r.cancelled], ['re-run', (r) => r.reclaimed], ['lost', (r) => r.lost],
    ['dup', (r) => r.duplicated], ['violations', (r) => r.violations],
  ];
  const cells = rows.map((r) => cols.map(([, f]) => String(f(r))));
  const w = cols.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (vals) => '| ' + vals.map((x, i) => (i === 0 || i === 6 ? x.padEnd(w[i]) : x.padStart(w[i]))).join(' | ') + ' |';
  const left = (i) => i === 0 || i === 6;
  const sep = '|' + w.map((n, i) => (left(i) ? ':' + '-'.repeat(n + 1) : '-'.repeat(n + 1) + ':')).join('|') + '|';
  return [line(cols.map(([h]) => h)), sep, ...cells.map(line)].join('\n');
}

export function writeReport(file, data) {
  try { writeFileSync(file, JSON.stringify(data, null, 1)); return file; } catch { return null; }
}

