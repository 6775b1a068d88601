// Doorbells and stream relays between hosts (issue 18, point 1; docs/SCALE.md): the
// stack is restarted with `cluster.address: 127.0.0.1` and a cluster secret, so every
// aif-api and worker publishes a UDP doorbell and aif-api a TCP relay instead of Unix
// sockets in run_dir. Sync and streamed requests must still go through, answered over
// those; unsealed datagrams and a relay connection that skips the sealed HELLO must be
// refused. The stack gets its own config back afterwards.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { client, collect, env, sql, stack, startWorker, stopWorkers, uniq, waitFor } from './lib.mjs';

const T = { timeout: 180000 };
const secretFile = path.join(env.varDir, 'cluster.key');
let original;

function restartAll() {
  stopWorkers();
  stack(['restart-api']);
  startWorker(1);
  startWorker(2);
}

const liveDoorbells = () => sql(
  "SELECT doorbell FROM workers WHERE state = 'running' AND heartbeat_at > NOW(6) - INTERVAL 10 SECOND",
).map((r) => r[0]);

after(async () => {
  if (original === undefined) return;
  fs.writeFileSync(env.config, original);
  restartAll();
  await waitFor(() => liveDoorbells().length >= 2 && liveDoorbells().every((d) => d.startsWith('/')),
    { timeoutMs: 30000, what: 'workers back on Unix doorbells' });
});

test('with cluster.address set, doorbells are UDP, relays TCP, and requests go through them', T, async () => {
  original = fs.readFileSync(env.config, 'utf8');
  const logDir = path.join(env.varDir, 'log');
  const apiLogs = () => fs.readdirSync(logDir).filter((f) => /^api(-\d+)?\.log$/.test(f));
  const sizesNow = () => new Map(apiLogs().map((f) => [f, fs.statSync(path.join(logDir, f)).size]));
  const since = (sizes, f) => fs.readFileSync(path.join(logDir, f)).subarray(sizes.get(f) ?? 0).toString('utf8');
  const atStart = sizesNow();
  fs.writeFileSync(secretFile, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
  fs.writeFileSync(env.config, `${original}\ncluster:\n  address: 127.0.0.1\n  secret_file: ${secretFile}\n`);
  restartAll();
  await waitFor(() => liveDoorbells().length >= 2, { timeoutMs: 30000, what: 'two workers registered' });
  for (const d of liveDoorbells()) assert.match(d, /^udp:127\.0\.0\.1:\d+$/, 'a worker publishes a network doorbell');
  // run_dir keeps the FastCGI sockets (api.sock, api-2.sock) and the lock files only:
  // no api-<pid>.sock / .relay of the running aif-api processes, no worker-<n>.sock
  const runDir = path.join(env.varDir, 'run');
  const files = fs.readdirSync(runDir);
  const apiPids = files.filter((f) => /^api(-\d+)?\.pid$/.test(f))
    .map((f) => fs.readFileSync(path.join(runDir, f), 'utf8').trim());
  assert.ok(apiPids.length >= 1);
  const bells = files.filter((f) => /^worker-\d+\.sock$/.test(f) ||
    apiPids.some((p) => f === `api-${p}.sock` || f === `api-${p}.relay`));
  assert.deepEqual(bells, [], 'no doorbell or relay socket in run_dir');

  // a sync request: answered, its job row names a network doorbell to ring
  const tag = uniq('cl');
  const r = await client().chat.completions.create({ model: 'demo-chat', max_tokens: 8, messages: [{ role: 'user', content: `sync ${tag}` }] });
  assert.ok(r.choices[0].message.content.length > 0);
  const replyTo = sql(`SELECT reply_to FROM jobs WHERE request_body LIKE '%sync ${tag}%' ORDER BY id DESC LIMIT 1`)[0][0];
  assert.match(replyTo, /^udp:127\.0\.0\.1:\d+$/);

  // a stream paced by the engine arrives chunk by chunk: relayed over TCP, not rebuilt
  // from the row at the end
  const stream = await client().chat.completions.create({
    model: 'demo-chat', max_tokens: 10, stream: true,
    messages: [{ role: 'user', content: `[[mock:token-delay=80]] pace ${uniq('p')}` }],
  });
  const chunks = await collect(stream);
  const first = chunks[0].at, last = chunks[chunks.length - 1].at;
  assert.ok(chunks.length >= 5, `${chunks.length} chunks`);
  assert.ok(first < last / 3, `first chunk at ${first} ms, last at ${last} ms: not buffered`);

  // a few requests at once, each answered
  const many = await Promise.all(Array.from({ length: 8 }, (_, i) => client().chat.completions.create({
    model: 'demo-chat', max_tokens: 4, messages: [{ role: 'user', content: `many ${i} ${tag}` }] })));
  assert.equal(many.filter((m) => m.choices[0].message.content.length > 0).length, 8);

  // an unsealed datagram to aif-api's doorbell is refused (and said in its log)
  const [, host, port] = replyTo.match(/^udp:(.+):(\d+)$/);
  // the traffic so far was sealed right: nothing refused since the restart
  for (const f of apiLogs()) assert.doesNotMatch(since(atStart, f), /datagram refused|relay connection refused/);
  const sizes = sizesNow();
  // a datagram shaped like a sealed one (magic, ids, time, message, 16-byte tag), the
  // tag made up: only the HMAC can tell it apart
  const forged = Buffer.concat([Buffer.from('AFB1'), crypto.randomBytes(24), Buffer.from('job 1\n'), crypto.randomBytes(16)]);
  forged.writeBigUInt64LE(BigInt(Date.now()), 20);
  const sock = dgram.createSocket('udp4');
  await new Promise((res, rej) => sock.send(forged, Number(port), host, (e) => (e ? rej(e) : res())));
  sock.close();
  await client().chat.completions.create({ model: 'demo-chat', max_tokens: 2, messages: [{ role: 'user', content: `after ${tag}` }] });
  await waitFor(() => apiLogs().some((f) => /doorbell datagram refused.*peer=127\.0\.0\.1:/.test(since(sizes, f))),
    { timeoutMs: 10000, what: 'the refusal in aif-api\'s log' });

  // a relay connection that sends a frame without the sealed HELLO is closed unread
  const closed = await new Promise((res) => {
    const c = net.connect(Number(port), host, () => {
      const frame = Buffer.alloc(36 + 5);
      frame.writeBigUInt64LE(1n, 0);
      frame.writeUInt32LE(2, 8);	// CHUNK
      frame.writeUInt32LE(5, 12);
      frame.writeUInt32LE(1, 16);
      frame.write('spoof', 36);
      c.write(frame);
    });
    const timer = setTimeout(() => { c.destroy(); res(false); }, 5000);
    c.on('close', () => { clearTimeout(timer); res(true); });
    c.on('error', () => {});
  });
  assert.ok(closed, 'aif-api closed the unproven relay connection');
});
