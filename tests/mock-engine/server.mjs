#!/usr/bin/env node
// server.mjs -- mock inference engine for the gateway tests (plain Node.js >= 20, no deps).
//
//   node tests/mock-engine/server.mjs --port 9101 [--host 127.0.0.1] [--protocol vllm|tgi|triton]
//        [--latency-ms 0] [--token-delay-ms 0] [--models a,b,c] [--max-model-len N]
//        [--api-key KEY | --api-key-file PATH] [--api-key-header NAME] [--keep-alive-ms 5000]
//        [--default-tokens 16] [--embed-dim 8]
//
// This file is the protocol-independent plumbing: HTTP server, body reading, fault
// injection (directives and run-wide faults), token pacing, stats, request log and the
// /_mock/* control endpoints. The wire format lives in a protocol module (vllm.mjs,
// tgi.mjs, triton.mjs) selected by --protocol. See README.md.

import http from 'node:http';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { parseHostile, applyHostile } from './hostile.mjs';

// ---- command line ----------------------------------------------------------------------

function usage(msg) {
  if (msg) process.stderr.write(`mock-engine: ${msg}\n`);
  process.stderr.write('usage: node server.mjs --port N [--host H] [--protocol vllm|tgi|triton] [--latency-ms N] ' +
    '[--token-delay-ms N] [--models a,b] [--max-model-len N] [--api-key K | --api-key-file F] [--api-key-header H] [--keep-alive-ms N] ' +
    '[--default-tokens N] [--embed-dim N]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    port: 9101, host: '127.0.0.1', protocol: 'vllm', latencyMs: 0, tokenDelayMs: 0,
    models: null, maxModelLen: 0, apiKey: '', apiKeyHeader: '', keepAliveMs: 5000, defaultTokens: undefined,
    embedDim: undefined,
  };
  const num = (k, v) => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) usage(`${k} needs a non-negative number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) { v = a.slice(eq + 1); a = a.slice(0, eq); } else if (a !== '--help' && a !== '-h') v = argv[++i];
    switch (a) {
      case '--port': o.port = num(a, v); break;
      case '--host': o.host = v; break;
      case '--protocol': o.protocol = v; break;
      case '--latency-ms': o.latencyMs = num(a, v); break;
      case '--token-delay-ms': o.tokenDelayMs = num(a, v); break;
      case '--models': o.models = String(v).split(',').map((s) => s.trim()).filter(Boolean); break;
      case '--max-model-len': o.maxModelLen = num(a, v); break;
      case '--api-key': o.apiKey = v; break;
      case '--api-key-file': // the key stays out of `ps`: one line, its newline dropped
        try { o.apiKey = readFileSync(String(v), 'utf8').replace(/\r?\n$/, ''); } catch (e) { usage(`--api-key-file: ${e.message}`); }
        if (!o.apiKey) usage('--api-key-file: the file is empty');
        break;
      case '--api-key-header': o.apiKeyHeader = v; break;
      case '--keep-alive-ms': o.keepAliveMs = num(a, v); break;
      case '--default-tokens': o.defaultTokens = num(a, v); break;
      case '--embed-dim': o.embedDim = num(a, v) || 8; break;
      case '--help': case '-h': usage(); break;
      default: usage(`unknown option ${a}`);
    }
  }
  if (!/^[a-z0-9_-]+$/.test(o.protocol || '')) usage('bad --protocol');
  if (o.apiKeyHeader && (!o.apiKey || !/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/.test(o.apiKeyHeader))) {
    usage('--api-key-header needs --api-key and an HTTP header name');
  }
  return o;
}

const opts = parseArgs(process.argv.slice(2));
// --api-key: the header a request must carry (node lower-cases header names), as vLLM
// checks it (Authorization: Bearer KEY), or with --api-key-header NAME as `NAME: KEY`
// (Triton's restricted APIs; a proxy that takes X-API-Key).
const AUTH_HEADER = (opts.apiKeyHeader || 'authorization').toLowerCase();
const AUTH_VALUE = opts.apiKeyHeader ? opts.apiKey : `Bearer ${opts.apiKey}`;

// ---- state: stats, request log, faults -------------------------------------------------

const RING_SIZE = 1000;

function freshStats() {
  return {
    requests: Object.create(null),     // path -> count (all non-/_mock requests)
    in_flight: 0,                      // inference requests not yet finished
    max_in_flight: 0,
    by_model: Object.create(null),     // requested model -> count (inference requests)
    responses: Object.create(null),    // status -> count
    prompt_tokens: 0,
    completion_tokens: 0,
    models: new Map(),                 // model -> { in_flight, prompt_tokens, completion_tokens, success }
  };
}
const stats = freshStats();

let ring = new Array(RING_SIZE);
let ringNext = 0;   // total recorded (next sequence number)

function record(req, path, body) {
  ring[ringNext % RING_SIZE] = {
    seq: ringNext, time: Date.now(), method: req.method, path, url: req.url, headers: req.headers, body,
  };
  ringNext++;
}

function modelStats(m) {
  let s = stats.models.get(m);
  if (!s) {
    s = { in_flight: 0, prompt_tokens: 0, completion_tokens: 0, success: 0 };
    if (stats.models.size < 10000) stats.models.set(m, s);
  }
  return s;
}

// Run-wide faults: the CLI gives the baseline latency / token delay; POST /_mock/faults
// replaces the whole set, DELETE restores the baseline.
const FAULT_KEYS = {
  latency_ms: 'number', token_delay_ms: 'number', status: 'number', status_count: 'number',
  hang: 'boolean', reset: 'boolean', reset_mid: 'boolean', malformed: 'boolean', error_mid: 'boolean',
  health_status: 'number',
};
function baselineFaults() {
  return { latency_ms: opts.latencyMs, token_delay_ms: opts.tokenDelayMs };
}
let runFaults = baselineFaults();
let runFaultsActive = false;
function setRunFaults(f) {
  runFaults = f;
  runFaultsActive = !!(f.latency_ms || f.token_delay_ms || f.status || f.hang || f.reset || f.reset_mid ||
    f.malformed || f.error_mid);
}
setRunFaults(runFaults);

// [[mock:name=value]] directives, anywhere in the request body.
const DIRECTIVE_RE = /\[\[mock:([a-z_-]+)(?:=([^\]]*))?\]\]/g;
function parseDirectives(raw) {
  const d = {};
  for (const m of raw.matchAll(DIRECTIVE_RE)) {
    const v = m[2];
    const n = v === undefined ? NaN : Number(v);
    switch (m[1]) {
      case 'latency': if (n >= 0) d.latency_ms = n; break;
      case 'token-delay': case 'token_delay': if (n >= 0) d.token_delay_ms = n; break;
      case 'status': if (n >= 100 && n <= 599) d.status = n; break;
      case 'tokens': if (Number.isInteger(n) && n >= 0) d.tokens = n; break;
      case 'hang': d.hang = true; break;
      case 'reset': d.reset = true; break;
      case 'reset-mid': case 'reset_mid': d.reset_mid = true; break;
      case 'malformed': d.malformed = true; break;
      case 'error-mid': case 'error_mid': d.error_mid = true; break;
      default: parseHostile(m[1], v, d); break;
    }
  }
  return d;
}

// Effective faults of one inference request (directives override run-wide), or null when
// nothing applies (fast path). Consumes one unit of a run-wide status_count.
function effectiveFaults(d) {
  if (!runFaultsActive && !d) return null;
  const r = runFaults;
  let status = 0;
  if (r.status) {
    status = r.status;
    if (r.status_count > 0 && --r.status_count === 0) {
      r.status = 0;
      delete r.status_count;
      setRunFaults(r);
    }
  }
  const f = {
    latency_ms: r.latency_ms || 0, token_delay_ms: r.token_delay_ms || 0, status,
    hang: !!r.hang, reset: !!r.reset, reset_mid: !!r.reset_mid, malformed: !!r.malformed, error_mid: !!r.error_mid,
  };
  if (d) {
    if (d.latency_ms !== undefined) f.latency_ms = d.latency_ms;
    if (d.token_delay_ms !== undefined) f.token_delay_ms = d.token_delay_ms;
    if (d.status) f.status = d.status;
    if (d.hang) f.hang = true;
    if (d.reset) f.reset = true;
    if (d.reset_mid) f.reset_mid = true;
    if (d.malformed) f.malformed = true;
    if (d.error_mid) f.error_mid = true;
  }
  return f;
}

// ---- protocol module -----------------------------------------------------------------------

let protoMod;
try {
  protoMod = await import(new URL(`./${opts.protocol}.mjs`, import.meta.url));
} catch (e) {
  usage(`protocol "${opts.protocol}" is not available (${e.code || e.message})`);
}
const proto = protoMod.createProtocol({
  models: opts.models && opts.models.length ? opts.models : protoMod.defaultModels,
  maxModelLen: opts.maxModelLen || undefined,
  defaultTokens: opts.defaultTokens,
  embedDim: opts.embedDim,
  state: stats,
});
const routes = new Map(Object.entries(proto.routes));

// ---- sending ---------------------------------------------------------------------------------

const JSON_CT = 'application/json';
const hex32 = () => randomUUID().replace(/-/g, '');
const hung = new Set();

function headersFor(resp, rid, len) {
  const h = { 'content-type': resp.contentType || JSON_CT, 'x-request-id': rid };
  if (len !== undefined) h['content-length'] = len;
  if (resp.headers) Object.assign(h, resp.headers);
  return h;
}

function account(resp, route) {
  stats.responses[resp.status] = (stats.responses[resp.status] || 0) + 1;
  if (route && route.kind === 'inference' && resp.status === 200 && resp.model !== undefined) {
    const pt = resp.promptTokens || 0;
    const ct = resp.completionTokens || 0;
    stats.prompt_tokens += pt;
    stats.completion_tokens += ct;
    const ms = modelStats(resp.model);
    ms.prompt_tokens += pt;
    ms.completion_tokens += ct;
    ms.success++;
  }
}

// An injected error: in the shape of the route that answered (a descriptor may carry its
// own errorResponse, e.g. vLLM's Anthropic route), else the protocol's.
function errorFor(resp, status, message, ctx) {
  return resp && resp.errorResponse ? resp.errorResponse(status, message) : proto.errorResponse(status, message, ctx);
}

function writePlain(res, rid, resp) {
  const body = resp.body || '';
  res.writeHead(resp.status, headersFor(resp, rid, Buffer.byteLength(body)));
  res.end(body);
}

// Send a protocol response, applying the pacing / corruption faults in f (may be null).
function send(res, rid, resp, route, f) {
  if (res.destroyed) return;
  if (f && f.error_mid && !resp.stream && resp.status === 200) {
    // non-stream equivalent of a mid-generation engine failure: a 500 error body
    resp = errorFor(resp, 500, 'Mock engine failure during generation (injected)');
  }
  account(resp, route);
  if (resp.stream && resp.status === 200) return sendStream(res, rid, resp, f);
  if (!f || resp.status !== 200 || route.kind !== 'inference') return writePlain(res, rid, resp);
  const go = () => {
    if (res.destroyed) return;
    if (f.malformed) {
      const body = resp.body.slice(0, resp.body.length >> 1);
      res.writeHead(200, headersFor(resp, rid, Buffer.byteLength(body)));
      res.end(body);
    } else if (f.reset_mid) {
      res.writeHead(200, headersFor(resp, rid, Buffer.byteLength(resp.body)));
      res.write(resp.body.slice(0, resp.body.length >> 1), () => res.destroy());
    } else {
      writePlain(res, rid, resp);
    }
  };
  const delay = f.token_delay_ms * (resp.completionTokens || 0);
  if (delay > 0) setTimeout(go, delay); else go();
}

function truncateEvent(s) {
  // "data: {...}\n\n" -> "data: {..." (JSON cut in the middle) + "\n\n"
  const body = s.slice(0, s.indexOf('\n\n'));
  return body.slice(0, Math.max(7, body.length >> 1)) + '\n\n';
}

function sendStream(res, rid, resp, f) {
  res.writeHead(200, headersFor(resp, rid));
  const { steps, tail } = resp.stream;
  const delay = f ? f.token_delay_ms : 0;
  const mode = !f ? null : f.reset_mid ? 'reset' : f.error_mid ? 'error' : f.malformed ? 'malformed' : null;
  if (!delay && !mode) { res.end(steps.join('') + tail); return; }

  const n = steps.length;
  // reset-mid: send up to 3 steps (chat: role chunk + 2 tokens), never the last one, then
  // close the connection without the terminating chunk. error-mid: 2 steps, then the error.
  const limit = mode === 'reset' ? Math.max(1, Math.min(3, n - 1)) : mode === 'error' ? Math.max(1, Math.min(2, n - 1)) : n;
  const malIdx = Math.min(1, n - 1);
  const part = (i) => (mode === 'malformed' && i === malIdx ? truncateEvent(steps[i]) : steps[i]);
  const end = (s) => {
    if (mode === 'reset') res.write(s, () => res.destroy());
    else if (mode === 'error') {
      // a descriptor's own streamError gets the number of steps sent (Responses numbers its events)
      const msg = 'Mock engine failure during generation (injected)';
      res.end(s + (resp.streamError ? resp.streamError(500, msg, limit) : proto.streamError(500, msg)));
    }
    else res.end(s + tail);
  };
  if (!delay) {
    let s = '';
    for (let i = 0; i < limit; i++) s += part(i);
    end(s);
    return;
  }
  let i = 0;
  const tick = () => {
    if (res.destroyed) return;
    const s = part(i++);
    if (i < limit) {
      res.write(s);
      setTimeout(tick, delay);
    } else end(s);
  };
  tick();
}

// ---- request handling ------------------------------------------------------------------------

const compensations = [];
const compensationFails = new Map();

function control(req, res, path, query, raw) {
  const reply = (status, obj) => {
    const body = obj === undefined ? '' : JSON.stringify(obj);
    res.writeHead(status, { 'content-type': JSON_CT, 'content-length': Buffer.byteLength(body), 'x-request-id': hex32() });
    res.end(body);
  };
  const m = req.method;
  if (path === '/_mock/stats' && m === 'GET') {
    const models = {};
    for (const [k, v] of stats.models) models[k] = { ...v };
    return reply(200, {
      requests: stats.requests, in_flight: stats.in_flight, max_in_flight: stats.max_in_flight,
      by_model: stats.by_model, responses: stats.responses,
      tokens: { prompt: stats.prompt_tokens, completion: stats.completion_tokens },
      models, recorded: ringNext, hung: hung.size,
    });
  }
  if (path === '/_mock/reset-stats' && m === 'POST') {
    const inFlight = stats.in_flight;
    const keep = stats.models;
    Object.assign(stats, freshStats());
    stats.in_flight = inFlight;
    stats.max_in_flight = inFlight;
    for (const [k, v] of keep) if (v.in_flight) stats.models.set(k, { in_flight: v.in_flight, prompt_tokens: 0, completion_tokens: 0, success: 0 });
    ring = new Array(RING_SIZE);
    ringNext = 0;
    return reply(200, { ok: true });
  }
  // A stand-in for a business system a saga compensates (e.g. "refund the payment"):
  // POST /_mock/compensations?step=NAME records the call; ?fail=N fails the first N
  // calls of that step with 503 (to test durable retries). GET lists the calls.
  if (path === '/_mock/compensations') {
    const qs = new URLSearchParams(query);
    if (m === 'GET') return reply(200, { calls: compensations });
    if (m === 'DELETE') { compensations.length = 0; compensationFails.clear(); return reply(200, { ok: true }); }
    const step = qs.get('step') || '';
    const seen = compensations.filter((c) => c.step === step && c.body === raw).length
      + (compensationFails.get(`${step}|${raw}`) || 0);
    const failN = parseInt(qs.get('fail') || '0', 10) || 0;
    if (seen < failN) {
      compensationFails.set(`${step}|${raw}`, (compensationFails.get(`${step}|${raw}`) || 0) + 1);
      return reply(503, { error: 'compensation target unavailable (injected)' });
    }
    if (compensations.length < 10000) compensations.push({ step, body: raw, at: Date.now() });
    return reply(200, { ok: true });
  }
  if (path === '/_mock/requests' && m === 'GET') {
    const qs = new URLSearchParams(query);
    const want = qs.has('last') ? Math.max(0, Math.min(RING_SIZE, parseInt(qs.get('last'), 10) || 0)) : RING_SIZE;
    const pathFilter = qs.get('path');
    const out = [];
    for (let s = ringNext - 1; s >= 0 && s >= ringNext - RING_SIZE && out.length < want; s--) {
      const e = ring[s % RING_SIZE];
      if (!pathFilter || e.path === pathFilter) out.push(e);
    }
    out.reverse();
    return reply(200, { requests: out });
  }
  if (path === '/_mock/faults') {
    if (m === 'GET') return reply(200, runFaults);
    if (m === 'DELETE') { setRunFaults(baselineFaults()); return reply(200, runFaults); }
    if (m === 'POST' || m === 'PUT') {
      let f;
      try { f = JSON.parse(raw || '{}'); } catch (e) { return reply(400, { error: `bad JSON: ${e.message}` }); }
      if (f === null || typeof f !== 'object' || Array.isArray(f)) return reply(400, { error: 'expected a JSON object' });
      const nf = baselineFaults();
      for (const [k, v] of Object.entries(f)) {
        if (!FAULT_KEYS[k]) return reply(400, { error: `unknown fault "${k}"`, known: Object.keys(FAULT_KEYS) });
        if (v === null) continue;
        if (typeof v !== FAULT_KEYS[k] || (typeof v === 'number' && !(v >= 0))) return reply(400, { error: `"${k}" must be a ${FAULT_KEYS[k]}` });
        nf[k] = v;
      }
      if (nf.status && (nf.status < 100 || nf.status > 599)) return reply(400, { error: 'status must be 100..599' });
      setRunFaults(nf);
      return reply(200, runFaults);
    }
  }
  return reply(404, { error: `unknown control endpoint ${m} ${path}` });
}

function safeHandle(route, ctx) {
  try {
    return route.handle(ctx);
  } catch (e) {
    return proto.errorResponse(500, `mock engine bug: ${e && e.stack || e}`);
  }
}

function dispatch(req, res, path, raw) {
  const headers = req.headers;
  const rid = headers['x-request-id'] || hex32();
  const methods = routes.get(path);
  let body = null;
  let jsonError = null;
  if (raw) {
    try { body = JSON.parse(raw); } catch (e) { jsonError = e.message; body = raw; }
  } else if (req.method === 'POST' || req.method === 'PUT') {
    jsonError = 'Expecting value: line 1 column 1 (char 0)';
  }
  record(req, path, raw ? body : null);

  if (!methods) return send(res, rid, proto.notFound(path), null, null);
  const route = methods[req.method];
  if (!route) return send(res, rid, proto.methodNotAllowed(Object.keys(methods).join(', ')), null, null);
  if (opts.apiKey && proto.needsAuth(path) && headers[AUTH_HEADER] !== AUTH_VALUE) {
    return send(res, rid, proto.unauthorized(opts.apiKeyHeader || null), null, null);
  }

  if (route.kind === 'health') {
    if (runFaults.health_status) return send(res, rid, proto.healthError(runFaults.health_status), route, null);
    return send(res, rid, route.handle({}), route, null);
  }

  const directives = raw && route.kind === 'inference' && raw.indexOf('[[mock:') >= 0 ? parseDirectives(raw) : null;
  const ctx = { method: req.method, path, headers, raw, json: jsonError ? undefined : body, jsonError, directives };
  let resp = safeHandle(route, ctx);
  if (route.kind !== 'inference') return send(res, rid, resp, route, null);
  if (directives) resp = applyHostile(resp, directives, opts.protocol);

  // inference: stats, in-flight tracking, faults
  const model = resp.model;
  let ms = null;
  if (typeof model === 'string') {
    stats.by_model[model] = (stats.by_model[model] || 0) + 1;
    ms = modelStats(model);
    ms.in_flight++;
  }
  if (++stats.in_flight > stats.max_in_flight) stats.max_in_flight = stats.in_flight;
  res.once('close', () => {
    stats.in_flight--;
    if (ms) ms.in_flight--;
  });

  const f = effectiveFaults(directives);
  if (!f) return send(res, rid, resp, route, null);
  const act = () => {
    if (res.destroyed) return;
    if (f.hang) {
      hung.add(res);
      res.once('close', () => hung.delete(res));
      return;
    }
    if (f.reset) {
      stats.responses.reset = (stats.responses.reset || 0) + 1;
      const s = req.socket;
      if (typeof s.resetAndDestroy === 'function') s.resetAndDestroy(); else s.destroy();
      return;
    }
    // ctx: a protocol may answer in-band (TGI reports errors inside an open stream)
    if (f.status) return send(res, rid, errorFor(resp, f.status, undefined, ctx), route, null);
    send(res, rid, resp, route, f);
  };
  if (f.latency_ms > 0) setTimeout(act, f.latency_ms); else act();
}

const MAX_BODY = 64 * 1024 * 1024;

function onRequest(req, res) {
  const url = req.url;
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const isControl = path.startsWith('/_mock/');
  if (!isControl) stats.requests[path] = (stats.requests[path] || 0) + 1;

  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'DELETE') {
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      req.resume();
      return isControl ? control(req, res, path, q < 0 ? '' : url.slice(q + 1), '') : dispatch(req, res, path, '');
    }
  }
  const chunks = [];
  let len = 0;
  req.on('data', (c) => {
    len += c.length;
    if (len > MAX_BODY) { res.writeHead(413, { 'content-type': JSON_CT, connection: 'close' }); res.end('{"detail":"Request Entity Too Large"}'); req.destroy(); return; }
    chunks.push(c);
  });
  req.on('end', () => {
    if (len > MAX_BODY) return;
    const raw = chunks.length === 0 ? '' : chunks.length === 1 ? chunks[0].toString() : Buffer.concat(chunks, len).toString();
    if (isControl) control(req, res, path, q < 0 ? '' : url.slice(q + 1), raw);
    else dispatch(req, res, path, raw);
  });
}

// ---- server ------------------------------------------------------------------------------------

const server = http.createServer({ keepAlive: true, noDelay: true, requestTimeout: 0 }, onRequest);
server.keepAliveTimeout = opts.keepAliveMs;
server.headersTimeout = Math.max(60000, opts.keepAliveMs + 1000);
server.maxHeadersCount = 0;
server.on('clientError', (err, socket) => {
  if (socket.writable && !socket.destroyed) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  else socket.destroy();
});

server.listen(opts.port, opts.host, () => {
  const a = server.address();
  process.stdout.write(`mock-engine listening on ${opts.host}:${a.port}\n`);
});
server.on('error', (e) => {
  process.stderr.write(`mock-engine: ${e.message}\n`);
  process.exit(1);
});

let stopping = false;
function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections();
  for (const r of hung) r.destroy();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
