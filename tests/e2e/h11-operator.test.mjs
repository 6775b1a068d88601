// h11-operator.test.mjs -- issue 11, points 17 and 18: the operator's tools are safe and
// engines behind an API key can be used.
//   17: config errors never print what ${VAR} expanded to; a reload that changes a key
//       aif-api reads only at start says so; 100k-deep YAML is refused with a nesting
//       error; aifctl escapes control characters and neutralises CSV formula cells; key
//       names and tenants with control characters are refused.
//   18: demo-auth's engine (mock-auth: vLLM with --api-key) refuses a call without the
//       key, and answers through the gateway, which sends the key from api_key_file; a
//       secret file open to group or others is refused (aifctl config check, the worker
//       at reload, the key pepper); a reload reads the key file again.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { env, client, http, sql, q, uniq, createKey, errorOf, stack, waitFor, sleep, REPO, BIN } from './lib.mjs';

const T = { timeout: 120000 };
const SECRET = 'hunter2-s3cr3t-h11';
const KEY_FILE = path.join(env.varDir, 'secrets', 'engine-key');
const AUTH_URL = (process.env.AIF_AUTH_URL || `http://127.0.0.1:${Number(env.mockPort) + 3}`).replace(/\/+$/, '');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'aif-h11-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** Runs aifctl; returns { status, stdout, stderr } (never throws on a non-zero exit). */
function aifctl(args, extraEnv = {}) {
  const r = spawnSync(path.join(BIN, 'aifctl'), args, {
    encoding: 'utf8', cwd: REPO, timeout: 90000,
    env: { ...process.env, AIF_VAR_DIR: env.varDir, AIF_CONFIG: env.config, ...extraEnv },
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A copy of the stack's config with `edit` applied, written under tmp; returns its path. */
function configCopy(name, edit) {
  const text = fs.readFileSync(env.config, 'utf8');
  const out = edit(text);
  assert.notEqual(out, text, `${name}: the edit changed nothing`);
  const p = path.join(tmp, name);
  fs.writeFileSync(p, out);
  return p;
}

const pidsOf = (re) => {
  const run = path.join(env.varDir, 'run');
  return fs.readdirSync(run).filter((f) => re.test(f))
    .map((f) => Number(fs.readFileSync(path.join(run, f), 'utf8').trim())).filter((p) => p > 0);
};
const hup = (re) => { for (const p of pidsOf(re)) { try { process.kill(p, 'SIGHUP'); } catch { /* gone */ } } };
const logOf = (name) => fs.readFileSync(path.join(env.varDir, 'log', name), 'utf8');

// ---- 17 -------------------------------------------------------------------------------------

test('11.17: aifctl config check on a bad ${VAR}-expanded value shows ${VAR}, never the secret', T, () => {
  const p = configCopy('secret-threads.yaml', (t) => t.replace(/^( {2}threads:) .*$/m, '$1 ${AIF_H11_DB_PASSWORD}'));
  const r = aifctl(['config', 'check', p], { AIF_H11_DB_PASSWORD: SECRET });
  assert.notEqual(r.status, 0, 'the bad value is refused');
  assert.match(r.stderr, /server\.threads: expected a decimal integer, got '\$\{AIF_H11_DB_PASSWORD\}'/);
  assert.ok(!`${r.stdout}${r.stderr}`.includes('hunter2'), `the secret is printed:\n${r.stderr}`);
  // the same through a message quoted after the walk (a duplicate tenant name)
  const p2 = configCopy('secret-tenant.yaml', (t) => t.replace(/^tenants:\n/m,
    'tenants:\n  - name: ${AIF_H11_DB_PASSWORD}\n  - name: ${AIF_H11_DB_PASSWORD}\n'));
  const r2 = aifctl(['config', 'check', p2], { AIF_H11_DB_PASSWORD: SECRET });
  assert.notEqual(r2.status, 0);
  assert.match(r2.stderr, /duplicate tenant name '\$\{AIF_H11_DB_PASSWORD\}'/);
  assert.ok(!`${r2.stdout}${r2.stderr}`.includes('hunter2'), `the secret is printed:\n${r2.stderr}`);
});

test('11.17: a 100k-deep YAML is refused with a nesting error', T, () => {
  const p = path.join(tmp, 'deep.yaml');
  fs.writeFileSync(p, `server: ${'['.repeat(100000)}1${']'.repeat(100000)}\n`);
  const r = aifctl(['config', 'check', p]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /deep\.yaml:1:72: nesting deeper than 64 levels of mappings and sequences/);
});

test('11.17: a reload that changes a key aif-api reads only at start names it and asks for a restart', T, async (t) => {
  if (path.resolve(env.config) === path.join(REPO, 'config', 'aif.yaml')) {
    t.skip('the stack reads the checked-in config/aif.yaml: not edited by a test');
    return;
  }
  const original = fs.readFileSync(env.config, 'utf8');
  const before = logOf('api.log').length;
  const boot = /^( {2}stream_disconnect:) (finish|cancel)/m.exec(original);
  assert.ok(boot, 'config has server.stream_disconnect');
  try {
    fs.writeFileSync(env.config, original.replace(boot[0], `${boot[1]} ${boot[2] === 'finish' ? 'cancel' : 'finish'}`));
    hup(/^api(-\d+)?\.pid$/);
    const line = await waitFor(() => {
      const m = /.*reload cannot change this key; restart aif-api to apply it.*key=server\.stream_disconnect.*/
        .exec(logOf('api.log').slice(before));
      return m && m[0];
    }, { timeoutMs: 10000, what: 'the boot-only warning in api.log' });
    assert.match(line, /level=warn/);
    // a reload with nothing boot-only changed is quiet about it
    const mark = logOf('api.log').length;
    fs.writeFileSync(env.config, original);
    hup(/^api(-\d+)?\.pid$/);
    await waitFor(() => /config reloaded/.test(logOf('api.log').slice(mark)), { timeoutMs: 10000, what: 'the second reload' });
    await sleep(300);
    assert.doesNotMatch(logOf('api.log').slice(mark), /reload cannot change this key/);
  } finally {
    fs.writeFileSync(env.config, original);
  }
  assert.equal((await http('/v1/models/demo-chat')).status, 200);
});

test('11.17: aifctl usage --format csv neutralises a tenant that starts with =', T, async () => {
  const tenant = `=HYPERLINK("http://evil.example","x")-${uniq('csv')}`;
  const made = aifctl(['keys', 'create', '--name', uniq('csv'), '--role', 'user', '--tenant', tenant]);
  assert.equal(made.status, 0, made.stderr);
  const key = made.stdout.split('\n')[0].trim();
  const r = await client(key).chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: 'csv' }] });
  assert.ok(r.choices[0].message.content);
  const out = aifctl(['usage', '--by', 'tenant', '--format', 'csv']);
  assert.equal(out.status, 0, out.stderr);
  const mine = out.stdout.split('\n').filter((l) => l.includes(tenant.slice(1).replace(/"/g, '""')));
  assert.equal(mine.length, 1, out.stdout);
  assert.ok(mine[0].startsWith(`"'${tenant.replace(/"/g, '""')}",1,`), mine[0]);
  assert.ok(!out.stdout.split('\n').some((l) => /^"?[=+\-@\t\r]/.test(l)), 'no cell starts a formula');
});

test('11.17: aifctl escapes control characters it prints (engine error texts, tenants)', T, async () => {
  const r = await http('/v1/chat/completions', { json: { model: 'demo-chat', messages: [{ role: 'user', content: 'esc' }] } });
  assert.equal(r.status, 200);
  const jobId = sql(`SELECT id FROM jobs WHERE api_key_id = (SELECT id FROM api_keys WHERE key_prefix = ${q(env.apiKey.slice(0, 12))}) ORDER BY id DESC LIMIT 1`)[0][0];
  // what a hostile engine's error text looks like once stored: an ESC sequence and a BEL
  sql(`UPDATE jobs SET error_type = 'engine_error', error_code = 'x', error_message = CONCAT('boom', CHAR(27), '[2J', CHAR(27), ']0;pwned', CHAR(7)) WHERE id = ${jobId}`);
  const out = aifctl(['jobs', 'show', String(jobId)]);
  assert.equal(out.status, 0, out.stderr);
  assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(out.stdout), `raw control bytes in: ${JSON.stringify(out.stdout)}`);
  assert.match(out.stdout, /boom\\x1b\[2J\\x1b\]0;pwned\\x07/);
  // a tenant stored with an ESC (a row from before names were validated): keys list, usage
  const tenant = `e${Math.random().toString(36).slice(2, 8)}`;	// short: keys list shows 16 bytes
  const made = aifctl(['keys', 'create', '--name', uniq('esc'), '--role', 'user', '--tenant', tenant]);
  assert.equal(made.status, 0, made.stderr);
  await client(made.stdout.split('\n')[0].trim()).chat.completions.create({ model: 'demo-chat', messages: [{ role: 'user', content: 'esc' }] });
  const evil = `CONCAT(${q(tenant)}, CHAR(27), '[31m')`;
  sql(`UPDATE api_keys SET tenant = ${evil} WHERE tenant = ${q(tenant)}`);
  sql(`UPDATE \`usage\` SET tenant = ${evil} WHERE tenant = ${q(tenant)}`);
  for (const args of [['keys', 'list'], ['usage', '--by', 'tenant']]) {
    const o = aifctl(args);
    assert.equal(o.status, 0, o.stderr);
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(o.stdout), `${args.join(' ')}: raw control bytes`);
    assert.ok(o.stdout.includes(`${tenant}\\x1b[31m`), `${args.join(' ')} lists the tenant, escaped`);
  }
});

test('11.17: a key name or tenant with control characters is refused (aifctl and POST /admin/keys)', T, async () => {
  for (const args of [['--name', `bad\x1b[31m${uniq('n')}`], ['--name', uniq('n'), '--tenant', 'team\x07bell'],
    ['--name', `x${'y'.repeat(128)}`], ['--name', `rlo\u202e${uniq('n')}`]]) {
    const r = aifctl(['keys', 'create', '--role', 'user', ...args]);
    assert.notEqual(r.status, 0, `accepted: ${JSON.stringify(args)}`);
    assert.match(r.stderr, /aifctl: the (name|tenant) (contains a control character|is longer than 128 bytes|contains an invisible or direction-changing character)/);
    assert.equal(r.stdout, '', 'no key printed');
  }
  for (const [body, param] of [[{ name: `bad\u001b${uniq('n')}`, role: 'user' }, 'name'],
    [{ name: uniq('n'), role: 'user', tenant: 'line\nbreak' }, 'tenant']]) {
    const r = await http('/admin/keys', { key: env.adminKey, json: body });
    assert.equal(r.status, 400, r.text);
    assert.equal(errorOf(r).param, param);
  }
  assert.equal(Number(sql(`SELECT COUNT(*) FROM api_keys WHERE name LIKE 'bad%' AND name REGEXP '[[:cntrl:]]'`)[0][0]), 0);
});

// ---- 18 -------------------------------------------------------------------------------------

/** The last chat request mock-auth received. */
async function lastAuthRequest() {
  const r = await fetch(`${AUTH_URL}/_mock/requests?last=1&path=/v1/chat/completions`, { signal: AbortSignal.timeout(10000) });
  assert.equal(r.status, 200);
  return (await r.json()).requests[0];
}

test('11.18: demo-auth answers through the gateway; its engine refuses a call without the key', T, async () => {
  const key = fs.readFileSync(KEY_FILE, 'utf8').trim();
  assert.equal(fs.statSync(KEY_FILE).mode & 0o777, 0o600, 'stack.sh writes the key file 0600');
  // the engine itself: no key, a wrong key -> vLLM's own 401
  for (const headers of [{}, { authorization: 'Bearer wrong' }]) {
    const direct = await fetch(`${AUTH_URL}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json', ...headers }, signal: AbortSignal.timeout(10000),
      body: JSON.stringify({ model: 'mock-llama-3-8b', messages: [{ role: 'user', content: 'no key' }] }),
    });
    assert.equal(direct.status, 401);
    assert.deepEqual(await direct.json(), { error: 'Unauthorized' });
  }
  // through the gateway: the worker sends the key from api_key_file
  const content = `with key ${uniq('auth')}`;
  const r = await client().chat.completions.create({ model: 'demo-auth', messages: [{ role: 'user', content }] });
  assert.equal(r.model, 'demo-auth');
  assert.match(r.choices[0].message.content, /^Mock answer to: with key/);
  const seen = await lastAuthRequest();
  assert.equal(seen.headers.authorization, `Bearer ${key}`);
  // streams carry it too
  const s = await client().chat.completions.create({ model: 'demo-auth', stream: true, messages: [{ role: 'user', content: 'stream' }] });
  let text = '';
  for await (const ch of s) text += ch.choices[0]?.delta?.content || '';
  assert.match(text, /^Mock answer to: stream/);
  // health probes carry it too (an engine may guard its health path)
  await waitFor(async () => {
    const r2 = await fetch(`${AUTH_URL}/_mock/requests?last=1&path=/health`, { signal: AbortSignal.timeout(10000) });
    const probe = (await r2.json()).requests[0];
    return probe && probe.headers.authorization === `Bearer ${key}`;
  }, { timeoutMs: 15000, what: 'a health probe with the key' });
  // the key is in no log
  for (const f of fs.readdirSync(path.join(env.varDir, 'log')).filter((n) => /^(api|worker)/.test(n))) {
    assert.ok(!logOf(f).includes(key), `${f} holds the engine key`);
  }
});

test('11.18: a world-readable api_key_file makes aifctl config check refuse, with the path and the fix', T, () => {
  const file = path.join(tmp, 'engine-key');
  fs.writeFileSync(file, `${SECRET}\n`, { mode: 0o644 });
  fs.chmodSync(file, 0o644);
  const p = configCopy('open-key.yaml', (t) => t.replace(/api_key_file: .*engine-key$/m, `api_key_file: ${file}`));
  const r = aifctl(['config', 'check', p]);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, new RegExp(`open-key\\.yaml:\\d+:\\d+: models\\[\\d+\\]\\.replicas\\[0\\]\\.api_key_file: ${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is readable or writable by group or others \\(mode 0644\\): chmod 600 it`));
  assert.ok(!`${r.stdout}${r.stderr}`.includes('hunter2'), 'the key is not printed');
  fs.chmodSync(file, 0o600);
  const ok = aifctl(['config', 'check', p]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /: ok \(/);
});

test('11.18: the key pepper is refused when group- or world-readable (one loader)', T, () => {
  const pepper = path.join(tmp, 'pepper');
  fs.writeFileSync(pepper, 'p'.repeat(32), { mode: 0o640 });
  fs.chmodSync(pepper, 0o640);
  const p = configCopy('open-pepper.yaml', (t) => t.replace(/^( {2}pepper_file:) .*$/m, `$1 ${pepper}`));
  const check = aifctl(['config', 'check', p]);
  assert.notEqual(check.status, 0);
  assert.match(check.stderr, /auth\.pepper_file: .*pepper is readable or writable by group or others \(mode 0640\): chmod 600 it/);
  const list = aifctl(['--config', p, 'keys', 'list']);
  assert.notEqual(list.status, 0, 'aifctl keys refuses to hash with an open pepper');
  assert.match(list.stderr, /cannot load key pepper.*mode 0640/);
});

test('11.18: a worker reload reads the key file again: an open file is refused, a new key is used', T, async () => {
  const worker1 = pidsOf(/^worker-1\.pid$/)[0];
  assert.ok(worker1, 'worker 1 runs');
  const oldKey = fs.readFileSync(KEY_FILE, 'utf8').trim();
  const before = logOf('worker-1.log').length;
  try {
    fs.chmodSync(KEY_FILE, 0o644);
    process.kill(worker1, 'SIGHUP');
    const line = await waitFor(() => {
      const m = /.*reload refused.*api_key_file.*engine-key is readable or writable by group or others \(mode 0644\).*/
        .exec(logOf('worker-1.log').slice(before));
      return m && m[0];
    }, { timeoutMs: 15000, what: 'worker 1 refusing the reload' });
    assert.ok(!line.includes(oldKey));
  } finally {
    fs.chmodSync(KEY_FILE, 0o600);
  }
  assert.equal(pidsOf(/^worker-1\.pid$/)[0], worker1, 'the refused reload kept worker 1 as it was');
  process.kill(worker1, 0);	// still alive
  // a new key: the engine restarts with it, the workers read it on SIGHUP
  const newKey = `rotated-${uniq('k')}`.replace(/[^A-Za-z0-9-]/g, '');
  stack(['stop', 'mock-auth']);
  fs.writeFileSync(KEY_FILE, `${newKey}\n`, { mode: 0o600 });
  stack(['start', 'mock-auth']);
  hup(/^worker-\d+\.pid$/);
  const r = await waitFor(async () => {
    try {
      return await client().chat.completions.create({ model: 'demo-auth', messages: [{ role: 'user', content: 'rotated' }] });
    } catch { return null; }
  }, { timeoutMs: 60000, intervalMs: 500, what: 'demo-auth to answer with the new key' });
  assert.match(r.choices[0].message.content, /^Mock answer to: rotated/);
  assert.equal((await lastAuthRequest()).headers.authorization, `Bearer ${newKey}`);
});
