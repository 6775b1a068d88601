// workflows-durable.test.mjs -- issue 12, durable execution of workflows: kill -9 of the
// worker in the middle of step 2 resumes at step 2 (step 1's endpoint called exactly
// once); a signal sent while the workers are down, and one sent after they restarted; a
// signal that arrives before the run reaches its wait; a wait's timeout going to a named
// step; a durable timer that falls due while no worker runs; a reload in the middle of a
// run (the run keeps its definition, new runs take the new one; an invalid reload is
// refused with its position). The workflows are the demo-wf-* fixtures of
// config/aif.yaml; their http steps call tests/mock-http.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  env, uniq, mockStats, waitQueueIdle, waitFor, sleep, stopWorker, stopWorkers, startWorker,
} from './lib.mjs';
import {
  MOCK_HTTP, mhReset, mhConfig, callsOfRun, startRun, chatAsync, job, waitFinal, waitAtStep, stepOf,
  answerOf, outputOf, signal, pidsOf, alive, waitDead, reloadStack, FINAL,
} from './wflib.mjs';

// kill -9 leaves the job to the lease (queue.lease_seconds, 30 s here) before another
// claim resumes it.
const T = { timeout: 180000 };
const paths = (calls) => calls.map((c) => c.path);

/** Both workers of the stack run (idempotent: start-worker skips a running one). */
function workersUp() {
  startWorker(1);
  startWorker(2);
}

before(async () => {
  const r = await fetch(`${MOCK_HTTP}/health`, { signal: AbortSignal.timeout(5000) }).catch((e) => e);
  assert.ok(r && r.status === 200, `the mock HTTP service answers on ${MOCK_HTTP} (scripts/stack.sh starts it): ${r}`);
  await mhReset();
});
after(async () => {
  workersUp();
  await mhReset().catch(() => {});
}, { timeout: 120000 });

test('kill -9 of the worker during step 2 resumes at step 2; step 1\'s endpoint was called exactly once', T, async () => {
  await mhReset();
  await mhConfig({ slow_ms: 6000 });
  await waitQueueIdle();
  stopWorker(2);	// one worker: the one we kill holds the run
  try {
    const s0 = await mockStats();
    const id = await chatAsync('demo-wf-slow', `kill test ${uniq('k')}`);
    await waitFor(async () => paths(await callsOfRun(id)).includes('/slow'), { timeoutMs: 30000, what: 'step 2 to call /slow' });
    const [pid] = pidsOf(/^worker-1\.pid$/);
    assert.ok(pid && alive(pid), 'worker 1 runs');
    process.kill(pid, 'SIGKILL');
    assert.ok(await waitDead(pid, 5000), 'worker 1 died');
    const mid = await job(id);
    assert.ok(!FINAL.has(mid.status), `the run is not final after the kill: ${mid.status}`);
    assert.equal(stepOf(mid, 'first').state, 'succeeded', 'step 1 was recorded before the kill');
    startWorker(1);
    const j = await waitFinal(id, { timeoutMs: 150000 });
    assert.equal(j.status, 'succeeded', JSON.stringify(j.error));
    assert.match(answerOf(j), /^Mock answer to: done after 6000 ms kill test/, 'step 3 saw step 2\'s output');
    const calls = await callsOfRun(id);
    const first = calls.filter((c) => c.path === '/echo');
    const second = calls.filter((c) => c.path === '/slow');
    assert.equal(first.length, 1, 'step 1 is never run again');
    assert.equal(first[0].idempotency_key, `${id}:first`);
    assert.ok(second.length >= 2, `step 2 ran again after the crash (${second.length} calls)`);
    assert.ok(second.every((c) => c.idempotency_key === `${id}:second`), 'with the same Idempotency-Key');
    assert.ok(first[0].seq < second[0].seq);
    assert.equal(stepOf(j, 'first').attempts, 1);
    assert.ok(stepOf(j, 'second').attempts >= 2, `step 2 attempts: ${stepOf(j, 'second').attempts}`);
    assert.equal(stepOf(j, 'third').attempts, 1);
    const s1 = await mockStats();
    assert.equal((s1.by_model['mock-qwen-0.5b'] || 0) - (s0.by_model['mock-qwen-0.5b'] || 0), 1, 'step 3\'s model ran once');
  } finally {
    workersUp();
    await mhConfig({ slow_ms: 3000 });
  }
});

test('a signal sent while the workers are down is delivered after they restart', T, async () => {
  const id = await chatAsync('demo-approval', `restart before ${uniq('sb')}`);
  await waitAtStep(id, 'approval');
  stopWorkers();
  try {
    const s = await signal(id, 'approval', { approved: true, note: 'while down' });
    assert.equal(s.status, 202, s.text);
    assert.equal(s.json.accepted, true);
    await sleep(1000);
    assert.ok(!FINAL.has((await job(id)).status), 'nothing runs without workers');
  } finally {
    workersUp();
  }
  const j = await waitFinal(id);
  assert.equal(j.status, 'succeeded', JSON.stringify(j.error));
  assert.match(answerOf(j), /^Mock answer to: Finalise this draft while down Mock answer to Draft/);
});

test('a run waiting for a signal survives a restart of the workers; the signal after it continues it', T, async () => {
  await waitQueueIdle();
  const s0 = await mockStats();
  const id = await chatAsync('demo-approval', `restart after ${uniq('sa')}`);
  await waitAtStep(id, 'approval');
  stopWorkers();
  workersUp();
  await sleep(1000);
  const w = await waitAtStep(id, 'approval');
  assert.equal(stepOf(w, 'draft').attempts, 1, 'the draft is not made again');
  const s = await signal(id, 'approval', { approved: true, note: 'after restart' });
  assert.equal(s.status, 202, s.text);
  const j = await waitFinal(id);
  assert.equal(j.status, 'succeeded', JSON.stringify(j.error));
  assert.match(answerOf(j), /^Mock answer to: Finalise this draft after restart/);
  const s1 = await mockStats();
  assert.equal((s1.by_model['mock-llama-3-8b'] || 0) - (s0.by_model['mock-llama-3-8b'] || 0), 2, 'draft and finalise, once each');
});

test('a signal that arrives before the run reaches its wait is kept until the wait takes it', T, async () => {
  await mhReset();
  await mhConfig({ slow_ms: 3000 });
  const run = await startRun('demo-wf-signal', { text: 'early' });
  await waitFor(async () => paths(await callsOfRun(run.id)).includes('/slow'), { timeoutMs: 30000, what: 'step 1 to run' });
  const s = await signal(run.id, 'go', { n: 1, who: 'early bird' });
  assert.equal(s.status, 202, s.text);
  const j = await waitFinal(run.id);
  assert.equal(j.status, 'succeeded', JSON.stringify(j.error));
  assert.deepEqual(outputOf(j), { got: { n: 1, who: 'early bird' } });
  const late = stepOf(j, 'late');
  assert.ok(!late || late.state !== 'succeeded', 'the timeout path did not run');
});

test('a wait\'s timeout goes to its on_timeout step', T, async () => {
  await mhReset();
  await mhConfig({ slow_ms: 100 });
  try {
    const run = await startRun('demo-wf-signal', { text: 'nobody signals' });
    const j = await waitFinal(run.id, { timeoutMs: 60000 });
    assert.equal(j.status, 'succeeded', JSON.stringify(j.error));
    assert.equal(answerOf(j), 'no signal within the timeout (true)');
    assert.equal(stepOf(j, 'late').state, 'succeeded');
    assert.equal((await signal(run.id, 'go', {})).status, 409, 'too late: the run is final');
  } finally {
    await mhConfig({ slow_ms: 3000 });
  }
});

test('a durable timer fires after a restart of the workers (and never early)', T, async () => {
  await mhReset();
  const run = await startRun('demo-wf-timer', {});
  await waitFor(async () => paths(await callsOfRun(run.id)).includes('/any/timer-before'), { timeoutMs: 30000, what: 'the first step' });
  stopWorkers();
  try {
    await sleep(5000);	// the 4 s timer falls due while no worker runs
    assert.deepEqual(paths(await callsOfRun(run.id)), ['/any/timer-before'], 'nothing after the timer yet');
    assert.ok(!FINAL.has((await job(run.id)).status));
  } finally {
    workersUp();
  }
  const j = await waitFinal(run.id);
  assert.equal(j.status, 'succeeded', JSON.stringify(j.error));
  assert.deepEqual(outputOf(j), { slept: true, after: 200 });
  const calls = await callsOfRun(run.id);
  assert.deepEqual(paths(calls), ['/any/timer-before', '/any/timer-after'], 'each side exactly once');
  assert.ok(calls[1].time - calls[0].time >= 4000, 'the timer held for its 4 s');
  // without a restart too
  const r2 = await startRun('demo-wf-timer', {});
  const j2 = await waitFinal(r2.id);
  assert.equal(j2.status, 'succeeded');
  const c2 = await callsOfRun(r2.id);
  assert.deepEqual(paths(c2), ['/any/timer-before', '/any/timer-after']);
  assert.ok(c2[1].time - c2[0].time >= 4000, `fired after ${c2[1].time - c2[0].time} ms`);
  assert.equal(stepOf(j2, 'nap').state, 'succeeded');
});

// ---- reloads ---------------------------------------------------------------------------------------

let original;
async function restoreConfig() {
  if (original === undefined) return;
  fs.writeFileSync(env.config, original);
  original = undefined;
  await reloadStack();
}
after(restoreConfig, { timeout: 60000 });

test('a reload in the middle of a run: the run keeps its definition, new runs take the new one', T, async () => {
  await mhReset();
  const text = fs.readFileSync(env.config, 'utf8');
  assert.equal(text.split('/any/reload-v1').length, 2, 'the stack\'s config has demo-wf-reload with /any/reload-v1 once');
  const a = await startRun('demo-wf-reload', { n: 'a' });
  await waitAtStep(a.id, 'gate');
  original = text;
  try {
    fs.writeFileSync(env.config, text.replace('/any/reload-v1', '/any/reload-v2'));
    await reloadStack();
    const b = await startRun('demo-wf-reload', { n: 'b' });
    await waitAtStep(b.id, 'gate');
    await waitAtStep(a.id, 'gate');
    for (const id of [a.id, b.id]) assert.equal((await signal(id, 'go', {})).status, 202);
    const ja = await waitFinal(a.id);
    const jb = await waitFinal(b.id);
    assert.equal(ja.status, 'succeeded', JSON.stringify(ja.error));
    assert.equal(jb.status, 'succeeded', JSON.stringify(jb.error));
    assert.deepEqual(outputOf(ja), { path: '/any/reload-v1' }, 'the running run kept its definition');
    assert.deepEqual(outputOf(jb), { path: '/any/reload-v2' }, 'a new run took the new one');
    assert.deepEqual(paths(await callsOfRun(a.id)), ['/any/reload-v1']);
    assert.deepEqual(paths(await callsOfRun(b.id)), ['/any/reload-v2']);
  } finally {
    await restoreConfig();
  }
});

test('a reload with an invalid workflow is refused with its position; the workflows keep running', T, async () => {
  const text = fs.readFileSync(env.config, 'utf8');
  const find = 'name: pick\n        kind: transform';
  assert.equal(text.split(find).length, 2, 'demo-wf-extract is in the stack\'s config');
  const logFile = path.join(env.varDir, 'log', 'api.log');
  const mark = fs.readFileSync(logFile, 'utf8').length;
  original = text;
  try {
    fs.writeFileSync(env.config, text.replace(find, 'name: pick\n        kind: foo'));
    for (const p of pidsOf(/^(api(-\d+)?|worker-\d+)\.pid$/)) { try { process.kill(p, 'SIGHUP'); } catch { /* gone */ } }
    const line = text.slice(0, text.indexOf(find)).split('\n').length + 1;
    await waitFor(() => /reload refused/.test(fs.readFileSync(logFile, 'utf8').slice(mark)), { timeoutMs: 15000, what: 'aif-api to refuse the reload' });
    const log = fs.readFileSync(logFile, 'utf8').slice(mark);
    assert.match(log, new RegExp(`reload refused.*aif\\.yaml:${line}:\\d+: workflows\\[\\d+\\]\\.steps\\[0\\]\\.kind: unknown step kind 'foo'`));
    const run = await startRun('demo-wf-extract', { order: { id: 'still' } });
    const j = await waitFinal(run.id);
    assert.equal(j.status, 'succeeded', JSON.stringify(j.error));
    assert.deepEqual(outputOf(j), { id: 'still', run: 'demo-wf-extract' });
  } finally {
    await restoreConfig();
  }
});
