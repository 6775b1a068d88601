// triton.mjs -- wire protocol of NVIDIA Triton Inference Server's HTTP/REST API (KServe
// v2 plus Triton's generate extension), `--protocol triton`, for the mock engine.
// server.mjs owns HTTP, faults, pacing and stats; this module owns routes, tensor
// validation, response and SSE shapes and error bodies.
//
// Reference: the KServe v2 inference protocol and Triton's generate extension
// (docs/ADAPTERS.md, "triton", links them) -- POST /v2/models/{m}/infer with
// typed input tensors -> {"id"?,"model_name","model_version","outputs":[...]}; POST
// /v2/models/{m}/generate {"text_input", <tensor or parameter keys>} -> {"text_output",
// ...}; /generate_stream -> `data: {...}` events, no terminator; every error body is
// {"error":"..."}; health /v2/health/ready and /v2/models/{m}/ready 200 or 400 with an
// empty body. A request "id" is echoed in every response.
//
// Models: an id containing "embed" is an embedding model (input text_input BYTES [-1,1],
// output embedding FP32 [-1,dim]); every other id is a TensorRT-LLM-style ensemble
// (inputs text_input BYTES, max_tokens INT32, optional stream BOOL, temperature FP32,
// top_p FP32, bad_words/stop_words BYTES; output text_output BYTES). Directive
// [[mock:echo]] makes text_output start with the prompt, as deployments without
// exclude_input_in_output do.

import { STATUS_CODES } from 'node:http';
import { countTokens, generate, embedVector, DEFAULT_COMPLETION_TOKENS, DEFAULT_EMBED_DIM } from './tokenizer.mjs';
import { promptSourceText } from './tgi.mjs';

export const name = 'triton';
export const defaultModels = ['ensemble', 'mock-embed'];
export const version = '2.59.0-mock';

const JSON_CT = 'application/json';
const SSE_CT = 'text/event-stream; charset=utf-8';

function errorBody(message) {
  return JSON.stringify({ error: message });
}

function error(status, message) {
  return { status, body: errorBody(message), contentType: JSON_CT };
}

function json(obj, status = 200) {
  return { status, body: JSON.stringify(obj), contentType: JSON_CT };
}

// Flattens tensor data (flat or nested, row-major) into out and returns out.
function flatten(v, out) {
  if (Array.isArray(v)) {
    for (const x of v) flatten(x, out);
  } else {
    out.push(v);
  }
  return out;
}

const TYPE_OK = {
  BYTES: (x) => typeof x === 'string',
  BOOL: (x) => typeof x === 'boolean',
  INT32: (x) => Number.isInteger(x) && x >= -2147483648 && x <= 2147483647,
  UINT32: (x) => Number.isInteger(x) && x >= 0 && x <= 4294967295,
  INT64: (x) => Number.isInteger(x),
  UINT64: (x) => Number.isInteger(x) && x >= 0,
  FP32: (x) => typeof x === 'number',
};

/**
 * config: { models: string[], maxModelLen?, defaultTokens?, embedDim?, state }.
 * maxModelLen is the engine's max input length (default 4096).
 */
export function createProtocol(config) {
  const defaultTokens = config.defaultTokens ?? DEFAULT_COMPLETION_TOKENS;
  const embedDim = config.embedDim ?? DEFAULT_EMBED_DIM;
  const maxInput = config.maxModelLen || 4096;
  const models = new Map();
  for (const id of config.models) {
    const embedding = /embed/i.test(id);
    const inputs = embedding
      ? [{ name: 'text_input', datatype: 'BYTES', shape: [-1, 1], required: true }]
      : [
          { name: 'text_input', datatype: 'BYTES', shape: [-1, 1], required: true },
          { name: 'max_tokens', datatype: 'INT32', shape: [-1, 1], required: true },
          { name: 'bad_words', datatype: 'BYTES', shape: [-1, -1] },
          { name: 'stop_words', datatype: 'BYTES', shape: [-1, -1] },
          { name: 'temperature', datatype: 'FP32', shape: [-1, 1] },
          { name: 'top_p', datatype: 'FP32', shape: [-1, 1] },
          { name: 'stream', datatype: 'BOOL', shape: [-1, 1] },
        ];
    const outputs = embedding
      ? [{ name: 'embedding', datatype: 'FP32', shape: [-1, embedDim] }]
      : [{ name: 'text_output', datatype: 'BYTES', shape: [-1, -1] }, { name: 'cum_log_probs', datatype: 'FP32', shape: [-1, -1] }];
    models.set(id, { id, embedding, inputs: new Map(inputs.map((i) => [i.name, i])), outputs: new Map(outputs.map((o) => [o.name, o])) });
  }

  const rid = (id) => `[request id: ${id || '<id_unknown>'}] `;

  function missingInputs(m, id, got) {
    const req = [...m.inputs.values()].filter((i) => i.required).map((i) => i.name);
    const missing = req.filter((n) => !got.includes(n));
    if (missing.length === 0) return null;
    return error(400, `${rid(id)}expected ${req.length} inputs but got ${got.length} inputs for model '${m.id}'. ` +
      `Got input(s) ${JSON.stringify(got)}, but missing required input(s) ${JSON.stringify(missing)}. Please provide all required input(s).`);
  }

  // Generation for one prompt: { text, pieces, promptTokens, completionTokens }.
  function run(prompt, maxTokens, directives, echo) {
    const natural = directives && directives.tokens != null ? directives.tokens : defaultTokens;
    const gen = generate(promptSourceText(prompt), { natural, maxTokens });
    const pieces = gen.last !== '' ? [...gen.deltas, gen.last] : gen.deltas.slice();
    if (echo) {
      if (pieces.length) pieces[0] = prompt + pieces[0]; else pieces.push(prompt);
    }
    return { text: (echo ? prompt : '') + gen.text, pieces, promptTokens: countTokens(prompt), completionTokens: gen.completionTokens };
  }

  function lengthError(id, prompt) {
    const pt = countTokens(prompt);
    if (pt <= maxInput) return null;
    return error(400, `${rid(id)}Prompt length (${pt}) exceeds maximum input length (${maxInput}). ` +
      'Set log level to info and check TRTGptModel logs for how maxInputLen is set');
  }

  // ---- POST /v2/models/{m}/infer -------------------------------------------------------

  function infer(m, ctx) {
    if (ctx.jsonError) return error(400, `failed to parse the request JSON buffer: ${ctx.jsonError}`);
    const b = ctx.json;
    if (b === null || typeof b !== 'object' || Array.isArray(b)) return error(400, 'failed to parse the request JSON buffer: expected an object');
    if (b.id != null && typeof b.id !== 'string') return error(400, 'Unable to parse \'id\': attempt to access JSON non-string as string');
    const id = b.id || '';
    if (!Array.isArray(b.inputs)) return error(400, "Unable to parse 'inputs': attempt to access JSON non-array as array");
    const got = new Map();
    for (const t of b.inputs) {
      if (!t || typeof t.name !== 'string') return error(400, "Unable to parse 'name': attempt to access JSON non-string as string");
      const spec = m.inputs.get(t.name);
      if (!spec) return error(400, `${rid(id)}unexpected inference input '${t.name}' for model '${m.id}'`);
      if (t.datatype !== spec.datatype) {
        return error(400, `${rid(id)}inference input '${t.name}' data-type is '${t.datatype}', but model '${m.id}' expects '${spec.datatype}'`);
      }
      if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) {
        return error(400, "Unable to parse 'shape': attempt to access JSON non-unsigned-integer as unsigned-integer");
      }
      if (t.shape.length !== spec.shape.length || t.shape.some((d, i) => spec.shape[i] !== -1 && spec.shape[i] !== d)) {
        return error(400, `${rid(id)}unexpected shape for input '${t.name}' for model '${m.id}'. Expected ${JSON.stringify(spec.shape)}, got ${JSON.stringify(t.shape)}`);
      }
      const data = flatten(t.data, []);
      const want = t.shape.reduce((a, d) => a * d, 1);
      if (data.length !== want) return error(400, `${rid(id)}Shape does not match true shape of 'data' field`);
      if (!data.every(TYPE_OK[spec.datatype])) return error(400, `${rid(id)}Unable to parse 'data': attempt to access JSON value of wrong type for '${spec.datatype}'`);
      got.set(t.name, { shape: t.shape, data });
    }
    const miss = missingInputs(m, id, [...got.keys()]);
    if (miss) return miss;
    let wanted = [...m.outputs.keys()];
    if (b.outputs != null) {
      if (!Array.isArray(b.outputs)) return error(400, "Unable to parse 'outputs': attempt to access JSON non-array as array");
      wanted = [];
      for (const o of b.outputs) {
        if (!o || !m.outputs.has(o.name)) return error(400, `${rid(id)}unexpected inference output '${o && o.name}' for model '${m.id}'`);
        wanted.push(o.name);
      }
    }
    const texts = got.get('text_input').data;
    const rows = got.get('text_input').shape[0];
    const outputs = [];
    let promptTokens = 0;
    let completionTokens = 0;
    if (m.embedding) {
      const flat = [];
      for (const s of texts) {
        promptTokens += countTokens(s);
        flat.push(...embedVector(s, embedDim));
      }
      if (wanted.includes('embedding')) outputs.push({ name: 'embedding', datatype: 'FP32', shape: [rows, embedDim], data: flat });
    } else {
      const maxTok = got.get('max_tokens').data;
      const echo = ctx.raw.includes('[[mock:echo]]');
      const out = [];
      for (let i = 0; i < texts.length; i++) {
        const le = lengthError(id, texts[i]);
        if (le) return le;
        const r = run(texts[i], maxTok[Math.min(i, maxTok.length - 1)], ctx.directives, echo);
        promptTokens += r.promptTokens;
        completionTokens += r.completionTokens;
        out.push(r.text);
      }
      for (const n of wanted) {
        if (n === 'text_output') outputs.push({ name: n, datatype: 'BYTES', shape: [rows, 1], data: out });
        if (n === 'cum_log_probs') outputs.push({ name: n, datatype: 'FP32', shape: [rows, 1], data: out.map(() => 0) });
      }
    }
    const resp = {};
    if (id) resp.id = id;
    Object.assign(resp, { model_name: m.id, model_version: '1', outputs });
    return { status: 200, contentType: JSON_CT, model: m.id, promptTokens, completionTokens, body: JSON.stringify(resp) };
  }

  // ---- POST /v2/models/{m}/generate, /generate_stream -----------------------------------

  // Top-level keys are input tensors when the model has one of that name, else request
  // parameters (string, integer or boolean only), as in Triton's ConvertGenerateRequest.
  function generateReq(m, ctx) {
    if (ctx.jsonError) return { err: error(400, `failed to parse the request JSON buffer: ${ctx.jsonError}`) };
    const b = ctx.json;
    if (b === null || typeof b !== 'object' || Array.isArray(b)) return { err: error(400, 'failed to parse the request JSON buffer: expected an object') };
    const id = typeof b.id === 'string' ? b.id : '';
    const tensors = new Map();
    const paramOk = (v) => typeof v === 'string' || typeof v === 'boolean' || Number.isInteger(v);
    for (const [k, v] of Object.entries(b)) {
      if (k === 'id') continue;
      if (k === 'parameters') {
        if (v === null || typeof v !== 'object' || Array.isArray(v)) return { err: error(400, "Expected JSON object for keyword: 'parameters'") };
        for (const [pk, pv] of Object.entries(v)) {
          if (!paramOk(pv)) return { err: error(400, `parameter '${pk}' has invalid type. It should be either 'int', 'bool', or 'string'.`) };
        }
        continue;
      }
      const spec = m.inputs.get(k);
      if (!spec) {
        if (!paramOk(v)) return { err: error(400, `parameter '${k}' has invalid type. It should be either 'int', 'bool', or 'string'.`) };
        continue;
      }
      const data = flatten(v, []);
      if (data.length === 0 || !data.every(TYPE_OK[spec.datatype])) {
        return { err: error(400, `${rid(id)}Unable to parse 'data': attempt to access JSON value of wrong type for '${spec.datatype}'`) };
      }
      tensors.set(k, data);
    }
    const miss = missingInputs(m, id, [...tensors.keys()]);
    if (miss) return { err: miss };
    return { id, tensors };
  }

  function generateResponse(m, id, extra) {
    const r = {};
    if (id) r.id = id;
    return Object.assign(r, {
      model_name: m.id, model_version: '1', context_logits: 0.0, cum_log_probs: 0.0, generation_logits: 0.0,
      sequence_end: false, sequence_id: 0, sequence_start: false,
    }, extra);
  }

  function generateHandler(m, streaming, ctx) {
    const g = generateReq(m, ctx);
    if (g.err) return Object.assign(g.err, { model: m.id });
    const text = g.tensors.get('text_input')[0];
    if (m.embedding) {
      const v = embedVector(text, embedDim);
      const body = generateResponse(m, g.id, { embedding: v });
      return {
        status: 200, model: m.id, promptTokens: countTokens(text), completionTokens: 0,
        ...(streaming ? { contentType: SSE_CT, stream: { steps: [`data: ${JSON.stringify(body)}\n\n`], tail: '' } }
          : { contentType: JSON_CT, body: JSON.stringify(body) }),
      };
    }
    const le = lengthError(g.id, text);
    if (le) return Object.assign(le, { model: m.id });
    const wantStream = g.tensors.has('stream') && g.tensors.get('stream')[0] === true;
    if (!streaming && wantStream) {
      return Object.assign(error(400, 'generate expects model to produce exactly 1 response, use generate stream for model that generates various number of responses'), { model: m.id });
    }
    const r = run(text, g.tensors.get('max_tokens')[0], ctx.directives, ctx.raw.includes('[[mock:echo]]'));
    const base = { status: 200, model: m.id, promptTokens: r.promptTokens, completionTokens: r.completionTokens };
    if (!streaming) {
      return { ...base, contentType: JSON_CT, body: JSON.stringify(generateResponse(m, g.id, { text_output: r.text, output_log_probs: r.pieces.map(() => 0.0) })) };
    }
    // a decoupled model answers once per step when asked to stream, else once
    const deltas = wantStream ? r.pieces : [r.text];
    const steps = deltas.map((d) => `data: ${JSON.stringify(generateResponse(m, g.id, { text_output: d, output_log_probs: [0.0] }))}\n\n`);
    if (steps.length === 0) steps.push(`data: ${JSON.stringify(generateResponse(m, g.id, { text_output: '', output_log_probs: [] }))}\n\n`);
    return { ...base, contentType: SSE_CT, stream: { steps, tail: '' } };
  }

  // ---- metadata, health ------------------------------------------------------------------

  function modelMetadata(m) {
    const strip = (t) => ({ name: t.name, datatype: t.datatype, shape: t.shape });
    return json({
      name: m.id, versions: ['1'], platform: m.embedding ? 'python' : 'ensemble',
      inputs: [...m.inputs.values()].map(strip), outputs: [...m.outputs.values()].map(strip),
    });
  }

  function modelConfig(m) {
    return json({
      name: m.id, platform: m.embedding ? '' : 'ensemble', backend: m.embedding ? 'python' : '', max_batch_size: 64,
      input: [...m.inputs.values()].map((t) => ({ name: t.name, data_type: `TYPE_${t.datatype === 'BYTES' ? 'STRING' : t.datatype}`, dims: t.shape.slice(1), optional: !t.required })),
      output: [...m.outputs.values()].map((t) => ({ name: t.name, data_type: `TYPE_${t.datatype === 'BYTES' ? 'STRING' : t.datatype}`, dims: t.shape.slice(1) })),
    });
  }

  const empty200 = () => ({ status: 200, body: '', contentType: JSON_CT });

  const routes = {
    '/v2': { GET: { kind: 'info', handle: () => json({ name: 'triton', version, extensions: ['classification', 'sequence', 'model_repository', 'model_repository(unload_dependents)', 'schedule_policy', 'model_configuration', 'system_shared_memory', 'cuda_shared_memory', 'binary_tensor_data', 'parameters', 'statistics', 'trace', 'logging'] }) } },
    '/v2/health/ready': { GET: { kind: 'health', handle: empty200 } },
    '/v2/health/live': { GET: { kind: 'health', handle: empty200 } },
  };
  for (const m of models.values()) {
    for (const base of [`/v2/models/${m.id}`, `/v2/models/${m.id}/versions/1`]) {
      routes[base] = { GET: { kind: 'info', handle: () => modelMetadata(m) } };
      routes[`${base}/ready`] = { GET: { kind: 'health', handle: empty200 } };
      routes[`${base}/config`] = { GET: { kind: 'info', handle: () => modelConfig(m) } };
      routes[`${base}/infer`] = { POST: { kind: 'inference', handle: (ctx) => infer(m, ctx) } };
      routes[`${base}/generate`] = { POST: { kind: 'inference', handle: (ctx) => generateHandler(m, false, ctx) } };
      routes[`${base}/generate_stream`] = { POST: { kind: 'inference', handle: (ctx) => generateHandler(m, true, ctx) } };
    }
  }

  const MODEL_PATH = /^\/v2\/models\/([^/]+)(?:\/versions\/[^/]+)?(?:\/(?:infer|generate|generate_stream|ready|config|stats))?$/;

  return {
    name,
    routes,
    /** --api-key: like `tritonserver --http-restricted-api=inference:HEADER=KEY`, the
     *  inference endpoints need the header; the others stay open. */
    needsAuth: (path) => /\/(?:infer|generate|generate_stream)$/.test(path),
    /** Triton's answer to a restricted API called without its header: 403. */
    unauthorized: (header) => error(403, `This API is restricted, expecting header '${header || 'authorization'}'`),
    /** Triton: an unknown model is NOT_FOUND (404) with its name; other paths "Not Found". */
    notFound(path) {
      const mm = typeof path === 'string' ? path.match(MODEL_PATH) : null;
      if (mm) return error(404, `Request for unknown model: '${decodeURIComponent(mm[1])}' is not found`);
      return error(404, 'Not Found');
    },
    methodNotAllowed: (allow) => ({ ...error(405, 'Method Not Allowed'), headers: { allow } }),
    /** Injected status: {"error": ...}; a 503 says what a full Triton queue says. */
    errorResponse(status, message) {
      if (status === 401) return error(401, 'Unauthorized');
      const msg = message || (status === 503 ? 'Exceeds maximum queue size (injected by mock engine)'
        : `${STATUS_CODES[status] || 'Error'} (injected by mock engine)`);
      return error(status, msg);
    },
    /** Not ready: the given status (Triton uses 400) with an empty body. */
    healthError: (status) => ({ status, body: '', contentType: JSON_CT }),
    /** A failure after the first response: `data: {"error":...}` under status 200, then EOF. */
    streamError(status, message) {
      return `data: ${errorBody(message)}\n\n`;
    },
  };
}
