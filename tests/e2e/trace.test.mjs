// trace.test.mjs -- W3C Trace Context through the queue: the caller's trace (under the
// request's server span) and tracestate are kept on its job, and every engine attempt
// gets a traceparent of its own
// (the caller's trace id and flags, a new span id), so that the engine's spans join the
// caller's trace; an invalid or missing traceparent starts a new trace (its tracestate
// dropped). Checked on what the mock engine received (its request log).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { env, http, jobRow, uniq, mockRequests } from './lib.mjs';

const T = { timeout: 60000 };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER = `00-${TRACE}-00f067aa0ba902b7-01`;
const TP_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

const chat = (content, headers) => http('/v1/chat/completions', {
  headers, json: { model: 'demo-chat', max_tokens: 4, messages: [{ role: 'user', content }] },
});
const sentFor = async (jobId) => (await mockRequests(200)).filter((r) => r.headers && r.headers['x-request-id'] === jobId);

test('the caller\'s traceparent is kept on its job and each engine attempt is a child span of it, with its tracestate', T, async () => {
  const r = await chat(`traced ${uniq('t')}`, { traceparent: CALLER, tracestate: 'rojo=00f067aa0ba902b7' });
  assert.equal(r.status, 200, r.text);
  const id = r.headers.get('x-aif-job-id');
  // the job runs under the request's server span: the caller's trace and flags, a span
  // id of the gateway's (otel.test.mjs checks that span)
  const kept = TP_RE.exec(jobRow(id).traceparent);
  assert.ok(kept, jobRow(id).traceparent);
  assert.equal(kept[1], TRACE);
  assert.notEqual(kept[2], '00f067aa0ba902b7');
  assert.equal(kept[3], '01');
  const [sent] = await sentFor(id);
  assert.ok(sent, 'the engine saw the job');
  const m = TP_RE.exec(sent.headers.traceparent);
  assert.ok(m, sent.headers.traceparent);
  assert.equal(m[1], TRACE, 'the same trace');
  assert.notEqual(m[2], '00f067aa0ba902b7', 'a span of its own, not the caller\'s');
  assert.equal(m[3], '01', 'the caller\'s flags');
  assert.equal(sent.headers.tracestate, 'rojo=00f067aa0ba902b7');
});

test('a retried job: every attempt a new span of the same trace', T, async () => {
  await fetch(`${env.mockURL}/_mock/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ status: 500, status_count: 1 }) });
  try {
    const r = await chat(`retried ${uniq('r')}`, { traceparent: CALLER });
    assert.equal(r.status, 200, r.text);
    const sent = await sentFor(r.headers.get('x-aif-job-id'));
    assert.equal(sent.length, 2, 'two attempts');
    const [a, b] = sent.map((s) => TP_RE.exec(s.headers.traceparent));
    assert.equal(a[1], TRACE);
    assert.equal(b[1], TRACE);
    assert.notEqual(a[2], b[2], 'each attempt its own span');
  } finally {
    await fetch(`${env.mockURL}/_mock/faults`, { method: 'DELETE' });
  }
});

test('no traceparent, or an invalid one: a new trace for the job, the tracestate dropped', T, async () => {
  for (const headers of [{}, { traceparent: `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`, tracestate: 'a=b' }]) {
    const r = await chat(`untraced ${uniq('u')}`, headers);
    assert.equal(r.status, 200, r.text);
    const id = r.headers.get('x-aif-job-id');
    const kept = TP_RE.exec(jobRow(id).traceparent);
    assert.ok(kept, 'a trace of its own');
    assert.notEqual(kept[1], TRACE);
    const [sent] = await sentFor(id);
    assert.equal(TP_RE.exec(sent.headers.traceparent)[1], kept[1]);
    assert.equal(sent.headers.tracestate, undefined);
  }
});

test('a workflow run keeps the caller\'s trace: its model steps\' engine calls are spans of it', T, async () => {
  const marker = uniq('wf');
  const r = await http('/v1/chat/completions', { headers: { traceparent: CALLER },
    json: { model: 'demo-wf-pipeline', messages: [{ role: 'user', content: `trace ${marker}` }] } });
  assert.equal(r.status, 200, r.text);
  const steps = (await mockRequests(200)).filter((q) => JSON.stringify(q.body || {}).includes(marker));
  assert.ok(steps.length >= 1, 'a model step reached the engine');
  for (const q of steps) assert.equal(TP_RE.exec(q.headers.traceparent)[1], TRACE);
});
