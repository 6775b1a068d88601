#!/usr/bin/env bash
# job_read_rss.sh -- issue 11, point 7: memory of aif-api while 30 clients read the
# same 15 MB job at once (GET /v1/jobs/{id}). Samples the resident set of every aif-api
# process every 20 ms during the reads and prints the peak, beside the idle size and
# the time the reads took. Brings up its own stack under var/bench-rss (ports
# 38380/39401) and takes it down.
# Usage: bench/job_read_rss.sh [parallel reads, default 30] [answer MB, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_stack rss 38380 39401
export READS=${1:-30} MB=${2:-15}
node --input-type=module - <<'JS'
import fs from 'node:fs';
const base = process.env.AIF_BASE_URL, key = process.env.AIF_API_KEY, run = process.env.AIF_VAR_DIR + '/run';
const auth = { Authorization: `Bearer ${key}` };
const pids = () => fs.readdirSync(run).filter((f) => /^api(-\d+)?\.pid$/.test(f)).map((f) => Number(fs.readFileSync(`${run}/${f}`, 'utf8')));
const rss = (p) => { try { return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'))[1]) / 1024; } catch { return 0; } };
const r = await fetch(`${base}/chat/completions`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json', Prefer: 'respond-async' },
  body: JSON.stringify({ model: 'demo-chat', messages: [{ role: 'user', content: `[[mock:pad=${Number(process.env.MB) * 1000000}]] big` }] }) });
const id = (await r.json()).id;
for (;;) { const j = await (await fetch(`${base}/jobs/${id}`, { headers: auth })).json(); if (j.status === 'succeeded') break; if (j.status === 'failed') throw new Error(JSON.stringify(j)); await new Promise((x) => setTimeout(x, 200)); }
const idle = Math.max(...pids().map(rss));
let peak = 0;
const timer = setInterval(() => { for (const p of pids()) peak = Math.max(peak, rss(p)); }, 20);
const t = Date.now();
const sizes = await Promise.all(Array.from({ length: Number(process.env.READS) }, async () => (await (await fetch(`${base}/jobs/${id}`, { headers: auth })).arrayBuffer()).byteLength));
const ms = Date.now() - t;
clearInterval(timer);
console.log(`| ${process.env.READS} parallel reads of a ${(sizes[0] / 1e6).toFixed(1)} MB job | ${idle.toFixed(1)} MB | ${peak.toFixed(1)} MB | ${ms} ms | ${sizes.every((s) => s === sizes[0]) ? 'all whole' : 'SIZES DIFFER'} |`);
JS
bench_machine
