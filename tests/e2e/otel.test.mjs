// otel.test.mjs -- the gateway's own spans, exported as OTLP/HTTP JSON to the collector
// of tracing.otlp_endpoint (the test stack's AIF_OTLP_ENDPOINT): a small OTLP receiver
// here takes them and the tests check one request's spans, their parentage and timing
// (aif-api's server span, the queue wait, each engine attempt as a GenAI client span
// whose id is the traceparent the engine got; an async job in a trace of its own linked
// to the request's), that no prompt text is exported, and that a collector that never
// answers leaves requests unaffected (its spans dropped and counted).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { env, http as gw, uniq, mockRequests, sqlValue } from './lib.mjs';

const T = { timeout: 90000 };
const endpoint = new URL(process.env.AIF_OTLP_ENDPOINT || 'http://127.0.0.1:19417/v1/traces');
const TRACE = 'a3ce929d0e0e47364bf92f3577b34da6';
const CALLER_SPAN = '0102030405060708';
const CALLER = `00-${TRACE}-${CALLER_SPAN}-01`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let server;
const bodies = [];	// every export body, as text
const spans = [];	// every span, with its resource's service.name

function listen(srv) {
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(Number(endpoint.port), endpoint.hostname, resolve);
  });
}

before(async () => {
  server = http.createServer((req, res) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (c) => { data += c; });
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== endpoint.pathname ||
          !/^application\/json/.test(req.headers['content-type'] || '')) {
        res.writeHead(400).end();
        return;
      }
      bodies.push(data);
      const b = JSON.parse(data);
      for (const rs of b.resourceSpans) {
        const service = rs.resource.attributes.find((a) => a.key === 'service.name').value.stringValue;
        for (const ss of rs.scopeSpans) for (const s of ss.spans) spans.push({ ...s, service });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await listen(server);
});

after(() => new Promise((r) => (server && server.listening ? server.close(r) : r())));

const attr = (s, k) => {
  const a = (s.attributes || []).find((x) => x.key === k);
  if (!a) return undefined;
  const v = a.value;
  return v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : v.arrayValue ? v.arrayValue.values.map((x) => x.stringValue) : v);
};

async function spansOf(pred, n, what) {
  for (let i = 0; i < 100; i++) {
    const got = spans.filter(pred);
    if (got.length >= n) return got;
    await sleep(150);
  }
  assert.fail(`${what}: ${spans.filter(pred).length} of ${n} spans came`);
}

const chat = (content, headers, extra = {}) => gw('/v1/chat/completions', {
  headers, json: { model: 'demo-chat', max_tokens: 4, messages: [{ role: 'user', content }], ...extra },
});

test('a request\'s spans: the server span under the caller\'s, its queue wait and engine attempt under it, in order, with GenAI attributes and no prompt text', T, async () => {
  const secret = uniq('never-exported');
  const r = await chat(`traced ${secret}`, { traceparent: CALLER });
  assert.equal(r.status, 200, r.text);
  const id = r.headers.get('x-aif-job-id');
  const mine = await spansOf((s) => attr(s, 'aif.job.id') === id, 3, 'server, queue and attempt');
  const server = mine.find((s) => s.kind === 2);
  const queue = mine.find((s) => s.name === 'aif.queue.wait');
  const attempt = mine.find((s) => s.kind === 3);
  assert.ok(server && queue && attempt, mine.map((s) => s.name).join(','));
  for (const s of mine) {
    assert.equal(s.traceId, TRACE, 'the caller\'s trace');
    assert.match(s.spanId, /^[0-9a-f]{16}$/);
    assert.equal(s.service, 'aif-gateway');
    assert.ok(BigInt(s.startTimeUnixNano) <= BigInt(s.endTimeUnixNano), s.name);
  }
  assert.equal(server.parentSpanId, CALLER_SPAN, 'the server span is a child of the caller\'s');
  assert.equal(server.name, 'POST /v1/chat/completions');
  assert.equal(attr(server, 'http.response.status_code'), 200);
  assert.equal(attr(server, 'gen_ai.request.model'), 'demo-chat');
  assert.equal(queue.parentSpanId, server.spanId, 'the queue wait is a child of the server span');
  assert.equal(attempt.parentSpanId, server.spanId, 'the attempt is a child of the job, not a sibling of the caller');
  assert.equal(attempt.name, 'chat demo-chat');
  assert.equal(attr(attempt, 'gen_ai.operation.name'), 'chat');
  assert.equal(attr(attempt, 'gen_ai.provider.name'), 'openai');
  assert.ok(attr(attempt, 'gen_ai.usage.input_tokens') > 0);
  assert.ok(attr(attempt, 'gen_ai.usage.output_tokens') > 0);
  assert.ok(Array.isArray(attr(attempt, 'gen_ai.response.finish_reasons')));
  assert.equal(attempt.status.code, undefined, 'UNSET: no error');
  // the engine got the attempt's own span as its parent
  const [sent] = (await mockRequests(200)).filter((q) => q.headers && q.headers['x-request-id'] === id);
  assert.equal(sent.headers.traceparent, `00-${TRACE}-${attempt.spanId}-01`);
  // timing: the request holds its queue wait, which comes before the engine attempt
  const t = (s, k) => BigInt(s[k]);
  assert.ok(t(server, 'startTimeUnixNano') <= t(queue, 'startTimeUnixNano'));
  assert.ok(t(queue, 'endTimeUnixNano') <= t(attempt, 'startTimeUnixNano'));
  assert.ok(t(attempt, 'endTimeUnixNano') <= t(server, 'endTimeUnixNano'));
  // prompt text is never exported
  assert.ok(!bodies.some((b) => b.includes(secret)), 'no prompt text in any export');
});

test('an async job runs in a trace of its own, linked to the request\'s server span', T, async () => {
  const r = await chat(`async ${uniq('a')}`, { traceparent: CALLER, Prefer: 'respond-async' });
  assert.equal(r.status, 202, r.text);
  const id = r.json.id;
  const mine = await spansOf((s) => attr(s, 'aif.job.id') === id, 4, 'server, job, queue and attempt');
  const server = mine.find((s) => s.kind === 2);
  const job = mine.find((s) => s.kind === 5);
  const attempt = mine.find((s) => s.kind === 3);
  assert.ok(server && job && attempt, mine.map((s) => s.name).join(','));
  assert.equal(server.traceId, TRACE);
  assert.equal(attr(server, 'http.response.status_code'), 202);
  assert.notEqual(job.traceId, TRACE, 'a trace of its own');
  assert.equal(job.parentSpanId, undefined, 'the root of its trace');
  assert.deepEqual(job.links.map((l) => [l.traceId, l.spanId]), [[TRACE, server.spanId]]);
  assert.equal(attempt.traceId, job.traceId);
  assert.equal(attempt.parentSpanId, job.spanId);
  assert.equal(sqlValue(`SELECT trace_link FROM jobs WHERE public_id = '${id}'`), `00-${TRACE}-${server.spanId}-01`);
});

test('a retried job: the failed attempt a span with an error status, the next one a span of its own', T, async () => {
  await fetch(`${env.mockURL}/_mock/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 500, status_count: 1 }) });
  let id;
  try {
    const r = await chat(`retried ${uniq('r')}`, { traceparent: CALLER });
    assert.equal(r.status, 200, r.text);
    id = r.headers.get('x-aif-job-id');
  } finally {
    await fetch(`${env.mockURL}/_mock/faults`, { method: 'DELETE' });
  }
  const attempts = await spansOf((s) => attr(s, 'aif.job.id') === id && s.kind === 3, 2, 'two attempts');
  attempts.sort((a, b) => attr(a, 'aif.attempt') - attr(b, 'aif.attempt'));
  assert.equal(attempts[0].status.code, 2, 'the first failed');
  assert.ok(attr(attempts[0], 'error.type'));
  assert.equal(attempts[1].status.code, undefined);
  assert.notEqual(attempts[0].spanId, attempts[1].spanId);
  assert.equal(attempts[0].parentSpanId, attempts[1].parentSpanId);
});

test('a workflow run: each step a span of the run\'s trace under its server span, its model step\'s attempt too', T, async () => {
  const r = await gw('/v1/chat/completions', { headers: { traceparent: CALLER },
    json: { model: 'demo-wf-pipeline', messages: [{ role: 'user', content: `steps ${uniq('w')}` }] } });
  assert.equal(r.status, 200, r.text);
  const id = r.headers.get('x-aif-job-id');
  const server = (await spansOf((s) => attr(s, 'aif.job.id') === id && s.kind === 2, 1, 'the run\'s server span'))[0];
  const steps = await spansOf((s) => attr(s, 'aif.job.id') === id && s.name.startsWith('aif.step '), 2, 'step spans');
  for (const st of steps) {
    assert.equal(st.traceId, TRACE);
    assert.equal(st.parentSpanId, server.spanId, st.name);
    assert.equal(attr(st, 'aif.workflow.name'), 'demo-wf-pipeline');
    assert.equal(st.status.code, undefined);
  }
  // a model step's job: its engine attempt in the same trace, under the run's span
  const modelStep = steps.find((st) => attr(st, 'aif.workflow.step.kind') === 'model');
  assert.ok(modelStep, steps.map((st) => st.name).join(','));
  const child = attr(modelStep, 'aif.workflow.step.job');
  const [att] = await spansOf((s) => attr(s, 'aif.job.id') === child && s.kind === 3, 1, 'the step job\'s attempt');
  assert.equal(att.traceId, TRACE);
  assert.equal(att.parentSpanId, server.spanId);
});

test('an async workflow run: its own trace, rooted in the run\'s span (linked to the request\'s), its steps under it', T, async () => {
  const r = await gw('/v1/chat/completions', { headers: { traceparent: CALLER, Prefer: 'respond-async' },
    json: { model: 'demo-wf-pipeline', messages: [{ role: 'user', content: `async steps ${uniq('aw')}` }] } });
  assert.equal(r.status, 202, r.text);
  const id = r.json.id;
  const server = (await spansOf((s) => attr(s, 'aif.job.id') === id && s.kind === 2, 1, 'the server span'))[0];
  const run = (await spansOf((s) => attr(s, 'aif.job.id') === id && s.kind === 5, 1, 'the run\'s span'))[0];
  assert.equal(server.traceId, TRACE);
  assert.notEqual(run.traceId, TRACE);
  assert.equal(run.parentSpanId, undefined);
  assert.deepEqual(run.links.map((l) => [l.traceId, l.spanId]), [[TRACE, server.spanId]]);
  const steps = await spansOf((s) => attr(s, 'aif.job.id') === id && s.name.startsWith('aif.step '), 4, 'every step');
  for (const st of steps) {
    assert.equal(st.traceId, run.traceId, st.name);
    assert.equal(st.parentSpanId, run.spanId, st.name);
  }
  assert.equal(new Set(steps.map((st) => st.name)).size, steps.length, 'one span a step');
});

test('a caller that does not sample: no spans recorded, the trace still goes on', T, async () => {
  const r = await chat(`unsampled ${uniq('u')}`, { traceparent: `00-${TRACE}-${CALLER_SPAN}-00` });
  assert.equal(r.status, 200, r.text);
  const id = r.headers.get('x-aif-job-id');
  await chat(`after ${uniq('n')}`, {});	// a later request's spans come
  await spansOf(() => true, spans.length + 1, 'a later span');
  await sleep(1500);
  assert.equal(spans.filter((s) => attr(s, 'aif.job.id') === id).length, 0);
  const [sent] = (await mockRequests(200)).filter((q) => q.headers && q.headers['x-request-id'] === id);
  assert.match(sent.headers.traceparent, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
});

test('a collector that never answers: requests are unaffected, the spans are dropped and counted', T, async () => {
  await new Promise((r) => server.close(r));
  const held = [];
  const hole = net.createServer((sock) => { held.push(sock); sock.on('error', () => {}); });	// accepts, never answers
  await listen(hole);
  const metric = async () => {
    const m = (await gw('/metrics', { key: null })).text.match(/^aif_trace_spans_total\{result="dropped_export_failed"\} (\d+)$/m);
    return m ? Number(m[1]) : 0;
  };
  try {
    const before = await metric();
    const rs = await Promise.all(Array.from({ length: 20 }, (_, i) => chat(`hole ${i} ${uniq('h')}`, {})));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    const s = await gw('/v1/chat/completions', { json: { model: 'demo-chat', stream: true, messages: [{ role: 'user', content: 'hole stream' }] } });
    assert.equal(s.status, 200);
    assert.match(s.text, /data: \[DONE\]/);
    let after = before;
    for (let i = 0; i < 60 && after <= before; i++) {
      await sleep(500);
      after = await metric();
    }
    assert.ok(after > before, `dropped spans counted (${before} -> ${after})`);
    assert.ok(held.length >= 1, 'the exporter did reach the collector');
  } finally {
    for (const s of held) s.destroy();
    await new Promise((r) => hole.close(r));
  }
});
