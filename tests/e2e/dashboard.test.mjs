// dashboard.test.mjs -- the Grafana dashboard (config/grafana/aif-gateway.json) over
// /metrics: Grafana is not packaged for Debian, so Debian's `prometheus` scrapes the test
// stack every second while traffic of every kind goes through (answers, a stream, async
// jobs that wait, errors), and every panel's query is evaluated by Prometheus's HTTP
// API: each must return data, with at least one finite value.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, http, uniq, REPO } from './lib.mjs';

const T = { timeout: 180000 };
const PORT = Number(process.env.AIF_TEST_PROM_PORT || 19418);
const PROM = `http://127.0.0.1:${PORT}`;
const dashboard = JSON.parse(fs.readFileSync(path.join(REPO, 'config/grafana/aif-gateway.json'), 'utf8'));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let prom, dir;

async function query(expr) {
  const r = await fetch(`${PROM}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const b = await r.json();
  assert.equal(b.status, 'success', `${expr}: ${JSON.stringify(b)}`);
  return b.data.result;
}

before(async () => {
  const bin = execFileSync('bash', ['-c', 'command -v prometheus || echo /usr/bin/prometheus']).toString().trim();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'aif-prom-'));
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), `global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: aif
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:${env.port}']
`);
  prom = spawn(bin, [`--config.file=${path.join(dir, 'prometheus.yml')}`,
    `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${PORT}`,
    '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  prom.stderr.on('data', (d) => { errors += d; });
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${PROM}/api/v1/targets`);
      const t = (await r.json()).data.activeTargets;
      if (t.length === 1 && t[0].health === 'up') break;
    } catch { /* not listening yet */ }
    if (i > 150 || prom.exitCode !== null) assert.fail(`prometheus did not scrape the stack: ${errors}`);
    await sleep(200);
  }
});

after(() => {
  if (prom && prom.exitCode === null) prom.kill('SIGTERM');
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('the dashboard is a Grafana dashboard whose panels each have a Prometheus query', () => {
  assert.equal(dashboard.uid, 'aif-gateway');
  assert.ok(dashboard.panels.length >= 10);
  const ids = new Set();
  for (const p of dashboard.panels) {
    assert.ok(p.title && p.type && p.gridPos, JSON.stringify(p));
    assert.ok(!ids.has(p.id), `panel id ${p.id} once`);
    ids.add(p.id);
    assert.equal(p.datasource.type, 'prometheus');
    assert.ok(p.targets.length >= 1 && p.targets.every((t) => t.refId && t.expr), p.title);
  }
  const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(' | ');
  for (const want of ['queue depth', 'oldest', 'throughput', 'errors', 'latency', 'first token', 'circuit', 'spend per tenant'])
    assert.ok(titles.includes(want), `a panel on ${want}`);
});

test('every panel\'s query returns data from the live stack after some traffic', T, async () => {
  // traffic: answers, a stream with tokens, a client error, an engine error retried,
  // and async jobs that keep the queue non-empty while Prometheus scrapes
  const chat = (content, extra = {}, headers = {}) => http('/v1/chat/completions', { headers,
    json: { model: 'demo-chat', messages: [{ role: 'user', content }], ...extra } });
  for (let round = 0; round < 3; round++) {
    const rs = await Promise.all(Array.from({ length: 6 }, (_, i) => chat(`dash ${round} ${i} ${uniq('d')}`)));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    const s = await http('/v1/chat/completions', { json: { model: 'demo-small', stream: true, max_tokens: 6,
      messages: [{ role: 'user', content: `[[mock:token-delay=20]] dash stream ${uniq('s')}` }] } });
    assert.equal(s.status, 200);
    assert.equal((await chat('x', { model: 'no-such-model' })).status, 404);
    // an engine error and its retry
    await fetch(`${env.mockURL}/_mock/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 500, status_count: 1 }) });
    try {
      assert.equal((await chat(`retried ${uniq('e')}`)).status, 200);
    } finally {
      await fetch(`${env.mockURL}/_mock/faults`, { method: 'DELETE' });
    }
    await sleep(2500);	// workers flush their counters every heartbeat; scrapes every 1 s
  }
  // jobs that stay in the queue while the queue panels (the first ones) are read: a
  // gauge that left the scrapes is stale at once
  const waiting = [];
  for (let i = 0; i < 4; i++)
    waiting.push(chat(`[[mock:latency=15000]] held ${uniq('q')}`, {}, { Prefer: 'respond-async' }));
  for (const r of await Promise.all(waiting)) assert.equal(r.status, 202, r.text);
  await sleep(2500);
  const empty = [];
  for (const p of dashboard.panels) {
    for (const t of p.targets) {
      let result = [];
      for (let i = 0; i < 20; i++) {
        result = await query(t.expr);
        if (result.some((s) => Number.isFinite(Number(s.value[1])))) break;
        await sleep(500);
      }
      if (!result.some((s) => Number.isFinite(Number(s.value[1])))) empty.push(`${p.title}: ${t.expr}`);
    }
  }
  assert.deepEqual(empty, [], 'panels without data');
});
