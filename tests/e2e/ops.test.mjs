// ops.test.mjs -- what operators and their tools see: /healthz and /readyz, one version
// everywhere (--version, aifctl, /healthz, the Server header), /metrics
// in the Prometheus text format, `aifctl workers|queue|top`, the aif-cron jobs (reap,
// rollup, retention, autoscale with its decisions), and SIGHUP reload: a model added to
// the YAML serves requests after a reload, an invalid file is refused with
// file:line:column and the old config stays, and no request fails meanwhile.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { env, client, http, sql, sqlNumber, uniq, pool, sleep, waitFor, REPO, BIN } from './lib.mjs';

const T = { timeout: 120000 };
const run = (bin, args, extra = {}) => execFileSync(path.join(BIN, bin), args,
  { encoding: 'utf8', env: { ...process.env, AIF_VAR_DIR: env.varDir, ...extra }, cwd: REPO, timeout: 60000 });
const aifctl = (...a) => run('aifctl', ['--config', env.config, ...a]);
const cron = (...a) => run('aif-cron', ['--config', env.config, ...a]);

test('/healthz is liveness; /readyz says ready or not, and to admin keys config, database and replicas', T, async () => {
  assert.equal((await http('/healthz', { key: null })).status, 200);
  // ready is eventually true: a worker another test restarted reports its probes within
  // a probe interval
  await waitFor(async () => (await http('/readyz', { key: null })).status === 200,
    { timeoutMs: 15000, what: 'the gateway to be ready' });
  const pub = await http('/readyz', { key: null });
  assert.deepEqual(Object.keys(pub.json), ['status'], 'no details without an admin key');
  const r = await http('/readyz', { key: env.adminKey });
  assert.equal(r.json.checks.config, true);
  assert.equal(r.json.checks.database, true);
  assert.equal(r.json.checks.models['demo-chat'].healthy, 1);
  assert.equal(r.json.checks.models['demo-fallback'].healthy, 0, 'nothing listens there');
  // ... but demo-fallback and demo-down are optional: the gateway is ready without them
  assert.equal(r.json.checks.models['demo-fallback'].optional, true);
  assert.equal(r.status, 200);
  assert.equal(r.json.status, 'ready');
  assert.equal(r.json.checks.models_have_a_healthy_replica, true);
  assert.equal(pub.status, r.status);
  assert.equal(pub.json.status, r.json.status);
});

test('one version: every binary, aifctl, /healthz and the Server header name CHANGELOG.md\'s release', T, async () => {
  const release = fs.readFileSync(path.join(REPO, 'CHANGELOG.md'), 'utf8').match(/^## \[(\d+\.\d+\.\d+)\]/m)[1];
  for (const bin of ['aif-api', 'aif-worker', 'aif-cron', 'aifctl'])
    assert.equal(run(bin, ['--version']).trim(), `${bin} ${release}`);
  assert.equal(aifctl('version').trim(), `aifctl ${release}`);
  const h = await http('/healthz', { key: null });
  assert.equal(h.json.version, release);
  assert.equal(h.headers.get('server'), `aif/${release}`);
  // on errors, answers and streams alike (the stream's headers come from another thread)
  assert.equal((await http('/v1/models', { key: 'aif_not_a_key' })).headers.get('server'), `aif/${release}`);
  const { response } = await client().chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: 'v' }] }).withResponse();
  assert.equal(response.headers.get('server'), `aif/${release}`);
  const s = await client().chat.completions.create({ model: 'demo-chat', stream: true, messages: [{ role: 'user', content: 'v' }] }).withResponse();
  assert.equal(s.response.headers.get('server'), `aif/${release}`);
  for await (const _ of s.data) { /* read to the end */ }
});

test('/metrics: Prometheus text with requests, latency histograms, tokens, queue and workers', T, async () => {
  await client().chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: `m ${uniq('m')}` }] });
  // a stream whose first token comes after 300 ms, then one every 60 ms (what other
  // tests observed is flushed first)
  await sleep(2500);
  const before = await http('/metrics', { key: null });
  const ttftOf = (text, le) => Number((text.match(new RegExp(`^aif_stream_ttft_seconds_bucket\\{model="demo-small",le="${le.replace('+', '\\+')}"\\} (\\d+)$`, 'm')) || [])[1] || 0);
  const itlOf = (text, le) => Number((text.match(new RegExp(`^aif_stream_inter_token_seconds_bucket\\{model="demo-small",le="${le.replace('+', '\\+')}"\\} (\\d+)$`, 'm')) || [])[1] || 0);
  const st = await client().chat.completions.create({ model: 'demo-small', stream: true, max_tokens: 8,
    messages: [{ role: 'user', content: `[[mock:latency=300]] [[mock:token-delay=60]] timed ${uniq('t')}` }] });
  for await (const _ of st) { /* read to the end */ }
  await sleep(2500);	// workers flush with their heartbeat
  const r = await http('/metrics', { key: null });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0.0.4/);
  const t = r.text;
  for (const re of [
    /^# TYPE aif_requests_total counter$/m,
    /^aif_requests_total\{route="chat",status="200"\} \d+$/m,
    /^# TYPE aif_job_engine_seconds histogram$/m,
    /^aif_job_engine_seconds_bucket\{model="demo-chat",le="\+Inf"\} \d+$/m,
    /^aif_job_queue_seconds_count\{model="demo-chat"\} \d+$/m,
    /^aif_job_total_seconds_sum\{model="demo-chat"\} \d+\.\d{6}$/m,
    /^aif_tokens_total\{model="demo-chat",direction="out"\} \d+$/m,
    /^aif_jobs_total\{model="demo-chat",outcome="succeeded"\} \d+$/m,
    /^# TYPE aif_workers gauge$/m,
    /^aif_workers\{state="running"\} [1-9]\d*$/m,
    /^aif_circuit_open\{model="demo-chat",replica="[^"]+"\} 0$/m,
  ]) assert.match(t, re);
  // buckets are cumulative: +Inf equals _count
  const inf = Number(t.match(/^aif_job_engine_seconds_bucket\{model="demo-chat",le="\+Inf"\} (\d+)$/m)[1]);
  const count = Number(t.match(/^aif_job_engine_seconds_count\{model="demo-chat"\} (\d+)$/m)[1]);
  assert.equal(inf, count);
  // the stream's time to first token (>= 0.3 s: not in the 0.25 s bucket, in the 0.5 s
  // one) and its mean time between chunks (about 50 ms: over 25 ms, under 100 ms)
  assert.equal(ttftOf(t, '+Inf') - ttftOf(before.text, '+Inf'), 1, 'one stream observed');
  assert.equal(ttftOf(t, '0.25') - ttftOf(before.text, '0.25'), 0);
  assert.equal(ttftOf(t, '2.5') - ttftOf(before.text, '2.5'), 1);
  assert.equal(itlOf(t, '0.025') - itlOf(before.text, '0.025'), 0);
  assert.equal(itlOf(t, '0.1') - itlOf(before.text, '0.1'), 1);
  // the engine's usage beside the gateway's own count: the stream's completion tokens
  // as the engine reported them and the token-bearing chunks the worker relayed (the
  // mock sends one token a chunk: the two agree), prompt tokens beside the estimate
  const used = (text, dir, src) => Number((text.match(new RegExp(`^aif_usage_compared_tokens_total\\{model="demo-small",direction="${dir}",source="${src}"\\} (\\d+)$`, 'm')) || [])[1] || 0);
  const outEngine = used(t, 'out', 'engine') - used(before.text, 'out', 'engine');
  const outGateway = used(t, 'out', 'gateway') - used(before.text, 'out', 'gateway');
  assert.ok(outEngine > 0, 'the stream\'s reported completion tokens');
  assert.equal(outGateway, outEngine, 'one token a chunk');
  assert.ok(used(t, 'in', 'engine') > used(before.text, 'in', 'engine'));
  assert.ok(used(t, 'in', 'gateway') > used(before.text, 'in', 'gateway'));
});

test('aifctl workers, queue and top show the live system', T, async () => {
  const workers = JSON.parse(aifctl('workers', '--format', 'json'));
  assert.ok(workers.filter((w) => w.state === 'running').length >= 2);
  for (const w of workers.filter((x) => x.state === "running")) assert.ok(Number(w.heartbeat_age_s) < 30);
  const table = aifctl('workers');
  assert.match(table, /^ID\s+INSTANCE\s+HOST/m);
  assert.ok(Array.isArray(JSON.parse(aifctl('queue', '--format', 'json'))));
  assert.match(aifctl('queue'), /^MODEL\s+PRIORITY\s+STATE/m);
  const top = aifctl('top', '--iterations', '2');
  assert.equal((top.match(/aif top -- last minute/g) || []).length, 2, 'refreshed twice');
});

test('aif-cron: reap requeues expired leases, rollup and retention run, autoscale decides', T, async () => {
  // a running job whose lease has expired (as if its worker died)
  const r = await http('/v1/chat/completions', { json: { model: 'demo-chat', messages: [{ role: 'user', content: `[[mock:latency=4000]] reap ${uniq('r')}` }] }, headers: { Prefer: 'respond-async' } });
  const id = r.json.id;
  await waitFor(() => sql(`SELECT state FROM jobs WHERE public_id = '${id}'`)[0][0] === 'running', { what: 'running' });
  // The live worker renews its lease on each heartbeat; one that lands between the
  // UPDATE and the reap legitimately saves the job, so expire and reap again then.
  let ev = [];
  for (let i = 0; i < 5 && !ev.includes('lease_expired'); i++) {
    sql(`UPDATE jobs SET lease_until = NOW(6) - INTERVAL 1 SECOND WHERE public_id = '${id}' AND state = 'running'`);
    cron('reap');
    ev = sql(`SELECT event FROM job_timeline WHERE job_id = (SELECT id FROM jobs WHERE public_id = '${id}') ORDER BY at, seq`).map((x) => x[0]);
  }
  assert.ok(ev.includes('lease_expired'), ev.join(','));
  // the old attempt's result is fenced off; the job still finishes exactly once
  await waitFor(() => sql(`SELECT state FROM jobs WHERE public_id = '${id}'`)[0][0] === 'succeeded', { timeoutMs: 30000, what: 'succeeded' });
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM \`usage\` WHERE job_id = (SELECT id FROM jobs WHERE public_id = '${id}')`), 1);

  cron('rollup');
  assert.ok(sqlNumber('SELECT COUNT(*) FROM usage_daily WHERE day = CURDATE()') > 0);
  assert.equal(sqlNumber('SELECT SUM(jobs) FROM usage_daily WHERE day = CURDATE()'),
    sqlNumber('SELECT COUNT(*) FROM `usage` WHERE DATE(created_at) = CURDATE()'));
  // nothing that old: nothing dropped (zero-retention jobs never keep a body)
  const kept = "SELECT COUNT(*) FROM jobs WHERE request_body = '' AND zero_retention = 0";
  cron('retention', '--days', '30');
  assert.equal(sqlNumber(kept), 0);

  // autoscale with a policy in a copy of the config: a deep queue asks for more workers
  const cfg = fs.readFileSync(env.config, 'utf8') + `
autoscale:
  min_workers: 1
  max_workers: 5
  target_queue_per_worker: 2
  scale_up_cooldown: 1s
  scale_down_cooldown: 1m
  start_command: "echo start {n} >> ${env.varDir}/autoscale.log"
  stop_command: "echo stop {n} >> ${env.varDir}/autoscale.log"
  engines:
    - model: demo-chat
      min_replicas: 1
      max_replicas: 3
      target_queue_per_replica: 4
      command: "echo scale {model} {replicas} >> ${env.varDir}/autoscale.log"
`;
  const p = path.join(env.varDir, 'aif-autoscale.yaml');
  fs.writeFileSync(p, cfg);
  fs.rmSync(path.join(env.varDir, 'autoscale.log'), { force: true });
  execFileSync('bash', [path.join(REPO, 'scripts/stack.sh'), 'stop-workers'], { env: { ...process.env }, cwd: REPO, timeout: 60000 });
  try {
    for (let i = 0; i < 12; i++) await http('/v1/chat/completions', { json: { model: 'demo-chat', messages: [{ role: 'user', content: `as ${i}` }] }, headers: { Prefer: 'respond-async' } });
    run('aif-cron', ['--config', p, 'autoscale']);
    const log = fs.readFileSync(path.join(env.varDir, 'autoscale.log'), 'utf8');
    assert.match(log, /^start 1$/m, 'no worker runs: it starts worker 1 ...');
    assert.match(log, /^start 5$/m, '... up to max_workers');
    assert.match(log, /^scale demo-chat 3$/m, 'the engine hook gets the replica count');
    const d = sql("SELECT scope, action, desired FROM autoscale_decisions ORDER BY id DESC LIMIT 2");
    assert.deepEqual(d.map((x) => x[0]).sort(), ['engine:demo-chat', 'workers']);
    assert.match(aifctl('workers'), /AUTOSCALE AT/);
  } finally {
    execFileSync('bash', [path.join(REPO, 'scripts/stack.sh'), 'start-worker', '1'], { cwd: REPO, timeout: 60000 });
    execFileSync('bash', [path.join(REPO, 'scripts/stack.sh'), 'start-worker', '2'], { cwd: REPO, timeout: 60000 });
  }
});

let original;
after(() => { if (original !== undefined) { fs.writeFileSync(env.config, original); hup(); } });

function pids() {
  const run = path.join(env.varDir, 'run');
  return fs.readdirSync(run).filter((f) => /^(api(-\d+)?|worker-\d+)\.pid$/.test(f))
    .map((f) => Number(fs.readFileSync(path.join(run, f), 'utf8').trim())).filter((p) => p > 0);
}
function hup() { for (const p of pids()) { try { process.kill(p, 'SIGHUP'); } catch { /* gone */ } } }

test('SIGHUP reload: a model added to the YAML serves after a reload, no request fails', T, async () => {
  original = fs.readFileSync(env.config, 'utf8');
  const id = `demo-added-${uniq('x')}`.replace(/[^a-z0-9-]/gi, '');
  let stop = false, failed = 0, done = 0;
  const load = (async () => {
    const c = client();
    while (!stop) {
      await pool([0, 1, 2, 3], 4, async () => {
        try { await c.chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: '[[mock:latency=100]] steady' }] }); done++; } catch { failed++; }
      });
    }
  })();
  try {
    // an invalid file is refused and the old config keeps serving: an unknown adapter
    // (the model is complete otherwise, so only the adapters' catalogue can refuse it)
    fs.writeFileSync(env.config, original.replace('models:\n', 'models:\n  - id: broken\n    adapter: nope\n    replicas:\n      - url: http://127.0.0.1:9\n'));
    hup();
    await sleep(1500);
    const apiLog = fs.readFileSync(path.join(env.varDir, 'log', 'api.log'), 'utf8');
    assert.match(apiLog, /reload refused.*aif\.yaml:\d+:\d+: models\[0\]\.adapter/);
    assert.equal((await http('/v1/models/demo-chat')).status, 200);
    // a valid file with a new model
    fs.writeFileSync(env.config, original.replace('\nroles:', `\n  - id: ${id}\n    adapter: openai\n    upstream_model: mock-llama-3-8b\n    replicas:\n      - url: http://127.0.0.1:${env.mockPort}\n\nroles:`));
    hup();
    await waitFor(async () => (await http(`/v1/models/${id}`)).status === 200, { timeoutMs: 10000, what: 'the new model in /v1/models' });
    const r = await waitFor(async () => {
      try { return await client().chat.completions.create({ model: id, messages: [{ role: 'user', content: 'new model' }] }); } catch { return null; }
    }, { timeoutMs: 20000, what: 'the new model to answer (workers reloaded)' });
    assert.equal(r.model, id);
  } finally {
    stop = true; // a failed step must not leave the load running (the test would hang)
    await load;
  }
  assert.ok(done > 0);
  assert.equal(failed, 0, `${failed} requests failed during the reloads`);
});
