#!/usr/bin/env node
// server.mjs -- a small mock HTTP service (a search index, a payment provider, a
// fulfilment system and some misbehaving endpoints) that the workflows' `http` steps and
// compensations call in the example workflows and their tests (plain Node.js >= 20, no
// dependencies). It records every call, so that tests can count them per path and per
// Idempotency-Key, and it has an admin API on the same port (/_calls, /_reset, /_config).
//
//   node tests/mock-http/server.mjs --port 9190 [--keep-alive-ms 5000]
//
// It binds 127.0.0.1 only. When ready it prints one line to stdout:
// `mock-http listening on 127.0.0.1:PORT` (--port 0: the OS picks a free port). SIGTERM
// and SIGINT close every connection and exit 0. See README.md for the endpoints.

import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';

const HOST = '127.0.0.1';
const MAX_BODY = 16 * 1024 * 1024;	// request bodies beyond this get 413
const MAX_CALLS = 10000;		// recorded calls kept (oldest dropped first)
const MAX_DELAY_MS = 600000;		// any configured or requested delay is capped here
const MAX_BIG = 64 * 1024 * 1024;	// /big's largest body

// ---- command line ----------------------------------------------------------------------

function usage(msg) {
  if (msg) process.stderr.write(`mock-http: ${msg}\n`);
  process.stderr.write('usage: node server.mjs --port N [--keep-alive-ms N]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = { port: 9190, keepAliveMs: 5000 };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); } else if (a !== '--help' && a !== '-h') v = argv[++i];
    const n = Number(v);
    switch (a) {
      case '--port':
        if (!Number.isInteger(n) || n < 0 || n > 65535) usage('--port needs 0..65535');
        o.port = n; break;
      case '--keep-alive-ms':
        if (!Number.isInteger(n) || n < 0) usage('--keep-alive-ms needs a non-negative integer');
        o.keepAliveMs = n; break;
      case '--help': case '-h': usage(); break;
      default: usage(`unknown option ${a}`);
    }
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));

// ---- settings (POST /_config) --------------------------------------------------------------

// key -> [type, default]. "status map" and "delay map" are {path: number} objects.
const SETTINGS = {
  fulfil_status: ['status', 500],	// what /fulfil answers (200 makes it succeed)
  slow_ms: ['ms', 3000],		// /slow's delay (?ms=N overrides per call)
  flaky_failures: ['count', 2],	// /flaky fails this many calls per Idempotency-Key
  flaky_status: ['status', 503],	// ... with this status
  big_bytes: ['count', 2 * 1024 * 1024], // /big's body size (?bytes=N overrides)
  refund_failures: ['count', 0],	// /refund fails this many calls per Idempotency-Key (503)
  status: ['status map', {}],	// {"/path": N}: every call of that path answers N
  delay_ms: ['delay map', {}],	// {"/path": ms}: every call of that path waits first
};

function defaults() {
  const o = {};
  for (const [k, [, d]] of Object.entries(SETTINGS)) o[k] = typeof d === 'object' ? { ...d } : d;
  return o;
}

let config = defaults();

const isStatus = (v) => Number.isInteger(v) && v >= 100 && v <= 599;
const isCount = (v) => Number.isInteger(v) && v >= 0;
const isMs = (v) => Number.isInteger(v) && v >= 0 && v <= MAX_DELAY_MS;

/** Checks a settings object; returns an error text or null. */
function checkSettings(s) {
  if (s === null || typeof s !== 'object' || Array.isArray(s)) return 'expected a JSON object';
  for (const [k, v] of Object.entries(s)) {
    const spec = SETTINGS[k];
    if (!spec) return `unknown setting "${k}" (known: ${Object.keys(SETTINGS).join(', ')})`;
    const t = spec[0];
    if (t === 'status' && !isStatus(v)) return `"${k}" must be an HTTP status 100..599`;
    if (t === 'count' && !isCount(v)) return `"${k}" must be a non-negative integer`;
    if (t === 'ms' && !isMs(v)) return `"${k}" must be 0..${MAX_DELAY_MS} (ms)`;
    if (t === 'status map' || t === 'delay map') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return `"${k}" must be an object {"/path": number}`;
      for (const [p, n] of Object.entries(v)) {
        if (!p.startsWith('/')) return `"${k}": path "${p}" must start with /`;
        if (t === 'status map' ? !isStatus(n) : !isMs(n)) return `"${k}"["${p}"] is not a valid ${t === 'status map' ? 'status' : 'delay'}`;
      }
    }
  }
  return null;
}

// ---- the call log ---------------------------------------------------------------------------

let calls = [];
let seq = 0;
// Counters per "path|Idempotency-Key" (flaky and refund failures, charge ids).
let perKey = new Map();
let charges = new Map();

function record(req, path, query, raw) {
  let body = null;
  if (raw) { try { body = JSON.parse(raw); } catch { body = raw; } }
  const h = req.headers;
  const c = {
    seq: ++seq, time: Date.now(), method: req.method, path, query, headers: h,
    idempotency_key: h['idempotency-key'] ?? null, job: h['x-aif-job'] ?? null, body,
    bytes: Buffer.byteLength(raw || ''),
  };
  calls.push(c);
  if (calls.length > MAX_CALLS) calls = calls.slice(calls.length - MAX_CALLS);
  return c;
}

// ---- replies --------------------------------------------------------------------------------

function reply(res, status, obj, extra = {}) {
  if (res.destroyed) return;
  const body = obj === undefined ? '' : typeof obj === 'string' ? obj : JSON.stringify(obj);
  res.writeHead(status, {
    'content-type': typeof obj === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(body), ...extra,
  });
  res.end(body);
}

const err = (res, status, message) => reply(res, status, { error: { message, status } });

// ---- the business endpoints ------------------------------------------------------------------

// The search index of /search: three documents; the owners' e-mail addresses are there
// for the workflows' PII-masking transform to mask.
const DOCS = [
  { id: 'doc-1', title: 'Refund policy', text: 'Refunds are paid within 14 days of the request.', owner: 'kim.minjun@example.com' },
  { id: 'doc-2', title: 'Shipping times', text: 'Orders ship within 2 business days.', owner: 'lee.seoyeon@example.com' },
  { id: 'doc-3', title: 'Opening hours', text: 'The support desk is open 9 to 18, Monday to Friday.', owner: 'park.jiho@example.com' },
];

/** Hits of a query: none when it contains "nothing"; all three with "everything"; else
 * the documents sharing a word of 4+ letters with the query, at least one (doc-1). */
function search(query) {
  const q = String(query ?? '').toLowerCase();
  if (q.includes('nothing')) return [];
  if (q.includes('everything')) return DOCS;
  const words = new Set(q.match(/[a-z]{4,}/g) || []);
  const hits = DOCS.filter((d) => `${d.title} ${d.text}`.toLowerCase().match(/[a-z]{4,}/g).some((w) => words.has(w)));
  return hits.length ? hits : [DOCS[0]];
}

function keyOf(c) { return `${c.path}|${c.idempotency_key ?? ''}`; }

/** Number of the call c within its (path, Idempotency-Key), from 1. */
function nth(c) {
  const k = keyOf(c);
  const n = (perKey.get(k) || 0) + 1;
  perKey.set(k, n);
  return n;
}

const hexId = (prefix, seed) => `${prefix}_${createHash('sha256').update(seed).digest('hex').slice(0, 20)}`;

function guard(c, res) {
  const texts = Array.isArray(c.body?.texts) ? c.body.texts.map(String) : [];
  const all = texts.join('\n');
  // the pre-call check reads [[guard:X]]; the post-call one the word guardpostX (what a
  // mock engine's answer keeps of a prompt: its words)
  const post = c.body?.phase !== 'pre_call';
  const has = (x) => (post ? all.includes(`guardpost${x}`) : all.includes(`[[guard:${x}]]`));
  if (has('error')) return err(res, 500, 'guardrail service failed (mock-http)');
  if (has('garbage')) return reply(res, 200, { action: 'shrug' });
  if (has('slow')) {
    const t = setTimeout(() => reply(res, 200, { action: 'allow' }), 3000);
    res.once('close', () => clearTimeout(t));
    return undefined;
  }
  if (has('block')) return reply(res, 200, { action: 'block', reason: `flagged by the ${c.body?.phase} check (mock-http)` });
  if (has('rewrite')) {
    const from = post ? 'guardpostrewrite' : '[[guard:rewrite]]';
    return reply(res, 200, { action: 'rewrite', texts: texts.map((t) => t.replaceAll(from, '[rewritten]')) });
  }
  return reply(res, 200, { action: 'allow' });
}

const handlers = {
  '/health': (c, res) => reply(res, 200, { ok: true }),

  '/search': (c, res) => {
    const b = c.body && typeof c.body === 'object' ? c.body : {};
    const q = b.q ?? b.query ?? new URLSearchParams(c.query).get('q') ?? '';
    const docs = search(q);
    reply(res, 200, { query: String(q), hits: docs.length, docs });
  },

  // A payment provider: the same Idempotency-Key gives the same charge (replayed: true).
  '/charge': (c, res) => {
    const b = c.body && typeof c.body === 'object' ? c.body : {};
    const k = c.idempotency_key;
    if (k && charges.has(k)) return reply(res, 200, { ...charges.get(k), replayed: true });
    const ch = {
      id: hexId('ch', k ?? `${c.seq}:${randomBytes(8).toString('hex')}`),
      object: 'charge', amount: b.amount ?? null, currency: b.currency ?? 'krw',
      order: b.order ?? null, status: 'captured', replayed: false,
    };
    if (k) charges.set(k, ch);
    reply(res, 200, ch);
  },

  '/fulfil': (c, res) => {
    const s = config.fulfil_status;
    if (s >= 200 && s < 300) return reply(res, s, { fulfilled: true, order: c.body?.order ?? null });
    err(res, s, s >= 500 ? 'fulfilment system unavailable (mock-http)' : 'the order cannot be fulfilled (mock-http)');
  },

  '/refund': (c, res) => {
    if (nth(c) <= config.refund_failures) return err(res, 503, 'refund service unavailable (mock-http)');
    const b = c.body && typeof c.body === 'object' ? c.body : {};
    reply(res, 200, { id: hexId('re', c.idempotency_key ?? String(c.seq)), object: 'refund', charge: b.charge ?? null, refunded: true });
  },

  '/slow': (c, res) => {
    const q = new URLSearchParams(c.query);
    const ms = q.has('ms') ? Math.min(MAX_DELAY_MS, Math.max(0, Number(q.get('ms')) || 0)) : config.slow_ms;
    const t = setTimeout(() => reply(res, 200, { slow: true, ms, body: c.body }), ms);
    res.once('close', () => clearTimeout(t));
  },

  '/echo': (c, res) => reply(res, 200, { method: c.method, path: c.path, query: c.query, headers: c.headers, body: c.body }),

  // A notification sink (e.g. "void the receipt", a compensation of a model step).
  '/notify': (c, res) => reply(res, 200, { notified: true, event: c.body?.event ?? null }),

  // Fails the first K calls of each Idempotency-Key, then succeeds.
  '/flaky': (c, res) => {
    const n = nth(c);
    const q = new URLSearchParams(c.query);
    const k = q.has('fail') ? Math.max(0, parseInt(q.get('fail'), 10) || 0) : config.flaky_failures;
    if (n <= k) return err(res, config.flaky_status, `flaky failure ${n} of ${k} (mock-http)`);
    reply(res, 200, { ok: true, attempt: n });
  },

  // A JSON body of about N bytes: {"pad": "xxx…"}.
  '/big': (c, res) => {
    const q = new URLSearchParams(c.query);
    const n = Math.min(MAX_BIG, Math.max(0, q.has('bytes') ? parseInt(q.get('bytes'), 10) || 0 : config.big_bytes));
    reply(res, 200, `{"pad":"${'x'.repeat(Math.max(0, n - 10))}"}`, { 'content-type': 'application/json' });
  },

  '/redirect': (c, res) => reply(res, 302, { redirect: '/echo' }, { location: '/echo' }),

  // A guardrail webhook (docs/GUARDRAILS.md), its decision read from markers in the
  // texts it is sent (guard() above); the same handler serves every path.
  '/guard': (c, res) => guard(c, res),
  '/guard/pre': (c, res) => guard(c, res),
  '/guard/post': (c, res) => guard(c, res),

  // /status?code=N: answers N.
  '/status': (c, res) => {
    const n = Number(new URLSearchParams(c.query).get('code'));
    if (!isStatus(n)) return err(res, 400, 'want ?code=100..599');
    reply(res, n, { status: n });
  },
};

// ---- the admin API ----------------------------------------------------------------------------

function admin(req, res, path, query, raw) {
  const m = req.method;
  if (path === '/_calls' && m === 'GET') {
    const q = new URLSearchParams(query);
    let out = calls;
    if (q.has('path')) out = out.filter((c) => c.path === q.get('path'));
    if (q.has('key')) out = out.filter((c) => c.idempotency_key === q.get('key'));
    if (q.has('job')) out = out.filter((c) => c.job === q.get('job'));
    if (q.has('since')) out = out.filter((c) => c.seq > Number(q.get('since')));
    return reply(res, 200, { calls: out, last_seq: seq });
  }
  if (path === '/_reset' && m === 'POST') {
    calls = [];
    perKey = new Map();
    charges = new Map();
    config = defaults();
    return reply(res, 200, { ok: true, config });
  }
  if (path === '/_config') {
    if (m === 'GET') return reply(res, 200, config);
    if (m === 'POST') {
      let s;
      try { s = JSON.parse(raw || '{}'); } catch (e) { return err(res, 400, `bad JSON: ${e.message}`); }
      const why = checkSettings(s);
      if (why) return err(res, 400, why);
      // merge: the keys given replace theirs; the others stay
      for (const [k, v] of Object.entries(s)) config[k] = typeof v === 'object' ? { ...v } : v;
      return reply(res, 200, config);
    }
  }
  return err(res, 404, `unknown admin endpoint ${m} ${path}`);
}

// ---- dispatch -----------------------------------------------------------------------------------

function dispatch(req, res, path, query, raw) {
  if (path.startsWith('/_')) return admin(req, res, path, query, raw);
  if (path === '/health') return handlers['/health'](null, res);
  const c = record(req, path, query, raw);
  // /any/<anything>: an echo under any path (tests that change a step's path by a reload)
  const h = handlers[path] || (path.startsWith('/any/') ? handlers['/echo'] : undefined);
  const go = () => {
    if (res.destroyed) return;
    const forced = config.status[path];
    if (forced) return err(res, forced, `forced status ${forced} (mock-http /_config)`);
    if (!h) return err(res, 404, `no such endpoint ${path}`);
    h(c, res);
  };
  const d = config.delay_ms[path];
  if (d > 0) {
    const t = setTimeout(go, d);
    res.once('close', () => clearTimeout(t));
  } else go();
}

function onRequest(req, res) {
  const url = req.url;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const chunks = [];
  let len = 0;
  req.on('data', (d) => {
    len += d.length;
    if (len > MAX_BODY) {
      if (!res.headersSent) reply(res, 413, { error: { message: 'request body too large', status: 413 } }, { connection: 'close' });
      req.destroy();
      return;
    }
    chunks.push(d);
  });
  req.on('end', () => {
    if (len > MAX_BODY) return;
    dispatch(req, res, path, query, Buffer.concat(chunks, len).toString('utf8'));
  });
}

// ---- server -------------------------------------------------------------------------------------

const server = http.createServer({ keepAlive: true, noDelay: true, requestTimeout: 0 }, onRequest);
server.keepAliveTimeout = opts.keepAliveMs;
server.headersTimeout = Math.max(60000, opts.keepAliveMs + 1000);
server.on('clientError', (e, socket) => {
  if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  else socket.destroy();
});
server.listen(opts.port, HOST, () => {
  process.stdout.write(`mock-http listening on ${HOST}:${server.address().port}\n`);
});
server.on('error', (e) => {
  process.stderr.write(`mock-http: ${e.message}\n`);
  process.exit(1);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
