// restart.test.mjs -- stopping the workers (SIGTERM: drain) in the middle of a backlog
// and starting them again loses nothing and runs nothing twice.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  uniq, sql, inList, submitAsync, waitAllFinal, waitFor, pool, stateCounts, mockStats,
  chatRequestCount, stopWorkers, startWorker, waitQueueIdle,
} from './lib.mjs';

const N = 300;
// While the backlog drains: one worker with one slot (about 50 jobs/s at 20 ms each), slow
// enough to stop it about half-way (start-worker itself waits 1 s after the start).
const SLOTS = 1;

after(() => {
  // Back to the stack's default: workers 1 and 2 with the configured slots.
  try { stopWorkers(); } finally {
    startWorker(1);
    startWorker(2);
  }
}, { timeout: 90000 });

test(`${N} queued jobs survive a stop/start of the workers, none runs twice`, { timeout: 180000 }, async (t) => {
  const busy = await waitQueueIdle();
  if (busy) t.diagnostic(`${busy} jobs of earlier tests are still queued/running: the engine count may be off`);
  stopWorkers();
  const stats0 = await mockStats();
  const tag = uniq('restart');
  const ids = await pool(Array.from({ length: N }, (_, i) => `${tag} n${i} [[mock:latency=20]]`), 32, (p) => submitAsync(p));
  assert.deepEqual(stateCounts(ids), { queued: N }, 'all queued while no worker runs');

  startWorker(1, SLOTS);
  // Stop at about 40 % done (stop-workers itself takes a moment while more finish).
  await waitFor(() => (stateCounts(ids).succeeded || 0) >= N * 0.4, { timeoutMs: 60000, intervalMs: 20, what: `${N * 0.4} jobs done` });
  stopWorkers();
  const mid = stateCounts(ids);
  t.diagnostic(`after stop-workers: ${JSON.stringify(mid)}`);
  assert.ok((mid.succeeded || 0) > 0, 'some jobs done before the stop');
  assert.ok((mid.queued || 0) > 0, `some jobs still queued after the stop: ${JSON.stringify(mid)}`);
  assert.equal(mid.running || 0, 0, 'a drained worker leaves no job running');
  assert.equal(mid.failed || 0, 0, 'no job failed');
  // Nothing moves while no worker runs.
  await new Promise((r) => setTimeout(r, 1500));
  assert.deepEqual(stateCounts(ids), mid, 'no progress without workers');

  startWorker(1);
  startWorker(2);
  const counts = await waitAllFinal(ids, { timeoutMs: 90000 });
  assert.deepEqual(counts, { succeeded: N });

  // Exactly once: one succeeded event and one usage row per job; the engine saw N requests.
  const per = sql(`SELECT j.public_id, SUM(e.event = 'succeeded'), SUM(e.event = 'claimed'),
      (SELECT COUNT(*) FROM \`usage\` u WHERE u.job_id = j.id)
    FROM jobs j JOIN job_timeline e ON e.job_id = j.id WHERE j.public_id IN ${inList(ids)} GROUP BY j.id`);
  assert.equal(per.length, N);
  const twice = per.filter(([, s, , u]) => s !== '1' || u !== '1');
  assert.deepEqual(twice.slice(0, 5), [], `${twice.length} jobs not succeeded/metered exactly once`);
  const reclaimed = per.filter(([, , c]) => c !== '1');
  t.diagnostic(`jobs claimed more than once: ${reclaimed.length}`);
  const stats1 = await mockStats();
  assert.equal(chatRequestCount(stats1) - chatRequestCount(stats0), N, 'the engine ran each job once');
  const usageRows = Number(sql(`SELECT COUNT(*) FROM \`usage\` u JOIN jobs j ON j.id = u.job_id WHERE j.public_id IN ${inList(ids)}`)[0][0]);
  assert.equal(usageRows, N, 'usage rows = jobs');
});
