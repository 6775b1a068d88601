// console-page.test.mjs -- issue 14: the console page (console/, docs/CONSOLE.md) in a
// real headless Chromium (Debian's chromium, driven by playwright-core), against the
// test stack: a non-admin key is refused and the page says so; the overview shows the
// queue depth of a saturated model; a job that failed after retries shows its attempts
// in order; a workflow run stopped at step 3 shows step 3 as the failure and the
// compensations after it; cancel, retry and signal from the page; a prompt holding <script>
// is shown as text; no request leaves 127.0.0.1; no CSP violation or script error.
// Screenshots of each view are saved under build/console/ (test artifacts).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { env, http, uniq, keyId, submitAsync, waitFor, REPO } from './lib.mjs';
import { mhReset, mhConfig, startRun, waitFinal, chatAsync, waitAtStep } from './wflib.mjs';

const T = { timeout: 120000 };
const SHOTS = path.join(REPO, 'build', 'console');
const CHROMIUM = process.env.AIF_CHROMIUM || '/usr/bin/chromium';
const admin = (p, opts = {}) => http(p, { key: env.adminKey, ...opts });
const jobDoc = async (id) => (await admin(`/admin/jobs/${id}`)).json;

let browser;
let page;
const requests = [];	// every URL the page asked for
const problems = [];	// script errors, CSP violations, blocked requests

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  assert.ok(fs.existsSync(CHROMIUM), `Debian's chromium at ${CHROMIUM} (scripts/deps.sh installs it)`);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  // Only the stack's own origin: anything else is recorded and refused.
  await context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (u.protocol === 'data:' || (u.hostname === '127.0.0.1' && u.port === String(new URL(env.origin).port))) return route.continue();
    problems.push(`request left 127.0.0.1: ${u.href}`);
    return route.abort();
  });
  page = await context.newPage();
  page.on('request', (r) => requests.push(r.url()));
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    const t = m.text();
    // the browser's own line for an API answer of 401/403 is expected in those tests
    if (m.type() === 'error' && !/status of 40[13]/.test(t)) problems.push(`console: ${t}`);
  });
});

after(async () => {
  await mhReset();
  if (browser) await browser.close();
});

async function login(key) {
  await page.goto(`${env.origin}/console/#/overview`);
  await page.evaluate(() => sessionStorage.clear());
  await page.goto(`${env.origin}/console/#/overview`);
  await page.reload();
  const input = page.locator('input[type=password], input#key').first();
  await input.waitFor({ timeout: 10000 });
  await input.fill(key);
  await input.press('Enter');
}

async function openJob(id) {
  await page.goto(`${env.origin}/console/#/job/${id}`);
  await page.locator('#view-job #events-table').waitFor({ timeout: 15000 });
  await page.locator(`#view-job >> text=${id}`).first().waitFor({ timeout: 15000 });
}

const shot = (name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

test('console page: a non-admin key gets the API\'s 403 and the page says so; the key is kept in sessionStorage only', T, async () => {
  await login(env.apiKey);
  const msg = page.locator('#forbidden');
  await msg.waitFor({ state: 'visible', timeout: 15000 });
  assert.match(await msg.textContent(), /not an admin key/i);
  await shot('forbidden');
  const stored = await page.evaluate(() => ({ s: JSON.stringify(sessionStorage), l: localStorage.length, c: document.cookie }));
  assert.equal(stored.l, 0, 'nothing in localStorage');
  assert.equal(stored.c, '', 'no cookie');
  const cookies = await page.context().cookies();
  assert.equal(cookies.length, 0);
});

test('console page: the overview shows queue depth N for a saturated model; cancel from the page cancels', T, async () => {
  // demo-capped takes 3 calls at once: three slow ones saturate it, N more wait
  const busy = await Promise.all(Array.from({ length: 3 }, (_, i) => submitAsync(`[[mock:latency=9000]] busy ${i} ${uniq('b')}`, { model: 'demo-capped' })));
  await waitFor(async () => (await admin('/admin/overview')).json.queue.some((r) => r.model === 'demo-capped' && r.state === 'running' && r.jobs === 3), { what: 'three running' });
  const N = 5;
  const queued = [];
  for (let i = 0; i < N; i++) queued.push(await submitAsync(`waits ${i} ${uniq('w')}`, { model: 'demo-capped', priority: 1 }));
  await login(env.adminKey);
  const cell = page.locator('#queue-table tr[data-model="demo-capped"][data-state="queued"][data-priority="1"] .jobs');
  await cell.waitFor({ timeout: 15000 });
  assert.equal((await cell.textContent()).trim(), String(N));
  await page.locator('#chart-throughput').waitFor();
  assert.ok(await page.locator('#workers-table tr').count() >= 2, 'workers are listed');
  await shot('overview');
  // cancel the first waiting job from its page
  await openJob(queued[0]);
  await page.locator('#action-cancel').click();
  await page.locator('#confirm-dialog').waitFor({ state: 'visible' });
  await page.locator('#confirm-yes').click();
  await waitFor(async () => (await jobDoc(queued[0])).job.state === 'cancelled', { what: 'the cancel to land' });
  const ev = (await jobDoc(queued[0])).events.find((e) => e.event === 'operator_cancel');
  assert.equal(ev.actor_key_id, keyId(env.adminKey), 'recorded with the admin key');
  await page.locator('#events-table tr[data-event="operator_cancel"]').waitFor({ timeout: 10000 });
  await shot('job-cancelled');
  for (const id of queued.slice(1)) await admin(`/admin/jobs/${id}/cancel`, { method: 'POST' });
  for (const id of busy) await waitFor(async () => (await jobDoc(id)).job.state === 'succeeded', { what: 'the busy jobs' });
});

test('console page: a job that failed after retries shows the failing attempts in order; retry from the page', T, async () => {
  const id = await submitAsync(`[[mock:status=503]] ${uniq('fail')}`);
  await waitFor(async () => (await jobDoc(id)).job.state === 'failed', { timeoutMs: 30000, what: 'the job to fail' });
  await login(env.adminKey);
  await openJob(id);
  const rows = page.locator('#events-table tr[data-event]');
  const seen = await rows.evaluateAll((trs) => trs.map((t) => `${t.dataset.event}:${t.dataset.attempt}`));
  assert.deepEqual(seen, ['enqueued:0', 'claimed:1', 'attempt_failed:1', 'retry_scheduled:1', 'claimed:2',
    'attempt_failed:2', 'retry_scheduled:2', 'claimed:3', 'attempt_failed:3', 'failed:3'], seen.join(' '));
  const svg = page.locator('svg#timeline');
  await svg.waitFor();
  assert.ok(await svg.locator('text').count() >= 3, 'the timeline is drawn with labels');
  await shot('job-failed');
  // retry: confirmed, says who pays and what is sent
  await page.locator('#action-retry').click();
  await page.locator('#confirm-dialog').waitFor({ state: 'visible' });
  const confirmText = await page.locator('#confirm-text').textContent();
  assert.match(confirmText, /billed to/i);
  assert.match(confirmText, /masked/i);
  await page.locator('#confirm-yes').click();
  const result = page.locator('#action-result a');
  await result.first().waitFor({ timeout: 10000 });
  const newId = (await result.first().textContent()).match(/job_[A-Za-z0-9]{24}/)[0];
  const nd = await jobDoc(newId);
  assert.equal(nd.job.key_id, (await jobDoc(id)).job.key_id, 'billed to the original key');
  assert.ok(nd.events.some((e) => e.event === 'retry_of' && e.actor_key_id === keyId(env.adminKey)));
});

test('console page: a workflow run stopped at step 3 shows step 3 as the failure and the compensations after it', T, async () => {
  await mhReset();
  await mhConfig({ fulfil_status: 400 });
  const run = await startRun('demo-payment', { text: `order ${uniq('pay')}`, amount: 1200 });
  const j = await waitFinal(run.id);
  assert.equal(j.status, 'failed');
  await login(env.adminKey);
  await openJob(run.id);
  await page.locator('#steps-table').waitFor();
  const steps = await page.locator('#steps-table tr[data-step]').evaluateAll((trs) => trs.map((t) => [t.dataset.step, t.dataset.state, t.classList.contains('stopped-here')]));
  assert.deepEqual(steps.slice(0, 3), [['charge', 'succeeded', false], ['receipt', 'succeeded', false], ['fulfil', 'failed', true]], JSON.stringify(steps));
  assert.match(await page.locator('#steps-table tr[data-step="fulfil"]').textContent(), /stopped here/i);
  const comps = await page.locator('#compensations-table tr[data-name]').evaluateAll((trs) => trs.map((t) => [t.dataset.name, t.dataset.state]));
  assert.equal(comps.length, 2, JSON.stringify(comps));
  assert.match(comps[0][0], /receipt/, 'step 2 is undone first');
  assert.match(comps[1][0], /charge/);
  assert.ok(comps.every((c) => c[1] === 'done'), JSON.stringify(comps));
  // in the timeline, the compensations come after the failure of step 3
  const evs = await page.locator('#events-table tr[data-event]').evaluateAll((trs) => trs.map((t) => t.dataset.event));
  const failedAt = evs.findIndex((e) => /step_failed|failed|compensating/.test(e));
  const compAt = evs.findIndex((e) => /^compensation/.test(e));
  assert.ok(failedAt >= 0 && compAt > failedAt, evs.join(' '));
  await shot('workflow-failed');
});

test('console page: signal a waiting run from its page; bad JSON sends nothing', T, async () => {
  const run = await chatAsync('demo-approval', `page approval ${uniq('ap')}`);
  await waitAtStep(run, 'approval');
  await login(env.adminKey);
  await openJob(run);
  await page.locator('#signal-name').fill('approval');
  await page.locator('#signal-payload').fill('{"approved": tru');
  await page.locator('#action-signal').click();
  await page.locator('#signal-error').waitFor({ state: 'visible' });
  assert.equal(await page.locator('#confirm-dialog').isVisible(), false, 'no confirmation for a bad payload');
  assert.ok(!(await jobDoc(run)).events.some((e) => e.event === 'operator_signal'), 'nothing was sent');
  await page.locator('#signal-payload').fill('{"approved": true}');
  await page.locator('#action-signal').click();
  await page.locator('#confirm-dialog').waitFor({ state: 'visible' });
  assert.match(await page.locator('#confirm-text').textContent(), /approval/);
  await page.locator('#confirm-yes').click();
  await page.locator('#action-result').filter({ hasText: /sent/i }).waitFor({ timeout: 10000 });
  const ev = (await jobDoc(run)).events.find((e) => e.event === 'operator_signal');
  assert.equal(ev.actor_key_id, keyId(env.adminKey), 'recorded with the admin key');
  assert.equal((await waitFinal(run)).status, 'succeeded', 'the run went on');
  await shot('signal-sent');
});

test('console page: a prompt holding <script> is shown as text, never run; jobs search lists it', T, async () => {
  const marker = uniq('xss');
  const evil = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"> ${marker}`;
  const r = await http('/v1/chat/completions', { json: { model: 'demo-chat', messages: [{ role: 'user', content: evil }] } });
  assert.equal(r.status, 200);
  const id = r.headers.get('x-aif-job-id');
  await login(env.adminKey);
  await openJob(id);
  const req = await page.locator('#request-text').textContent();
  assert.ok(req.includes('<script>window.__pwned=1</script>'), 'shown as the text it is');
  assert.equal(await page.evaluate(() => window.__pwned), undefined, 'nothing ran');
  assert.equal(await page.locator('#view-job img, #view-job script').count(), 0, 'no element was made of it');
  await page.goto(`${env.origin}/console/#/jobs?id=${id}`);
  await page.locator(`#jobs-table tr[data-job="${id}"]`).waitFor({ timeout: 10000 });
  await shot('jobs');
});

test('console page: every request stayed on 127.0.0.1, and no script error or CSP violation happened', T, async () => {
  assert.ok(requests.length > 10, `the page made requests (${requests.length})`);
  const off = requests.filter((u) => { const h = new URL(u); return h.protocol !== 'data:' && h.hostname !== '127.0.0.1'; });
  assert.deepEqual(off, []);
  assert.deepEqual(problems, []);
  for (const f of ['forbidden', 'overview', 'job-cancelled', 'job-failed', 'workflow-failed', 'signal-sent', 'jobs']) {
    assert.ok(fs.statSync(path.join(SHOTS, `${f}.png`)).size > 5000, `screenshot ${f}`);
  }
});
