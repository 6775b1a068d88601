// console-api.test.mjs -- issue 14, the console's JSON endpoints under /admin/
// (docs/CONSOLE.md) and how nginx serves the page: admin keys only, the search and its
// bad parameters, a job's timeline in order, the actions (cancel, signal, retry as a new
// job billed to the original key) each recorded with the admin key's id, and the
// console's security headers. The page itself is driven in a real Chromium by
// tests/console/.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  env, http, uniq, adminCreateKey, errorOf, keyId, sql, q, waitFor, submitAsync, REPO,
} from './lib.mjs';
import { mhReset, mhConfig, startRun, waitFinal, waitAtStep, chatAsync, aifctl } from './wflib.mjs';

const T = { timeout: 90000 };
const admin = (p, opts = {}) => http(p, { key: env.adminKey, ...opts });
const post = (p, json) => admin(p, json === undefined ? { method: 'POST' } : { json });
const jobDoc = async (id) => (await admin(`/admin/jobs/${id}`)).json;
const eventsOf = async (id) => (await jobDoc(id)).events;

after(async () => { await mhReset(); });

test('console API: admin keys only; a user key gets 403 and changes nothing', T, async () => {
  const id = await submitAsync(`[[mock:latency=300]] ${uniq('own')}`);
  for (const [p, method] of [['/admin/overview', 'GET'], ['/admin/jobs', 'GET'], [`/admin/jobs/${id}`, 'GET'],
    [`/admin/jobs/${id}/cancel`, 'POST'], [`/admin/jobs/${id}/retry`, 'POST']]) {
    const r = await http(p, { method });
    assert.equal(r.status, 403, `${method} ${p}: ${r.text}`);
    assert.equal(errorOf(r).code, 'admin_only');
    const none = await http(p, { method, key: null });
    assert.equal(none.status, 401, `${method} ${p} without a key`);
  }
  await waitFor(async () => (await admin(`/admin/jobs/${id}`)).json.job.state === 'succeeded', { what: 'the job to end' });
  assert.ok(!(await eventsOf(id)).some((e) => e.event.startsWith('operator_')), 'no action was taken');
});

test('console API: GET /admin/jobs searches by id, key, tenant, model, state and time, and pages', T, async () => {
  const tenant = uniq('ten').replace(/[^a-z0-9_]/gi, '');
  const k = await adminCreateKey({ name: uniq('search'), role: 'user', tenant });
  const t0 = Date.now() - 1;
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await submitAsync(`search ${i} ${uniq('s')}`, { key: k.key }));
  const bad = await submitAsync(`[[mock:status=400]] ${uniq('bad')}`, { key: k.key });
  await waitFor(async () => (await admin(`/admin/jobs?tenant=${tenant}&state=succeeded`)).json.data.length === 3 &&
    (await admin(`/admin/jobs?tenant=${tenant}&state=failed`)).json.data.length === 1, { what: 'three succeeded and one failed' });
  const all = (await admin(`/admin/jobs?tenant=${tenant}`)).json;
  assert.equal(all.object, 'list');
  assert.deepEqual(all.data.map((j) => j.id), [bad, ...ids.reverse()], 'newest first');
  assert.ok(all.data.every((j) => j.tenant === tenant && j.key_id === k.id && j.key_prefix === k.key.slice(0, 12)));
  const failed = (await admin(`/admin/jobs?tenant=${tenant}&state=failed`)).json.data;
  assert.deepEqual(failed.map((j) => j.id), [bad]);
  assert.equal(failed[0].http_status, 400);
  assert.equal(failed[0].error_code, 'engine_rejected_request');
  assert.deepEqual((await admin(`/admin/jobs?key=${k.key.slice(0, 10)}`)).json.data.map((j) => j.id).sort(), all.data.map((j) => j.id).sort(), 'by key prefix');
  assert.equal((await admin(`/admin/jobs?key=${k.key.slice(0, 10)}&model=demo-small`)).json.data.length, 0, 'model filter');
  assert.equal((await admin(`/admin/jobs?id=${ids[0]}`)).json.data[0].id, ids[0]);
  const num = all.data[1].number;
  assert.equal((await admin(`/admin/jobs?id=${num}`)).json.data[0].id, all.data[1].id, 'by number');
  assert.equal((await admin(`/admin/jobs?tenant=${tenant}&since=${t0}&until=${Date.now() + 1000}`)).json.data.length, 4);
  assert.equal((await admin(`/admin/jobs?tenant=${tenant}&until=${t0}`)).json.data.length, 0, 'nothing before');
  // pages: 2 + 2, then none
  const p1 = (await admin(`/admin/jobs?tenant=${tenant}&limit=2`)).json;
  assert.equal(p1.data.length, 2);
  assert.equal(p1.has_more, true);
  const p2 = (await admin(`/admin/jobs?tenant=${tenant}&limit=2&before=${p1.next_before}`)).json;
  assert.deepEqual([...p1.data, ...p2.data].map((j) => j.id), all.data.map((j) => j.id));
  assert.equal(p2.has_more, false);
  assert.equal(p2.next_before, null);
  // the same search through aifctl: the same store function, the same document
  const cli = aifctl(['jobs', 'list', '--tenant', tenant, '--format', 'json']);
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(JSON.parse(cli.stdout).data.map((j) => j.id), all.data.map((j) => j.id));
  // bad parameters: a clear error, nothing else
  assert.equal((await admin(`/admin/jobs?tenant=${tenant}&id=&state=&since=`)).json.data.length, 4, 'an empty value is "any"');
  for (const qs of ['bogus=', 'state=bogus', 'limit=0', 'limit=201', 'since=yesterday', 'key=aif%25', 'tenant=%FF', 'model=%0a',
    'nope=1', 'before=-1', 'id=%', `tenant=${'x'.repeat(200)}`]) {
    const r = await admin(`/admin/jobs?${qs}`);
    assert.equal(r.status, 400, `${qs}: ${r.text}`);
    assert.equal(errorOf(r).code, 'invalid_parameter', qs);
  }
  const none = await admin('/admin/jobs/job_doesnotexist000000000000');
  assert.equal(none.status, 404);
  assert.equal(errorOf(none).code, 'job_not_found');
  assert.equal((await admin('/admin/jobs/job_x/explode', { method: 'POST' })).status, 404);
  assert.equal((await admin(`/admin/jobs/${ids[0]}/`)).status, 404, 'no trailing slash');
  assert.equal((await admin(`/admin/jobs/${ids[0]}/cancel`)).status, 405, 'actions are POST');
});

test('console API: a job that failed after retries shows each attempt in order, then the failure', T, async () => {
  const id = await submitAsync(`[[mock:status=503]] ${uniq('retry')}`);
  await waitFor(async () => (await admin(`/admin/jobs/${id}`)).json.job.state === 'failed', { timeoutMs: 30000, what: 'the job to fail' });
  const doc = (await admin(`/admin/jobs/${id}`)).json;
  assert.equal(doc.object, 'console.job');
  assert.equal(doc.job.attempts, 3);
  assert.equal(doc.job.error.code, 'engine_overloaded');
  const ev = doc.events.map((e) => `${e.event}:${e.attempt}`);
  assert.deepEqual(ev, ['enqueued:0', 'claimed:1', 'attempt_failed:1', 'retry_scheduled:1', 'claimed:2',
    'attempt_failed:2', 'retry_scheduled:2', 'claimed:3', 'attempt_failed:3', 'failed:3'], ev.join(' '));
  for (let i = 1; i < doc.events.length; i++) assert.ok(doc.events[i].at_ms >= doc.events[i - 1].at_ms, 'in time order');
  assert.ok(doc.events.filter((e) => e.event === 'attempt_failed').every((e) => /503|overload/i.test(e.detail) && e.replica));
  assert.equal(JSON.parse(doc.request.text).messages[0].content.includes('[[mock:status=503]]'), true, 'the stored request');
  assert.equal(doc.usage, null, 'nothing was used');
  // aifctl prints the same document
  const cli = aifctl(['jobs', 'show', id, '--format', 'json']);
  assert.equal(cli.status, 0, cli.stderr);
  assert.deepEqual(JSON.parse(cli.stdout).events, doc.events);
});

test('console API: retry sends the stored (masked) request again as a new job billed to the original key', T, async () => {
  const k = await adminCreateKey({ name: uniq('retry'), role: 'user', monthly_budget_micros: 1000000 });
  const r = await http('/v1/chat/completions', { key: k.key, json: { model: 'demo-chat', messages: [{ role: 'user', content: `[[mock:status=400]] mail me at kim.minsu@example.com ${uniq('r')}` }] } });
  assert.equal(r.status, 400);
  const id = r.headers.get('x-aif-job-id');
  const adminId = keyId(env.adminKey);
  const before = sql('SELECT COUNT(*) FROM jobs')[0][0];
  const a = await post(`/admin/jobs/${id}/retry`);
  assert.equal(a.status, 202, a.text);
  assert.equal(a.json.object, 'console.action');
  assert.equal(a.json.job, id);
  assert.equal(a.json.key_id, k.id);
  const nj = a.json.new_job;
  assert.notEqual(nj, id);
  assert.equal(Number(sql('SELECT COUNT(*) FROM jobs')[0][0]), Number(before) + 1, 'exactly one new job');
  const [[keyOf, bodyNew, bodyOld]] = sql(`SELECT n.api_key_id, n.request_body, o.request_body FROM jobs n JOIN jobs o ON o.public_id = ${q(id)} WHERE n.public_id = ${q(nj)}`);
  assert.equal(Number(keyOf), k.id, 'billed to the original key');
  assert.ok(!bodyNew.includes('kim.minsu@example.com'), 'the masked request, never the original');
  assert.equal(JSON.parse(bodyNew).messages[0].content, JSON.parse(bodyOld).messages[0].content);
  const evOld = (await eventsOf(id)).find((e) => e.event === 'operator_retry');
  assert.ok(evOld, 'the original records the retry');
  assert.equal(evOld.actor_key_id, adminId);
  assert.match(evOld.detail, new RegExp(nj));
  await waitFor(async () => ['failed'].includes((await admin(`/admin/jobs/${nj}`)).json.job.state), { what: 'the retry to run' });
  const evNew = (await eventsOf(nj)).find((e) => e.event === 'retry_of');
  assert.equal(evNew.actor_key_id, adminId);
  assert.match(evNew.detail, new RegExp(id));
  // what cannot be retried says why, and makes nothing
  const ok = await http('/v1/chat/completions', { key: k.key, json: { model: 'demo-chat', messages: [{ role: 'user', content: uniq('fine') }] } });
  const priv = await http('/v1/chat/completions', { key: k.key, json: { model: 'demo-private', messages: [{ role: 'user', content: `[[mock:status=400]] ${uniq('p')}` }] } });
  assert.equal(priv.status, 400);
  const n0 = sql('SELECT COUNT(*) FROM jobs')[0][0];
  const notFinal = await post(`/admin/jobs/${ok.headers.get('x-aif-job-id')}/retry`);
  assert.equal(notFinal.status, 409);
  assert.equal(errorOf(notFinal).code, 'job_not_retryable');
  const nk = await post(`/admin/jobs/${priv.headers.get('x-aif-job-id')}/retry`);
  assert.equal(nk.status, 409, nk.text);
  assert.equal(errorOf(nk).code, 'request_not_kept');
  assert.equal(sql('SELECT COUNT(*) FROM jobs')[0][0], n0, 'no job was made');
  // a revoked key bills nothing more
  assert.equal((await admin(`/admin/keys/${k.id}/revoke`, { method: 'POST' })).status, 200);
  const gone = await post(`/admin/jobs/${id}/retry`);
  assert.equal(gone.status, 409);
  assert.equal(errorOf(gone).code, 'key_not_active');
});

test('console API: a rotated key: its jobs are found by the new prefix, and a retry bills the live key of the lineage', T, async () => {
  const k = await adminCreateKey({ name: uniq('rot'), role: 'user' });
  const r = await http('/v1/chat/completions', { key: k.key, json: { model: 'demo-chat', messages: [{ role: 'user', content: `[[mock:status=400]] ${uniq('rot')}` }] } });
  assert.equal(r.status, 400);
  const id = r.headers.get('x-aif-job-id');
  const rot = await admin(`/admin/keys/${k.id}/rotate`, { json: { grace_s: 0 } });
  assert.equal(rot.status, 201, rot.text);
  const found = (await admin(`/admin/jobs?key=${rot.json.key.slice(0, 12)}`)).json.data.map((j) => j.id);
  assert.deepEqual(found, [id], 'the new key finds the lineage\'s jobs');
  const a = await post(`/admin/jobs/${id}/retry`);
  assert.equal(a.status, 202, a.text);
  assert.equal(Number(sql(`SELECT api_key_id FROM jobs WHERE public_id = ${q(a.json.new_job)}`)[0][0]), k.id, 'the lineage pays');
  assert.equal(a.json.key_id, rot.json.id, 'admitted as the live key');
});

test('console API: a zero-retention job shows no body, even while it runs; a run\'s step is not retried alone', T, async () => {
  const pending = http('/v1/chat/completions', { json: { model: 'demo-private', messages: [{ role: 'user', content: `[[mock:latency=2500]] private note ${uniq('zr')}` }] } });
  const running = await waitFor(async () => (await admin('/admin/jobs?model=demo-private&state=running')).json.data[0], { what: 'the private job to run' });
  const doc = await jobDoc(running.id);
  assert.equal(doc.request, null, 'no request shown');
  assert.equal(doc.response, null);
  assert.equal((await pending).status, 200);
  await mhReset();
  await mhConfig({ fulfil_status: 400 });
  const run = await startRun('demo-payment', { text: `order ${uniq('st')}`, amount: 5 });
  await waitFinal(run.id);
  const child = (await jobDoc(run.id)).steps.find((st) => st.name === 'receipt').child;
  assert.match(child, /^job_/);
  const rs = await post(`/admin/jobs/${child}/retry`);
  assert.equal(rs.status, 409, rs.text);
  assert.equal(errorOf(rs).code, 'job_not_retryable');
  const rr = await post(`/admin/jobs/${run.id}/retry`);
  assert.equal(rr.status, 409);
  assert.equal(errorOf(rr).code, 'job_not_retryable');
  await mhReset();
});

test('console API: cancel a queued job; signal a waiting run; both recorded with the admin key', T, async () => {
  const adminId = keyId(env.adminKey);
  // demo-capped takes 3 calls at once: keep it busy so that the next job stays queued
  const busy = Array.from({ length: 3 }, (_, i) => submitAsync(`[[mock:latency=4000]] busy ${i} ${uniq('b')}`, { model: 'demo-capped' }));
  const busyIds = await Promise.all(busy);
  // all three running first: a claim skips rows another worker's claim holds locked
  // (SKIP LOCKED), so a later job may otherwise run before a busy one is taken
  await waitFor(async () => (await admin('/admin/overview')).json.queue.some((r) => r.model === 'demo-capped' && r.state === 'running' && r.jobs === 3), { what: 'three running' });
  const id = await submitAsync(uniq('queued'), { model: 'demo-capped' });
  const c = await post(`/admin/jobs/${id}/cancel`);
  assert.equal(c.status, 200, c.text);
  assert.deepEqual(c.json, { object: 'console.action', action: 'cancel', job: id, state: 'cancelled' });
  const doc = (await admin(`/admin/jobs/${id}`)).json;
  assert.equal(doc.job.state, 'cancelled');
  const ev = doc.events.find((e) => e.event === 'operator_cancel');
  assert.equal(ev.actor_key_id, adminId);
  assert.ok(doc.events.some((e) => e.event === 'cancelled'));
  const again = await post(`/admin/jobs/${id}/cancel`);
  assert.equal(again.status, 409);
  assert.equal(errorOf(again).code, 'job_already_final');
  const notRun = await post(`/admin/jobs/${busyIds[0]}/signal`, { name: 'approval', payload: {} });
  assert.equal(notRun.status, 409);
  assert.equal(errorOf(notRun).code, 'not_a_workflow_run');
  // a run waiting for its "approval" signal
  const run = await chatAsync('demo-approval', `console approval ${uniq('ap')}`);
  await waitAtStep(run, 'approval');
  const bad = await post(`/admin/jobs/${run}/signal`, { name: '__cancel' });
  assert.equal(bad.status, 400, 'reserved names are refused');
  const s = await post(`/admin/jobs/${run}/signal`, { name: 'approval', payload: { approved: true } });
  assert.equal(s.status, 202, s.text);
  const evs = await eventsOf(run);
  assert.equal(evs.find((e) => e.event === 'operator_signal').actor_key_id, adminId);
  const fin = await waitFinal(run);
  assert.equal(fin.status, 'succeeded');
  for (const b of busyIds) await waitFor(async () => (await admin(`/admin/jobs/${b}`)).json.job.state === 'succeeded', { what: 'the busy jobs to end' });
});

test('console API: the overview counts queued jobs by model and shows workers and replicas', T, async () => {
  const busy = await Promise.all(Array.from({ length: 3 }, (_, i) => submitAsync(`[[mock:latency=3000]] busy ${i} ${uniq('b')}`, { model: 'demo-capped' })));
  await waitFor(async () => (await admin('/admin/overview')).json.queue.some((r) => r.model === 'demo-capped' && r.state === 'running' && r.jobs === 3), { what: 'three running' });
  const queued = [];
  for (let i = 0; i < 4; i++) queued.push(await submitAsync(uniq('wait'), { model: 'demo-capped', priority: 2 }));
  // the workers publish their replicas' calls in flight with their heartbeat
  const o = await waitFor(async () => {
    const d = (await admin('/admin/overview')).json;
    return d.replicas.some((r) => r.model === 'demo-capped' && r.in_flight === 3) ? d : null;
  }, { what: 'the replica to show 3 calls in flight' });
  assert.equal(o.object, 'console.overview');
  const row = o.queue.find((r) => r.model === 'demo-capped' && r.state === 'queued' && r.priority === 2);
  assert.ok(row, JSON.stringify(o.queue));
  assert.equal(row.jobs, 4);
  assert.ok(row.oldest_age_ms >= 0);
  assert.ok(o.workers.filter((w) => w.live).length >= 1);
  assert.ok(o.workers.every((w) => typeof w.slots === 'number' && typeof w.in_flight === 'number'));
  const rep = o.replicas.find((r) => r.model === 'demo-capped');
  assert.ok(rep && rep.in_flight === 3 && rep.circuit_open === false, JSON.stringify(o.replicas));
  assert.equal(o.hour.points.length, 60);
  assert.ok(o.hour.points.every((p, i) => i === 0 || p.t_ms - o.hour.points[i - 1].t_ms === 60000));
  assert.ok(o.totals.succeeded >= 1);
  for (const id of queued) await post(`/admin/jobs/${id}/cancel`);
  for (const b of busy) await waitFor(async () => (await admin(`/admin/jobs/${b}`)).json.job.state === 'succeeded', { what: 'the busy jobs to end' });
});

test('console: nginx serves the page with a strict CSP, nosniff and no framing; nothing inline or remote', T, async () => {
  const r = await fetch(`${env.origin}/console/`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/html/);
  const csp = r.headers.get('content-security-policy');
  for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "connect-src 'self'"]) assert.ok(csp.includes(d), `${d} in ${csp}`);
  assert.ok(!/unsafe-inline|unsafe-eval|\*/.test(csp), csp);
  assert.equal(r.headers.get('x-content-type-options'), 'nosniff');
  assert.equal(r.headers.get('x-frame-options'), 'DENY');
  assert.equal(r.headers.get('set-cookie'), null);
  const js = await fetch(`${env.origin}/console/app.js`);
  assert.match(js.headers.get('content-type'), /^text\/javascript/);
  assert.ok(js.headers.get('content-security-policy'));
  const redirect = await fetch(`${env.origin}/console`, { redirect: 'manual' });
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get('location'), '/console/', 'relative: never another host');
  const missing = await fetch(`${env.origin}/console/nope.html`);
  assert.equal(missing.status, 404);
  for (const p of ['/console/../config/aif.yaml', '/console/..%2fconfig/aif.yaml', '/console/%2e%2e/README.md']) {
    const t = await fetch(`${env.origin}${p}`);
    assert.ok(t.status === 404 || t.status === 400, `${p}: ${t.status}`);
  }
  // the files themselves: no inline script or handler, no remote asset, no HTML from data
  const dir = path.join(REPO, 'console');
  const html = fs.readFileSync(path.join(dir, 'index.html'), 'utf8');
  assert.ok(!/<script(?![^>]*\bsrc=)[^>]*>/i.test(html), 'no inline script');
  assert.ok(!/\son[a-z]+\s*=/i.test(html), 'no inline handler');
  assert.ok(!/\sstyle\s*=/i.test(html), 'no inline style');
  for (const f of ['index.html', 'app.js', 'app.css']) {
    const text = fs.readFileSync(path.join(dir, f), 'utf8');
    assert.ok(!/(https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}\//i.test(text.replace(/http:\/\/www\.w3\.org\/2000\/svg/g, '')), `${f}: no remote URL`);
  }
  const app = fs.readFileSync(path.join(dir, 'app.js'), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  assert.ok(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/.test(app), 'app.js never parses data as HTML or code');
  assert.ok(!/localStorage|document\.cookie/.test(app), 'the key lives in sessionStorage only');
});
