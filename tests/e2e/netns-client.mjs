// netns-client.mjs -- the client of tests/netns/topology.sh, run inside its client
// network namespace with the official openai SDK (this directory's node_modules). Not a
// test file of its own (node --test picks *.test.mjs only). Prints one JSON line.
//
//   node netns-client.mjs sync   KEY N TAG BASE...       N sync chat requests, round robin
//   node netns-client.mjs burst  KEY N BASE...           N async submissions at once
//   node netns-client.mjs stream KEY BASE                one stream paced by the engine
//   node netns-client.mjs async  KEY N DELAY TAG BASE... N async jobs of DELAY ms a token
//   node netns-client.mjs steady KEY MS TAG BASE...      sync requests for MS ms, 4 at once
//   node netns-client.mjs rate   KEY MS CONC LAT TAG BASE...  sync requests for MS ms, CONC at
//                                                        once, the engine taking LAT ms:
//                                                        req/s, p50, p99 (bench/scale.sh)
//   node netns-client.mjs submit KEY MS TAG BASE         async submissions for MS ms, 4 at
//                                                        once: accepted ids, refusals, and
//                                                        the longest gap between two 202s
import OpenAI from 'openai';

const [cmd, key, ...rest] = process.argv.slice(2);
const sdk = (base) => new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0, timeout: 60000 });
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const statusOf = (e) => e?.status ?? (e?.name || 'error');

async function submitAsync(base, content) {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', Prefer: 'respond-async' },
    body: JSON.stringify({ model: 'demo-chat', max_tokens: 4, messages: [{ role: 'user', content }] }),
  });
  const body = await r.json().catch(() => ({}));
  return { status: r.status, id: body.id };
}

async function main() {
  if (cmd === 'sync') {
    const [n, tag, ...bases] = rest;
    const counts = {};
    for (let i = 0; i < Number(n); i++) {
      try {
        const r = await sdk(bases[i % bases.length]).chat.completions.create({
          model: 'demo-chat', max_tokens: 4, messages: [{ role: 'user', content: `${tag} ${i}` }] });
        const k = r.choices[0].message.content ? 200 : 'empty';
        counts[k] = (counts[k] ?? 0) + 1;
      } catch (e) { counts[statusOf(e)] = (counts[statusOf(e)] ?? 0) + 1; }
    }
    return out(counts);
  }
  if (cmd === 'burst') {
    const [n, ...bases] = rest;
    const rs = await Promise.all(Array.from({ length: Number(n) }, (_, i) =>
      submitAsync(bases[i % bases.length], `burst ${i} ${Date.now()}`).catch(() => ({ status: 'error' }))));
    const counts = {};
    for (const r of rs) counts[r.status] = (counts[r.status] ?? 0) + 1;
    return out(counts);
  }
  if (cmd === 'stream') {
    const [base] = rest;
    const t0 = Date.now();
    const at = [];
    let text = '';
    const s = await sdk(base).chat.completions.create({ model: 'demo-chat', max_tokens: 10, stream: true,
      messages: [{ role: 'user', content: `[[mock:token-delay=80]] across hosts ${t0}` }] });
    for await (const c of s) { at.push(Date.now() - t0); text += c.choices[0]?.delta?.content ?? ''; }
    return out({ chunks: at.length, first: at[0], last: at[at.length - 1], text });
  }
  if (cmd === 'async') {
    const [n, delay, tag, ...bases] = rest;
    const rs = await Promise.all(Array.from({ length: Number(n) }, (_, i) =>
      submitAsync(bases[i % bases.length], `[[mock:token-delay=${delay}]] ${tag} ${i}`).catch(() => ({ status: 'error' }))));
    return out({ accepted: rs.filter((r) => r.status === 202).map((r) => r.id), other: rs.filter((r) => r.status !== 202).length });
  }
  if (cmd === 'steady') {
    const [ms, tag, ...bases] = rest;
    const end = Date.now() + Number(ms);
    const per = {};
    await Promise.all(Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; Date.now() < end; i++) {
        const base = bases[(w + i) % bases.length];
        per[base] ??= { ok: 0, failed: 0 };
        try {
          await sdk(base).chat.completions.create({ model: 'demo-chat', max_tokens: 2,
            messages: [{ role: 'user', content: `${tag} ${w} ${i}` }] }, { timeout: 5000 });
          per[base].ok++;
        } catch { per[base].failed++; }
      }
    }));
    return out(per);
  }
  if (cmd === 'rate') {
    const [ms, conc, lat, tag, ...bases] = rest;
    const t0 = Date.now(), end = t0 + Number(ms);
    const lats = [];
    let failed = 0;
    await Promise.all(Array.from({ length: Number(conc) }, async (_, w) => {
      const c = sdk(bases[w % bases.length]);
      for (let i = 0; Date.now() < end; i++) {
        const s0 = process.hrtime.bigint();
        try {
          await c.chat.completions.create({ model: 'demo-chat', max_tokens: 2,
            messages: [{ role: 'user', content: `[[mock:latency=${lat}]] ${tag} ${w} ${i}` }] });
          lats.push(Number(process.hrtime.bigint() - s0) / 1e6);
        } catch { failed++; }
      }
    }));
    const secs = (Date.now() - t0) / 1000;
    lats.sort((a, b) => a - b);
    const q = (p) => (lats.length ? lats[Math.min(lats.length - 1, Math.floor(lats.length * p))] : 0);
    return out({ rps: lats.length / secs, p50: q(0.5), p99: q(0.99), n: lats.length, failed });
  }
  if (cmd === 'submit') {
    const [ms, tag, base] = rest;
    const t0 = Date.now(), end = t0 + Number(ms);
    const accepted = [], okAt = [];
    let failed = 0;
    await Promise.all(Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; Date.now() < end; i++) {
        const ac = new AbortController();
        const timer = setTimeout(() => ac.abort(), 5000);
        try {
          const r = await fetch(`${base}/v1/chat/completions`, {
            method: 'POST', signal: ac.signal,
            headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', Prefer: 'respond-async' },
            body: JSON.stringify({ model: 'demo-chat', max_tokens: 4, messages: [{ role: 'user', content: `${tag} ${w} ${i}` }] }),
          });
          const body = await r.json().catch(() => ({}));
          if (r.status === 202 && body.id) { accepted.push(body.id); okAt.push(Date.now() - t0); } else failed++;
        } catch { failed++; } finally { clearTimeout(timer); }
      }
    }));
    okAt.sort((a, b) => a - b);
    let gap = 0, gapAt = 0;
    for (let i = 1; i < okAt.length; i++) if (okAt[i] - okAt[i - 1] > gap) { gap = okAt[i] - okAt[i - 1]; gapAt = okAt[i - 1]; }
    return out({ accepted, failed, gap_ms: gap, gap_from_ms: gapAt });
  }
  throw new Error(`unknown command ${cmd}`);
}

main().catch((e) => { process.stderr.write(`${e.stack}\n`); process.exit(1); });
