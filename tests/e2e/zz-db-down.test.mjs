// zz-db-down.test.mjs -- MariaDB stopped: the gateway answers 503 + Retry-After in the
// OpenAI error shape, fast (no hang); once MariaDB is back, requests work again without
// restarting anything. Named zz- so that it runs last.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  OpenAI, client, http, errorOf, chatBody, submitAsync, getJob, waitFor, sleep, stopDb,
  startDb, stackFallbacks, createKey, uniq, AUTH_CACHE_MS,
} from './lib.mjs';

const FAST_MS = 3000;
let dbStopped = false;

after(() => {
  if (dbStopped) startDb(); // never leave the stack without its database
}, { timeout: 120000 });

function assert503(r, what) {
  assert.equal(r.status, 503, `${what}: status (body ${r.text.slice(0, 200)})`);
  assert.ok(r.ms < FAST_MS, `${what}: answered in ${r.ms} ms (< ${FAST_MS})`);
  assert.match(r.headers.get('content-type') || '', /^application\/json/, `${what}: JSON`);
  const e = errorOf(r);
  assert.equal(e.type, 'server_error', `${what}: type`);
  const ra = r.headers.get('retry-after');
  assert.match(ra || '', /^\d+$/, `${what}: Retry-After is whole seconds`);
  assert.ok(Number(ra) >= 1 && Number(ra) <= 60, `${what}: Retry-After ${ra}`);
  assert.match(r.headers.get('x-request-id') || '', /^req_/, `${what}: x-request-id`);
}

test('database down -> 503 fast with Retry-After; back up -> requests work again', { timeout: 180000 }, async (t) => {
  // Before: a job to look up later, and a key that has never been used (not in any cache).
  const ok0 = await client().chat.completions.create(chatBody('before the outage'));
  assert.equal(ok0.object, 'chat.completion');
  const oldJob = await submitAsync('before the outage, async');
  await waitFor(async () => (await getJob(oldJob)).json?.status === 'succeeded', { timeoutMs: 30000, what: 'old job done' });
  const freshKey = createKey(uniq('fresh'), 'user');

  stopDb();
  dbStopped = true;
  for (const f of stackFallbacks) t.diagnostic(f);

  // A key used a moment ago (the gateway may still have it cached: the enqueue fails).
  assert503(await http('/v1/chat/completions', { json: chatBody('during the outage') }), 'sync chat');
  assert503(await http('/v1/chat/completions', { json: chatBody('x'), headers: { Prefer: 'respond-async' } }), 'async chat');
  assert503(await http('/v1/completions', { json: { model: 'demo-small', prompt: 'x' } }), 'completion');
  assert503(await http(`/v1/jobs/${oldJob}`), 'GET job');
  // A key the gateway cannot check now is "unavailable", not "invalid".
  assert503(await http('/v1/chat/completions', { key: freshKey, json: chatBody('x') }), 'unchecked key');
  await sleep(AUTH_CACHE_MS + 200);
  assert503(await http('/v1/models'), 'GET /v1/models after the auth cache expired');

  // Many at once: none hangs.
  const burst = await Promise.all(Array.from({ length: 16 }, (_, i) =>
    http('/v1/chat/completions', { json: chatBody(`burst ${i}`), timeoutMs: 10000 })));
  burst.forEach((r, i) => assert503(r, `burst ${i}`));

  // The SDK sees a typed, retryable error.
  const t0 = Date.now();
  await assert.rejects(client().chat.completions.create(chatBody('sdk during the outage')), (e) => {
    assert.ok(e instanceof OpenAI.InternalServerError, `${e.constructor.name}: ${e.message}`);
    assert.equal(e.status, 503);
    assert.ok(e.headers.get('retry-after'));
    return true;
  });
  assert.ok(Date.now() - t0 < FAST_MS);

  startDb();
  dbStopped = false;

  // Back: sync requests succeed again (allow the gateway and workers to reconnect).
  let last;
  await waitFor(async () => {
    last = await http('/v1/chat/completions', { json: chatBody('after the outage'), timeoutMs: 15000 });
    return last.status === 200;
  }, { timeoutMs: 60000, intervalMs: 500, what: 'a 200 after the database came back' }).catch((e) => {
    e.message += `; last: ${last && last.status} ${last && last.text.slice(0, 200)}`;
    throw e;
  });
  assert.equal(last.json.object, 'chat.completion');
  // The fresh key works now (its 503 was not cached as "invalid").
  const fr = await client(freshKey).chat.completions.create(chatBody('fresh key after'));
  assert.equal(fr.object, 'chat.completion');
  // Async jobs run again, and the old job is still there.
  const j = await submitAsync('after the outage, async');
  await waitFor(async () => (await getJob(j)).json?.status === 'succeeded', { timeoutMs: 30000, what: 'new async job done' });
  const old = await getJob(oldJob);
  assert.equal(old.status, 200);
  assert.equal(old.json.status, 'succeeded');
});
