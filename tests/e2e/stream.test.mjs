// stream.test.mjs -- "stream": true through the queue: the official SDK's stream
// iterator consumes the gateway's SSE unchanged, chunks arrive as the engine produces
// them, stream_options.include_usage adds the usage chunk, a failure after the stream
// started reaches the SDK as an exception, the finished job row holds the assembled
// response with its usage row, and a client that leaves mid-stream is recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chatPromptTokens, generate } from '../mock-engine/tokenizer.mjs';
import { client, collect, sqlNumber, jobRow, jobEvents, usageRow, uniq, waitFor, OpenAI } from './lib.mjs';

const T = { timeout: 60000 };

/** Consumes an SDK stream, noting when each chunk arrived. */
test('SDK chat stream: chunks, usage chunk, job row with the assembled answer, usage row', T, async () => {
  const content = `Stream me ${uniq('s')}`;
  const messages = [{ role: 'user', content }];
  const { data: stream, response } = await client().chat.completions.create({
    model: 'demo-chat', messages, max_tokens: 12, stream: true, stream_options: { include_usage: true },
  }).withResponse();
  assert.match(response.headers.get('content-type'), /^text\/event-stream/);
  const jobId = response.headers.get('x-aif-job-id');
  assert.match(jobId, /^job_/);
  const chunks = await collect(stream);
  const objs = chunks.map((c) => c.chunk);
  assert.ok(objs.length >= 3, 'several chunks');
  for (const o of objs) {
    assert.equal(o.object, 'chat.completion.chunk');
    assert.equal(o.model, 'demo-chat');
    assert.equal(o.id, objs[0].id, 'one id for the whole stream');
  }
  assert.equal(objs[0].choices[0].delta.role, 'assistant');
  const text = objs.filter((o) => o.choices.length).map((o) => o.choices[0].delta.content || '').join('');
  const want = generate(content, { maxTokens: 12 });
  assert.equal(text, want.text, 'the streamed deltas join to the engine answer');
  const finish = objs.filter((o) => o.choices.length && o.choices[0].finish_reason);
  assert.equal(finish.length, 1);
  assert.equal(finish[0].choices[0].finish_reason, want.finishReason);
  const last = objs[objs.length - 1];
  assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
  assert.equal(last.usage.prompt_tokens, chatPromptTokens(messages));
  assert.equal(last.usage.completion_tokens, want.completionTokens);

  const row = await waitFor(() => { const r = jobRow(jobId); return r && r.state === 'succeeded' ? r : null; },
    { what: 'the streamed job to be succeeded' });
  const stored = JSON.parse(row.response_body);
  assert.equal(stored.object, 'chat.completion');
  assert.equal(stored.choices[0].message.content, want.text, 'the job row holds the assembled answer');
  assert.equal(stored.usage.completion_tokens, want.completionTokens);
  const u = usageRow(row.id);
  assert.ok(u, 'a usage row');
  assert.equal(Number(u.prompt_tokens), chatPromptTokens(messages));
  assert.equal(Number(u.completion_tokens), want.completionTokens);
});

test('SDK completions stream, without include_usage: no usage chunk, ends cleanly', T, async () => {
  const stream = await client().completions.create({ model: 'demo-small', prompt: 'Once upon a time', max_tokens: 5, stream: true });
  const objs = (await collect(stream)).map((c) => c.chunk);
  assert.ok(objs.length >= 2);
  for (const o of objs) {
    assert.equal(o.object, 'text_completion');
    assert.ok(o.choices.length > 0, 'no usage-only chunk without include_usage');
    assert.equal(o.usage ?? null, null);
  }
  assert.equal(objs.map((o) => o.choices[0].text).join(''), generate('Once upon a time', { maxTokens: 5 }).text);
});

test('chunks arrive incrementally: the first long before the last when the engine paces tokens', T, async () => {
  const stream = await client().chat.completions.create({
    model: 'demo-chat', max_tokens: 10, stream: true,
    messages: [{ role: 'user', content: `[[mock:token-delay=80]] pace ${uniq('p')}` }],
  });
  const chunks = await collect(stream);
  const first = chunks[0].at, last = chunks[chunks.length - 1].at;
  assert.ok(last >= 600, `the engine took its time (last chunk at ${last} ms)`);
  assert.ok(first < last / 3, `first chunk at ${first} ms, last at ${last} ms: not buffered`);
});

test('a failure after the stream started reaches the SDK as an exception, without [DONE]', T, async () => {
  const stream = await client().chat.completions.create({
    model: 'demo-chat', stream: true, messages: [{ role: 'user', content: `[[mock:error-mid]] ${uniq('e')}` }],
  });
  await assert.rejects(collect(stream), (e) => e instanceof OpenAI.APIError, 'the SDK throws on the error event');
});

test('an engine error before any chunk is an ordinary HTTP error for the SDK', T, async () => {
  await assert.rejects(client().chat.completions.create({
    model: 'demo-chat', stream: true, messages: [{ role: 'user', content: `[[mock:status=400]] ${uniq('x')}` }],
  }), (e) => e instanceof OpenAI.BadRequestError && e.status === 400);
});

test('a client that leaves mid-stream: the job still reaches a final state, recorded in job_events', T, async () => {
  const ac = new AbortController();
  const { data: stream, response } = await client().chat.completions.create({
    model: 'demo-chat', stream: true, max_tokens: 30,
    messages: [{ role: 'user', content: `[[mock:token-delay=60]] leave ${uniq('d')}` }],
  }, { signal: ac.signal }).withResponse();
  const jobId = response.headers.get('x-aif-job-id');
  let n = 0;
  try {
    for await (const chunk of stream) { void chunk; if (++n === 3) ac.abort(); }
  } catch (e) {
    assert.ok(e instanceof OpenAI.APIUserAbortError || e.name === 'AbortError', `aborted: ${e}`);
  }
  assert.equal(n, 3, 'the client stopped reading after 3 chunks');
  const row = await waitFor(() => {
    const r = jobRow(jobId);
    return r && ['succeeded', 'cancelled'].includes(r.state) ? r : null;
  }, { timeoutMs: 20000, what: 'the abandoned stream job to end' });
  const events = await waitFor(() => {
    const ev = jobEvents(row.id).map((e) => e.event);
    return ev.includes('client_disconnected') ? ev : null;
  }, { timeoutMs: 10000, what: 'a client_disconnected event' });
  assert.ok(events.includes('client_disconnected'));
  // the default policy (server.stream_disconnect: finish) completes and stores the job
  assert.equal(row.state, 'succeeded');
  assert.equal(sqlNumber(`SELECT COUNT(*) FROM \`usage\` WHERE job_id = ${Number(row.id)}`), 1);
});

test('an idempotent attach to a running stream: both streams get the whole answer, the original keeps its frames', T, async () => {
  const key = uniq('sidem');
  const body = {
    model: 'demo-chat', stream: true, max_tokens: 12,
    messages: [{ role: 'user', content: `[[mock:token-delay=80]] attach ${key}` }],
  };
  const opts = { headers: { 'Idempotency-Key': key } };
  const first = await client().chat.completions.create(body, opts).withResponse();
  const firstChunks = collect(first.data);
  await new Promise((r) => setTimeout(r, 300));	// the first is streaming now
  const second = await client().chat.completions.create(body, opts).withResponse();
  assert.equal(second.response.headers.get('x-aif-idempotent-replay'), 'true');
  assert.equal(second.response.headers.get('x-aif-job-id'), first.response.headers.get('x-aif-job-id'));
  const text = (chunks) => chunks.map((c) => c.chunk).filter((o) => o.choices.length)
    .map((o) => o.choices[0].delta.content || '').join('');
  const [a, b] = await Promise.all([firstChunks, collect(second.data)]);
  assert.ok(a.length >= 3, 'the original stream got its chunks');
  assert.ok(text(a).length > 0);
  assert.equal(text(b), text(a), 'the attach gets the same answer (from the job row)');
  const row = jobRow(first.response.headers.get('x-aif-job-id'));
  assert.equal(jobEvents(row.id).filter((e) => e.event === 'claimed').length, 1, 'the engine ran once');
});

test('long streams that the client reads at full speed are never cut: each ends with its finish_reason, none recorded as a client that left', T, async () => {
  // a stream whose unread bytes all went out between two stall checks used to be taken
  // for a stalled client and cut (the SDK saw a quiet, short end); 12 streams of 10,000
  // tool-call deltas hit that window most runs
  for (let i = 0; i < 12; i++) {
    const { data: s, response } = await client().chat.completions.create({
      model: 'demo-chat', stream: true,
      messages: [{ role: 'user', content: `[[mock:tool-deltas=10000]] ${uniq('full')}` }],
    }).withResponse();
    let args = '', finish = null;
    for await (const ch of s) {
      for (const t of ch.choices[0]?.delta?.tool_calls ?? []) args += t.function?.arguments ?? '';
      if (ch.choices[0]?.finish_reason) finish = ch.choices[0].finish_reason;
    }
    assert.equal(args.length, 10000, `stream ${i} whole`);
    assert.equal(finish, 'tool_calls', `stream ${i} ended with its finish_reason`);
    const row = jobRow(response.headers.get('x-aif-job-id'));
    assert.ok(!jobEvents(row.id).some((e) => e.event === 'client_disconnected'), `stream ${i} not taken for a client that left`);
  }
});
