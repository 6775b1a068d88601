#!/usr/bin/env bash
# slow_clients.sh -- issue 11, point 1: what clients that never read cost the others.
# Measures 200 ordinary sync requests (20 at a time) and 20 streams (10 at a time):
# their p50/p99 latency and failures, first alone, then while 2 clients hold ~5 MB
# answers and 2 hold endless streams without reading a byte. Brings up its own stack
# under var/bench-slow (ports 38280/39301) and takes it down.
# Usage: bench/slow_clients.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
bench_stack slow 38280 39301
node --input-type=module - <<'JS'
import net from 'node:net';
import OpenAI from './tests/e2e/node_modules/openai/index.mjs';
const c = new OpenAI({ apiKey: process.env.AIF_API_KEY, baseURL: process.env.AIF_BASE_URL, maxRetries: 0, timeout: 30000 });
const chat = (content, extra = {}) => ({ model: 'demo-chat', messages: [{ role: 'user', content }], ...extra });
const pct = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] : NaN; };
async function pool(n, limit, fn) { let i = 0; await Promise.all(Array.from({ length: limit }, async () => { while (i < n) await fn(i++); })); }
function hog(body) {
  const s = net.connect({ host: '127.0.0.1', port: Number(process.env.AIF_PORT) });
  const j = JSON.stringify(body);
  s.on('error', () => {});
  s.on('connect', () => { s.write(`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${process.env.AIF_API_KEY}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(j)}\r\n\r\n${j}`); s.pause(); });
  return s;
}
async function round(label) {
  const sync = [], stream = []; let fs = 0, ft = 0;
  await pool(200, 20, async (i) => { const t = Date.now(); try { await c.chat.completions.create(chat(`o ${i} ${label}`)); sync.push(Date.now() - t); } catch { fs++; } });
  await pool(20, 10, async (i) => { const t = Date.now(); try { const s = await c.chat.completions.create(chat(`s ${i} ${label}`, { stream: true })); for await (const _ of s) { /* drain */ } stream.push(Date.now() - t); } catch { ft++; } });
  console.log(`| ${label} | ${pct(sync, 50)} | ${pct(sync, 99)} | ${fs} | ${pct(stream, 50)} | ${pct(stream, 99)} | ${ft} |`);
}
console.log('| clients that never read | sync p50 ms | sync p99 ms | sync failed /200 | stream p50 ms | stream p99 ms | streams failed /20 |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
await round('none');
const hogs = [];
for (let i = 0; i < 2; i++) hogs.push(hog(chat(`[[mock:pad=5000000]] big ${i}`)));
for (let i = 0; i < 2; i++) hogs.push(hog(chat(`endless ${i}`, { stream: true, n: 128, max_tokens: 4096, ignore_eos: true })));
await new Promise((r) => setTimeout(r, 1500));
await round('2 x 5 MB answers + 2 streams');
for (const h of hogs) h.destroy();
JS
bench_machine
