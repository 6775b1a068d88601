// tgi.mjs -- wire protocol of Hugging Face text-generation-inference's native API
// (`--protocol tgi`), for the mock engine. server.mjs owns HTTP, faults, pacing and stats;
// this module owns routes, validation, response and SSE shapes and error bodies.
//
// Reference: TGI's OpenAPI document (https://huggingface.github.io/text-generation-inference/)
// and docs/ADAPTERS.md -- POST /generate {"inputs","parameters"}
// -> {"generated_text","details"?}; POST /generate_stream -> `data:{...}` events (no space
// after "data:", no [DONE]; the last event has a non-null generated_text); errors
// {"error","error_type"} (422 validation, 424 generation, 429 overloaded), and inside a
// stream always as an event with status 200; GET /health 200 with an empty body; /info.
// TGI serves one model: requests name none, and the first --models id is the one.

import { STATUS_CODES } from 'node:http';
import { countTokens, generate, tokenize, DEFAULT_COMPLETION_TOKENS } from './tokenizer.mjs';

export const name = 'tgi';
export const defaultModels = ['mock-tgi'];
export const version = '3.3.4-mock';

const JSON_CT = 'application/json';
const SSE_CT = 'text/event-stream';
const EOS = { id: 2, text: '</s>', logprob: -0.01, special: true };
const MAX_STOP_SEQUENCES = 4;
const DEFAULT_MAX_NEW_TOKENS = 1024;

// The text a chat prompt's answer echoes: the last user turn of a chatml or llama3 prompt
// (what adapters/chat_template.c renders), else the whole prompt. Shared with triton.mjs.
const TURNS = [
  ['<|im_start|>user\n', '<|im_end|>'],
  ['<|start_header_id|>user<|end_header_id|>\n\n', '<|eot_id|>'],
];
export function promptSourceText(prompt) {
  if (typeof prompt !== 'string') return '';
  for (const [open, close] of TURNS) {
    const i = prompt.lastIndexOf(open);
    if (i < 0) continue;
    const s = i + open.length;
    const e = prompt.indexOf(close, s);
    return prompt.slice(s, e < 0 ? undefined : e);
  }
  return prompt;
}

// Deterministic fake token id of a piece of text.
function tokenId(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return 100 + ((h >>> 0) % 32000);
}

function errorType(status) {
  if (status === 424) return 'generation';
  if (status === 429 || status === 503) return 'overloaded';
  if (status >= 500) return 'incomplete_generation';
  return 'validation';
}

function errorBody(message, type) {
  return JSON.stringify({ error: message, error_type: type });
}

function error(status, message, type = errorType(status)) {
  return { status, body: errorBody(message, type), contentType: JSON_CT };
}

const invalid = (msg) => error(422, `Input validation error: ${msg}`, 'validation');

/**
 * config: { models: string[], maxModelLen?, defaultTokens?, state }. maxModelLen is
 * --max-total-tokens (default 8192); max_input_tokens is one less.
 */
export function createProtocol(config) {
  const modelId = config.models[0];
  const maxTotal = config.maxModelLen || 8192;
  const maxInput = maxTotal - 1;
  const defaultTokens = config.defaultTokens ?? DEFAULT_COMPLETION_TOKENS;

  // axum's Json extractor: 415 without the content type, 400 for bad syntax, 422 for a
  // body of the wrong shape; plain-text bodies.
  function rejectBody(ctx) {
    const text = (status, body) => ({ status, body, contentType: 'text/plain; charset=utf-8' });
    const ct = ctx.headers['content-type'];
    if (!ct || ct.split(';', 1)[0].trim().toLowerCase() !== 'application/json') {
      return text(415, 'Expected request with `Content-Type: application/json`');
    }
    if (ctx.jsonError) return text(400, `Failed to parse the request body as JSON: ${ctx.jsonError}`);
    const b = ctx.json;
    if (b === null || typeof b !== 'object' || Array.isArray(b)) {
      return text(422, 'Failed to deserialize the JSON body into the target type: invalid type: expected struct GenerateRequest');
    }
    if (typeof b.inputs !== 'string') {
      return text(422, 'Failed to deserialize the JSON body into the target type: missing field `inputs`');
    }
    if (b.parameters != null && (typeof b.parameters !== 'object' || Array.isArray(b.parameters))) {
      return text(422, 'Failed to deserialize the JSON body into the target type: parameters: invalid type');
    }
    return null;
  }

  // TGI's validation (router/src/validation.rs), in its order. Returns { err } or params.
  function validate(b, stream) {
    const p = b.parameters || {};
    const num = (k) => p[k] != null && typeof p[k] !== 'number';
    for (const k of ['temperature', 'top_p', 'repetition_penalty', 'frequency_penalty', 'max_new_tokens', 'seed']) {
      if (num(k)) return { err: error(422, `Failed to deserialize the JSON body into the target type: parameters.${k}: invalid type`) };
    }
    if (p.best_of != null && p.best_of > 1 && stream) return { err: invalid('`best_of` != 1 is not supported when streaming tokens') };
    if (p.temperature != null && !(p.temperature > 0)) return { err: invalid('`temperature` must be strictly positive') };
    if (p.repetition_penalty != null && !(p.repetition_penalty > 0)) return { err: invalid('`repetition_penalty` must be strictly positive') };
    if (p.frequency_penalty != null && !(p.frequency_penalty >= -2 && p.frequency_penalty <= 2)) return { err: invalid('`frequency_penalty` must be >= -2.0 and <= 2.0') };
    if (p.top_p != null && !(p.top_p > 0 && p.top_p < 1)) return { err: invalid('`top_p` must be > 0.0 and < 1.0') };
    if (p.top_k != null && !(p.top_k > 0)) return { err: invalid('`top_k` must be strictly positive') };
    if (p.max_new_tokens != null && !(Number.isInteger(p.max_new_tokens) && p.max_new_tokens > 0)) return { err: invalid('`max_new_tokens` must be strictly positive') };
    let stop = [];
    if (p.stop != null) {
      if (!Array.isArray(p.stop) || !p.stop.every((s) => typeof s === 'string')) {
        return { err: error(422, 'Failed to deserialize the JSON body into the target type: parameters.stop: invalid type') };
      }
      if (p.stop.length > MAX_STOP_SEQUENCES) return { err: invalid(`\`stop\` supports up to ${MAX_STOP_SEQUENCES} stop sequences. Given: ${p.stop.length}`) };
      stop = p.stop.filter((s) => s !== '');
    }
    if (p.seed != null && !(Number.isInteger(p.seed) && p.seed >= 0)) return { err: invalid('`seed` must be a non-negative integer') };
    if (stream && p.decoder_input_details === true) return { err: invalid('`decoder_input_details` == true is not supported when streaming tokens') };
    const inputTokens = countTokens(b.inputs);
    if (inputTokens === 0) return { err: invalid('`inputs` cannot be empty') };
    if (inputTokens > maxInput) return { err: invalid(`\`inputs\` must have less than ${maxInput} tokens. Given: ${inputTokens}`) };
    const maxNew = p.max_new_tokens ?? Math.max(1, Math.min(DEFAULT_MAX_NEW_TOKENS, maxTotal - inputTokens));
    if (inputTokens + maxNew > maxTotal) {
      return { err: invalid(`\`inputs\` tokens + \`max_new_tokens\` must be <= ${maxTotal}. Given: ${inputTokens} \`inputs\` tokens and ${maxNew} \`max_new_tokens\``) };
    }
    return {
      inputTokens, maxNew, stop, details: p.details === true, decoderInputDetails: p.decoder_input_details === true,
      returnFullText: p.return_full_text === true, seed: p.seed ?? null,
    };
  }

  // One generation: the pieces streamed (one per token), the final token, TGI's finish
  // reason and generated_tokens (the EOS token counts, as in TGI).
  function run(b, p, directives) {
    const natural = directives && directives.tokens != null ? directives.tokens : defaultTokens;
    const gen = generate(promptSourceText(b.inputs), { natural, maxTokens: p.maxNew, stop: p.stop, includeStop: true });
    const pieces = gen.deltas.slice();
    let finish;
    let last;
    if (gen.finishReason === 'length') {
      finish = 'length';
      last = { id: tokenId(gen.last), text: gen.last, logprob: -0.12, special: false };
    } else if (gen.stopReason !== null) {
      finish = 'stop_sequence';
      const t = gen.last !== '' || pieces.length === 0 ? gen.last : pieces.pop();
      last = { id: tokenId(t), text: t, logprob: -0.12, special: false };
    } else {
      finish = 'eos_token';
      last = EOS;
    }
    const tokens = pieces.map((t) => ({ id: tokenId(t), text: t, logprob: -0.12, special: false }));
    tokens.push(last);
    return { text: gen.text, tokens, finish, generated: tokens.length };
  }

  function headers(p, g) {
    return {
      'x-compute-type': 'gpu+optimized', 'x-compute-time': '0.001', 'x-compute-characters': String(g.text.length),
      'x-total-time': '1', 'x-validation-time': '0', 'x-queue-time': '0', 'x-inference-time': '1',
      'x-time-per-token': '0', 'x-prompt-tokens': String(p.inputTokens), 'x-generated-tokens': String(g.generated),
    };
  }

  function generateOnce(ctx, asArray) {
    const bad = rejectBody(ctx);
    if (bad) return Object.assign(bad, { model: modelId });
    const b = ctx.json;
    const p = validate(b, false);
    if (p.err) return Object.assign(p.err, { model: modelId });
    const g = run(b, p, ctx.directives);
    const out = { generated_text: p.returnFullText ? b.inputs + g.text : g.text };
    if (p.details) {
      out.details = {
        finish_reason: g.finish, generated_tokens: g.generated, seed: p.seed,
        prefill: p.decoderInputDetails ? tokenize(b.inputs).map((t, i) => ({ id: tokenId(t), text: t, logprob: i === 0 ? null : -1.5 })) : [],
        tokens: g.tokens,
      };
    }
    return {
      status: 200, contentType: JSON_CT, model: modelId, headers: headers(p, g),
      promptTokens: p.inputTokens, completionTokens: g.generated,
      body: JSON.stringify(asArray ? [out] : out),
    };
  }

  // The SSE events of a stream: a keep-alive comment, then one `data:{...}` per token.
  function generateStream(ctx) {
    const bad = rejectBody(ctx);
    if (bad) return Object.assign(bad, { model: modelId });
    const b = ctx.json;
    const p = validate(b, true);
    if (p.err) {
      // once the SSE response is open every error is an event under status 200
      if (p.err.status === 422 && p.err.contentType === JSON_CT) {
        return { status: 200, contentType: SSE_CT, model: modelId, headers: { 'x-accel-buffering': 'no' }, stream: { steps: [`data:${p.err.body}\n\n`], tail: '' } };
      }
      return Object.assign(p.err, { model: modelId });
    }
    const g = run(b, p, ctx.directives);
    const steps = g.tokens.map((token, i) => {
      const final = i === g.tokens.length - 1;
      const ev = {
        index: i + 1, token, generated_text: final ? (p.returnFullText ? b.inputs + g.text : g.text) : null,
        details: final && p.details ? { finish_reason: g.finish, generated_tokens: g.generated, seed: p.seed, input_length: p.inputTokens } : null,
      };
      return `data:${JSON.stringify(ev)}\n\n`;
    });
    steps[0] = ':\n\n' + steps[0];
    return {
      status: 200, contentType: SSE_CT, model: modelId, headers: { 'x-accel-buffering': 'no' },
      promptTokens: p.inputTokens, completionTokens: g.generated, stream: { steps, tail: '' },
    };
  }

  // TGI's `/` route: the non-stream answer is an array of one GenerateResponse.
  function compat(ctx) {
    if (ctx.json && typeof ctx.json === 'object' && ctx.json.stream === true) return generateStream(ctx);
    return generateOnce(ctx, true);
  }

  function info() {
    return {
      status: 200, contentType: JSON_CT,
      body: JSON.stringify({
        model_id: modelId, model_sha: null, model_pipeline_tag: 'text-generation', max_concurrent_requests: 128,
        max_best_of: 2, max_stop_sequences: MAX_STOP_SEQUENCES, max_input_tokens: maxInput, max_total_tokens: maxTotal,
        validation_workers: 2, max_client_batch_size: 32, router: 'text-generation-router', version, sha: null, docker_label: null,
      }),
    };
  }

  const empty200 = () => ({ status: 200, body: '', contentType: JSON_CT });

  const routes = {
    '/generate': { POST: { kind: 'inference', handle: (ctx) => generateOnce(ctx, false) } },
    '/generate_stream': { POST: { kind: 'inference', handle: generateStream } },
    '/': { POST: { kind: 'inference', handle: compat } },
    '/health': { GET: { kind: 'health', handle: empty200 } },
    '/ping': { GET: { kind: 'health', handle: empty200 } },
    '/info': { GET: { kind: 'info', handle: info } },
  };

  return {
    name,
    routes,
    needsAuth: (path) => path !== '/health' && path !== '/ping' && path !== '/info',
    unauthorized: () => error(401, 'Unauthorized', 'authentication'),
    // axum's defaults: empty bodies
    notFound: () => ({ status: 404, body: '', contentType: 'text/plain' }),
    methodNotAllowed: (allow) => ({ status: 405, body: '', contentType: 'text/plain', headers: { allow } }),
    /** Injected status: TGI's error body; on /generate_stream an error event under 200. */
    errorResponse(status, message, ctx) {
      const msg = message || (status === 429 ? 'Model is overloaded' : `${STATUS_CODES[status] || 'Error'} (injected by mock engine)`);
      if (ctx && ctx.path === '/generate_stream') {
        return { status: 200, contentType: SSE_CT, headers: { 'x-accel-buffering': 'no' }, stream: { steps: [`data:${errorBody(msg, errorType(status))}\n\n`], tail: '' } };
      }
      return error(status, msg);
    },
    /** Unhealthy /health: 503 {"error":"unhealthy","error_type":"healthcheck"}. */
    healthError: (status) => error(status, 'unhealthy', 'healthcheck'),
    /** A mid-stream failure: one error event, then the end of the body (no [DONE]). */
    streamError(status, message) {
      return `data:${errorBody(`Request failed during generation: ${message}`, status === 500 ? 'generation' : errorType(status))}\n\n`;
    },
  };
}
