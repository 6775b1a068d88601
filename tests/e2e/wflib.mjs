// wflib.mjs -- helpers of the workflow tests (workflows*.test.mjs; not a test file itself):
// the mock HTTP service (tests/mock-http) the workflows' http steps call, starting runs
// and waiting for them, the stack's pids, reloads and aifctl.
//
// The mock HTTP service is AIF_MOCK_HTTP_URL / AIF_MOCK_HTTP_PORT of stack.env (written by
// scripts/stack.sh); without them, port AIF_MOCK_PORT + 89 (what stack.sh uses).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { env, http, waitFor, sleep, REPO, BIN, JOB_ID_RE } from './lib.mjs';

export const MOCK_HTTP = (process.env.AIF_MOCK_HTTP_URL ||
  `http://127.0.0.1:${process.env.AIF_MOCK_HTTP_PORT || Number(env.mockPort) + 89}`).replace(/\/+$/, '');

export const FINAL = new Set(['succeeded', 'failed', 'cancelled']);

// ---- the mock HTTP service ---------------------------------------------------------------------

async function mh(pathname, method = 'GET', body) {
  const r = await fetch(MOCK_HTTP + pathname, {
    method, headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(10000),
  });
  const text = await r.text();
  if (r.status !== 200) throw new Error(`mock-http ${method} ${pathname}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

/** Forgets the calls and restores the default settings of the mock HTTP service. */
export const mhReset = () => mh('/_reset', 'POST', {});
/** Changes settings of the mock HTTP service (fulfil_status, slow_ms, ...: its README). */
export const mhConfig = (settings) => mh('/_config', 'POST', settings);
/** The recorded calls (oldest first), filtered by { path, job (X-AIF-Job), key }. */
export async function mhCalls({ path: p, job, key } = {}) {
  const qs = new URLSearchParams();
  if (p) qs.set('path', p);
  if (job) qs.set('job', job);
  if (key) qs.set('key', key);
  return (await mh(`/_calls?${qs}`)).calls;
}

/**
 * The calls a run made: those that name it in X-AIF-Job or whose Idempotency-Key starts
 * with "<job>:" (the runtime sends both; either is enough to attribute a call).
 */
export async function callsOfRun(jobId) {
  const all = await mhCalls();
  return all.filter((c) => c.job === jobId || (c.idempotency_key || '').startsWith(`${jobId}:`));
}

// ---- runs ------------------------------------------------------------------------------------------

/** POST /v1/workflows/{name}/runs {input}; asserts 202 with a job object; returns it. */
export async function startRun(name, input, { key = env.apiKey, headers = {} } = {}) {
  const r = await http(`/v1/workflows/${encodeURIComponent(name)}/runs`, { key, json: { input }, headers });
  assert.equal(r.status, 202, `start ${name}: ${r.status} ${r.text.slice(0, 300)}`);
  assert.match(r.json.id, JOB_ID_RE);
  return r.json;
}

/** A chat call of a workflow with Prefer: respond-async; returns the job id. */
export async function chatAsync(workflow, content, { key = env.apiKey } = {}) {
  const r = await http('/v1/chat/completions', {
    key, headers: { Prefer: 'respond-async' },
    json: { model: workflow, messages: [{ role: 'user', content }] },
  });
  assert.equal(r.status, 202, `async ${workflow}: ${r.status} ${r.text.slice(0, 300)}`);
  assert.match(r.json.id, JOB_ID_RE);
  assert.equal(r.json.model, workflow);
  return r.json.id;
}

/** GET /v1/jobs/{id} (asserts 200); the job object. */
export async function job(id, key = env.apiKey) {
  const r = await http(`/v1/jobs/${id}`, { key });
  assert.equal(r.status, 200, `GET /v1/jobs/${id}: ${r.status} ${r.text.slice(0, 300)}`);
  return r.json;
}

/** Polls the job until pred(job) holds; returns the job. */
export async function waitJob(id, pred, { key = env.apiKey, timeoutMs = 60000, what = 'a state' } = {}) {
  let last;
  try {
    return await waitFor(async () => { last = await job(id, key); return pred(last) ? last : null; },
      { timeoutMs, intervalMs: 150, what: `job ${id}: ${what}` });
  } catch (e) {
    e.message += `; last: ${JSON.stringify(last).slice(0, 1500)}`;
    throw e;
  }
}

export const waitFinal = (id, opts = {}) => waitJob(id, (j) => FINAL.has(j.status), { what: 'final', ...opts });

/** Waits until the run waits at step `name` (its current step; state waiting or waiting_for set). */
export const waitAtStep = (id, name, opts = {}) => waitJob(id, (j) => {
  if (FINAL.has(j.status)) throw new Error(`job ${id} ended ${j.status} before waiting at ${name}: ${JSON.stringify(j).slice(0, 1000)}`);
  const s = stepOf(j, name);
  // waiting: the step's state says so, or it names what it waits for
  return j.workflow && j.workflow.current_step === name && s && (s.state === 'waiting' || !!s.waiting_for);
}, { what: `waiting at ${name}`, ...opts });

/** One step of the job's workflow view, or undefined. */
export function stepOf(j, name) {
  assert.ok(j.workflow && Array.isArray(j.workflow.steps), `job ${j.id} has no workflow.steps: ${JSON.stringify(j).slice(0, 500)}`);
  return j.workflow.steps.find((s) => s.name === name);
}

/**
 * The output JSON of a finished run: the job's "output", or (as the runtime answers a
 * run started through /runs) its response {"object": "workflow.run", "output": ...}.
 */
export function outputOf(j) {
  if (j.output !== undefined) return j.output;
  const r = j.response;
  return r && r.object === 'workflow.run' ? r.output : undefined;
}

/** The answer text of a finished run: the chat answer, or the run's output text. */
export function answerOf(j) {
  const r = j.response;
  if (r && Array.isArray(r.choices) && r.choices[0]) return r.choices[0].message?.content ?? r.choices[0].text;
  const o = outputOf(j);
  if (typeof o === 'string') return o;
  if (o && typeof o.text === 'string') return o.text;
  return undefined;
}

/**
 * Asserts that run j failed for good at `step`: state failed, error code
 * workflow_step_failed, a message naming the step, the step failed. The check of
 * error.step is pushed to `deferred` (run them at the end of the test, so that one
 * missing field does not hide the test's other checks).
 */
export function assertFailedAt(j, step, deferred) {
  assert.equal(j.status, 'failed', `job ${j.id}: ${JSON.stringify(j.error)}`);
  assert.equal(j.error.code, 'workflow_step_failed');
  assert.match(j.error.message, new RegExp(`'${step}'`), 'the message names the step');
  assert.equal(stepOf(j, step).state, 'failed');
  deferred.push(() => assert.equal(j.error.step, step, `error.step names the failing step (job ${j.id}: ${JSON.stringify(j.error)})`));
}

/** POST /v1/jobs/{id}/signal. */
export const signal = (id, name, payload, key = env.apiKey) =>
  http(`/v1/jobs/${id}/signal`, { key, json: { name, payload } });

// ---- the stack -------------------------------------------------------------------------------------

export function pidsOf(re) {
  const run = path.join(env.varDir, 'run');
  return fs.readdirSync(run).filter((f) => re.test(f))
    .map((f) => Number(fs.readFileSync(path.join(run, f), 'utf8').trim())).filter((p) => p > 0);
}

export function alive(pid) {
  try { process.kill(pid, 0); } catch { return false; }
  try { return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return false; }
}

export async function waitDead(pid, timeoutMs = 10000) {
  const end = Date.now() + timeoutMs;
  while (alive(pid) && Date.now() < end) await sleep(50);
  return !alive(pid);
}

const logPath = (name) => path.join(env.varDir, 'log', name);
function logText(name) { try { return fs.readFileSync(logPath(name), 'utf8'); } catch { return ''; } }
const count = (s, re) => (s.match(new RegExp(re.source, 'g')) || []).length;

/**
 * SIGHUP to every aif-api and worker; waits until every aif-api logged "config reloaded"
 * and every worker "worker started" once more than before: a worker reloads by draining
 * and re-executing itself, and until the new image has set its signal handlers another
 * SIGHUP would end it.
 */
export async function reloadStack() {
  const apiLogs = fs.readdirSync(path.join(env.varDir, 'log')).filter((f) => /^api(-\d+)?\.log$/.test(f));
  const workerIds = fs.readdirSync(path.join(env.varDir, 'run')).map((f) => /^worker-(\d+)\.pid$/.exec(f)).filter(Boolean).map((m) => m[1]);
  const API_RE = /config reloaded/;
  const W_RE = /msg="worker started"/;
  const before = new Map([...apiLogs.map((f) => [f, count(logText(f), API_RE)]),
    ...workerIds.map((w) => [`worker-${w}.log`, count(logText(`worker-${w}.log`), W_RE)])]);
  for (const p of pidsOf(/^(api(-\d+)?|worker-\d+)\.pid$/)) { try { process.kill(p, 'SIGHUP'); } catch { /* gone */ } }
  await waitFor(() => [...before].every(([f, n]) => count(logText(f), f.startsWith('api') ? API_RE : W_RE) > n),
    { timeoutMs: 30000, intervalMs: 100, what: `the reload in ${[...before.keys()].join(', ')}` });
}

/** bin/aifctl ARGS: { status, stdout, stderr } (never throws on a non-zero exit). */
export function aifctl(args, extraEnv = {}) {
  const r = spawnSync(path.join(BIN, 'aifctl'), args, {
    encoding: 'utf8', timeout: 30000, cwd: REPO,
    env: { ...process.env, AIF_VAR_DIR: env.varDir, AIF_CONFIG: env.config, ...extraEnv },
  });
  return { status: r.status, stdout: r.stdout || '', stderr: r.stderr || '' };
}

// ---- the workflow definitions -----------------------------------------------------------------------

/**
 * The stack's config text with a `workflows:` section: the stack's own when it has one,
 * else the stack's config with config/workflows.example.yaml appended (the section lived
 * there until the loader knew the key).
 */
export function configWithWorkflows() {
  const text = fs.readFileSync(env.config, 'utf8');
  if (/^workflows:/m.test(text)) return text;
  return text.replace(/\n*$/, '\n\n') + fs.readFileSync(path.join(REPO, 'config', 'workflows.example.yaml'), 'utf8');
}
