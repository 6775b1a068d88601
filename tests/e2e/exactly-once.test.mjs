// exactly-once.test.mjs -- two workers, 500 async jobs submitted 32 at a time: every job
// is claimed once, succeeds once, is metered once, gets its own answer, and the engine
// sees exactly 500 more chat requests.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { chatPromptTokens, generate } from '../mock-engine/tokenizer.mjs';
import {
  uniq, sql, inList, submitAsync, waitAllFinal, pool, mockStats, chatRequestCount, startWorker,
  expectedCost, waitQueueIdle,
} from './lib.mjs';

const N = 500;
const CONCURRENCY = 32;

before(() => {
  // The stack's two workers (idempotent: no-op when they run).
  startWorker(1);
  startWorker(2);
}, { timeout: 60000 });

test(`${N} async jobs on two workers: each claimed, run and metered exactly once`, { timeout: 240000 }, async (t) => {
  const busy = await waitQueueIdle();
  if (busy) t.diagnostic(`${busy} jobs of earlier tests are still queued/running: the engine count may be off`);
  const stats0 = await mockStats();
  const tag = uniq('once');
  const prompts = Array.from({ length: N }, (_, i) => `${tag} number ${i}`);
  const ids = await pool(prompts, CONCURRENCY, (p) => submitAsync(p));
  assert.equal(new Set(ids).size, N, 'distinct job ids');

  const counts = await waitAllFinal(ids, { timeoutMs: 120000 });
  assert.deepEqual(counts, { succeeded: N });

  // Events per job: exactly enqueued, claimed, succeeded.
  const ev = sql(`SELECT j.public_id,
      SUM(e.event = 'enqueued'), SUM(e.event = 'claimed'), SUM(e.event = 'succeeded'), COUNT(e.seq),
      j.attempts, j.http_status
    FROM jobs j LEFT JOIN job_timeline e ON e.job_id = j.id
    WHERE j.public_id IN ${inList(ids)} GROUP BY j.id`);
  assert.equal(ev.length, N);
  const bad = ev.filter(([, enq, cl, su, all, att, hs]) => !(enq === '1' && cl === '1' && su === '1' && all === '3' && att === '1' && hs === '200'));
  assert.deepEqual(bad.slice(0, 5), [], `${bad.length} jobs with other than one enqueued/claimed/succeeded event`);

  // One usage row per job, tokens equal to the response's, cost from the pricing.
  const rows = sql(`SELECT j.public_id, j.request_body, j.response_body, u.prompt_tokens, u.completion_tokens,
      u.total_tokens, u.cost_micros, (SELECT COUNT(*) FROM \`usage\` u2 WHERE u2.job_id = j.id)
    FROM jobs j LEFT JOIN \`usage\` u ON u.job_id = j.id WHERE j.public_id IN ${inList(ids)}`);
  assert.equal(rows.length, N);
  const byId = new Map(ids.map((id, i) => [id, prompts[i]]));
  let mismatches = 0;
  let firstMismatch;
  for (const [pid, reqBody, respBody, pt, ct, tt, cost, nUsage] of rows) {
    const prompt = byId.get(pid);
    const resp = JSON.parse(respBody);
    const msgs = JSON.parse(reqBody).messages;
    const ok = nUsage === '1' &&
      msgs[0].content === prompt &&
      resp.choices[0].message.content === generate(prompt).text &&
      Number(pt) === resp.usage.prompt_tokens && Number(pt) === chatPromptTokens(msgs) &&
      Number(ct) === resp.usage.completion_tokens && Number(tt) === resp.usage.total_tokens &&
      Number(cost) === expectedCost('demo-chat', Number(pt), Number(ct));
    if (!ok) { mismatches++; firstMismatch ??= { pid, prompt, nUsage, pt, ct, tt, cost, resp }; }
  }
  assert.equal(mismatches, 0, `first mismatch: ${JSON.stringify(firstMismatch)}`);
  const nUsageRows = Number(sql(`SELECT COUNT(*) FROM \`usage\` u JOIN jobs j ON j.id = u.job_id WHERE j.public_id IN ${inList(ids)}`)[0][0]);
  assert.equal(nUsageRows, N, 'usage rows = jobs');

  // The engine saw each job once.
  const stats1 = await mockStats();
  assert.equal(chatRequestCount(stats1) - chatRequestCount(stats0), N, 'exactly N more chat requests at the engine');

  const workers = sql(`SELECT e.worker_id, COUNT(*) FROM job_timeline e JOIN jobs j ON j.id = e.job_id
    WHERE e.event = 'claimed' AND j.public_id IN ${inList(ids)} GROUP BY e.worker_id`);
  t.diagnostic(`claims per worker: ${JSON.stringify(workers)}`);
});
