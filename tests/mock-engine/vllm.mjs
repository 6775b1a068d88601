// vllm.mjs -- wire protocol of vLLM's OpenAI-compatible server (`vllm serve`), for the
// mock engine. Everything protocol-specific lives here; server.mjs owns HTTP, faults,
// pacing and stats. See README.md "Protocol modules" for the interface.
//
// Reference: vLLM's OpenAI-compatible server and the OpenAI API reference (links in
// docs/ADAPTERS.md): the vLLM error body with an integer code,
// usage key order prompt_tokens,total_tokens,completion_tokens, stop_reason, first
// stream chunk {"role":"assistant","content":""}, usage chunk with "choices":[], [DONE].

import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import {
  tokenize, countTokens, contentText, chatPromptTokens, chatSourceText, promptTokens, generate,
  embedVector, floatsToBase64, DEFAULT_COMPLETION_TOKENS, DEFAULT_EMBED_DIM,
} from './tokenizer.mjs';

export const name = 'vllm';
export const defaultModels = ['mock-llama-3-8b', 'mock-qwen-0.5b', 'mock-embed'];
export const version = '0.11.0-mock';

const JSON_CT = 'application/json';
const SSE_CT = 'text/event-stream; charset=utf-8';
const DONE = 'data: [DONE]\n\n';

/** The answer text of POST /v1/responses starts with this (a test sees the native route
 * served it). A label, not generated: usage does not count it. */
export const RESPONSES_MARKER = '[native responses] ';
/** The same for POST /v1/messages. */
export const MESSAGES_MARKER = '[native messages] ';

// vLLM ErrorInfo.type is an exception-style name; code is the integer HTTP status.
const ERROR_TYPES = {
  400: 'BadRequestError', 401: 'UnauthorizedError', 403: 'ForbiddenError', 404: 'NotFoundError',
  405: 'MethodNotAllowedError', 408: 'RequestTimeoutError', 409: 'ConflictError',
  413: 'PayloadTooLargeError', 422: 'UnprocessableEntityError', 429: 'TooManyRequestsError',
  500: 'InternalServerError', 501: 'NotImplementedError', 502: 'BadGatewayError',
  503: 'ServiceUnavailableError', 504: 'GatewayTimeoutError',
};

function errorType(status) {
  if (ERROR_TYPES[status]) return ERROR_TYPES[status];
  const phrase = STATUS_CODES[status] || (status >= 500 ? 'Internal Server' : 'Bad Request');
  return phrase.replace(/[^A-Za-z]/g, '') + 'Error';
}

const hex32 = () => randomUUID().replace(/-/g, '');
const now = () => Math.floor(Date.now() / 1000);

function errorBody(status, message, type = errorType(status), param = null) {
  return JSON.stringify({ error: { message, type, param, code: status } });
}

function error(status, message, type, param) {
  return { status, body: errorBody(status, message, type, param), contentType: JSON_CT };
}

// Pydantic/FastAPI-style validation message (vLLM turns these into 400s).
function invalid(loc, msg, kind = 'value_error') {
  return error(400, `[{'type': '${kind}', 'loc': ('body', '${loc}'), 'msg': '${msg}'}]`);
}

function json(obj, status = 200) {
  return { status, body: JSON.stringify(obj), contentType: JSON_CT };
}

function isInt(x) {
  return typeof x === 'number' && Number.isInteger(x);
}

function defaultMaxModelLen(id) {
  if (/embed/i.test(id)) return 512;
  if (/qwen/i.test(id)) return 32768;
  return 8192;
}

/**
 * config: { models: string[], maxModelLen?: number, state }  where state is the server's
 * live stats object (read for /metrics and /load).
 */
export function createProtocol(config) {
  const state = config.state;
  const models = new Map();
  for (const id of config.models) {
    models.set(id, {
      id,
      embedding: /embed/i.test(id),
      maxModelLen: config.maxModelLen || defaultMaxModelLen(id),
    });
  }
  const firstGen = [...models.values()].find((m) => !m.embedding);
  const firstEmbed = [...models.values()].find((m) => m.embedding);
  const defaultCompletionTokens = config.defaultTokens ?? DEFAULT_COMPLETION_TOKENS;
  const embedDim = config.embedDim ?? DEFAULT_EMBED_DIM;

  // ---- shared request checks ---------------------------------------------------------

  // Returns an error response, or null when the body is a JSON object.
  function checkBody(ctx) {
    const ct = ctx.headers['content-type'];
    if (!ct || ct.split(';', 1)[0].trim().toLowerCase() !== 'application/json') {
      return error(400, "[{'type': 'value_error', 'loc': ('header', 'content-type'), 'msg': \"Unsupported Media Type: Only 'application/json' is allowed\"}]");
    }
    if (ctx.jsonError) {
      return error(400, `[{'type': 'json_invalid', 'loc': ('body', 0), 'msg': 'JSON decode error', 'input': {}, 'ctx': {'error': '${ctx.jsonError.replace(/'/g, '')}'}}]`);
    }
    const b = ctx.json;
    if (b === null || typeof b !== 'object' || Array.isArray(b)) {
      return invalid('', 'Input should be a valid dictionary or object to extract fields from', 'model_attributes_type');
    }
    return null;
  }

  // Resolves the model: { model } or { err }. A missing model means the default one.
  function resolveModel(b, wantEmbedding, apiName) {
    let id = b.model;
    if (id === undefined || id === null) {
      const d = wantEmbedding ? firstEmbed : firstGen;
      if (!d) return { err: error(400, `The model does not support ${apiName} API`) };
      return { model: d };
    }
    if (typeof id !== 'string') return { err: invalid('model', 'Input should be a valid string', 'string_type') };
    const m = models.get(id);
    if (!m) return { err: error(404, `The model \`${id}\` does not exist.`, 'NotFoundError') };
    if (m.embedding !== wantEmbedding) {
      return { err: error(400, `The model does not support ${apiName} API`), model: m };
    }
    return { model: m };
  }

  // Sampling/stream parameters shared by chat and completions. Returns { err } or params.
  function samplingParams(b, chat) {
    for (const k of ['stream', 'echo', 'ignore_eos', 'include_stop_str_in_output']) {
      if (b[k] != null && typeof b[k] !== 'boolean') return { err: invalid(k, 'Input should be a valid boolean', 'bool_type') };
    }
    const stream = b.stream === true;
    if (b.stream_options != null) {
      if (typeof b.stream_options !== 'object' || Array.isArray(b.stream_options)) {
        return { err: invalid('stream_options', 'Input should be a valid dictionary or instance of StreamOptions', 'model_type') };
      }
      if (!stream) return { err: error(400, 'Stream options can only be defined when `stream=True`.') };
    }
    let n = 1;
    if (b.n != null) {
      if (!isInt(b.n)) return { err: invalid('n', 'Input should be a valid integer', 'int_type') };
      if (b.n < 1) return { err: error(400, `n must be at least 1, got ${b.n}.`) };
      if (b.n > 128) return { err: error(400, `n must be at most 128 in the mock engine, got ${b.n}.`) };
      n = b.n;
    }
    // vLLM: max_tokens = max_completion_tokens or max_tokens (chat); completions default 16.
    let maxTokens = chat ? (b.max_completion_tokens ?? b.max_tokens ?? null)
      : (b.max_tokens === undefined ? 16 : b.max_tokens);
    if (maxTokens !== null) {
      if (!isInt(maxTokens)) return { err: invalid(chat && b.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens', 'Input should be a valid integer', 'int_type') };
      if (maxTokens < 1) return { err: error(400, `max_tokens must be at least 1, got ${maxTokens}.`) };
    }
    let minTokens = 0;
    if (b.min_tokens != null) {
      if (!isInt(b.min_tokens) || b.min_tokens < 0) return { err: error(400, `min_tokens must be greater than or equal to 0, got ${b.min_tokens}.`) };
      minTokens = b.min_tokens;
    }
    let stop = [];
    if (typeof b.stop === 'string') stop = [b.stop];
    else if (Array.isArray(b.stop)) {
      if (!b.stop.every((s) => typeof s === 'string')) return { err: invalid('stop', 'Input should be a valid string', 'string_type') };
      stop = b.stop;
    } else if (b.stop != null) return { err: invalid('stop', 'Input should be a valid string', 'string_type') };
    if (stop.some((s) => s === '')) return { err: error(400, 'stop cannot contain an empty string.') };
    const so = b.stream_options;
    const includeUsage = stream && so != null && (so.include_usage === undefined || so.include_usage === true);
    const continuousUsage = includeUsage && so.continuous_usage_stats === true;
    return {
      stream, n, maxTokens, minTokens, stop, includeUsage, continuousUsage,
      echo: b.echo === true, ignoreEos: b.ignore_eos === true,
      includeStop: b.include_stop_str_in_output === true,
    };
  }

  function contextCheck(model, promptTok, maxTokens, what = 'messages') {
    const len = model.maxModelLen;
    if (promptTok >= len) {
      return error(400, `This model's maximum context length is ${len} tokens. However, your request has ${promptTok} input tokens. Please reduce the length of the input ${what}.`);
    }
    if (maxTokens !== null && promptTok + maxTokens > len) {
      return error(400, `This model's maximum context length is ${len} tokens. However, you requested ${promptTok + maxTokens} tokens (${promptTok} in the ${what}, ${maxTokens} in the completion). Please reduce the length of the ${what} or completion.`);
    }
    return null;
  }

  function genOpts(p, promptTok, model, directives) {
    const cap = p.maxTokens ?? model.maxModelLen - promptTok;
    let natural = directives && directives.tokens != null ? directives.tokens : defaultCompletionTokens;
    if (p.ignoreEos) natural = cap;
    if (natural < p.minTokens) natural = p.minTokens;
    return { natural, maxTokens: cap, stop: p.stop, includeStop: p.includeStop };
  }

  function usageObj(prompt, completion) {
    return { prompt_tokens: prompt, total_tokens: prompt + completion, completion_tokens: completion };
  }

  // Builds the SSE steps of a stream. choices: [{ index, gen, prefix? }].
  //   head: string[] (events sent at once, e.g. the chat role chunks)
  //   chunk(choiceIndex, content, finishReason|undefined, stopReason, usage|null) -> event
  function buildStream(head, choices, chunk, promptTok, p, usageChunk) {
    const steps = head.length ? [head.join('')] : [];
    const perChoice = choices.map((c) => {
      const ev = [];
      const ds = c.gen.deltas;
      let acc = 0;
      for (let i = 0; i < ds.length; i++) {
        let d = ds[i];
        if (i === 0 && c.prefix) d = c.prefix + d;
        acc += p.continuousUsage ? countTokens(ds[i]) : 0;
        ev.push(chunk(c.index, d, undefined, undefined, p.continuousUsage ? usageObj(promptTok, acc) : null));
      }
      const last = ds.length === 0 && c.prefix ? c.prefix + c.gen.last : c.gen.last;
      ev.push(chunk(c.index, last, c.gen.finishReason, c.gen.stopReason,
        p.continuousUsage ? usageObj(promptTok, c.gen.completionTokens) : null));
      return ev;
    });
    const nSteps = Math.max(...perChoice.map((e) => e.length));
    for (let t = 0; t < nSteps; t++) {
      let s = '';
      for (const ev of perChoice) if (t < ev.length) s += ev[t];
      steps.push(s);
    }
    return { steps, tail: (p.includeUsage ? usageChunk : '') + DONE };
  }

  // ---- tool calls ----------------------------------------------------------------------------
  // A request with tools whose last message is the user's and asks for one
  // ([[mock:use-tool]]), or whose tool_choice forces one, is answered with one call: of
  // the forced tool, else the first, with arguments {"query": <that message's text>}.

  function toolCall(b, msgs) {
    if (!Array.isArray(b.tools) || b.tools.length === 0 || b.tool_choice === 'none') return null;
    const last = msgs[msgs.length - 1];
    const text = typeof last?.content === 'string' ? last.content
      : Array.isArray(last?.content) ? last.content.map((x) => x?.text ?? '').join('') : '';
    const forced = b.tool_choice === 'required' || typeof b.tool_choice === 'object';
    if (last?.role !== 'user' || (!forced && !text.includes('[[mock:use-tool]]'))) return null;
    const name = b.tool_choice?.function?.name ?? b.tools[0]?.function?.name ?? 'tool';
    const query = text.replace(/\[\[mock:[^\]]*\]\]/g, '').trim();
    return { id: 'call_' + hex32().slice(0, 24), name, args: JSON.stringify({ query }) };
  }

  function toolCallAnswer(call, id, created, reqModel, promptTok, p) {
    const completionTok = Math.max(1, countTokens(call.args));
    const usage = usageObj(promptTok, completionTok);
    const tc = { id: call.id, type: 'function', function: { name: call.name, arguments: call.args } };
    if (!p.stream) {
      return {
        status: 200, contentType: JSON_CT, promptTokens: promptTok, completionTokens: completionTok,
        body: JSON.stringify({
          id, object: 'chat.completion', created, model: reqModel,
          choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [tc] }, logprobs: null, finish_reason: 'tool_calls', stop_reason: null }],
          usage,
        }),
      };
    }
    const ev = (delta, finish) => `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: reqModel, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
    const half = Math.floor(call.args.length / 2);
    const steps = [
      ev({ role: 'assistant', content: '' }, null),
      ev({ tool_calls: [{ index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: '' } }] }, null),
      ev({ tool_calls: [{ index: 0, function: { arguments: call.args.slice(0, half) } }] }, null),
      ev({ tool_calls: [{ index: 0, function: { arguments: call.args.slice(half) } }] }, null),
      ev({}, 'tool_calls'),
    ];
    const usageChunk = `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: reqModel, choices: [], usage })}\n\n`;
    return {
      status: 200, contentType: SSE_CT, promptTokens: promptTok, completionTokens: completionTok,
      stream: { steps, tail: (p.includeUsage ? usageChunk : '') + DONE },
    };
  }

  // ---- POST /v1/chat/completions ---------------------------------------------------------

  function chatCompletions(ctx) {
    const bad = checkBody(ctx);
    if (bad) return bad;
    const b = ctx.json;
    const r = resolveModel(b, false, 'Chat Completions');
    if (r.err) return Object.assign(r.err, { model: typeof b.model === 'string' ? b.model : undefined });
    const model = r.model;
    const reqModel = typeof b.model === 'string' ? b.model : model.id;
    const withModel = (resp) => Object.assign(resp, { model: reqModel });

    const msgs = b.messages;
    if (msgs === undefined) return withModel(invalid('messages', 'Field required', 'missing'));
    if (!Array.isArray(msgs)) return withModel(invalid('messages', 'Input should be a valid list', 'list_type'));
    for (let i = 0; i < msgs.length; i++) {
      const m = msgs[i];
      if (m === null || typeof m !== 'object' || Array.isArray(m)) return withModel(invalid(`messages.${i}`, 'Input should be a valid dictionary', 'dict_type'));
      if (typeof m.role !== 'string') return withModel(invalid(`messages.${i}.role`, 'Field required', 'missing'));
      const c = m.content;
      if (c != null && typeof c !== 'string' && !Array.isArray(c)) return withModel(invalid(`messages.${i}.content`, 'Input should be a valid string', 'string_type'));
    }
    const p = samplingParams(b, true);
    if (p.err) return withModel(p.err);
    const promptTok = chatPromptTokens(msgs);
    const ctxErr = contextCheck(model, promptTok, p.maxTokens);
    if (ctxErr) return withModel(ctxErr);

    const id = 'chatcmpl-' + hex32();
    const created = now();
    const call = toolCall(b, msgs);
    if (call) return withModel(toolCallAnswer(call, id, created, reqModel, promptTok, p));
    const gen = generate(chatSourceText(msgs), genOpts(p, promptTok, model, ctx.directives));
    const completionTok = gen.completionTokens * p.n;

    if (!p.stream) {
      const choices = new Array(p.n);
      for (let i = 0; i < p.n; i++) {
        choices[i] = {
          index: i,
          message: {
            role: 'assistant', content: gen.text, refusal: null, annotations: null, audio: null,
            function_call: null, tool_calls: [], reasoning: null, reasoning_content: null,
          },
          logprobs: null, finish_reason: gen.finishReason, stop_reason: gen.stopReason,
        };
      }
      return {
        status: 200, contentType: JSON_CT, model: reqModel,
        promptTokens: promptTok, completionTokens: completionTok,
        body: JSON.stringify({
          id, object: 'chat.completion', created, model: reqModel, choices,
          service_tier: null, system_fingerprint: null,
          usage: { ...usageObj(promptTok, completionTok), prompt_tokens_details: null },
          prompt_logprobs: null, prompt_token_ids: null, kv_transfer_params: null,
        }),
      };
    }

    const pre = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(reqModel)},"choices":[`;
    const chunk = (index, content, finish, stopReason, usage) => {
      const choice = finish === undefined
        ? { index, delta: { content }, logprobs: null, finish_reason: null }
        : { index, delta: { content }, logprobs: null, finish_reason: finish, stop_reason: stopReason };
      return pre + JSON.stringify(choice) + (usage ? '],"usage":' + JSON.stringify(usage) + '}\n\n' : ']}\n\n');
    };
    const head = [];
    const choices = [];
    for (let i = 0; i < p.n; i++) {
      head.push(pre + `{"index":${i},"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]` +
        (p.continuousUsage ? ',"usage":' + JSON.stringify(usageObj(promptTok, 0)) : '') + '}\n\n');
      choices.push({ index: i, gen });
    }
    const usageChunk = `data: {"id":"${id}","object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(reqModel)},"choices":[],"usage":${JSON.stringify(usageObj(promptTok, completionTok))}}\n\n`;
    return {
      status: 200, contentType: SSE_CT, model: reqModel,
      promptTokens: promptTok, completionTokens: completionTok,
      stream: buildStream(head, choices, chunk, promptTok, p, usageChunk),
    };
  }

  // ---- POST /v1/completions ----------------------------------------------------------------

  function completions(ctx) {
    const bad = checkBody(ctx);
    if (bad) return bad;
    const b = ctx.json;
    const r = resolveModel(b, false, 'Completions');
    if (r.err) return Object.assign(r.err, { model: typeof b.model === 'string' ? b.model : undefined });
    const model = r.model;
    const reqModel = typeof b.model === 'string' ? b.model : model.id;
    const withModel = (resp) => Object.assign(resp, { model: reqModel });

    // prompt: string | string[] | int[] | int[][]
    const pr = b.prompt;
    let prompts;
    if (pr == null) return withModel(error(400, 'Either prompt or prompt_embeds must be provided and non-empty.'));
    if (typeof pr === 'string') prompts = [pr];
    else if (Array.isArray(pr)) {
      if (pr.length === 0) return withModel(error(400, 'Either prompt or prompt_embeds must be provided and non-empty.'));
      if (pr.every((x) => typeof x === 'string')) prompts = pr;
      else if (pr.every(isInt)) prompts = [pr];
      else if (pr.every((x) => Array.isArray(x) && x.length > 0 && x.every(isInt))) prompts = pr;
      else return withModel(invalid('prompt', 'Input should be a valid string', 'string_type'));
    } else return withModel(invalid('prompt', 'Input should be a valid string', 'string_type'));

    const p = samplingParams(b, false);
    if (p.err) return withModel(p.err);

    let promptTok = 0;
    const gens = [];
    for (const prompt of prompts) {
      const pt = promptTokens(prompt);
      const ctxErr = contextCheck(model, pt, p.maxTokens);
      if (ctxErr) return withModel(ctxErr);
      promptTok += pt;
      const src = typeof prompt === 'string' ? prompt : prompt.join(' ');
      gens.push({ prompt, gen: generate(src, genOpts(p, pt, model, ctx.directives)) });
    }
    const id = 'cmpl-' + hex32();
    const created = now();
    const choices = [];
    let completionTok = 0;
    for (const g of gens) {
      for (let j = 0; j < p.n; j++) {
        choices.push({ index: choices.length, gen: g.gen, prefix: p.echo && typeof g.prompt === 'string' ? g.prompt : '' });
        completionTok += g.gen.completionTokens;
      }
    }

    if (!p.stream) {
      return {
        status: 200, contentType: JSON_CT, model: reqModel,
        promptTokens: promptTok, completionTokens: completionTok,
        body: JSON.stringify({
          id, object: 'text_completion', created, model: reqModel,
          choices: choices.map((c) => ({
            index: c.index, text: c.prefix + c.gen.text, logprobs: null,
            finish_reason: c.gen.finishReason, stop_reason: c.gen.stopReason, prompt_logprobs: null,
          })),
          usage: { ...usageObj(promptTok, completionTok), prompt_tokens_details: null },
          system_fingerprint: null, kv_transfer_params: null,
        }),
      };
    }

    const pre = `data: {"id":"${id}","object":"text_completion","created":${created},"model":${JSON.stringify(reqModel)},"choices":[`;
    const chunk = (index, text, finish, stopReason, usage) => {
      const choice = { index, text, logprobs: null, finish_reason: finish ?? null, stop_reason: finish === undefined ? null : stopReason };
      return pre + JSON.stringify(choice) + (usage ? '],"usage":' + JSON.stringify(usage) + '}\n\n' : ']}\n\n');
    };
    const usageChunk = `data: {"id":"${id}","object":"text_completion","created":${created},"model":${JSON.stringify(reqModel)},"choices":[],"usage":${JSON.stringify(usageObj(promptTok, completionTok))}}\n\n`;
    return {
      status: 200, contentType: SSE_CT, model: reqModel,
      promptTokens: promptTok, completionTokens: completionTok,
      stream: buildStream([], choices, chunk, promptTok, p, usageChunk),
    };
  }

  // ---- native surfaces: POST /v1/responses and POST /v1/messages ------------------------------
  // vLLM serves OpenAI's Responses API and Anthropic's Messages API itself. Each request is
  // first turned into the chat messages it is equivalent to ("chat-like": {role, content}
  // with string content), so prompt tokens, answer text, usage and the [[mock:use-tool]]
  // rule are exactly chat's for the same conversation. Only the answer text differs: it
  // starts with RESPONSES_MARKER / MESSAGES_MARKER, which usage does not count.

  // One SSE event with an `event:` line; the data's "type" is the event name.
  const sse = (data) => `event: ${data.type}\ndata: ${JSON.stringify(data)}\n\n`;

  // The streamed text deltas of a generation, one per token, the marker riding on the
  // first: deltas.join('') === marker + gen.text.
  function textDeltas(gen, marker) {
    const ds = gen.last ? [...gen.deltas, gen.last] : [...gen.deltas];
    if (ds.length === 0) ds.push('');
    ds[0] = marker + ds[0];
    return ds;
  }

  // A tool call's arguments in one or two stream deltas (the halves, like chat's stream).
  function argDeltas(args) {
    const half = Math.floor(args.length / 2);
    return [args.slice(0, half), args.slice(half)].filter((x, i) => x || i === 1);
  }

  // A stream descriptor from steps of events (string[][]): steps[0] at once, each later
  // step after one token delay. The last step is the closing one (never sent by reset-mid).
  // errorEvent(status, message, eventsSent) is the in-band error of [[mock:error-mid]].
  function eventStream(stepEvents, errorEvent, fields) {
    const steps = stepEvents.map((evs) => evs.join(''));
    const sentBefore = (n) => stepEvents.slice(0, n).reduce((k, evs) => k + evs.length, 0);
    return {
      status: 200, contentType: SSE_CT, ...fields,
      stream: { steps, tail: '' },
      streamError: (status, message, stepsSent) => errorEvent(status, message, sentBefore(stepsSent)),
    };
  }

  // ---- POST /v1/responses (OpenAI Responses API) ---------------------------------------------
  // Stateless here: the gateway expands the conversation itself, so previous_response_id and
  // store:true are 400s. Errors have vLLM's shape (vLLM serves the route).

  const responsesUsage = (pt, ct) => ({
    input_tokens: pt, input_tokens_details: { cached_tokens: 0 },
    output_tokens: ct, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: pt + ct,
  });

  // Fields and checks of a Responses request: { err } or params (samplingParams' names
  // where genOpts reads them).
  function responsesParams(b) {
    for (const k of ['stream', 'store', 'parallel_tool_calls']) {
      if (b[k] != null && typeof b[k] !== 'boolean') return { err: invalid(k, 'Input should be a valid boolean', 'bool_type') };
    }
    if (b.store === true) return { err: error(400, 'store is not supported by this mock; the gateway must send store:false') };
    if (b.previous_response_id != null) {
      return { err: error(400, 'previous_response_id is not supported by this mock; the gateway must expand the conversation history itself and send store:false') };
    }
    const maxTokens = b.max_output_tokens ?? null;
    if (maxTokens !== null) {
      if (!isInt(maxTokens)) return { err: invalid('max_output_tokens', 'Input should be a valid integer', 'int_type') };
      if (maxTokens < 1) return { err: error(400, `max_output_tokens must be at least 1, got ${maxTokens}.`) };
    }
    for (const k of ['temperature', 'top_p']) {
      if (b[k] != null && typeof b[k] !== 'number') return { err: invalid(k, 'Input should be a valid number', 'float_type') };
    }
    if (b.instructions != null && typeof b.instructions !== 'string') return { err: invalid('instructions', 'Input should be a valid string', 'string_type') };
    const tools = b.tools ?? [];
    if (!Array.isArray(tools)) return { err: invalid('tools', 'Input should be a valid list', 'list_type') };
    for (let i = 0; i < tools.length; i++) {
      const t = tools[i];
      if (t === null || typeof t !== 'object' || typeof t.type !== 'string') return { err: invalid(`tools.${i}`, 'Input should be a valid dictionary', 'dict_type') };
      if (t.type === 'function' && typeof t.name !== 'string') return { err: invalid(`tools.${i}.function.name`, 'Field required', 'missing') };
    }
    const tc = b.tool_choice ?? 'auto';
    if (typeof tc !== 'object' && !['none', 'auto', 'required'].includes(tc)) {
      return { err: invalid('tool_choice', "Input should be 'none', 'auto' or 'required'", 'literal_error') };
    }
    return {
      stream: b.stream === true, maxTokens, minTokens: 0, stop: [], ignoreEos: false, includeStop: false,
      tools, toolNames: tools.filter((t) => t.type === 'function').map((t) => t.name),
      // chat's tool_choice for toolCall(): 'required' and {name} force a call
      chatChoice: tc === 'auto' ? undefined : typeof tc === 'object' ? { function: { name: tc.name } } : tc,
    };
  }

  // One input item as a chat-like message: { msg } ({ msg: null } to skip it) or { err }.
  function responsesItem(x, i) {
    if (x === null || typeof x !== 'object' || Array.isArray(x)) return { err: invalid(`input.${i}`, 'Input should be a valid dictionary', 'dict_type') };
    const str = (k) => (typeof x[k] === 'string' ? null : { err: invalid(`input.${i}.${k}`, 'Field required', 'missing') });
    switch (x.type ?? 'message') {
      case 'message': {
        if (!['user', 'assistant', 'system', 'developer'].includes(x.role)) {
          return { err: invalid(`input.${i}.role`, "Input should be 'user', 'assistant', 'system' or 'developer'", 'literal_error') };
        }
        const c = x.content;
        if (typeof c !== 'string' && !Array.isArray(c)) return { err: invalid(`input.${i}.content`, 'Input should be a valid string', 'string_type') };
        if (Array.isArray(c) && c.some((p) => p === null || typeof p !== 'object' || typeof p.type !== 'string')) {
          return { err: invalid(`input.${i}.content`, 'Input should be a valid dictionary', 'dict_type') };
        }
        return { msg: { role: x.role, content: contentText(c) } };
      }
      case 'function_call': // like chat's assistant message with tool_calls: only its 4 tokens count
        return str('call_id') || str('name') || str('arguments') || { msg: { role: 'assistant', content: '' } };
      case 'function_call_output':
        if (typeof x.output !== 'string' && !Array.isArray(x.output)) return { err: invalid(`input.${i}.output`, 'Field required', 'missing') };
        return str('call_id') || { msg: { role: 'tool', content: contentText(x.output) } };
      case 'reasoning': // carries no prompt text here
        return { msg: null };
      default:
        return { err: invalid(`input.${i}.type`, `Input tag '${x.type}' found using 'type' does not match any of the expected tags`, 'union_tag_invalid') };
    }
  }

  // `instructions` + `input` as chat-like messages: { msgs } or { err }.
  function responsesMessages(b) {
    const msgs = b.instructions != null ? [{ role: 'system', content: b.instructions }] : [];
    const inp = b.input;
    if (inp === undefined || inp === null) return { err: invalid('input', 'Field required', 'missing') };
    if (typeof inp === 'string') return { msgs: [...msgs, { role: 'user', content: inp }] };
    if (!Array.isArray(inp)) return { err: invalid('input', 'Input should be a valid string', 'string_type') };
    if (inp.length === 0) return { err: error(400, 'Input cannot be empty.') };
    for (let i = 0; i < inp.length; i++) {
      const r = responsesItem(inp[i], i);
      if (r.err) return r;
      if (r.msg) msgs.push(r.msg);
    }
    return { msgs };
  }

  // The Response object (OpenAI's field order). s: what the request fixes; output, usage: so far.
  function responseObject(s, status, output, usage) {
    return {
      id: s.id, object: 'response', created_at: s.created, status, background: false, error: null,
      incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
      instructions: s.b.instructions ?? null, max_output_tokens: s.b.max_output_tokens ?? null, model: s.model,
      output, parallel_tool_calls: s.b.parallel_tool_calls ?? true, previous_response_id: null,
      reasoning: { effort: null, summary: null }, store: false, temperature: s.b.temperature ?? 1,
      text: s.b.text && typeof s.b.text === 'object' ? s.b.text : { format: { type: 'text' } },
      tool_choice: s.b.tool_choice ?? 'auto', tools: s.p.tools, top_p: s.b.top_p ?? 1,
      truncation: 'disabled', usage, user: null, metadata: s.b.metadata ?? {},
    };
  }

  // The in-band error event of a Responses stream: OpenAI's ResponseErrorEvent (flat code,
  // message, param) plus the nested `error` the openai SDKs throw on (the gateway's own
  // Responses stream sends the same pair).
  function responsesStreamError(status, message, seq) {
    const code = status >= 500 ? 'server_error' : 'invalid_request_error';
    return sse({ type: 'error', code, message, param: null, sequence_number: seq, error: { message, type: code, param: null, code } });
  }

  // SSE of one Response: created, in_progress, output_item.added, the item's own events
  // (head: before the paced deltas; deltas: one step each; tail: after them), output_item.done,
  // then completed (or incomplete).
  function responsesStream(s, final, item, added, own) {
    let seq = 0;
    const ev = (type, fields) => sse({ type, sequence_number: seq++, ...fields });
    const head = [
      ev('response.created', { response: responseObject(s, 'in_progress', [], null) }),
      ev('response.in_progress', { response: responseObject(s, 'in_progress', [], null) }),
      ev('response.output_item.added', { output_index: 0, item: added }),
      ...own.head.map(([type, f]) => ev(type, f)),
    ];
    const deltas = own.deltas.map(([type, f]) => [ev(type, f)]);
    const last = [
      ...own.tail.map(([type, f]) => ev(type, f)),
      ev('response.output_item.done', { output_index: 0, item }),
      ev(final.status === 'incomplete' ? 'response.incomplete' : 'response.completed', { response: final }),
    ];
    return [head, ...deltas, last];
  }

  function responses(ctx) {
    const bad = checkBody(ctx);
    if (bad) return bad;
    const b = ctx.json;
    const r = resolveModel(b, false, 'Responses');
    if (r.err) return Object.assign(r.err, { model: typeof b.model === 'string' ? b.model : undefined });
    const model = r.model;
    const reqModel = typeof b.model === 'string' ? b.model : model.id;
    const withModel = (resp) => Object.assign(resp, { model: reqModel });

    const p = responsesParams(b);
    if (p.err) return withModel(p.err);
    const conv = responsesMessages(b);
    if (conv.err) return withModel(conv.err);
    const msgs = conv.msgs;
    const promptTok = chatPromptTokens(msgs);
    const ctxErr = contextCheck(model, promptTok, p.maxTokens, 'input');
    if (ctxErr) return withModel(ctxErr);

    const s = { id: 'resp_' + hex32(), created: now(), model: reqModel, b, p };
    const call = toolCall({ tools: p.toolNames.map((name) => ({ function: { name } })), tool_choice: p.chatChoice }, msgs);
    let item, added, own, completionTok, status = 'completed';
    if (call) {
      completionTok = Math.max(1, countTokens(call.args));
      item = { id: 'fc_' + hex32(), type: 'function_call', status: 'completed', arguments: call.args, call_id: call.id, name: call.name };
      added = { ...item, status: 'in_progress', arguments: '' };
      const at = { item_id: item.id, output_index: 0 };
      own = {
        head: [],
        deltas: argDeltas(call.args).map((delta) => ['response.function_call_arguments.delta', { ...at, delta }]),
        tail: [['response.function_call_arguments.done', { ...at, arguments: call.args }]],
      };
    } else {
      const gen = generate(chatSourceText(msgs), genOpts(p, promptTok, model, ctx.directives));
      completionTok = gen.completionTokens;
      if (gen.finishReason === 'length') status = 'incomplete';
      const text = RESPONSES_MARKER + gen.text;
      const part = (t) => ({ type: 'output_text', annotations: [], text: t });
      item = { id: 'msg_' + hex32(), type: 'message', status, role: 'assistant', content: [part(text)] };
      added = { ...item, status: 'in_progress', content: [] };
      const at = { item_id: item.id, output_index: 0, content_index: 0 };
      own = {
        head: [['response.content_part.added', { ...at, part: part('') }]],
        deltas: textDeltas(gen, RESPONSES_MARKER).map((delta) => ['response.output_text.delta', { ...at, delta, logprobs: [] }]),
        tail: [
          ['response.output_text.done', { ...at, text, logprobs: [] }],
          ['response.content_part.done', { ...at, part: part(text) }],
        ],
      };
    }
    const final = responseObject(s, status, [item], responsesUsage(promptTok, completionTok));
    const fields = { model: reqModel, promptTokens: promptTok, completionTokens: completionTok, wire: 'responses' };
    if (!p.stream) return { status: 200, contentType: JSON_CT, ...fields, body: JSON.stringify(final) };
    return eventStream(responsesStream(s, final, item, added, own), responsesStreamError, fields);
  }

  // ---- POST /v1/messages (Anthropic Messages API) --------------------------------------------
  // Errors have Anthropic's shape {type:"error", error:{type, message}}, injected ones and
  // the mid-stream one included (anthropicFlavor). `--api-key` still answers vLLM's 401.

  const ANTHROPIC_ERROR_TYPES = {
    400: 'invalid_request_error', 401: 'authentication_error', 402: 'billing_error', 403: 'permission_error',
    404: 'not_found_error', 413: 'request_too_large', 429: 'rate_limit_error', 500: 'api_error',
    504: 'timeout_error', 529: 'overloaded_error',
  };
  const anthropicErrorType = (status) => ANTHROPIC_ERROR_TYPES[status] || (status >= 500 ? 'api_error' : 'invalid_request_error');

  function anthropicError(status, message, type = anthropicErrorType(status)) {
    return { status, contentType: JSON_CT, body: JSON.stringify({ type: 'error', error: { type, message } }) };
  }

  // Route answers carry Anthropic's body for the statuses server.mjs injects.
  function anthropicFlavor(resp) {
    const phrase = (status) => (status === 529 ? 'Overloaded' : STATUS_CODES[status] || 'Error');
    resp.errorResponse = (status, message) => anthropicError(status, message || `${phrase(status)} (injected by mock engine)`);
    return resp;
  }

  // The in-band error event of a Messages stream.
  const messagesStreamError = (status, message) => sse({ type: 'error', error: { type: anthropicErrorType(status), message } });

  // Fields and checks of a Messages request: { err: message } or params.
  function messagesParams(b) {
    if (b.max_tokens === undefined) return { err: 'max_tokens: Field required' };
    if (!isInt(b.max_tokens)) return { err: 'max_tokens: Input should be a valid integer' };
    if (b.max_tokens < 1) return { err: 'max_tokens: Input should be greater than or equal to 1' };
    if (b.stream != null && typeof b.stream !== 'boolean') return { err: 'stream: Input should be a valid boolean' };
    if (b.temperature != null && typeof b.temperature !== 'number') return { err: 'temperature: Input should be a valid number' };
    const stop = b.stop_sequences ?? [];
    if (!Array.isArray(stop) || !stop.every((x) => typeof x === 'string' && x !== '')) {
      return { err: 'stop_sequences: Input should be a list of non-empty strings' };
    }
    const tools = b.tools ?? [];
    if (!Array.isArray(tools)) return { err: 'tools: Input should be a valid list' };
    for (let i = 0; i < tools.length; i++) {
      if (tools[i] === null || typeof tools[i] !== 'object' || typeof tools[i].name !== 'string') return { err: `tools.${i}.name: Field required` };
    }
    const tc = b.tool_choice;
    if (tc != null && (typeof tc !== 'object' || !['auto', 'any', 'tool', 'none'].includes(tc.type))) {
      return { err: "tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'" };
    }
    if (tc?.type === 'tool' && typeof tc.name !== 'string') return { err: 'tool_choice.name: Field required' };
    return {
      stream: b.stream === true, maxTokens: b.max_tokens, minTokens: 0, stop, ignoreEos: false, includeStop: false,
      toolNames: tools.map((t) => t.name),
      // chat's tool_choice for toolCall(): 'any' and 'tool' force a call
      chatChoice: tc?.type === 'none' ? 'none' : tc?.type === 'any' ? 'required' : tc?.type === 'tool' ? { function: { name: tc.name } } : undefined,
    };
  }

  // Text of `system` or of a tool_result's content: a string, or text blocks joined by ' '.
  function blocksText(x, where) {
    if (x == null || typeof x === 'string') return { text: x ?? '' };
    if (!Array.isArray(x)) return { err: `${where}: Input should be a valid string or list` };
    if (x.some((blk) => blk === null || typeof blk !== 'object' || typeof blk.type !== 'string')) return { err: `${where}: Input should be a valid list of content blocks` };
    return { text: contentText(x.filter((blk) => blk.type === 'text')) };
  }

  // One Anthropic message as chat-like messages: tool_result blocks become `tool` messages
  // (first, as Anthropic puts them first), the text blocks one user/assistant message;
  // tool_use and image blocks count no tokens (as chat's tool calls and images).
  function anthropicTurn(m, i, out) {
    const at = `messages.${i}`;
    if (m === null || typeof m !== 'object' || Array.isArray(m)) return `${at}: Input should be a valid dictionary`;
    if (m.role !== 'user' && m.role !== 'assistant') return `${at}.role: Input should be 'user' or 'assistant'`;
    if (typeof m.content === 'string') { out.push({ role: m.role, content: m.content }); return null; }
    if (!Array.isArray(m.content)) return `${at}.content: Field required`;
    const texts = [];
    let results = 0;
    for (let j = 0; j < m.content.length; j++) {
      const blk = m.content[j];
      const bat = `${at}.content.${j}`;
      if (blk === null || typeof blk !== 'object') return `${bat}: Input should be a valid dictionary`;
      if (blk.type === 'text') {
        if (typeof blk.text !== 'string') return `${bat}.text: Field required`;
        texts.push(blk.text);
      } else if (blk.type === 'tool_use') {
        if (typeof blk.id !== 'string' || typeof blk.name !== 'string') return `${bat}: tool_use needs id and name`;
      } else if (blk.type === 'tool_result') {
        if (typeof blk.tool_use_id !== 'string') return `${bat}.tool_use_id: Field required`;
        const r = blocksText(blk.content, `${bat}.content`);
        if (r.err) return r.err;
        out.push({ role: 'tool', content: r.text });
        results++;
      } else if (blk.type !== 'image') {
        return `${bat}.type: Input tag '${blk.type}' found using 'type' does not match any of the expected tags`;
      }
    }
    if (texts.length || !results) out.push({ role: m.role, content: texts.join(' ') });
    return null;
  }

  // `system` + `messages` as chat-like messages: { msgs } or { err: message }.
  function anthropicMessages(b) {
    const sys = blocksText(b.system, 'system');
    if (sys.err) return sys;
    const msgs = b.system != null ? [{ role: 'system', content: sys.text }] : [];
    if (b.messages === undefined) return { err: 'messages: Field required' };
    if (!Array.isArray(b.messages)) return { err: 'messages: Input should be a valid list' };
    if (b.messages.length === 0) return { err: 'messages: at least one message is required' };
    for (let i = 0; i < b.messages.length; i++) {
      const err = anthropicTurn(b.messages[i], i, msgs);
      if (err) return { err };
    }
    return { msgs };
  }

  function stopReason(gen) {
    if (gen.finishReason === 'length') return 'max_tokens';
    return gen.stopReason !== null ? 'stop_sequence' : 'end_turn';
  }

  // SSE of one message: message_start, content_block_start, ping, the paced deltas,
  // content_block_stop, message_delta (stop reason, output tokens), message_stop.
  function messagesStream(msg, block, deltas) {
    const start = { ...msg, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: msg.usage.input_tokens, output_tokens: 1 } };
    const head = [
      sse({ type: 'message_start', message: start }),
      sse({ type: 'content_block_start', index: 0, content_block: block }),
      sse({ type: 'ping' }),
    ];
    const last = [
      sse({ type: 'content_block_stop', index: 0 }),
      sse({ type: 'message_delta', delta: { stop_reason: msg.stop_reason, stop_sequence: msg.stop_sequence }, usage: { output_tokens: msg.usage.output_tokens } }),
      sse({ type: 'message_stop' }),
    ];
    return [head, ...deltas.map((delta) => [sse({ type: 'content_block_delta', index: 0, delta })]), last];
  }

  function messages(ctx) {
    const bad = checkBody(ctx);
    if (bad) return anthropicError(400, JSON.parse(bad.body).error.message);
    const b = ctx.json;
    if (b.model === undefined) return anthropicError(400, 'model: Field required');
    if (typeof b.model !== 'string') return anthropicError(400, 'model: Input should be a valid string');
    const reqModel = b.model;
    const withModel = (resp) => Object.assign(resp, { model: reqModel });
    const model = models.get(reqModel);
    if (!model) return withModel(anthropicError(404, `model: ${reqModel}`));
    if (model.embedding) return withModel(anthropicError(400, 'The model does not support Messages API'));

    const p = messagesParams(b);
    if (p.err) return withModel(anthropicError(400, p.err));
    const conv = anthropicMessages(b);
    if (conv.err) return withModel(anthropicError(400, conv.err));
    const msgs = conv.msgs;
    const promptTok = chatPromptTokens(msgs);
    const ctxErr = contextCheck(model, promptTok, p.maxTokens);
    if (ctxErr) return withModel(anthropicError(400, JSON.parse(ctxErr.body).error.message));

    const msg = { id: 'msg_' + hex32(), type: 'message', role: 'assistant', model: reqModel, content: null, stop_reason: null, stop_sequence: null, usage: null };
    const call = toolCall({ tools: p.toolNames.map((name) => ({ function: { name } })), tool_choice: p.chatChoice }, msgs);
    let block, deltas, completionTok;
    if (call) {
      completionTok = Math.max(1, countTokens(call.args));
      const tu = { type: 'tool_use', id: 'toolu_' + call.id.slice(5), name: call.name, input: JSON.parse(call.args) };
      Object.assign(msg, { content: [tu], stop_reason: 'tool_use' });
      block = { ...tu, input: {} };
      deltas = argDeltas(call.args).map((partial_json) => ({ type: 'input_json_delta', partial_json }));
    } else {
      const gen = generate(chatSourceText(msgs), genOpts(p, promptTok, model, ctx.directives));
      completionTok = gen.completionTokens;
      Object.assign(msg, { content: [{ type: 'text', text: MESSAGES_MARKER + gen.text }], stop_reason: stopReason(gen), stop_sequence: gen.stopReason });
      block = { type: 'text', text: '' };
      deltas = textDeltas(gen, MESSAGES_MARKER).map((text) => ({ type: 'text_delta', text }));
    }
    msg.usage = { input_tokens: promptTok, output_tokens: completionTok };
    const fields = { model: reqModel, promptTokens: promptTok, completionTokens: completionTok, wire: 'messages' };
    if (!p.stream) return { status: 200, contentType: JSON_CT, ...fields, body: JSON.stringify(msg) };
    return eventStream(messagesStream(msg, block, deltas), messagesStreamError, fields);
  }

  // ---- POST /v1/embeddings -------------------------------------------------------------------

  function embeddings(ctx) {
    const bad = checkBody(ctx);
    if (bad) return bad;
    const b = ctx.json;
    const r = resolveModel(b, true, 'Embeddings');
    if (r.err) return Object.assign(r.err, { model: typeof b.model === 'string' ? b.model : undefined });
    const model = r.model;
    const reqModel = typeof b.model === 'string' ? b.model : model.id;
    const withModel = (resp) => Object.assign(resp, { model: reqModel });

    const inp = b.input;
    let inputs;
    if (inp === undefined || inp === null) return withModel(invalid('input', 'Field required', 'missing'));
    if (typeof inp === 'string') inputs = [inp];
    else if (Array.isArray(inp) && inp.length > 0) {
      if (inp.every((x) => typeof x === 'string')) inputs = inp;
      else if (inp.every(isInt)) inputs = [inp];
      else if (inp.every((x) => Array.isArray(x) && x.every(isInt))) inputs = inp;
      else return withModel(invalid('input', 'Input should be a valid string', 'string_type'));
    } else return withModel(error(400, 'Input cannot be empty.'));

    const fmt = b.encoding_format ?? 'float';
    if (fmt !== 'float' && fmt !== 'base64') {
      return withModel(invalid('encoding_format', "Input should be 'float' or 'base64'", 'literal_error'));
    }
    let dim = embedDim;
    if (b.dimensions != null) {
      if (!isInt(b.dimensions)) return withModel(invalid('dimensions', 'Input should be a valid integer', 'int_type'));
      if (b.dimensions < 1) return withModel(error(400, 'Dimensions must be greater than 0'));
      if (b.dimensions > 4096) return withModel(error(400, `Model "${reqModel}" does not support dimensions > 4096`));
      dim = b.dimensions;
    }
    let promptTok = 0;
    const data = new Array(inputs.length);
    for (let i = 0; i < inputs.length; i++) {
      const pt = promptTokens(inputs[i]);
      if (pt > model.maxModelLen) {
        return withModel(error(400, `This model's maximum context length is ${model.maxModelLen} tokens. However, you requested ${pt} tokens in the input for embedding generation. Please reduce the length of the input.`));
      }
      promptTok += pt;
      const v = embedVector(inputs[i], dim);
      data[i] = { index: i, object: 'embedding', embedding: fmt === 'base64' ? floatsToBase64(v) : v };
    }
    return {
      status: 200, contentType: JSON_CT, model: reqModel, promptTokens: promptTok, completionTokens: 0,
      body: JSON.stringify({
        id: 'embd-' + hex32(), object: 'list', created: now(), model: reqModel, data,
        usage: { prompt_tokens: promptTok, total_tokens: promptTok, completion_tokens: 0, prompt_tokens_details: null },
      }),
    };
  }

  // ---- POST /v1/rerank, /v1/score, /tokenize, /detokenize (pooling models; vLLM's shapes) --------
  // Relevance is the share of the query's words a text has: deterministic, and a document
  // about the query ranks above one that is not.

  function relevance(a, b) {
    const qa = new Set(tokenize(String(a).toLowerCase()).filter((t) => /\w/.test(t)).map((t) => t.trim()));
    if (qa.size === 0) return 0;
    const tb = new Set(tokenize(String(b).toLowerCase()).map((t) => t.trim()));
    let hit = 0;
    for (const t of qa) if (tb.has(t)) hit++;
    return Math.round((hit / qa.size) * 1e6) / 1e6;
  }

  function pooling(ctx, apiName) {
    const bad = checkBody(ctx);
    if (bad) return { bad };
    const r = resolveModel(ctx.json, true, apiName);
    if (r.err) return { bad: r.err };
    return { b: ctx.json, model: r.model, reqModel: typeof ctx.json.model === 'string' ? ctx.json.model : r.model.id };
  }

  function rerank(ctx) {
    const { bad, b, reqModel } = pooling(ctx, 'Rerank');
    if (bad) return bad;
    if (typeof b.query !== 'string') return invalid('query', 'Field required', 'missing');
    if (!Array.isArray(b.documents)) return invalid('documents', 'Field required', 'missing');
    const docs = b.documents.map((d) => (typeof d === 'string' ? d : d?.text));
    if (docs.some((d) => typeof d !== 'string')) return invalid('documents', 'Input should be a valid string', 'string_type');
    let tokens = 0;
    const results = docs.map((text, index) => {
      tokens += countTokens(b.query) + countTokens(text);
      return { index, document: { text }, relevance_score: relevance(b.query, text) };
    }).sort((x, y) => y.relevance_score - x.relevance_score || x.index - y.index);
    const top = isInt(b.top_n) && b.top_n > 0 ? results.slice(0, b.top_n) : results;
    return {
      status: 200, contentType: JSON_CT, model: reqModel, promptTokens: tokens, completionTokens: 0,
      body: JSON.stringify({ id: 'rerank-' + hex32(), model: reqModel, usage: { total_tokens: tokens }, results: top }),
    };
  }

  function score(ctx) {
    const { bad, b, reqModel } = pooling(ctx, 'Score');
    if (bad) return bad;
    const t1 = typeof b.text_1 === 'string' ? [b.text_1] : b.text_1;
    const t2 = typeof b.text_2 === 'string' ? [b.text_2] : b.text_2;
    if (!Array.isArray(t1) || !Array.isArray(t2)) return invalid('text_1', 'Field required', 'missing');
    if (t1.length !== 1 && t1.length !== t2.length) return error(400, 'text_1 and text_2 must have the same length, or text_1 a single text.');
    let tokens = 0;
    const data = t2.map((b2, index) => {
      const a = t1.length === 1 ? t1[0] : t1[index];
      tokens += countTokens(a) + countTokens(b2);
      return { index, object: 'score', score: relevance(a, b2) };
    });
    return {
      status: 200, contentType: JSON_CT, model: reqModel, promptTokens: tokens, completionTokens: 0,
      body: JSON.stringify({
        id: 'score-' + hex32(), object: 'list', created: now(), model: reqModel, data,
        usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0, prompt_tokens_details: null },
      }),
    };
  }

  // token ids: each distinct token gets the next id (stable for the process's lifetime)
  const vocab = new Map();
  const words = [];
  const idOf = (t) => {
    if (!vocab.has(t)) { vocab.set(t, words.length + 1000); words.push(t); }
    return vocab.get(t);
  };

  function tokenizeRoute(ctx) {
    const bad = checkBody(ctx);
    if (bad) return bad;
    const b = ctx.json;
    const model = models.get(b.model) || firstGen;
    if (!model) return error(404, `The model \`${b.model}\` does not exist.`, 'NotFoundError');
    const text = typeof b.prompt === 'string' ? b.prompt
      : Array.isArray(b.messages) ? chatSourceText(b.messages) : null;
    if (text === null) return invalid('prompt', 'Field required', 'missing');
    // pieces that keep their leading spaces (as BPE tokens do): detokenize gives the text back
    const tokens = (text.match(/\s*[\w]+|\s*[^\w\s]|\s+/g) || []).map(idOf);
    return json({ count: tokens.length, max_model_len: model.maxModelLen, tokens, token_strs: null });
  }

  function detokenizeRoute(ctx) {
    const bad = checkBody(ctx);
    if (bad) return bad;
    const b = ctx.json;
    if (!Array.isArray(b.tokens) || !b.tokens.every(isInt)) return invalid('tokens', 'Field required', 'missing');
    return json({ prompt: b.tokens.map((id) => words[id - 1000] ?? '').join('') });
  }

  // ---- GET endpoints --------------------------------------------------------------------------

  function listModels() {
    const created = now();
    return json({
      object: 'list',
      data: [...models.values()].map((m) => ({
        id: m.id, object: 'model', created, owned_by: 'vllm', root: m.id, parent: null,
        max_model_len: m.maxModelLen,
        permission: [{
          id: 'modelperm-' + hex32(), object: 'model_permission', created,
          allow_create_engine: false, allow_sampling: true, allow_logprobs: true,
          allow_search_indices: false, allow_view: true, allow_fine_tuning: false,
          organization: '*', group: null, is_blocking: false,
        }],
      })),
    });
  }

  const empty200 = () => ({ status: 200, body: '', contentType: JSON_CT });

  function metrics() {
    const lines = [];
    const fam = (nm, type, help) => lines.push(`# HELP ${nm} ${help}`, `# TYPE ${nm} ${type}`);
    const lbl = (m) => `{engine="0",model_name="${m}"}`;
    const ms = state.models;
    const get = (m) => ms.get(m) || { in_flight: 0, prompt_tokens: 0, completion_tokens: 0, success: 0 };
    fam('vllm:num_requests_running', 'gauge', 'Number of requests in model execution batches.');
    for (const m of models.keys()) lines.push(`vllm:num_requests_running${lbl(m)} ${get(m).in_flight.toFixed(1)}`);
    fam('vllm:num_requests_waiting', 'gauge', 'Number of requests waiting to be processed.');
    for (const m of models.keys()) lines.push(`vllm:num_requests_waiting${lbl(m)} 0.0`);
    fam('vllm:kv_cache_usage_perc', 'gauge', 'KV-cache usage. 1 means 100 percent usage.');
    for (const m of models.keys()) lines.push(`vllm:kv_cache_usage_perc${lbl(m)} 0.0`);
    fam('vllm:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.');
    for (const m of models.keys()) lines.push(`vllm:prompt_tokens_total${lbl(m)} ${get(m).prompt_tokens.toFixed(1)}`);
    fam('vllm:generation_tokens_total', 'counter', 'Number of generation tokens processed.');
    for (const m of models.keys()) lines.push(`vllm:generation_tokens_total${lbl(m)} ${get(m).completion_tokens.toFixed(1)}`);
    fam('vllm:request_success_total', 'counter', 'Count of successfully processed requests.');
    for (const m of models.keys()) lines.push(`vllm:request_success_total${lbl(m)} ${get(m).success.toFixed(1)}`);
    return { status: 200, body: lines.join('\n') + '\n', contentType: 'text/plain; version=0.0.4; charset=utf-8' };
  }

  // ---- routing table ------------------------------------------------------------------------
  // kind "inference": counted in in_flight, subject to run-wide faults and directives, and to
  // --api-key (like vLLM, only /v1/* is behind the key).

  const routes = {
    '/v1/chat/completions': { POST: { kind: 'inference', handle: chatCompletions } },
    '/v1/completions': { POST: { kind: 'inference', handle: completions } },
    '/v1/responses': { POST: { kind: 'inference', handle: responses } },
    '/v1/messages': { POST: { kind: 'inference', handle: (ctx) => anthropicFlavor(messages(ctx)) } },
    '/v1/embeddings': { POST: { kind: 'inference', handle: embeddings } },
    '/v1/rerank': { POST: { kind: 'inference', handle: rerank } },
    '/rerank': { POST: { kind: 'inference', handle: rerank } },
    '/v1/score': { POST: { kind: 'inference', handle: score } },
    '/score': { POST: { kind: 'inference', handle: score } },
    '/tokenize': { POST: { kind: 'inference', handle: tokenizeRoute } },
    '/detokenize': { POST: { kind: 'inference', handle: detokenizeRoute } },
    '/v1/models': { GET: { kind: 'info', handle: listModels } },
    '/health': { GET: { kind: 'health', handle: empty200 } },
    '/ping': { GET: { kind: 'health', handle: empty200 }, POST: { kind: 'health', handle: empty200 } },
    '/version': { GET: { kind: 'info', handle: () => json({ version }) } },
    '/load': { GET: { kind: 'info', handle: () => json({ server_load: state.in_flight }) } },
    '/metrics': { GET: { kind: 'info', handle: metrics } },
  };

  return {
    name,
    routes,
    /** Protected by --api-key? (vLLM: every /v1 path) */
    needsAuth: (path) => path.startsWith('/v1'),
    unauthorized: () => ({ status: 401, body: '{"error":"Unauthorized"}', contentType: JSON_CT }),
    // FastAPI defaults for unknown routes / wrong method.
    notFound: () => ({ status: 404, body: '{"detail":"Not Found"}', contentType: JSON_CT }),
    methodNotAllowed: (allow) => ({ status: 405, body: '{"detail":"Method Not Allowed"}', contentType: JSON_CT, headers: { allow } }),
    /** Body for an injected status (fault injection), vLLM ErrorResponse shape. */
    errorResponse(status, message) {
      if (status === 401) return this.unauthorized();
      return error(status, message || `${STATUS_CODES[status] || 'Error'} (injected by mock engine)`);
    },
    /** Engine-dead /health. */
    healthError: (status) => ({ status, body: '', contentType: JSON_CT }),
    /** A mid-stream error the way vLLM sends it: error event, then [DONE], status stays 200. */
    streamError(status, message) {
      return `data: ${errorBody(status, message)}\n\n${DONE}`;
    },
  };
}

