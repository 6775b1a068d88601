// gatekeeping.test.mjs -- roles, the key lifecycle (admin HTTP API and aifctl), rate
// limits shared through MariaDB with OpenAI's headers, monthly budgets with holds that
// never let the ledger go wrong under concurrency, and metering readable by DBAs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  env, client, http, sql, sqlNumber, q, jobRow, uniq, pool, sleep, waitFor, createKey,
  expectedCost, REPO, BIN, OpenAI, adminCreateKey as adminCreate, chatBody as chat,
} from './lib.mjs';

const T = { timeout: 120000 };

test('roles: a model the role may not use is 403 permission_denied, and no job is created', T, async () => {
  const batchKey = createKey(uniq('batch'), 'batch');	// batch may use demo-small only
  const n0 = sqlNumber('SELECT COUNT(*) FROM jobs');
  await assert.rejects(client(batchKey).chat.completions.create(chat('hi')),
    (e) => e instanceof OpenAI.PermissionDeniedError && e.status === 403 && e.code === 'model_forbidden');
  assert.equal(sqlNumber('SELECT COUNT(*) FROM jobs'), n0);
  const ok = await client(batchKey).chat.completions.create({ ...chat('hi'), model: 'demo-small' });
  assert.equal(ok.object, 'chat.completion');
});

test('admin API: only admin keys; create, show, list without secrets; the new key works', T, async () => {
  const r403 = await http('/admin/keys', { key: env.apiKey });
  assert.equal(r403.status, 403);
  const k = await adminCreate({ name: uniq('adm'), role: 'user', tenant: 'team-e2e', rpm: 1000 });
  assert.equal(k.tenant, 'team-e2e');
  assert.equal(k.rpm, 1000);
  const shown = await http(`/admin/keys/${k.id}`, { key: env.adminKey });
  assert.equal(shown.status, 200);
  assert.equal(shown.json.key, undefined, 'a key is never shown again');
  assert.equal(shown.json.key_prefix, k.key.slice(0, 12));
  const list = await http('/admin/keys', { key: env.adminKey });
  assert.ok(list.json.data.some((x) => x.id === k.id));
  assert.ok(!list.text.includes(k.key), 'no secret in the list');
  const r = await client(k.key).chat.completions.create(chat('new key'));
  assert.equal(r.object, 'chat.completion');
  assert.equal(sql(`SELECT tenant FROM jobs WHERE api_key_id = ${k.id}`)[0][0], 'team-e2e');
});

test('revocation takes effect within 5 s; expiry is honoured; rotation keeps a grace period', T, async () => {
  const a = await adminCreate({ name: uniq('rev'), role: 'user' });
  await client(a.key).models.list();
  const rv = await http(`/admin/keys/${a.id}/revoke`, { key: env.adminKey, json: {} });
  assert.equal(rv.status, 200);
  assert.equal(rv.json.active, false);
  const t0 = Date.now();
  await waitFor(async () => (await http('/v1/models', { key: a.key })).status === 401,
    { timeoutMs: 5000, intervalMs: 100, what: 'the revoked key to be refused' });
  assert.ok(Date.now() - t0 <= 5000);

  const e = await adminCreate({ name: uniq('exp'), role: 'user', expires_in_s: 2 });
  assert.equal((await http('/v1/models', { key: e.key })).status, 200);
  await sleep(4500);	// expiry (2 s) + the auth cache (2 s)
  assert.equal((await http('/v1/models', { key: e.key })).status, 401);

  const o = await adminCreate({ name: uniq('rot'), role: 'user', rpm: 77 });
  const rot = await http(`/admin/keys/${o.id}/rotate`, { key: env.adminKey, json: { grace_s: 3 } });
  assert.equal(rot.status, 201);
  assert.equal(rot.json.replaces, o.id);
  assert.equal(rot.json.rpm, 77, 'the new key keeps the attributes');
  assert.equal((await http('/v1/models', { key: rot.json.key })).status, 200);
  assert.equal((await http('/v1/models', { key: o.key })).status, 200, 'the old key works during the grace period');
  await sleep(5500);
  assert.equal((await http('/v1/models', { key: o.key })).status, 401, 'and not after it');
  assert.equal((await http('/v1/models', { key: rot.json.key })).status, 200);
});

test('aifctl keys show/revoke work on the same keys', T, async () => {
  const k = await adminCreate({ name: uniq('ctl'), role: 'user' });
  const run = (args) => execFileSync(path.join(BIN, 'aifctl'), ['--config', env.config, 'keys', ...args],
    { encoding: 'utf8', env: { ...process.env, AIF_VAR_DIR: env.varDir }, cwd: REPO, timeout: 30000 });
  assert.equal(JSON.parse(run(['show', String(k.id)])).key_prefix, k.key.slice(0, 12));
  run(['revoke', String(k.id)]);
  await waitFor(async () => (await http('/v1/models', { key: k.key })).status === 401, { timeoutMs: 5000, intervalMs: 100 });
});

test('rate limit: 64 concurrent clients on a key limited to N rpm get exactly N admitted, with OpenAI headers', T, async () => {
  const N = 25;
  const k = await adminCreate({ name: uniq('rpm'), role: 'user', rpm: N });
  const results = await pool(Array.from({ length: 160 }, (_, i) => i), 64, async (i) =>
    http('/v1/chat/completions', { key: k.key, json: chat(`rl ${i}`, { max_tokens: 4 }), timeoutMs: 60000 }));
  const ok = results.filter((r) => r.status === 200);
  const limited = results.filter((r) => r.status === 429);
  assert.equal(ok.length, N, `admitted ${ok.length}, want exactly ${N}`);
  assert.equal(limited.length, results.length - N);
  for (const r of limited) {
    assert.equal(r.json.error.code, 'rate_limit_exceeded');
    assert.equal(r.json.error.type, 'requests');
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.ok(Number(r.headers.get('retry-after-ms')) > 0);
    assert.equal(r.headers.get('x-ratelimit-limit-requests'), String(N));
    assert.equal(r.headers.get('x-ratelimit-remaining-requests'), '0');
  }
  const h = ok[0].headers;
  assert.equal(h.get('x-ratelimit-limit-requests'), String(N));
  assert.match(h.get('x-ratelimit-reset-requests'), /^(\d+h)?(\d+m)?(\d+(\.\d+)?s|\d+ms)$/, 'a Go duration');
  // each admitted request saw one less; a bucket refills by one every 60/N s, so one
  // that came a little later may see one more than the one before it (GCRA counts time)
  const remaining = ok.map((r) => Number(r.headers.get('x-ratelimit-remaining-requests'))).sort((a, b) => a - b);
  assert.ok(remaining.every((v, i) => v >= 0 && v <= N - 1 && Math.abs(v - i) <= 1),
    `each admitted request saw about one less: ${remaining}`);
  assert.ok(new Set(remaining).size >= N - 2, `the counts go down: ${remaining}`);
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM jobs WHERE api_key_id = ${k.id}`), N, 'refused requests left no job');
});

test('token limit: a request whose estimate exceeds the tokens per minute is refused', T, async () => {
  const k = await adminCreate({ name: uniq('tpm'), role: 'user', tpm: 100 });
  const r = await http('/v1/chat/completions', { key: k.key, json: chat('hello', { max_tokens: 500 }) });
  assert.equal(r.status, 429);
  assert.equal(r.json.error.type, 'tokens');
  const ok = await http('/v1/chat/completions', { key: k.key, json: chat('hello', { max_tokens: 20 }) });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('x-ratelimit-limit-tokens'), '100');
  assert.ok(Number(ok.headers.get('x-ratelimit-remaining-tokens')) < 100);
});

test('budget: concurrent requests at the edge never overspend; holds are captured or released; the ledger balances', T, async () => {
  // demo-chat: 150000 in / 600000 out micro-units per Mtok. A hold is the worst case:
  // the prompt at most as many tokens as the request has bytes as it is sent (keys
  // sorted, compact), plus 64 per message, and every output token max_tokens allows:
  // ceil(p*0.15 + 100*0.6). The engine is slow, so all 40 requests are admitted or
  // refused while every hold is still held: exactly 10 fit in 10 holds + a bit.
  const prompt = (i) => `[[mock:latency=1500]] edge ${String(i).padStart(2, '0')}`;
  const sent = JSON.stringify({ max_tokens: 100, messages: [{ content: prompt(0), role: 'user' }], model: 'demo-chat' });
  const hold = Math.ceil(((sent.length + 64) * 150000 + 100 * 600000) / 1e6);
  const k = await adminCreate({ name: uniq('bud'), role: 'user', monthly_budget_micros: 10 * hold + 30 });
  const results = await pool(Array.from({ length: 40 }, (_, i) => i), 40, async (i) =>
    http('/v1/chat/completions', { key: k.key, json: chat(prompt(i), { max_tokens: 100 }), timeoutMs: 60000 }));
  const ok = results.filter((r) => r.status === 200), refused = results.filter((r) => r.status === 429);
  const holds = sql(`SELECT DISTINCT amount_micros FROM budget_ledger WHERE subject = 'key:${k.id}' AND entry = 'hold'`);
  assert.deepEqual(holds, [[String(hold)]], 'every request held the same worst case');
  assert.equal(ok.length, 10, `admitted ${ok.length}`);
  for (const r of refused) {
    assert.equal(r.json.error.code, 'insufficient_quota');
    assert.equal(r.json.error.type, 'insufficient_quota');
    assert.equal(r.headers.get('x-should-retry'), 'false');
  }
  const [[limit, held, spent]] = sql(`SELECT limit_micros, held_micros, spent_micros FROM budget_balances WHERE subject = 'key:${k.id}'`);
  assert.equal(Number(held), 0, 'no hold is left once every job finished');
  assert.ok(Number(spent) <= Number(limit), 'never over the budget');
  const usageCost = sqlNumber(`SELECT SUM(cost_micros) FROM \`usage\` WHERE api_key_id = ${k.id}`);
  assert.equal(Number(spent), usageCost, 'spent equals the metered cost');
  // ledger: per job, hold = capture + release; every admitted job captured
  const bad = sql(`SELECT job_id FROM budget_ledger WHERE subject = 'key:${k.id}' GROUP BY job_id
    HAVING SUM(entry='hold') <> 1 OR SUM(entry='capture') <> 1 OR
      SUM(IF(entry='hold', amount_micros, 0)) <> SUM(IF(entry<>'hold', amount_micros, 0))`);
  assert.deepEqual(bad, [], 'every hold is exactly captured + released');
  assert.equal(sqlNumber(`SELECT COUNT(DISTINCT job_id) FROM budget_ledger WHERE subject = 'key:${k.id}'`), ok.length);
});

test('budget: answers to a key with a budget say what is left of it (x-aif-budget-remaining-micros)', T, async () => {
  const k = await adminCreate({ name: uniq('left'), role: 'user', monthly_budget_micros: 1000000 });
  const left = (r) => r.headers.get('x-aif-budget-remaining-micros');
  const a = await http('/v1/chat/completions', { key: k.key, json: chat('left 1', { max_tokens: 50 }) });
  assert.equal(a.status, 200);
  const [[held, spent]] = sql(`SELECT held_micros, spent_micros FROM budget_balances WHERE subject = 'key:${k.id}'`);
  assert.equal(Number(held), 0);
  const first = Number(left(a));
  assert.ok(Number.isInteger(first) && first < 1000000 && first >= 1000000 - Number(spent) - 1000, `first: ${left(a)}`);
  // after a capture, the next answer says less is left, by at least what the first one cost
  const b = await http('/v1/chat/completions', { key: k.key, json: chat('left 2', { max_tokens: 50 }) });
  assert.ok(Number(left(b)) <= 1000000 - Number(spent) - 1, `second: ${left(b)} after ${spent} spent`);
  // async and stream answers carry it too; a key without a budget gets none
  const c = await http('/v1/chat/completions', { key: k.key, headers: { Prefer: 'respond-async' }, json: chat('left 3', { max_tokens: 5 }) });
  assert.equal(c.status, 202);
  assert.ok(Number.isInteger(Number(left(c))) && left(c) !== null);
  const s = await fetch(`${env.origin}/v1/chat/completions`, { method: 'POST', headers: { Authorization: `Bearer ${k.key}`, 'Content-Type': 'application/json' }, body: JSON.stringify(chat('left 4', { max_tokens: 5, stream: true })) });
  assert.equal(s.status, 200);
  assert.ok(left(s) !== null, 'a stream says it too');
  await s.text();
  const none = await http('/v1/chat/completions', { json: chat('no budget', { max_tokens: 5 }) });
  assert.equal(none.status, 200);
  assert.equal(left(none), null);
});

test('budget: a failed job releases its whole hold (the first compensation)', T, async () => {
  const k = await adminCreate({ name: uniq('rel'), role: 'user', monthly_budget_micros: 100000 });
  const r = await http('/v1/chat/completions', { key: k.key, json: chat('[[mock:status=400]] no', { max_tokens: 50 }) });
  assert.equal(r.status, 400);
  const job = jobRow(r.headers.get('x-aif-job-id'));
  assert.equal(job.state, 'failed');
  const rows = sql(`SELECT entry, amount_micros FROM budget_ledger WHERE job_id = ${job.id} ORDER BY id`);
  assert.equal(rows.length, 2);
  assert.equal(rows[0][0], 'hold');
  assert.deepEqual(rows[1], ['release', rows[0][1]]);
  assert.equal(sqlNumber(`SELECT held_micros + spent_micros FROM budget_balances WHERE subject = 'key:${k.id}'`), 0);
});

test('metering: one usage row per job; the DBA views and aifctl usage return the expected numbers', T, async () => {
  const k = await adminCreate({ name: uniq('meter'), role: 'user', tenant: `tenant-${uniq('m')}` });
  const c = client(k.key);
  const rs = [];
  for (let i = 0; i < 5; i++) rs.push(await c.chat.completions.create(chat(`meter ${i}`, { max_tokens: 7 })));
  rs.push(await c.completions.create({ model: 'demo-small', prompt: 'meter prompt', max_tokens: 5 }));
  const sum = (f) => rs.reduce((a, r) => a + r.usage[f], 0);
  const want = rs.reduce((a, r) => a + expectedCost(r.model, r.usage.prompt_tokens, r.usage.completion_tokens), 0);
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM \`usage\` WHERE api_key_id = ${k.id}`), 6);
  const daily = sql(`SELECT model, jobs, prompt_tokens, completion_tokens, cost_micros FROM v_usage_daily WHERE api_key_id = ${k.id} ORDER BY model`);
  assert.deepEqual(daily.map((r) => [r[0], Number(r[1])]), [['demo-chat', 5], ['demo-small', 1]]);
  assert.equal(daily.reduce((a, r) => a + Number(r[2]), 0), sum('prompt_tokens'));
  assert.equal(daily.reduce((a, r) => a + Number(r[3]), 0), sum('completion_tokens'));
  assert.equal(daily.reduce((a, r) => a + Number(r[4]), 0), want);
  const [[jobs, cost]] = sql(`SELECT jobs, cost_micros FROM v_spend_monthly_key WHERE api_key_id = ${k.id}`);
  assert.equal(Number(jobs), 6);
  assert.equal(Number(cost), want);
  assert.equal(sqlNumber(`SELECT cost_micros FROM v_spend_monthly_tenant WHERE tenant = ${q(k.tenant)}`), want);
  const out = JSON.parse(execFileSync(path.join(BIN, 'aifctl'), ['--config', env.config, 'usage', '--by', 'tenant', '--format', 'json'],
    { encoding: 'utf8', env: { ...process.env, AIF_VAR_DIR: env.varDir }, cwd: REPO, timeout: 30000 }));
  const mine = out.find((x) => x.tenant === k.tenant);
  assert.equal(mine.jobs, 6);
  assert.equal(mine.cost_micros, want);
  // queue depth and recent failures views answer
  assert.ok(Array.isArray(sql('SELECT model, priority, state, jobs FROM v_queue_depth')));
  const fails = sql(`SELECT public_id, last_event FROM v_recent_failures WHERE api_key_id = ${k.id}`);
  assert.deepEqual(fails, [], 'no failures for this key');
});
