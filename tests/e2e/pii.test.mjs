// pii.test.mjs -- personal data masking on the real request path (docs/PII.md): what
// the engine receives and what the jobs table stores are masked, the job and usage rows
// count entities by type (never values), a blocked type is a 400 pii_blocked that creates no
// job, tool-call arguments stay valid JSON, embeddings inputs are masked too, and
// /metrics counts entities. The policy under test is config/aif.yaml's pii section.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  client, http, uniq, jobRow, usageRow, countJobs, engineRequestOf, errorOf, waitFor, OpenAI,
} from './lib.mjs';

const T = { timeout: 60000 };

const EMAIL = 'kim.minsu@example.co.kr';
const PHONE = '010-9876-5432';
const CARD = '4111 1111 1111 1111';	// Luhn-valid test card
const RRN = '900101-1234568';

async function piiMetric(type) {
  const r = await http('/metrics', { key: null });
  assert.equal(r.status, 200);
  const m = r.text.match(new RegExp(`^aif_pii_entities_total\\{type="${type}"\\} (\\d+)$`, 'm'));
  return m ? Number(m[1]) : 0;
}

test('a chat prompt reaches the engine and the jobs table masked; counts by type on the job', T, async () => {
  const emailsBefore = await piiMetric('EMAIL');
  const tag = uniq('pii');
  const content = `${tag}: 메일 ${EMAIL}, 전화 ${PHONE}, 카드 ${CARD} 로 연락 주세요.`;
  const { data, response } = await client().chat.completions
    .create({ model: 'demo-chat', messages: [{ role: 'user', content }] }).withResponse();
  assert.equal(response.status, 200);
  assert.equal(data.object, 'chat.completion');
  const jobId = response.headers.get('x-aif-job-id');

  const er = await engineRequestOf(jobId);
  assert.ok(er, 'the engine saw the request');
  const sent = er.body.messages[0].content;
  assert.ok(sent.startsWith(`${tag}: `), `unrelated text kept: ${sent}`);
  assert.ok(sent.includes('[EMAIL]'), sent);
  assert.ok(sent.includes('010-****-5432'), `phone partially masked: ${sent}`);
  assert.match(sent, /\[CREDIT_CARD:[0-9a-f]{8}\]/);
  for (const raw of [EMAIL, PHONE, CARD, '4111']) assert.ok(!sent.includes(raw), `engine got ${raw}`);

  const job = jobRow(jobId);
  for (const raw of [EMAIL, PHONE, CARD]) assert.ok(!job.request_body.includes(raw), `jobs.request_body holds ${raw}`);
  const counts = JSON.parse(job.pii_counts);
  assert.equal(counts.EMAIL, 1);
  assert.equal(counts.PHONE, 1);
  assert.equal(counts.CREDIT_CARD, 1);
  assert.ok(!job.pii_counts.includes('example'), 'counts never hold values');
  // the usage row carries the same counts (usage reports need no join)
  const usage = await waitFor(() => usageRow(job.id), { what: 'the usage row' });
  assert.deepEqual(JSON.parse(usage.pii_counts), counts);

  // the same card gives the same token (hash action): joinable without the number
  const again = await client().chat.completions
    .create({ model: 'demo-chat', messages: [{ role: 'user', content: `again ${CARD}` }] }).withResponse();
  const er2 = await engineRequestOf(again.response.headers.get('x-aif-job-id'));
  assert.equal(er2.body.messages[0].content.match(/\[CREDIT_CARD:[0-9a-f]{8}\]/)[0],
    sent.match(/\[CREDIT_CARD:[0-9a-f]{8}\]/)[0]);

  // metrics: workers and aif-api flush with their heartbeat
  await waitFor(async () => (await piiMetric('EMAIL')) >= emailsBefore + 1,
    { timeoutMs: 15000, what: 'aif_pii_entities_total{type="EMAIL"} to grow' });
});

test('names and addresses are masked on the way in: the district of an address stays (partial style), look-alike words do not move', T, async () => {
  const tag = uniq('names');
  const plain = '이사회 정보 담당자에게 문의하세요. 테헤란로는 강남의 중심 도로다. Main Street is closed.';
  const content = `${tag}: 담당자 김민지 님께, 배송지: 서울특별시 강남구 테헤란로 152, 12층. ` +
    `John Smith in accounting ships to 350 Fifth Avenue, Suite 3300, New York, NY 10118. ${plain}`;
  const { response } = await client().chat.completions
    .create({ model: 'demo-chat', messages: [{ role: 'user', content }] }).withResponse();
  assert.equal(response.status, 200);
  const jobId = response.headers.get('x-aif-job-id');
  const sent = (await engineRequestOf(jobId)).body.messages[0].content;
  assert.equal(sent, `${tag}: 담당자 [PERSON] 님께, 배송지: 서울특별시 강남구 [ADDRESS]. ` +
    `[PERSON] in accounting ships to [ADDRESS], New York, NY. ${plain}`);
  const job = jobRow(jobId);
  for (const raw of ['김민지', '테헤란로 152', 'John Smith', '350 Fifth']) {
    assert.ok(!job.request_body.includes(raw), `jobs.request_body holds ${raw}`);
  }
  const counts = JSON.parse(job.pii_counts);
  assert.equal(counts.PERSON, 2);
  assert.equal(counts.ADDRESS, 2);
});

test('a blocked type (resident registration number on demo-*) is 400 pii_blocked and creates no job', T, async () => {
  const before = countJobs();
  await assert.rejects(
    client().chat.completions.create({
      model: 'demo-chat', messages: [{ role: 'user', content: `제 주민등록번호는 ${RRN} 입니다` }],
    }),
    (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${e.constructor.name}: ${e.message}`);
      assert.equal(e.status, 400);
      assert.equal(e.code, 'pii_blocked');
      assert.match(e.message, /KR_RRN/);
      assert.ok(!e.message.includes(RRN) && !e.message.includes('1234568'), 'the value is not echoed');
      return true;
    });
  // raw check: error object shape, no job header
  const r = await http('/v1/chat/completions', {
    json: { model: 'demo-chat', messages: [{ role: 'user', content: `RRN ${RRN}` }] },
  });
  assert.equal(r.status, 400);
  assert.equal(errorOf(r).code, 'pii_blocked');
  assert.equal(r.headers.get('x-aif-job-id'), null);
  assert.equal(countJobs(), before, 'no job row was written');
});

test('tool-call arguments are masked value by value and stay valid JSON', T, async () => {
  const args = JSON.stringify({ to: EMAIL, note: `call ${PHONE}` });
  const { response } = await client().chat.completions.create({
    model: 'demo-chat',
    messages: [
      { role: 'user', content: 'send the mail' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'send_mail', arguments: args } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'sent' },
    ],
  }).withResponse();
  const er = await engineRequestOf(response.headers.get('x-aif-job-id'));
  const sentArgs = er.body.messages[1].tool_calls[0].function.arguments;
  const parsed = JSON.parse(sentArgs);	// throws if masking broke the JSON
  assert.equal(parsed.to, '[EMAIL]');
  assert.equal(parsed.note, 'call 010-****-5432');
});

test('embeddings inputs are masked before the engine sees them', T, async () => {
  const { response } = await client().embeddings
    .create({ model: 'demo-embed', input: [`mail ${EMAIL}`, 'plain text'] }).withResponse();
  assert.equal(response.status, 200);
  const er = await engineRequestOf(response.headers.get('x-aif-job-id'));
  assert.ok(er, 'the engine saw the embeddings request');
  assert.deepEqual(er.body.input, ['mail [EMAIL]', 'plain text']);
});
