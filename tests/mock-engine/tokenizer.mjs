// tokenizer.mjs -- the mock engine's deterministic "model": tokenizer, answer text and
// embedding vectors. Pure functions with no dependencies, shared by the server
// (server.mjs + protocol modules) and by tests, so that a test can recompute exactly
// what the engine answers and counts.
//
// Tokenizer: a token is either a maximal run of letters, digits and '_' (Unicode
// \p{L}, \p{N}) or one single other non-whitespace character (punctuation, symbol,
// emoji code point). Whitespace is not a token.
//   "Hello, world!"        -> ["Hello", ",", "world", "!"]             (4)
//   "[[mock:tokens=5]]"    -> ["[", "[", "mock", ":", "tokens", "=", "5", "]", "]"] (9)

const TOKEN_RE = /[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu;
const WORD_RE = /[\p{L}\p{N}_]+/gu;
/** Fault-injection directives, e.g. [[mock:latency=250]]; stripped from echoed text. */
export const DIRECTIVE_RE = /\[\[mock:([a-z_-]+)(?:=([^\]]*))?\]\]/g;

/** Tokens added per chat message (role markers of a chat template). */
export const MESSAGE_OVERHEAD = 4;
/** Completion length when neither a [[mock:tokens=N]] directive nor ignore_eos applies. */
export const DEFAULT_COMPLETION_TOKENS = 16;
/** Default embedding dimension. */
export const DEFAULT_EMBED_DIM = 8;
/** The answer starts with these pieces ("Mock answer to:" = 4 tokens). */
export const ANSWER_PREFIX = ['Mock', ' answer', ' to', ':'];
/** Words used when the source text has none. */
export const FALLBACK_WORDS = ['nothing'];

/** Split text into tokens (array of strings). */
export function tokenize(text) {
  if (!text) return [];
  return String(text).match(TOKEN_RE) || [];
}

/** Number of tokens of text (same as tokenize(text).length, without allocating them). */
export function countTokens(text) {
  if (!text) return 0;
  const s = String(text);
  TOKEN_RE.lastIndex = 0;
  let n = 0;
  while (TOKEN_RE.exec(s) !== null) n++;
  return n;
}

/** Text of a chat message content: a string, or the text parts of an array joined by ' '. */
export function contentText(content) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    let out = '';
    for (const p of content) {
      if (p && typeof p === 'object' && typeof p.text === 'string') out = out ? out + ' ' + p.text : p.text;
      else if (typeof p === 'string') out = out ? out + ' ' + p : p;
    }
    return out;
  }
  return '';
}

/** Prompt tokens of a chat request: sum over messages of (MESSAGE_OVERHEAD + tokens of content). */
export function chatPromptTokens(messages) {
  let n = 0;
  for (const m of messages || []) n += MESSAGE_OVERHEAD + countTokens(contentText(m && m.content));
  return n;
}

/**
 * Prompt tokens of one legacy-completions prompt: a string is tokenized; an array of
 * token ids counts one token per id.
 */
export function promptTokens(prompt) {
  if (typeof prompt === 'string') return countTokens(prompt);
  if (Array.isArray(prompt)) return prompt.length;
  return 0;
}

/** The text a chat answer echoes: the content of the last "user" message (else the last message). */
export function chatSourceText(messages) {
  if (!Array.isArray(messages) || messages.length === 0) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m && m.role === 'user') return contentText(m.content);
  }
  const last = messages[messages.length - 1];
  return contentText(last && last.content);
}

/** Remove [[mock:...]] directives from text. */
export function stripDirectives(text) {
  if (!text || text.indexOf('[[mock:') < 0) return text || '';
  return text.replace(DIRECTIVE_RE, ' ');
}

/** Words (letter/digit runs) of text after stripping directives; FALLBACK_WORDS if none. */
export function sourceWords(text) {
  const w = stripDirectives(typeof text === 'string' ? text : '').match(WORD_RE);
  return w && w.length ? w : FALLBACK_WORDS;
}

/**
 * The first n answer pieces, one per token: "Mock", " answer", " to", ":", then " <word>"
 * cycling over the words of the source text. pieces.join('') is the untruncated answer and
 * countTokens(pieces.join('')) === n.
 */
export function answerPieces(sourceText, n) {
  const words = sourceWords(sourceText);
  const out = new Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = i < ANSWER_PREFIX.length ? ANSWER_PREFIX[i] : ' ' + words[(i - ANSWER_PREFIX.length) % words.length];
  }
  return out;
}

/**
 * Full deterministic generation, exactly what the mock engine returns for one choice.
 *   sourceText     chat: chatSourceText(messages); completions: the prompt string
 *   opts.natural   natural length in tokens (the model "emits EOS" after it); default 16
 *   opts.maxTokens cap (max_tokens / max_completion_tokens); null = no cap
 *   opts.stop      array of stop strings
 *   opts.includeStop  keep the matched stop string in the text (include_stop_str_in_output)
 * Returns { text, deltas, last, finishReason, stopReason, completionTokens } where
 * deltas are the streamed content deltas before the final chunk, last the content of the
 * final (finish_reason) chunk, deltas.join('') + last === text, and
 * completionTokens === countTokens(text).
 */
export function generate(sourceText, opts = {}) {
  const natural = opts.natural ?? DEFAULT_COMPLETION_TOKENS;
  const cap = opts.maxTokens ?? Infinity;
  const k = Math.max(0, Math.min(natural, cap));
  const pieces = answerPieces(sourceText, k);
  let text = pieces.join('');
  let finishReason = natural > cap ? 'length' : 'stop';
  let stopReason = null;
  let deltas, last;

  let cut = -1;
  const stop = opts.stop;
  if (stop && stop.length) {
    // The stop string that completes first (smallest end offset) wins, like token-wise
    // checking in the engine; ties go to the earlier entry of the list.
    let bestEnd = Infinity;
    for (const s of stop) {
      const p = text.indexOf(s);
      if (p >= 0 && p + s.length < bestEnd) {
        bestEnd = p + s.length;
        cut = opts.includeStop ? p + s.length : p;
        stopReason = s;
      }
    }
  }
  if (cut >= 0) {
    finishReason = 'stop';
    text = text.slice(0, cut);
    deltas = [];
    let off = 0;
    for (const p of pieces) {
      if (off + p.length > cut) break;
      deltas.push(p);
      off += p.length;
    }
    last = text.slice(off);
  } else if (finishReason === 'length') {
    deltas = pieces.slice(0, k - 1);
    last = k > 0 ? pieces[k - 1] : '';
  } else {
    deltas = pieces; // natural end: the final chunk carries the (empty) EOS delta
    last = '';
  }
  return { text, deltas, last, finishReason, stopReason, completionTokens: countTokens(text) };
}

// ---- embeddings -------------------------------------------------------------------

function fnv1a(str) {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Deterministic unit-norm embedding of an input (string, or array of token ids): values are
 * float32-representable numbers (Math.fround), so the float and base64 forms are identical.
 */
export function embedVector(input, dim = DEFAULT_EMBED_DIM) {
  const key = typeof input === 'string' ? input : JSON.stringify(input);
  let s = fnv1a(key) || 1;
  const v = new Array(dim);
  let norm = 0;
  for (let i = 0; i < dim; i++) {
    // mulberry32
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    const x = ((t ^ (t >>> 14)) >>> 0) / 4294967296 * 2 - 1;
    v[i] = x;
    norm += x * x;
  }
  norm = Math.sqrt(norm) || 1;
  for (let i = 0; i < dim; i++) v[i] = Math.fround(v[i] / norm);
  return v;
}

/** base64 of the little-endian float32 bytes of a vector (OpenAI encoding_format "base64"). */
export function floatsToBase64(v) {
  const buf = Buffer.allocUnsafe(v.length * 4);
  for (let i = 0; i < v.length; i++) buf.writeFloatLE(v[i], i * 4);
  return buf.toString('base64');
}

/** Inverse of floatsToBase64 (what the OpenAI SDKs do). */
export function base64ToFloats(b64) {
  const buf = Buffer.from(b64, 'base64');
  const out = new Array(buf.length >> 2);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}
