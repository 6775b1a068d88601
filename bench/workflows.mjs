// workflows.mjs -- what a workflow run adds over its engine calls (issue 12): a 4-step
// run of zero-latency steps (transform -> model -> model -> transform, then the final
// answer: demo-wf-pipeline) called as a chat completion. Phase 1, at 8 clients: each
// run's wall time minus the engine time of its model steps (their usage rows' engine_ms),
// p50 and p90, beside the same figure for one plain job (demo-chat) in the same run.
// Phase 2, at 32 clients: runs/s and steps/s.
// Usage: node bench/workflows.mjs BASE KEY DB_SOCKET DB_NAME [runs, default 200]
import { execFileSync } from 'node:child_process';

const [base, key, sock, db, nArg] = process.argv.slice(2);
const N = Number(nArg || 200);
const STEPS = 5;	// pre, model_a, model_b, post, done

async function call(model, i) {
  const t0 = performance.now();
  const r = await fetch(`${base}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ model, max_tokens: 16, messages: [{ role: 'user', content: `bench ${i}` }] }),
  });
  const j = await r.json();
  if (r.status !== 200) throw new Error(`HTTP ${r.status} ${JSON.stringify(j).slice(0, 200)}`);
  return { ms: performance.now() - t0, id: r.headers.get('x-aif-job-id') || String(j.id).replace(/^chatcmpl-/, '') };
}

async function load(model, n, clients) {
  const out = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < n) { const i = next++; out.push(await call(model, i)); }
  }));
  return { out, wall: (performance.now() - t0) / 1000 };
}

function sql(q) {
  return execFileSync('mariadb', ['--socket', sock, '-N', '-B', db, '-e', q], { encoding: 'utf8' });
}

// engine ms of each job (plain) or of the model steps of each run, by public id
function engineMs(ids, runs) {
  const list = ids.map((id) => `'${id.replace(/[^A-Za-z0-9_]/g, '')}'`).join(',');
  const q = runs
    ? `SELECT p.public_id, SUM(u.engine_ms) FROM jobs p JOIN jobs c ON c.parent_job_id = p.id JOIN \`usage\` u ON u.job_id = c.id WHERE p.public_id IN (${list}) GROUP BY p.public_id`
    : `SELECT j.public_id, u.engine_ms FROM jobs j JOIN \`usage\` u ON u.job_id = j.id WHERE j.public_id IN (${list})`;
  const m = new Map();
  for (const line of sql(q).trim().split('\n')) {
    const [id, ms] = line.split('\t');
    if (id) m.set(id, Number(ms));
  }
  return m;
}

const q = (a, p) => a.slice().sort((x, y) => x - y)[Math.min(a.length - 1, Math.floor(p * a.length))];

function added(res, runs) {
  const eng = engineMs(res.out.map((o) => o.id), runs);
  const a = res.out.filter((o) => eng.has(o.id)).map((o) => o.ms - eng.get(o.id));
  return { n: a.length, p50: q(a, 0.5), p90: q(a, 0.9), wall_p50: q(res.out.map((o) => o.ms), 0.5) };
}

await load('demo-wf-pipeline', 16, 8);	// warm up: connections, definition cache
const plain = added(await load('demo-chat', N, 8), false);
const wf = added(await load('demo-wf-pipeline', N, 8), true);
const tput = await load('demo-wf-pipeline', N * 2, 32);

console.log('| what (8 clients) | calls | wall p50 ms | added over engine p50 ms | added p90 ms |');
console.log('|---|---|---|---|---|');
console.log(`| one job (demo-chat) | ${plain.n} | ${plain.wall_p50.toFixed(1)} | ${plain.p50.toFixed(1)} | ${plain.p90.toFixed(1)} |`);
console.log(`| 4-step run (demo-wf-pipeline: 2 model steps) | ${wf.n} | ${wf.wall_p50.toFixed(1)} | ${wf.p50.toFixed(1)} | ${wf.p90.toFixed(1)} |`);
console.log('');
console.log(`32 clients: ${tput.out.length} runs in ${tput.wall.toFixed(1)} s = ${(tput.out.length / tput.wall).toFixed(1)} runs/s, ` +
  `${(tput.out.length * STEPS / tput.wall).toFixed(1)} steps/s (${STEPS} steps a run)`);
