// h11-keys-ready.test.mjs -- issue 11, points 8 and 9.
//
// 8. Key lineage: a revoked key cannot be rotated; only the newest live key of a
//    lineage can be (so a key has at most one live successor); the successor shares
//    its predecessor's budget spend and RPM bucket, and each reads and cancels the
//    other's jobs while both are live (sql/009_key_lineage.sql, core/gate/keys.h).
// 9. Readiness: /readyz without an admin key says only ready or not; an admin key gets
//    the details; models marked `optional: true` (demo-fallback, demo-down in
//    config/aif.yaml) do not make the gateway unready, a required one does.
//
// Each test makes its own keys (the admin API), so the tests are independent.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {
  env, client, http, sql, sqlNumber, q, uniq, errorOf, waitFor, REPO, BIN, adminCreateKey as adminCreate, chatBody as chat,
} from './lib.mjs';

const T = { timeout: 120000 };

const rotate = (id, grace_s) => http(`/admin/keys/${id}/rotate`, { key: env.adminKey, json: { grace_s } });

async function rotateOk(id, grace_s) {
  const r = await rotate(id, grace_s);
  assert.equal(r.status, 201, `rotate ${id}: ${r.text}`);
  return r.json;
}

/** aifctl keys ARGS... of the stack under test: { status, stdout, stderr }. */
function aifctlKeys(...args) {
  const r = spawnSync(path.join(BIN, 'aifctl'), ['--config', env.config, 'keys', ...args], {
    encoding: 'utf8', timeout: 60000, cwd: REPO,
    env: { ...process.env, AIF_VAR_DIR: env.varDir, AIF_DB_NAME: env.dbName },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const liveKeysNamed = (name) => sqlNumber(`SELECT COUNT(*) FROM api_keys WHERE name = ${q(name)}` +
  ' AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > NOW(6))');

// ---- 8: key lineage ---------------------------------------------------------------------

test('11.8: a revoked key cannot be rotated: 409 key_not_active, a clear aifctl error, no new key', T, async () => {
  const name = uniq('h11-rev');
  const k = await adminCreate({ name, role: 'user' });
  assert.equal((await http(`/admin/keys/${k.id}/revoke`, { key: env.adminKey, json: {} })).status, 200);

  const r = await rotate(k.id, 60);
  assert.equal(r.status, 409, r.text);
  const e = errorOf(r);
  assert.equal(e.code, 'key_not_active');
  assert.equal(e.param, 'id');
  assert.match(e.message, new RegExp(`\\b${k.id}\\b.*revoked or expired`));

  const c = aifctlKeys('rotate', String(k.id));
  assert.notEqual(c.status, 0, 'aifctl refuses');
  assert.equal(c.stdout, '', 'no secret printed');
  assert.match(c.stderr, new RegExp(`key ${k.id} is revoked or expired`));

  assert.equal(sqlNumber(`SELECT COUNT(*) FROM api_keys WHERE name = ${q(name)}`), 1, 'no key was made');
  assert.equal((await http('/v1/models', { key: k.key })).status, 401);
});

test('11.8: only the newest live key of a lineage can be rotated: at most one live successor', T, async () => {
  const name = uniq('h11-twice');
  const k = await adminCreate({ name, role: 'user', rpm: 500 });
  const s1 = await rotateOk(k.id, 600);
  assert.equal(s1.replaces, k.id);
  assert.equal(s1.lineage_id, k.id);

  // a second rotation of the same key is refused, naming its live successor
  const r2 = await rotate(k.id, 600);
  assert.equal(r2.status, 409, r2.text);
  const e = errorOf(r2);
  assert.equal(e.code, 'key_already_rotated');
  assert.match(e.message, new RegExp(`live successor, key ${s1.id}\\b`));
  const c = aifctlKeys('rotate', String(k.id), '--grace', '600');
  assert.notEqual(c.status, 0);
  assert.equal(c.stdout, '');
  assert.match(c.stderr, new RegExp(`key ${k.id} already has a live successor, key ${s1.id}\\b`));
  assert.equal(liveKeysNamed(name), 2, 'the key in its grace period and one successor');

  // the chain goes on from its newest key; the first key still cannot branch off
  const s2 = await rotateOk(s1.id, 0);
  assert.equal(s2.replaces, s1.id);
  assert.equal(s2.lineage_id, k.id);
  assert.equal(s2.rpm, 500, 'the attributes follow the chain');
  const r3 = await rotate(k.id, 600);
  assert.equal(r3.status, 409, r3.text);
  assert.equal(errorOf(r3).code, 'key_already_rotated');
  assert.match(errorOf(r3).message, new RegExp(`key ${s2.id}\\b`));
  assert.equal(liveKeysNamed(name), 2);
  const shown = await http(`/admin/keys/${s1.id}`, { key: env.adminKey });
  assert.equal(shown.json.active, false, 'rotated with grace 0: revoked');
});

test('11.8: the successor shares the budget: it cannot spend more than what is left', T, async () => {
  // demo-chat: 0.6 micro-units per completion token. The old key spends ~600 of 1000;
  // a request that holds ~600 again fits a fresh budget of 1000 but not what is left.
  const k = await adminCreate({ name: uniq('h11-bud'), role: 'user', monthly_budget_micros: 1000 });
  const spend = await client(k.key).chat.completions.create(
    chat(`[[mock:tokens=1000]] spend ${uniq('s')}`, { max_tokens: 1000 }));
  assert.equal(spend.usage.completion_tokens, 1000);
  const month = "DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m')";
  const spent = sqlNumber(`SELECT spent_micros FROM budget_balances WHERE subject = 'key:${k.id}' AND month = ${month}`);
  assert.ok(spent >= 600 && spent < 1000, `spent ${spent}`);

  const s = await rotateOk(k.id, 600);
  const big = await http('/v1/chat/completions', { key: s.key, json: chat(`big ${uniq('b')}`, { max_tokens: 1000 }) });
  assert.equal(big.status, 429, `the successor's hold must not fit in ${1000 - spent}: ${big.text.slice(0, 300)}`);
  assert.equal(errorOf(big).code, 'insufficient_quota');

  // a small request fits, and is held and spent against the lineage's budget
  const small = await client(s.key).chat.completions.create(chat(`small ${uniq('m')}`, { max_tokens: 5 }));
  assert.equal(small.object, 'chat.completion');
  const job = sqlNumber(`SELECT MAX(id) FROM jobs WHERE api_key_id = ${k.id}`);
  assert.deepEqual(sql(`SELECT DISTINCT subject FROM budget_ledger WHERE job_id = ${job}`), [[`key:${k.id}`]]);
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM budget_balances WHERE subject = 'key:${s.id}'`), 0, 'no budget of its own');
  assert.ok(sqlNumber(`SELECT spent_micros FROM budget_balances WHERE subject = 'key:${k.id}' AND month = ${month}`) > spent);
});

test('11.8: the successor shares the RPM bucket: rotation does not reset the limit', T, async () => {
  const k = await adminCreate({ name: uniq('h11-rpm'), role: 'user', rpm: 3 });
  for (let i = 0; i < 2; i++) {
    const r = await http('/v1/chat/completions', { key: k.key, json: chat(`rpm ${i} ${uniq('r')}`, { max_tokens: 4 }) });
    assert.equal(r.status, 200, r.text);
  }
  const s = await rotateOk(k.id, 600);
  assert.equal(s.rpm, 3);
  const third = await http('/v1/chat/completions', { key: s.key, json: chat(`rpm 3 ${uniq('r')}`, { max_tokens: 4 }) });
  assert.equal(third.status, 200, third.text);
  assert.equal(third.headers.get('x-ratelimit-remaining-requests'), '0');
  for (const key of [s.key, k.key]) {
    const r = await http('/v1/chat/completions', { key, json: chat(`rpm over ${uniq('r')}`, { max_tokens: 4 }) });
    assert.equal(r.status, 429, r.text);
    assert.equal(errorOf(r).code, 'rate_limit_exceeded');
    assert.equal(errorOf(r).type, 'requests');
  }
});

test('11.8: the successor reads and cancels its predecessor\'s jobs, and the other way round', T, async () => {
  const k = await adminCreate({ name: uniq('h11-jobs'), role: 'user' });
  const submit = async (key, what) => {
    const r = await http('/v1/chat/completions', {
      key, headers: { Prefer: 'respond-async' },
      json: chat(`[[mock:latency=20000]] ${what} ${uniq('j')}`, { max_tokens: 4 }),
    });
    assert.equal(r.status, 202, r.text);
    return r.json.id;
  };
  const oldJob = await submit(k.key, 'old');
  const s = await rotateOk(k.id, 600);

  const got = await http(`/v1/jobs/${oldJob}`, { key: s.key });
  assert.equal(got.status, 200, got.text);
  assert.equal(got.json.id, oldJob);
  const cancelled = await http(`/v1/jobs/${oldJob}/cancel`, { key: s.key, json: {} });
  assert.equal(cancelled.status, 200, cancelled.text);
  assert.equal(cancelled.json.status, 'cancelled');
  assert.equal(sql(`SELECT state FROM jobs WHERE public_id = ${q(oldJob)}`)[0][0], 'cancelled');

  // while both keys live, the predecessor sees and cancels the successor's jobs too
  const newJob = await submit(s.key, 'new');
  assert.equal((await http(`/v1/jobs/${newJob}`, { key: k.key })).status, 200);
  const c2 = await http(`/v1/jobs/${newJob}/cancel`, { key: k.key, json: {} });
  assert.equal(c2.status, 200, c2.text);
  assert.equal(c2.json.status, 'cancelled');
  // and a key of another lineage still sees neither
  assert.equal((await http(`/v1/jobs/${oldJob}`, { key: env.apiKey })).status, 404);
  assert.equal((await http(`/v1/jobs/${newJob}/cancel`, { key: env.apiKey, json: {} })).status, 404);
});

// ---- 9: readiness ---------------------------------------------------------------------------

/** /readyz once the workers have reported their replicas (bounded wait). */
async function readyz(key, want = 200) {
  let r;
  await waitFor(async () => (r = await http('/readyz', { key })).status === want,
    { timeoutMs: 20000, intervalMs: 250, what: `/readyz ${want}` }).catch((e) => {
    e.message += ` (last: ${r && r.status} ${r && r.text.slice(0, 300)})`;
    throw e;
  });
  return r;
}

test('11.9: /readyz without an admin key says only whether the gateway is ready', T, async () => {
  // the local stack serves every model but demo-fallback and demo-down, which are optional
  const r = await readyz(null);
  assert.deepEqual(r.json, { status: 'ready' });
  assert.doesNotMatch(r.text, /demo-|checks|database/);
  // a key that is not an admin's, or no key at all, learns nothing more
  for (const key of [env.apiKey, 'aif_not_a_key']) {
    const u = await http('/readyz', { key });
    assert.equal(u.status, 200);
    assert.deepEqual(u.json, { status: 'ready' });
  }
});

test('11.9: /readyz with an admin key gives the details; optional models without a healthy replica leave it ready', T, async () => {
  const r = await readyz(env.adminKey);
  assert.equal(r.json.status, 'ready');
  assert.equal(r.json.checks.config, true);
  assert.equal(r.json.checks.database, true);
  assert.equal(r.json.checks.models_have_a_healthy_replica, true);
  const m = r.json.checks.models;
  assert.ok(m['demo-chat'].healthy >= 1);
  assert.equal(m['demo-chat'].optional, false);
  for (const id of ['demo-down', 'demo-fallback'])
    assert.deepEqual(m[id], { replicas: 1, healthy: 0, optional: true }, id);
});

// A required model without a healthy replica: demo-down with `optional: false`, through
// a SIGHUP reload of the stack's configuration (restored afterwards).
let original;
function stackPids() {
  const run = path.join(env.varDir, 'run');
  return fs.readdirSync(run).filter((f) => /^(api(-\d+)?|worker-\d+)\.pid$/.test(f))
    .map((f) => Number(fs.readFileSync(path.join(run, f), 'utf8').trim())).filter((p) => p > 0);
}
function hup() { for (const p of stackPids()) { try { process.kill(p, 'SIGHUP'); } catch { /* gone */ } } }
function restoreConfig() {
  if (original === undefined) return;
  fs.writeFileSync(env.config, original);
  original = undefined;
  hup();
}
after(restoreConfig);

test('11.9: a required model without a healthy replica makes the gateway unready', T, async () => {
  original = fs.readFileSync(env.config, 'utf8');
  const re = /(- id: demo-down\n(?: {4}.*\n)*? {4}optional: )true/;
  assert.match(original, re, 'config/aif.yaml marks demo-down optional');
  try {
    fs.writeFileSync(env.config, original.replace(re, '$1false'));
    hup();
    const pub = await readyz(null, 503);
    assert.deepEqual(pub.json, { status: 'not_ready' });
    const adm = await http('/readyz', { key: env.adminKey });
    assert.equal(adm.status, 503);
    assert.equal(adm.json.checks.models_have_a_healthy_replica, false);
    assert.deepEqual(adm.json.checks.models['demo-down'], { replicas: 1, healthy: 0, optional: false });
  } finally {
    restoreConfig();
  }
  assert.deepEqual((await readyz(null, 200)).json, { status: 'ready' });
});
