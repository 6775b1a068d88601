// netns-client.mjs -- the client of tests/netns/topology.sh, galera.sh and bench/scale.sh,
// run inside their client network namespace with the official openai SDK (this
// directory's node_modules). Not a test file of its own (node --test picks *.test.mjs
// only). Prints one JSON line.
//
//   node netns-client.mjs sync   KEY N TAG BASE...       N sync chat requests, round robin:
//                                                        counts by status
//   node netns-client.mjs async  KEY N DELAY TAG BASE... N async jobs at once, DELAY ms a
//                                                        token: accepted ids, counts
//   node netns-client.mjs stream KEY BASE                one stream paced by the engine
//   node netns-client.mjs rate   KEY MS CONC LAT TAG BASE...  sync requests for MS ms,
//                                                        CONC at once (client c on base
//                                                        c mod bases), the engine taking
//                                                        LAT ms: req/s, p50, p99, and ok
//                                                        and failed per base
//   node netns-client.mjs submit KEY MS TAG BASE         async submissions for MS ms, 4 at
//                                                        once: accepted ids, refusals, and
//                                                        the longest gap between two 202s
import OpenAI from 'openai';

const [cmd, key, ...rest] = process.argv.slice(2);
const sdk = (base) => new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0, timeout: 60000 });
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const statusOf = (e) => e?.status ?? (e?.name || 'error');
const tally = (counts, k) => { counts[k] = (counts[k] ?? 0) + 1; };

// One async submission (Prefer: respond-async), given up after timeoutMs: its status
// ('error' when it got none) and the job id of a 202.
async function submitAsync(base, content, timeoutMs = 30000) {
  try {
    const r = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST', signal: AbortSignal.timeout(timeoutMs),
      headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json', Prefer: 'respond-async' },
      body: JSON.stringify({ model: 'demo-chat', max_tokens: 4, messages: [{ role: 'user', content }] }),
    });
    const body = await r.json().catch(() => ({}));
    return { status: r.status, id: body.id };
  } catch {
    return { status: 'error' };
  }
}

async function main() {
  if (cmd === 'sync') {
    const [n, tag, ...bases] = rest;
    const counts = {};
    for (let i = 0; i < Number(n); i++) {
      try {
        const r = await sdk(bases[i % bases.length]).chat.completions.create({
          model: 'demo-chat', max_tokens: 4, messages: [{ role: 'user', content: `${tag} ${i}` }] });
        tally(counts, r.choices[0].message.content ? 200 : 'empty');
      } catch (e) { tally(counts, statusOf(e)); }
    }
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
      submitAsync(bases[i % bases.length], `[[mock:token-delay=${delay}]] ${tag} ${i} ${Date.now()}`)));
    const counts = {};
    for (const r of rs) tally(counts, r.status);
    return out({ accepted: rs.filter((r) => r.status === 202).map((r) => r.id), counts });
  }
  if (cmd === 'rate') {
    const [ms, conc, lat, tag, ...bases] = rest;
    const t0 = Date.now(), end = t0 + Number(ms);
    const lats = [], per = Object.fromEntries(bases.map((b) => [b, { ok: 0, failed: 0 }]));
    await Promise.all(Array.from({ length: Number(conc) }, async (_, w) => {
      const base = bases[w % bases.length], c = sdk(base);
      for (let i = 0; Date.now() < end; i++) {
        const s0 = process.hrtime.bigint();
        try {
          await c.chat.completions.create({ model: 'demo-chat', max_tokens: 2,
            messages: [{ role: 'user', content: `[[mock:latency=${lat}]] ${tag} ${w} ${i}` }] }, { timeout: 5000 });
          lats.push(Number(process.hrtime.bigint() - s0) / 1e6);
          per[base].ok++;
        } catch { per[base].failed++; }
      }
    }));
    const secs = (Date.now() - t0) / 1000;
    lats.sort((a, b) => a - b);
    const q = (p) => (lats.length ? lats[Math.min(lats.length - 1, Math.floor(lats.length * p))] : 0);
    const failed = Object.values(per).reduce((a, p) => a + p.failed, 0);
    return out({ rps: lats.length / secs, p50: q(0.5), p99: q(0.99), n: lats.length, failed, per });
  }
  if (cmd === 'submit') {
    const [ms, tag, base] = rest;
    const t0 = Date.now(), end = t0 + Number(ms);
    const accepted = [], okAt = [];
    let failed = 0;
    await Promise.all(Array.from({ length: 4 }, async (_, w) => {
      for (let i = 0; Date.now() < end; i++) {
        const r = await submitAsync(base, `${tag} ${w} ${i}`, 5000);
        if (r.status === 202 && r.id) { accepted.push(r.id); okAt.push(Date.now() - t0); } else failed++;
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
