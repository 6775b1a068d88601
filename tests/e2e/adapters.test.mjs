// adapters.test.mjs -- "the engine behind a model can change without the application's
// code changing": the same SDK calls against demo-vllm-style (openai adapter), demo-tgi
// (TGI native) and demo-triton (Triton generate extension) models: chat, completion,
// streaming with chunks arriving as the engine paces tokens, embeddings (openai and
// triton), and engine errors mapped to the OpenAI error the SDK expects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, uniq, OpenAI } from './lib.mjs';

const T = { timeout: 60000 };
const MODELS = ['demo-vllm', 'demo-tgi', 'demo-triton'];
const c = () => client();

for (const model of MODELS) {
  test(`${model}: chat and completion return parsed objects with usage`, T, async () => {
    const r = await c().chat.completions.create({ model, max_tokens: 8, messages: [{ role: 'user', content: `hello ${uniq('a')}` }] });
    assert.equal(r.object, 'chat.completion');
    assert.equal(r.model, model);
    assert.equal(r.choices[0].message.role, 'assistant');
    assert.ok(r.choices[0].message.content.length > 0);
    assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
    assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 9);
    if (model !== 'demo-triton') {
      // vLLM: from usage; TGI /generate: from its x-prompt-tokens header
      assert.ok(r.usage.prompt_tokens > 0, `${model} prompt_tokens ${r.usage.prompt_tokens}`);
    }
    assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
    const p = await c().completions.create({ model, prompt: 'Once upon a time', max_tokens: 5 });
    assert.equal(p.object, 'text_completion');
    assert.ok(p.choices[0].text.length > 0);
    assert.ok(p.usage.completion_tokens > 0);
  });

  test(`${model}: streaming through the queue, incremental, with the usage chunk`, T, async () => {
    const t0 = Date.now();
    const stream = await c().chat.completions.create({
      model, stream: true, max_tokens: 10, stream_options: { include_usage: true },
      messages: [{ role: 'user', content: `[[mock:token-delay=80]] stream ${uniq('s')}` }],
    });
    const at = [];
    const chunks = [];
    for await (const ch of stream) { at.push(Date.now() - t0); chunks.push(ch); }
    const text = chunks.filter((x) => x.choices.length).map((x) => x.choices[0].delta.content || '').join('');
    assert.ok(text.length > 0, 'content arrived');
    assert.equal(chunks[0].choices[0].delta.role, 'assistant');
    assert.ok(chunks.some((x) => x.choices.length && x.choices[0].finish_reason), 'a finish chunk');
    const last = chunks[chunks.length - 1];
    assert.deepEqual(last.choices, []);
    assert.ok(last.usage.completion_tokens > 0);
    const first = at[0], end = at[at.length - 1];
    assert.ok(end - first >= 400, `paced: ${first} .. ${end} ms`);
    assert.ok(first < end / 2, `the first chunk (${first} ms) long before the last (${end} ms)`);
  });

  test(`${model}: an engine validation error is a 400 BadRequestError, overload a 503 after retries`, T, async () => {
    await assert.rejects(c().chat.completions.create({ model, messages: [{ role: 'user', content: `[[mock:status=400]] ${uniq('e')}` }] }),
      (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.error.type === 'invalid_request_error');
    const tgiOverload = model === 'demo-tgi' ? 429 : 503;	// TGI says "overloaded" with 429
    await assert.rejects(c().chat.completions.create({ model, messages: [{ role: 'user', content: `[[mock:status=${tgiOverload}]] ${uniq('o')}` }] }),
      (e) => e instanceof OpenAI.InternalServerError && e.status === 503 && e.code === 'engine_overloaded');
  });
}

test('embeddings: openai and triton adapters, float and base64 (the SDK default)', T, async () => {
  for (const model of ['demo-embed', 'demo-triton-embed']) {
    const b64 = await c().embeddings.create({ model, input: ['alpha', 'beta'] });	// SDK asks base64, decodes
    assert.equal(b64.data.length, 2);
    assert.ok(Array.isArray(b64.data[0].embedding) && b64.data[0].embedding.length > 0);
    const fl = await c().embeddings.create({ model, input: ['alpha', 'beta'], encoding_format: 'float' });
    for (let i = 0; i < 2; i++) {
      assert.equal(fl.data[i].embedding.length, b64.data[i].embedding.length);
      for (let k = 0; k < fl.data[i].embedding.length; k++) {
        assert.ok(Math.abs(fl.data[i].embedding[k] - b64.data[i].embedding[k]) < 1e-6, `${model} [${i}][${k}]`);
      }
    }
    assert.ok(fl.usage.prompt_tokens > 0);
  }
});
