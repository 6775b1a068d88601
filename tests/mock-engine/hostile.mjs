// hostile.mjs -- directives that make the mock engine lie (an engine is untrusted input):
// applied to a successful inference answer of any protocol, after the protocol built it.
//   [[mock:usage=P,C]]       report P prompt and C completion tokens (any integers, kept
//                            exact as text: 9223372036854775807 and -1000 both work)
//   [[mock:answer=error]]    200 with {"object":"error","message":...,"choices":[]}
//   [[mock:answer=null-choices]]  200 with "choices":[null,1]
//   [[mock:pad=N]]           N more bytes of text in the first choice (non-stream)
//   [[mock:tool-deltas=N]]   a chat stream of one tool call whose arguments come in N
//                            deltas of one byte (or K with [[mock:tool-delta-bytes=K]])
// Only the OpenAI-compatible (vllm) chat/completions format is rewritten; other protocols,
// and vLLM's /v1/responses and /v1/messages (descriptors with `wire`), ignore them.

const INT_RE = /^-?\d{1,25}$/;

export function parseHostile(name, value, d) {
  switch (name) {
    case 'usage': {
      const [p, c] = String(value ?? '').split(',');
      if (INT_RE.test(p ?? '') && INT_RE.test(c ?? '')) d.usage = { p, c };
      return true;
    }
    case 'answer':
      if (value === 'error' || value === 'null-choices') d.answer = value;
      return true;
    case 'pad': {
      const n = Number(value);
      if (Number.isInteger(n) && n >= 0 && n <= 64 * 1024 * 1024) d.pad = n;
      return true;
    }
    case 'tool-deltas': case 'tool_deltas': {
      const n = Number(value);
      if (Number.isInteger(n) && n > 0 && n <= 1000000) d.tool_deltas = n;
      return true;
    }
    case 'tool-delta-bytes': case 'tool_delta_bytes': {
      const n = Number(value);
      if (Number.isInteger(n) && n > 0 && n <= 65536) d.tool_delta_bytes = n;
      return true;
    }
    default:
      return false;
  }
}

export function hasHostile(d) {
  return !!(d && (d.usage || d.answer || d.pad || d.tool_deltas));
}

function usageText(u) {
  const total = (BigInt(u.p) + BigInt(u.c)).toString();
  return `"usage":{"prompt_tokens":${u.p},"total_tokens":${total},"completion_tokens":${u.c}}`;
}

// Rewrites resp (a protocol's answer: { status, body } or { status, stream: { steps, tail } }).
export function applyHostile(resp, d, protocol) {
  if (!hasHostile(d) || protocol !== 'vllm' || resp.status !== 200) return resp;
  if (resp.wire) return resp; // the Responses / Messages shapes (resp.wire) have no lies yet
  if (resp.body !== undefined) {
    let body = resp.body;
    if (d.answer === 'error')
      body = '{"object":"error","message":"the engine lies","type":"BadRequestError","choices":[]}';
    else if (d.answer === 'null-choices')
      body = '{"id":"x","object":"chat.completion","choices":[null,1],"usage":{"prompt_tokens":1,"total_tokens":2,"completion_tokens":1}}';
    else {
      if (d.pad) {
        const j = JSON.parse(body);
        const c = Array.isArray(j.choices) ? j.choices[0] : null;
        if (c && c.message) c.message.content = (c.message.content || '') + 'x'.repeat(d.pad);
        else if (c && typeof c.text === 'string') c.text += 'x'.repeat(d.pad);
        body = JSON.stringify(j);
      }
      if (d.usage) body = body.replace(/"usage":\{[^}]*\}/, usageText(d.usage));
    }
    return { ...resp, body };
  }
  if (resp.stream) {
    let { steps, tail } = resp.stream;
    if (d.tool_deltas) {
      const m = /^data: (\{"id":"[^"]+","object":"chat\.completion\.chunk","created":\d+,"model":"[^"]*","choices":\[)/.exec(steps.join(''));
      if (m) {
        const pre = 'data: ' + m[1].slice(0);
        const ev = (delta, finish) => pre + JSON.stringify({ index: 0, delta, logprobs: null, finish_reason: finish }) + ']}\n\n';
        const out = [ev({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] }, null)];
        let batch = '';
        const piece = ev({ tool_calls: [{ index: 0, function: { arguments: 'x'.repeat(d.tool_delta_bytes || 1) } }] }, null);
        for (let i = 0; i < d.tool_deltas; i++) {
          batch += piece;
          if (batch.length > 65536) { out.push(batch); batch = ''; }
        }
        if (batch) out.push(batch);
        out.push(ev({}, 'tool_calls'));
        steps = out;
      }
    }
    if (d.usage) tail = tail.replace(/"usage":\{[^}]*\}/, usageText(d.usage));
    return { ...resp, stream: { ...resp.stream, steps, tail } };
  }
  return resp;
}
