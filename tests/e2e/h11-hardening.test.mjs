// h11-hardening.test.mjs -- issue 11, as an attacker and a hostile engine would try the
// gateway: slow readers cost only themselves (11.1), holds cover the worst case
// (11.2), one request's bytes cannot fail another's (11.3), answers over the cap
// (11.6), stored answers sent as stored (11.7), OpenAI's validation (11.10), the
// notes (11.11), untrusted engine answers (11.12), leases that follow jobs (11.13),
// bounded streams (11.14), fair billing (11.15), authenticated local sockets (11.16),
// fair queueing (11.19) and zero retention (11.20). Every test creates its own keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import {
  env, client, http, sql, sqlNumber, sqlValue, uniq, pool, sleep, waitFor, q, jobRow,
  jobEvents, usageRow, mockRequests, stack, BIN, adminCreateKey as adminCreate, chatBody as chat,
} from './lib.mjs';

const T = { timeout: 180000 };

/** Opens a raw HTTP/1.1 request to nginx and never reads the answer (the socket stays
 * paused: the kernel's buffers fill and then the sender's). Returns the socket. */
function neverReading(pathname, body, key = env.apiKey) {
  const s = net.connect({ host: '127.0.0.1', port: Number(env.port) });
  const json = JSON.stringify(body);
  s.on('error', () => {});
  s.on('connect', () => {
    s.write(`POST ${pathname} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
    s.pause();
  });
  return s;
}

/** Spent and held micro-units of a subject's budget this month (0 when none yet). */
function balance(subject) {
  const rows = sql(`SELECT COALESCE(SUM(spent_micros),0), COALESCE(SUM(held_micros),0), COALESCE(MAX(limit_micros),0) FROM budget_balances WHERE subject = ${q(subject)}`);
  return { spent: Number(rows[0][0]), held: Number(rows[0][1]), limit: Number(rows[0][2]) };
}

test('11.1: clients that never read cost only their own requests: 200 sync requests and 20 streams all succeed meanwhile', T, async () => {
  const hogs = [];
  try {
    // two ~5 MB answers and two endless streams nobody reads. They go through the same
    // nginx, aif-api and workers as the ordinary traffic but to another engine process
    // (demo-auth's mock): the Node mock builds a 128 x 4096-token stream in one go and
    // stalls its own event loop for seconds, which is the mock's cost, not the gateway's.
    const hog = { model: 'demo-auth' };
    for (let i = 0; i < 2; i++)
      hogs.push(neverReading('/v1/chat/completions', chat(`[[mock:pad=5000000]] big ${uniq('b')}`, hog)));
    for (let i = 0; i < 2; i++)
      hogs.push(neverReading('/v1/chat/completions', chat(`endless ${uniq('s')}`, { ...hog, max_tokens: 4096, n: 32, ignore_eos: true, stream: true })));
    await sleep(1500);	// the hogs' answers are being written (or stuck) by now
    const c = client(env.apiKey, { timeout: 20000 });
    let failed = 0, streamsOk = 0;
    const why = new Map();
    await pool(Array.from({ length: 200 }, (_, i) => i), 20, async (i) => {
      try { await c.chat.completions.create(chat(`ordinary ${i} ${uniq('o')}`)); } catch (e) {
        failed++;
        const k = `${e.status ?? '-'} ${e.code ?? e.name}`;
        why.set(k, (why.get(k) ?? 0) + 1);
      }
    });
    await pool(Array.from({ length: 20 }, (_, i) => i), 10, async (i) => {
      try {
        const s = await c.chat.completions.create(chat(`stream ${i} ${uniq('t')}`, { stream: true }));
        let n = 0;
        for await (const ch of s) n += ch.choices.length;
        if (n > 0) streamsOk++;
      } catch { /* counted below */ }
    });
    assert.equal(failed, 0, `${failed} of 200 sync requests failed while clients did not read: ${JSON.stringify([...why])}`);
    assert.equal(streamsOk, 20, `${20 - streamsOk} of 20 streams failed while clients did not read`);
  } finally {
    for (const s of hogs) s.destroy();
    // the hogs' jobs run to their end (stream_disconnect: finish): later tests of
    // demo-auth should not meet its engine still busy with them
    await waitFor(() => sqlNumber("SELECT COUNT(*) FROM jobs WHERE model = 'demo-auth' AND state IN ('queued', 'running')") === 0,
      { timeoutMs: 120000, intervalMs: 500, what: "the hogs' jobs to end" }).catch(() => {});
  }
});

test('11.2: a hold covers n, best_of and prompt arrays: a budget of 100 is never overspent', T, async () => {
  const k = await adminCreate({ name: uniq('hold'), role: 'user', monthly_budget_micros: 100 });
  const subject = `key:${k.lineage_id ?? k.id}`;
  const c = client(k.key);
  const attempts = [
    () => c.chat.completions.create(chat('hold n', { max_tokens: 10, n: 128 })),
    () => c.completions.create({ model: 'demo-chat', prompt: Array.from({ length: 100 }, (_, i) => `p${i}`), max_tokens: 10 }),
    () => c.completions.create({ model: 'demo-chat', prompt: 'best of', max_tokens: 10, n: 1, best_of: 20 }),
    () => c.completions.create({ model: 'demo-chat', prompt: 'no max_tokens at all' }),
  ];
  for (const a of attempts) {
    try { await a(); } catch (e) { assert.ok(e.status === 429 || e.status === 400, `refused as quota or invalid, got ${e.status} ${e.message}`); }
    const b = balance(subject);
    assert.ok(b.spent <= 100 && b.spent + b.held <= 100, `never over 100: ${JSON.stringify(b)}`);
  }
  // a concurrent burst of small requests: as many as fit, never more
  let ok = 0;
  await pool(Array.from({ length: 30 }, (_, i) => i), 15, async (i) => {
    try { await c.chat.completions.create(chat(`burst ${i}`, { max_tokens: 20 })); ok++; } catch { /* quota */ }
  });
  const b = balance(subject);
  assert.ok(b.spent <= 100, `the burst overspent: ${JSON.stringify(b)} after ${ok} answers`);
  assert.equal(b.held, 0, 'nothing stays held');
  // every capture stayed within its hold
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM budget_ledger c JOIN budget_ledger h ON h.job_id = c.job_id AND h.subject = c.subject AND h.entry = 'hold' WHERE c.subject = ${q(subject)} AND c.entry = 'capture' AND c.amount_micros > h.amount_micros`), 0);
  // TPM counts every choice: 128 x 20 tokens is more than a key of 2000 TPM may ask
  const t = await adminCreate({ name: uniq('tpm'), role: 'user', tpm: 2000 });
  await assert.rejects(client(t.key).chat.completions.create(chat('tpm', { max_tokens: 20, n: 128 })),
    (e) => e.status === 429 && e.code === 'rate_limit_exceeded');
});

test('11.3: an Idempotency-Key of other bytes is refused alone: another tenant meanwhile gets no 503, and the log holds no raw byte', T, async () => {
  const victim = client(env.apiKey);
  const bad = ['\u00ffA', 'x'.repeat(256), 'tab\there', ''];
  let stop = false, refused = 0, other = 0;
  const attacker = (async () => {
    while (!stop) {
      for (const h of bad) {
        const r = await http('/v1/chat/completions', { json: chat('attacker'), headers: { 'Idempotency-Key': h } });
        if (r.status === 400 && r.json?.error?.param === 'Idempotency-Key') refused++; else other++;
      }
    }
  })();
  let failures = 0;
  try {
    await pool(Array.from({ length: 80 }, (_, i) => i), 8, async (i) => {
      try { await victim.chat.completions.create(chat(`victim ${i} ${uniq('v')}`)); } catch { failures++; }
    });
  } finally {
    stop = true;
    await attacker;
  }
  assert.equal(failures, 0, 'the victim saw failures while the attacker sent bad keys');
  assert.ok(refused > 0);
  assert.equal(other, 0, 'every bad Idempotency-Key is a 400 naming the header');
  const log = fs.readFileSync(path.join(env.varDir, 'log', 'api.log'));
  assert.equal(log.indexOf(Buffer.from([0xff, 0x41])), -1, 'no raw client bytes in the log');
});

test('11.6: an answer over server.max_answer_bytes is one named, non-retried error that leaves the replica healthy; embeddings that must exceed it are refused before a job exists', T, async () => {
  const n0 = sqlNumber('SELECT COUNT(*) FROM jobs');
  const r = await http('/v1/embeddings', { json: { model: 'demo-embed', dimensions: 4096, input: Array.from({ length: 2048 }, () => 'x') } });
  assert.equal(r.status, 400);
  assert.equal(r.json.error.code, 'answer_too_large');
  assert.equal(sqlNumber('SELECT COUNT(*) FROM jobs'), n0, 'no job for a refused request');
  const big = await http('/v1/chat/completions', { json: chat(`[[mock:pad=17000000]] ${uniq('big')}`) });
  assert.equal(big.status, 502, big.text);
  assert.equal(big.json.error.code, 'answer_too_large');
  const job = jobRow(big.headers.get('x-aif-job-id'));
  assert.equal(Number(job.attempts), 1, 'not retried');
  assert.equal(jobEvents(job.id).filter((e) => e.event === 'retry_scheduled').length, 0);
  // the replica's circuit did not open: the next requests go through at once
  for (let i = 0; i < 3; i++)
    assert.equal((await http('/v1/chat/completions', { json: chat(`after ${i}`) })).status, 200);
});

test('11.7: a stored answer is sent as stored, byte for byte, inside its job object', T, async () => {
  const r = await http('/v1/chat/completions', { json: chat(`[[mock:pad=3000000]] ${uniq('stored')}`), headers: { Prefer: 'respond-async' } });
  assert.equal(r.status, 202);
  const id = r.json.id;
  await waitFor(async () => (await http(`/v1/jobs/${id}`)).json?.status === 'succeeded', { timeoutMs: 60000, what: 'the job' });
  const g = await fetch(`${env.origin}/v1/jobs/${id}`, { headers: { Authorization: `Bearer ${env.apiKey}` } });
  const raw = Buffer.from(await g.arrayBuffer());
  assert.equal(Number(g.headers.get('content-length')), raw.length);
  const text = raw.toString('utf8');
  const start = text.indexOf('"response":') + '"response":'.length;
  const end = text.lastIndexOf(',"error":');
  const stored = raw.subarray(Buffer.byteLength(text.slice(0, start)), Buffer.byteLength(text.slice(0, end)));
  const md5 = crypto.createHash('md5').update(stored).digest('hex');
  assert.equal(md5, sqlValue(`SELECT MD5(response_body) FROM jobs WHERE public_id = ${q(id)}`), 'the very bytes of the row');
  const obj = JSON.parse(text);
  assert.equal(obj.status, 'succeeded');
  assert.ok(obj.response.choices[0].message.content.length > 3000000);
});

test('11.10: what OpenAI refuses is refused before a job exists', T, async () => {
  const n0 = sqlNumber('SELECT COUNT(*) FROM jobs');
  const cases = [
    [chat('x', { response_format: { type: 'yaml' } }), 'response_format.type', 'invalid_value'],
    [chat('x', { tools: [{ type: 'function', function: { name: 'bad name' } }] }), 'tools[0].function.name', 'invalid_value'],
    [chat('x', { tool_choice: 'always' }), 'tool_choice', 'invalid_value'],
    [chat('x', { top_logprobs: 3 }), 'top_logprobs', 'invalid_value'],
  ];
  for (const [body, param, code] of cases) {
    const r = await http('/v1/chat/completions', { json: body });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal(r.json.error.param, param);
    assert.equal(r.json.error.code, code);
  }
  // n x prompts over server.max_choices (3 x 64 = 192) is a 400, not 128 stored choices
  const m = await http('/v1/completions', { json: { model: 'demo-chat', prompt: ['a', 'b', 'c'], n: 64, stream: true } });
  assert.equal(m.status, 400);
  assert.equal(m.json.error.code, 'too_many_choices');
  const b = await http('/v1/completions', { json: { model: 'demo-chat', prompt: 'p', n: 3, best_of: 2 } });
  assert.equal(b.status, 400);
  assert.equal(b.json.error.param, 'best_of');
  assert.equal(sqlNumber('SELECT COUNT(*) FROM jobs'), n0, 'no job for any of them');
  // up to the maximum every streamed choice is stored: 2 prompts x n 60
  const ok = await client().completions.create({ model: 'demo-chat', prompt: ['a', 'b'], n: 60, max_tokens: 2, stream: true });
  const seen = new Set();
  for await (const ch of ok) for (const c of ch.choices) seen.add(c.index);
  assert.equal(seen.size, 120);
});

test('11.11: a tenant name with quotes stays JSON in compensation bodies; a pepper file others can read is refused', T, async () => {
  await fetch(`${env.mockURL}/_mock/compensations`, { method: 'DELETE' });
  const tenant = `te"am\\${uniq('q').slice(-6)}`;
  const k = await adminCreate({ name: uniq('quote'), role: 'user', tenant });
  const r = await http('/v1/chat/completions', { key: k.key, json: { model: 'demo-saga', messages: [{ role: 'user', content: `[[mock:status=400]] ${uniq('c')}` }] } });
  assert.equal(r.status, 400);
  const id = r.headers.get('x-aif-job-id');
  await waitFor(() => jobRow(id).state === 'failed', { timeoutMs: 40000, intervalMs: 500, what: 'the saga' });
  const calls = (await (await fetch(`${env.mockURL}/_mock/compensations`)).json()).calls;
  assert.ok(calls.length >= 2);
  for (const c of calls) {
    const body = JSON.parse(c.body);	// throws when the tenant broke the JSON
    assert.equal(body.tenant, tenant);
  }
  // auth.pepper_file readable by others: every program refuses the config
  const dir = fs.mkdtempSync(path.join(env.varDir, 'tmp-pepper-'));
  try {
    const pepper = path.join(dir, 'pepper');
    fs.writeFileSync(pepper, crypto.randomBytes(32).toString('hex'), { mode: 0o644 });
    fs.chmodSync(pepper, 0o644);
    const cfg = path.join(dir, 'aif.yaml');
    fs.writeFileSync(cfg, fs.readFileSync(env.config, 'utf8').replace(/^( {2}pepper_file:).*$/m, `$1 ${pepper}`));
    let out = '';
    try {
      execFileSync(path.join(BIN, 'aifctl'), ['--config', cfg, 'config', 'check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AIF_VAR_DIR: env.varDir } });
      assert.fail('a world-readable pepper file was accepted');
    } catch (e) { out = String(e.stderr) + String(e.stdout); }
    assert.match(out, /pepper|permission|group|others|0644/i);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('11.12: engine answers are untrusted: absurd usage, error bodies and null choices fail their own job only, and bill nothing', T, async () => {
  const k = await adminCreate({ name: uniq('hostile'), role: 'user', monthly_budget_micros: 100000000, tpm: 100000 });
  const subject = `key:${k.lineage_id ?? k.id}`;
  const lies = [
    ['[[mock:usage=1000000000000000,1]]', 'engine_bad_usage'],
    ['[[mock:usage=100000000000000000,1]]', 'engine_bad_usage'],
    ['[[mock:usage=-1000,5]]', 'engine_bad_response'],
    ['[[mock:answer=error]]', 'engine_bad_response'],
    ['[[mock:answer=null-choices]]', 'engine_bad_response'],
  ];
  const good = [];
  const results = await Promise.all([
    ...lies.map(([d]) => http('/v1/chat/completions', { key: k.key, json: chat(`${d} ${uniq('lie')}`) })),
    ...Array.from({ length: 10 }, (_, i) => http('/v1/chat/completions', { key: k.key, json: chat(`honest ${i} ${uniq('h')}`) })
      .then((r) => { good.push(r); return r; })),
  ]);
  for (let i = 0; i < lies.length; i++) {
    const id = results[i].headers.get('x-aif-job-id');
    // an absurd usage fails at once; a malformed answer is retried (it may be a glitch)
    // and may outlast the sync wait: then its row tells
    if (results[i].status === 504) {
      assert.notEqual(lies[i][1], 'engine_bad_usage');
      await waitFor(() => jobRow(id).state === 'failed', { timeoutMs: 60000, what: `${lies[i][0]} to fail` });
      assert.equal(sqlValue(`SELECT error_code FROM jobs WHERE public_id = ${q(id)}`), lies[i][1]);
    } else {
      assert.equal(results[i].status, 502, `${lies[i][0]}: ${results[i].text}`);
      assert.equal(results[i].json.error.code, lies[i][1]);
    }
    const row = jobRow(id);
    // a usage the request cannot have is final; a malformed answer may be a glitch:
    // retried within the model's attempts, and never a success
    if (lies[i][1] === 'engine_bad_usage')
      assert.equal(Number(row.attempts), 1, 'an absurd usage is not retried');
    assert.equal(row.state, 'failed');
    assert.ok(!usageRow(row.id), 'a lie is not billed');
  }
  for (const r of good) {
    assert.equal(r.status, 200, r.text);
    const row = jobRow(r.headers.get('x-aif-job-id'));
    assert.equal(Number(row.attempts), 1, 'honest jobs ran once (no batch rolled back)');
    const u = r.json.usage;
    assert.equal(u.total_tokens, u.prompt_tokens + u.completion_tokens);
  }
  const b = balance(subject);
  assert.ok(b.spent > 0 && b.spent < 1000, `only the honest jobs were billed: ${JSON.stringify(b)}`);
  // the key's TPM bucket did not move years ahead: it still answers at once
  assert.equal((await http('/v1/chat/completions', { key: k.key, json: chat('after the lies') })).status, 200);
  assert.ok(sqlNumber(`SELECT COALESCE(MAX(total_tokens), 0) FROM \`usage\` WHERE api_key_id = ${k.lineage_id ?? k.id}`) < 100000);
});

test('11.13: a job whose commit failed is not kept alive while its worker stays busy: its lease runs out and it runs again', { timeout: 240000 }, async () => {
  // every worker always has calls in flight (its heartbeat runs with work to renew)
  let stop = false;
  const load = (async () => {
    while (!stop)
      await pool(Array.from({ length: 8 }, (_, i) => i), 8, async (i) =>
        http('/v1/chat/completions', { json: chat(`[[mock:latency=2000]] busy ${i} ${uniq('l')}`), timeoutMs: 60000 }).catch(() => null));
  })();
  const marker = uniq('lease');
  let locker = null, id = null;
  try {
    const r = await http('/v1/chat/completions', { json: chat(`[[mock:latency=3000]] ${marker}`), headers: { Prefer: 'respond-async' } });
    assert.equal(r.status, 202);
    id = r.json.id;
    await waitFor(() => jobRow(id).state === 'running', { timeoutMs: 20000, what: 'the claim' });
    // another session holds the job's row: each statement of the worker's commit waits
    // 5 s (the batch, its locking read, then one by one), and so does each heartbeat
    // before it that renews the lease (the worker's loop is single-threaded): about 50 s
    // in all, measured, more on a loaded machine. The lock outlasts all of it (90 s; 60 s
    // was not always enough), so the commit fails for good, never lands on a last try.
    // The test goes on only once the lock is held, before the engine has answered.
    locker = spawn('mariadb', [`--socket=${env.dbSocket}`, env.dbName, '-N', '-B', '--unbuffered'], { stdio: ['pipe', 'pipe', 'ignore'] });
    let lockerOut = '';
    locker.stdout.on('data', (d) => { lockerOut += d; });
    locker.stdin.end(`BEGIN; SELECT id FROM jobs WHERE public_id = ${q(id)} FOR UPDATE; SELECT 'row-locked'; SELECT SLEEP(90); ROLLBACK;\n`);
    await waitFor(() => lockerOut.includes('row-locked'), { timeoutMs: 15000, what: 'the other session to hold the row' });
    assert.equal(jobRow(id).state, 'running', 'the lock came before the commit (the test holds)');
    const done = await waitFor(() => jobRow(id).state === 'succeeded', { timeoutMs: 180000, intervalMs: 1000, what: 'the job to run again and succeed (not kept alive by a busy worker)' });
    assert.ok(done);
  } finally {
    locker?.kill();
    stop = true;
    await load;
  }
  const ev = jobEvents(jobRow(id).id).map((e) => e.event);
  assert.ok(ev.includes('lease_expired'), `the lease ran out (not renewed after the failed commit): ${ev.join(',')}`);
  assert.ok(Number(jobRow(id).attempts) >= 2);
});

test('11.14: a stream of 40,000 tool-call deltas assembles linearly and is stored whole; one over the cap ends with an error event', T, async () => {
  const s = await client().chat.completions.create(chat(`[[mock:tool-deltas=40000]] ${uniq('tools')}`, { stream: true }));
  let args = '', finish = null;
  for await (const ch of s) {
    const d = ch.choices[0]?.delta;
    for (const t of d?.tool_calls ?? []) args += t.function?.arguments ?? '';
    if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
  }
  assert.equal(args.length, 40000);
  assert.equal(finish, 'tool_calls');
  const row = sql(`SELECT public_id FROM jobs WHERE request_body LIKE '%tool-deltas=40000%' ORDER BY id DESC LIMIT 1`)[0][0];
  const stored = JSON.parse(sqlValue(`SELECT response_body FROM jobs WHERE public_id = ${q(row)}`));
  assert.equal(stored.choices[0].message.tool_calls[0].function.arguments.length, 40000);
  // 40,000 deltas of 512 bytes: 20 MB of tool-call text, over server.max_answer_bytes:
  // the client's stream ends with an error event (no silent end), the job fails once
  const marker = uniq('toobig');
  const big = await client().chat.completions.create(chat(`[[mock:tool-deltas=40000]] [[mock:tool-delta-bytes=512]] ${marker}`, { stream: true }));
  let err = null;
  try { for await (const ch of big) void ch; } catch (e) { err = e; }
  assert.ok(err, 'the stream did not end quietly');
  assert.match(String(err.message), /larger than the gateway keeps|answer_too_large/);
  const bigId = sql(`SELECT public_id FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)}`)[0][0];
  await waitFor(() => jobRow(bigId).state === 'failed', { timeoutMs: 30000, what: 'the oversized stream job to fail' });
  assert.equal(Number(jobRow(bigId).attempts), 1, 'not run again');
  assert.equal(sqlValue(`SELECT error_code FROM jobs WHERE public_id = ${q(bigId)}`), 'answer_too_large');
});

test('11.15: jobs of a model a reload removed fail (model_not_found) and release their holds', T, async () => {
  const original = fs.readFileSync(env.config, 'utf8');
  const model = `demo-gone-${uniq('g').replace(/[^a-z0-9]/gi, '').slice(-8).toLowerCase()}`;
  const apiPids = () => fs.readdirSync(path.join(env.varDir, 'run')).filter((f) => /^api(-\d+)?\.pid$/.test(f))
    .map((f) => Number(fs.readFileSync(path.join(env.varDir, 'run', f), 'utf8').trim())).filter((p) => p > 0);
  const hupApi = () => { for (const p of apiPids()) { try { process.kill(p, 'SIGHUP'); } catch { /* gone */ } } };
  const k = await adminCreate({ name: uniq('gone'), role: 'user', monthly_budget_micros: 1000000 });
  const subject = `key:${k.lineage_id ?? k.id}`;
  try {
    // only aif-api learns the model: no worker claims its jobs
    fs.writeFileSync(env.config, original.replace('\nroles:', `\n  - id: ${model}\n    adapter: openai\n    upstream_model: mock-llama-3-8b\n    replicas:\n      - url: http://127.0.0.1:${env.mockPort}\n    pricing: {input_per_mtok: 150000, output_per_mtok: 600000}\n\nroles:`));
    hupApi();
    await waitFor(async () => (await http(`/v1/models/${model}`)).status === 200, { timeoutMs: 10000, what: 'aif-api to know the model' });
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const r = await http('/v1/chat/completions', { key: k.key, json: { model, messages: [{ role: 'user', content: `q ${i}` }] }, headers: { Prefer: 'respond-async' } });
      assert.equal(r.status, 202, r.text);
      ids.push(r.json.id);
    }
    assert.ok(balance(subject).held > 0, 'the jobs hold budget');
    fs.writeFileSync(env.config, original);
    hupApi();
    execFileSync(path.join(BIN, 'aif-cron'), ['--config', env.config, 'reap', '--grace', '0'], { env: { ...process.env, AIF_VAR_DIR: env.varDir }, stdio: 'ignore' });
    for (const id of ids) {
      assert.equal(jobRow(id).state, 'failed');
      assert.equal(sqlValue(`SELECT error_code FROM jobs WHERE public_id = ${q(id)}`), 'model_not_found');
    }
    const b = balance(subject);
    assert.equal(b.held, 0, 'the holds were released');
    assert.equal(b.spent, 0);
  } finally {
    fs.writeFileSync(env.config, original);
    hupApi();
  }
});

/** A relay frame (core/protocol/relay_proto.h) with a tag nobody can check. */
function forgedFrame(job, type, attempt, payload) {
  const p = Buffer.from(payload);
  const h = Buffer.alloc(36);
  h.writeBigUInt64LE(BigInt(job), 0);
  h.writeUInt32LE(type, 8);
  h.writeUInt32LE(p.length, 12);
  h.writeUInt32LE(attempt, 16);
  crypto.randomBytes(16).copy(h, 20);
  return Buffer.concat([h, p]);
}

test('11.16: local sockets are authenticated: a forged relay frame is dropped; a second worker with a taken id does not start', T, async () => {
  const marker = uniq('relay');
  const s = await client().chat.completions.create(chat(`[[mock:latency=1500]] ${marker}`, { stream: true }));
  const job = await waitFor(() => {
    const rows = sql(`SELECT id FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)}`);
    return rows.length ? Number(rows[0][0]) : null;
  }, { timeoutMs: 10000, what: 'the job row' });
  const run = path.join(env.varDir, 'run');
  for (const f of fs.readdirSync(run).filter((x) => x.endsWith('.relay'))) {
    await new Promise((resolve) => {
      const c = net.connect(path.join(run, f), () => {
        c.end(Buffer.concat([
          forgedFrame(job, 1, 1, '{"attempt":1}'),
          forgedFrame(job, 2, 1, JSON.stringify({ id: 'x', object: 'chat.completion.chunk', created: 1, model: 'demo-chat', choices: [{ index: 0, delta: { content: 'FORGED' }, finish_reason: null }] })),
          forgedFrame(job, 3, 1, '{"status":200,"id":"x","created":1,"model":"demo-chat","usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'),
        ]), resolve);
      });
      c.on('error', resolve);
    });
  }
  let text = '';
  for await (const ch of s) text += ch.choices[0]?.delta?.content ?? '';
  assert.doesNotMatch(text, /FORGED/);
  assert.match(text, /Mock answer/, 'the real answer arrived whole');
  // one process per worker id
  const sockBefore = fs.statSync(path.join(run, 'worker-1.sock')).ino;
  let out = '';
  try {
    execFileSync(path.join(BIN, 'aif-worker'), ['--config', env.config, '--id', '1'], { encoding: 'utf8', timeout: 20000, env: { ...process.env, AIF_VAR_DIR: env.varDir }, stdio: ['ignore', 'pipe', 'pipe'] });
    assert.fail('a second worker 1 started');
  } catch (e) { out = String(e.stderr); }
  assert.match(out, /another aif-worker runs with this id/);
  assert.equal(fs.statSync(path.join(run, 'worker-1.sock')).ino, sockBefore, 'worker 1 keeps its doorbell');
  assert.equal((await http('/v1/chat/completions', { json: chat('still served') })).status, 200);
});

test('11.19: a sync job whose caller gave up before it was claimed is not run; one tenant cannot fill the queue', T, async () => {
  // demo-capped takes 3 calls at once: keep them busy
  const busy = Array.from({ length: 3 }, (_, i) => http('/v1/chat/completions', { json: { model: 'demo-capped', messages: [{ role: 'user', content: `[[mock:latency=6000]] busy ${i} ${uniq('b')}` }] }, timeoutMs: 60000 }));
  await sleep(800);
  const marker = uniq('late');
  const r = await http('/v1/chat/completions', { json: { model: 'demo-capped', messages: [{ role: 'user', content: marker }] }, headers: { 'X-Request-Timeout': '1' } });
  assert.equal(r.status, 504, r.text);
  assert.equal(r.json.error.code, 'request_expired', 'the caller is told it did not run');
  const id = r.headers.get('x-aif-job-id');
  assert.equal(jobRow(id).state, 'cancelled', 'ended at the deadline, not left in the queue');
  // a key of team-queue (3 queued jobs at most) while the slots are busy
  const k = await adminCreate({ name: uniq('flood'), role: 'user', tenant: 'team-queue' });
  const codes = [];
  for (let i = 0; i < 5; i++) {
    const a = await http('/v1/chat/completions', { key: k.key, json: { model: 'demo-capped', messages: [{ role: 'user', content: `flood ${i}` }] }, headers: { Prefer: 'respond-async' } });
    codes.push(a.status === 429 ? a.json.error.code : a.status);
  }
  assert.deepEqual(codes.slice(0, 3), [202, 202, 202]);
  assert.deepEqual(codes.slice(3), ['tenant_queue_full', 'tenant_queue_full']);
  await Promise.all(busy);
  await waitFor(() => jobRow(id).state === 'cancelled', { timeoutMs: 30000, what: 'the late job to be ended without running' });
  assert.equal(sqlValue(`SELECT error_code FROM jobs WHERE public_id = ${q(id)}`), 'request_expired');
  assert.ok(!usageRow(jobRow(id).id), 'not billed');
  const reqs = await mockRequests(5000, '/v1/chat/completions');
  assert.ok(!reqs.some((x) => JSON.stringify(x).includes(marker)), 'the engine never saw it');
});

test('11.19: a rotated key still counts against its tenant\'s queue cap; the 429 carries Retry-After and retry-after-ms', T, async () => {
  await waitFor(() => sqlNumber("SELECT COUNT(*) FROM jobs WHERE tenant = 'team-queue' AND state = 'queued'") === 0,
    { timeoutMs: 60000, what: 'team-queue to have nothing queued' });
  // demo-capped takes 3 calls at once: keep them busy so that async jobs stay queued
  const busy = Array.from({ length: 3 }, (_, i) => http('/v1/chat/completions', { json: { model: 'demo-capped', messages: [{ role: 'user', content: `[[mock:latency=6000]] busy ${i} ${uniq('b')}` }] }, timeoutMs: 60000 }));
  await sleep(800);
  const k = await adminCreate({ name: uniq('rotq'), role: 'user', tenant: 'team-queue' });
  const submit = (key, i) => http('/v1/chat/completions', { key, json: { model: 'demo-capped', messages: [{ role: 'user', content: `rotq ${i} ${uniq('q')}` }] }, headers: { Prefer: 'respond-async' } });
  assert.equal((await submit(k.key, 0)).status, 202);
  assert.equal((await submit(k.key, 1)).status, 202);
  const rot = await http(`/admin/keys/${k.id}/rotate`, { key: env.adminKey, json: { grace_s: 0 } });
  assert.equal(rot.status, 201, rot.text);
  assert.equal((await submit(rot.json.key, 2)).status, 202, 'the third job fits the cap of 3');
  const full = await submit(rot.json.key, 3);
  assert.equal(full.status, 429, full.text);
  assert.equal(full.json.error.code, 'tenant_queue_full', 'the predecessor\'s queued jobs count');
  assert.equal(full.headers.get('retry-after'), '1');
  assert.equal(full.headers.get('retry-after-ms'), '1000');
  await Promise.all(busy);
});

test('11.20: zero retention: the answer reaches the client, no body stays in the database', T, async () => {
  const marker = uniq('private');
  const c = await client().chat.completions.create({ model: 'demo-private', messages: [{ role: 'user', content: `secret plan ${marker}` }] });
  assert.match(c.choices[0].message.content, /Mock answer/);
  const row = sql(`SELECT public_id, request_body, response_body IS NULL, zero_retention FROM jobs WHERE model = 'demo-private' ORDER BY id DESC LIMIT 1`)[0];
  assert.equal(row[1], '', 'the request body is gone');
  assert.equal(row[2], '1', 'no answer stored');
  assert.equal(row[3], '1');
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)}`), 0);
  assert.ok(usageRow(jobRow(row[0]).id), 'usage is kept');
  const g = await http(`/v1/jobs/${row[0]}`);
  assert.equal(g.json.status, 'succeeded');
  assert.equal(g.json.response, null);
});

test('11.15: under stream_disconnect: cancel, a stream whose client left is billed for its prompt and the tokens it got', { timeout: 240000 }, async () => {
  const original = fs.readFileSync(env.config, 'utf8');
  assert.match(original, /^ {2}stream_disconnect: finish/m);
  const k = await adminCreate({ name: uniq('left'), role: 'user', monthly_budget_micros: 100000000 });
  const subject = `key:${k.lineage_id ?? k.id}`;
  try {
    fs.writeFileSync(env.config, original.replace(/^( {2}stream_disconnect:) finish/m, '$1 cancel'));
    stack(['restart-api'], { timeoutMs: 120000 });
    await waitFor(async () => (await http('/healthz', { key: null })).status === 200, { timeoutMs: 30000, what: 'aif-api back' });
    const ac = new AbortController();
    const marker = uniq('gone');
    const s = await client(k.key).chat.completions.create(chat(`[[mock:tokens=400]] [[mock:token-delay=20]] ${marker}`, { stream: true, max_tokens: 400 }), { signal: ac.signal });
    let got = 0;
    try {
      for await (const ch of s) {
        if (ch.choices[0]?.delta?.content) got++;
        if (got >= 20) ac.abort();
      }
    } catch { /* aborted */ }
    const id = await waitFor(() => {
      const rows = sql(`SELECT public_id FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)} AND state = 'cancelled'`);
      return rows.length ? rows[0][0] : null;
    }, { timeoutMs: 30000, what: 'the job cancelled' });
    const u = usageRow(jobRow(id).id);
    assert.ok(u, 'the cancelled stream has a usage row');
    assert.ok(Number(u.completion_tokens) >= 20 && Number(u.completion_tokens) < 400, `billed the tokens relayed: ${u.completion_tokens}`);
    assert.ok(Number(u.prompt_tokens) > 0);
    const b = balance(subject);
    assert.ok(b.spent > 0, 'the budget was charged');
    assert.equal(b.held, 0);
  } finally {
    fs.writeFileSync(env.config, original);
    stack(['restart-api'], { timeoutMs: 120000 });
    await waitFor(async () => (await http('/healthz', { key: null })).status === 200, { timeoutMs: 30000, what: 'aif-api back' });
  }
});

test('11.1: a stream paused for a client that never reads finishes at full speed once that client leaves (stream_disconnect: finish)', T, async () => {
  const marker = uniq('paused');
  const s = neverReading('/v1/chat/completions', chat(`${marker}`, { max_tokens: 2048, n: 32, ignore_eos: true, stream: true }));
  try {
    const id = await waitFor(() => sqlValue(`SELECT public_id FROM jobs WHERE request_body LIKE ${q(`%${marker}%`)}`) || null,
      { timeoutMs: 20000, what: 'the job of the stream nobody reads' });
    await sleep(3000);	// megabytes unread by now: the engine call is paused
    s.destroy();
    const row = await waitFor(() => { const r = jobRow(id); return r && r.state !== 'queued' && r.state !== 'running' ? r : null; },
      { timeoutMs: 60000, what: 'the abandoned stream job to end' });
    assert.equal(row.state, 'succeeded');
    const events = jobEvents(row.id).map((e) => e.event);
    assert.ok(events.includes('client_disconnected'), events.join());
    assert.ok(!events.includes('attempt_failed'), `the paused attempt went on: ${events.join()}`);
    assert.equal(Number(row.attempts), 1);
  } finally {
    s.destroy();
  }
});
