/* triton.c -- the `triton` adapter for NVIDIA Triton / KServe v2 (see triton.h,
 * docs/ADAPTERS.md, the KServe v2 inference protocol,
 * https://kserve.github.io/website/latest/modelserving/data_plane/v2_protocol/, and
 * Triton's generate extension, docs/protocol/extension_generate.md in
 * https://github.com/triton-inference-server/server).
 *
 * Modes (models[].triton.mode):
 *   infer     POST /v2/models/{upstream}/infer with the tensors text_input (BYTES
 *             [1,1]), max_tokens (INT32 or UINT32 [1,1]), temperature and top_p (FP32
 *             [1,1], only when the client set them) and stream (BOOL false); the answer
 *             is the BYTES output text_output, flat or nested. Cannot stream.
 *   generate  POST /v2/models/{upstream}/generate, or /generate_stream for "stream":
 *             true, with {"text_input", "max_tokens", ..., "stream"} (top-level keys
 *             are tensors); the answer is "text_output". The stream sends one
 *             `data: {...,"text_output":"<delta>"}` per step and ends at EOF.
 * Embeddings always use infer: a BYTES input [n,1] of the strings and the FP32 output
 * embedding of shape [n, dim].
 *
 * Triton counts no tokens, and an adapter sees only the response body. So build puts
 * what parse needs into the KServe request "id", which Triton echoes in every response:
 * "aif1-<limit>-<prompt tokens>-<prompt bytes>-<FNV-1a 64 of the prompt, hex>", limit
 * being max_tokens (generation) or the number of inputs (embeddings). With it parse
 * reports prompt tokens, infers finish_reason "length" when the output reached
 * max_tokens, and strips a leading copy of the prompt that some deployments echo. Token
 * counts are approximate (aif_triton_count_tokens); streams count one token per event
 * with text. Without an echoed id: prompt_tokens 0, finish_reason "stop", no strip.
 *
 * Errors {"error":"..."}: 400 -> fatal 400 (fatal 502 when it names the gateway's own
 * configuration: unknown model, unexpected input, ...), 404/501 -> fatal 502
 * misconfigured, 429/503 and "Exceeds maximum queue size" -> overloaded 503, 500 ->
 * retryable 502; `data: {"error":"..."}` inside a 200 stream -> retryable 502. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "triton.h"
#include "util.h"

#define COMPLETION_DEFAULT_TOKENS	16	/* OpenAI's default for /v1/completions */
#define EMBED_MAX_VALUES		(4u << 20)	/* floats in one answer */
#define NESTING_MAX			8	/* depth of nested tensor data */
#define CTX_PREFIX			"aif1-"


/* What build told parse through the request id. */
struct call_ctx {
	int	 known;
	int64_t	 limit;		/* max_tokens, or the number of embedding inputs */
	int64_t	 prompt_tokens;
	uint64_t prompt_len;
	uint64_t prompt_hash;
};

/* ------------------------------------------------------------------ helpers */

/* The model's `triton:` settings by enum aif_triton_setting (borrowed: resolved at
 * config load, or looked up into tmp). */
static const char *const *
settings(const struct aif_model *m, const char *tmp[AIF_ADAPTER_SETTINGS_MAX])
{
	return aif_adapter_settings(&aif_adapter_triton, m, tmp);
}

int64_t
aif_triton_count_tokens(const char *s, size_t n)
{
	int64_t count = 0;
	int in_word = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c >= 0x80) {
			if (!in_word)
				count++;
			in_word = 1;
		} else {
			in_word = 0;
			if (c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '\f' &&
			    c != '\v')
				count++;
		}
	}
	return count;
}

static uint64_t
fnv1a64(const char *s, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* Writes the request id for ctx into buf (cap bytes). */
static enum aif_err
ctx_format(const struct call_ctx *c, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, CTX_PREFIX "%" PRId64 "-%" PRId64 "-%" PRIu64 "-%016" PRIx64,
	    c->limit, c->prompt_tokens, c->prompt_len, c->prompt_hash);

	return n < 0 || (size_t)n >= cap ? AIF_TOOBIG : AIF_OK;
}

/* Reads one unsigned number in `base` (10 or 16, lower-case digits only) from *p,
 * which must end at the character `end`; advances *p past it. */
static int
ctx_field(const char **p, char end, int base, uint64_t *v)
{
	const char *q = *p;
	char *e;

	while ((*q >= '0' && *q <= '9') || (base == 16 && *q >= 'a' && *q <= 'f'))
		q++;
	if (q == *p || *q != end || q - *p > 20)
		return -1;
	errno = 0;
	*v = strtoull(*p, &e, base);
	if (e != q || errno != 0)
		return -1;
	*p = *e == '\0' ? e : e + 1;
	return 0;
}

/* Fills *c from the response's id (borrowed, may be NULL); c->known = 0 if it is not
 * ours. */
static void
ctx_parse(const json_t *id, struct call_ctx *c)
{
	const char *p;
	uint64_t limit, pt;

	memset(c, 0, sizeof(*c));
	if (!json_is_string(id) || json_string_length(id) > 96)
		return;
	p = json_string_value(id);
	if (strncmp(p, CTX_PREFIX, strlen(CTX_PREFIX)) != 0)
		return;
	p += strlen(CTX_PREFIX);
	if (ctx_field(&p, '-', 10, &limit) != 0 || ctx_field(&p, '-', 10, &pt) != 0 ||
	    ctx_field(&p, '-', 10, &c->prompt_len) != 0 ||
	    ctx_field(&p, '\0', 16, &c->prompt_hash) != 0 ||
	    limit > INT64_MAX || pt > INT64_MAX) {
		memset(c, 0, sizeof(*c));
		return;
	}
	c->limit = (int64_t)limit;
	c->prompt_tokens = (int64_t)pt;
	c->known = 1;
}

/* Cuts a leading copy of the prompt off *s (n bytes) when ctx says it is one. */
static void
strip_echo(const struct call_ctx *c, const char **s, size_t *n)
{
	if (c->known && c->prompt_len > 0 && c->prompt_len <= *n &&
	    fnv1a64(*s, (size_t)c->prompt_len) == c->prompt_hash) {
		*s += c->prompt_len;
		*n -= (size_t)c->prompt_len;
	}
}

/* base + "/v2/models/<model>/<what>" into out (cap bytes). */
static enum aif_err
join_url(const char *base, const char *model, const char *what, char *out, size_t cap)
{
	char path[AIF_ENGINE_URL_MAX];
	int n = snprintf(path, sizeof(path), "/v2/models/%s/%s", model, what);

	if (n < 0 || (size_t)n >= sizeof(path) || aif_url_join(out, cap, base, path) != 0) {
		out[0] = '\0';
		return AIF_TOOBIG;
	}
	return AIF_OK;
}

/* A KServe input tensor of shape [rows,1]; steals data. */
static json_t *
tensor(const char *name, const char *type, json_int_t rows, json_t *data)
{
	return json_pack("{s:s,s:[I,i],s:s,s:o}", "name", name, "shape", rows, 1,
	    "datatype", type, "data", data);
}

/* ------------------------------------------------------------------ build */

/* The prompt of the request, rendered (chat) or as is (completion: a string or an
 * array of exactly one string). *owned is new when the prompt was rendered. */
static enum aif_err
request_prompt(const struct aif_model *m, enum aif_kind kind, const json_t *req,
    const char **prompt, size_t *len, char **owned)
{
	const json_t *p;

	*owned = NULL;
	if (kind == AIF_KIND_CHAT) {
		enum aif_err err = aif_adapter_render_chat(m, json_object_get(req, "messages"),
		    owned, len);
		*prompt = *owned;
		return err;
	}
	p = json_object_get(req, "prompt");
	if (json_is_array(p) && json_array_size(p) == 1)
		p = json_array_get(p, 0);
	if (!json_is_string(p))
		return AIF_INVALID;
	*prompt = json_string_value(p);
	*len = json_string_length(p);
	return AIF_OK;
}

/* max_tokens of the request: the client's, else 16 for completions (OpenAI) and the
 * model's max_output_tokens for chat (the tensor is required). */
static int64_t
request_max_tokens(const struct aif_model *m, enum aif_kind kind, const json_t *req)
{
	const json_t *v = kind == AIF_KIND_CHAT ?
	    json_object_get(req, "max_completion_tokens") : NULL;

	if (!json_is_integer(v))
		v = json_object_get(req, "max_tokens");
	if (json_is_integer(v) && json_integer_value(v) > 0)
		return json_integer_value(v) > INT32_MAX ? INT32_MAX : json_integer_value(v);
	return kind == AIF_KIND_COMPLETION ? COMPLETION_DEFAULT_TOKENS : m->max_output_tokens;
}

/* Sampling values worth sending: temperature > 0 (0 is greedy, the engines' default),
 * 0 < top_p < 1. Returns them as -1 when not to be sent. */
static void
request_sampling(const json_t *req, double *temperature, double *top_p)
{
	const json_t *t = json_object_get(req, "temperature");
	const json_t *p = json_object_get(req, "top_p");

	*temperature = json_is_number(t) && json_number_value(t) > 0 ?
	    json_number_value(t) : -1;
	*top_p = json_is_number(p) && json_number_value(p) > 0 && json_number_value(p) < 1 ?
	    json_number_value(p) : -1;
}

/* The body of a generation call (settings opt): generate-extension keys, or KServe
 * infer tensors. On AIF_OK *body is new. */
static enum aif_err
build_generation(const char *const *opt, int generate, const json_t *req,
    const char *ctxid, const char *prompt, size_t plen, int64_t max_tokens, int stream,
    json_t **body)
{
	double temperature, top_p;
	int rc = 0;

	request_sampling(req, &temperature, &top_p);
	if ((*body = json_object()) == NULL)
		return AIF_NOMEM;
	rc |= json_object_set_new(*body, "id", json_string(ctxid));
	if (generate) {
		rc |= json_object_set_new(*body, opt[AIF_TRITON_TEXT_INPUT],
		    json_stringn(prompt, plen));
		rc |= json_object_set_new(*body, opt[AIF_TRITON_MAX_TOKENS_INPUT],
		    json_integer(max_tokens));
		if (temperature > 0)
			rc |= json_object_set_new(*body, "temperature", json_real(temperature));
		if (top_p > 0)
			rc |= json_object_set_new(*body, "top_p", json_real(top_p));
		rc |= json_object_set_new(*body, opt[AIF_TRITON_STREAM_INPUT],
		    json_boolean(stream));
	} else {
		json_t *in = json_array();

		rc |= json_array_append_new(in, tensor(opt[AIF_TRITON_TEXT_INPUT], "BYTES", 1,
		    json_pack("[s%]", prompt, plen)));
		rc |= json_array_append_new(in, tensor(opt[AIF_TRITON_MAX_TOKENS_INPUT],
		    opt[AIF_TRITON_MAX_TOKENS_TYPE], 1,
		    json_pack("[I]", (json_int_t)max_tokens)));
		if (temperature > 0)
			rc |= json_array_append_new(in, tensor("temperature", "FP32", 1,
			    json_pack("[f]", temperature)));
		if (top_p > 0)
			rc |= json_array_append_new(in, tensor("top_p", "FP32", 1,
			    json_pack("[f]", top_p)));
		rc |= json_array_append_new(in, tensor(opt[AIF_TRITON_STREAM_INPUT], "BOOL", 1,
		    json_pack("[b]", 0)));
		rc |= json_object_set_new(*body, "inputs", in);
		rc |= json_object_set_new(*body, "outputs",
		    json_pack("[{s:s}]", "name", opt[AIF_TRITON_TEXT_OUTPUT]));
	}
	return rc == 0 ? AIF_OK : AIF_NOMEM;
}

static enum aif_err
build_embedding(const char *const *opt, const json_t *req, json_t **body)
{
	const json_t *input = json_object_get(req, "input"), *s;
	json_t *data = NULL;
	struct call_ctx c;
	char ctxid[128];
	size_t i;
	enum aif_err err;

	memset(&c, 0, sizeof(c));
	*body = NULL;
	if (json_is_string(input)) {
		data = json_pack("[O]", input);
	} else if (json_is_array(input) && json_array_size(input) > 0) {
		json_array_foreach(input, i, s)
			if (!json_is_string(s))
				return AIF_INVALID;	/* token arrays need a tokenizer */
		data = json_deep_copy(input);
	} else {
		return AIF_INVALID;
	}
	if (data == NULL)
		return AIF_NOMEM;
	json_array_foreach(data, i, s)
		c.prompt_tokens += aif_triton_count_tokens(json_string_value(s),
		    json_string_length(s));
	c.limit = (int64_t)json_array_size(data);
	if ((err = ctx_format(&c, ctxid, sizeof(ctxid))) != AIF_OK) {
		json_decref(data);
		return err;
	}
	*body = json_pack("{s:s,s:[o],s:[{s:s}]}", "id", ctxid, "inputs",
	    tensor(opt[AIF_TRITON_TEXT_INPUT], "BYTES", (json_int_t)json_array_size(data),
	    data), "outputs", "name", opt[AIF_TRITON_EMBEDDING_OUTPUT]);
	return *body == NULL ? AIF_NOMEM : AIF_OK;
}

static enum aif_err
triton_build(const struct aif_model *m, const struct aif_replica *r, enum aif_kind kind,
    const char *request, size_t len, struct aif_engine_req *out)
{
	json_t *req = NULL, *body = NULL;
	char *owned = NULL;
	const char *prompt = NULL, *path, *tmp[AIF_ADAPTER_SETTINGS_MAX];
	const char *const *opt = settings(m, tmp);
	size_t plen = 0;
	struct call_ctx c;
	char ctxid[128];
	const json_t *n;
	int stream, generate = strcmp(opt[AIF_TRITON_MODE], "generate") == 0;
	enum aif_err err;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	if ((req = json_loadb(request, len, 0, NULL)) == NULL || !json_is_object(req)) {
		err = AIF_INVALID;
		goto out;
	}
	stream = json_is_true(json_object_get(req, "stream"));
	n = json_object_get(req, "n");
	if (kind == AIF_KIND_EMBEDDING) {
		if (json_object_get(req, "dimensions") != NULL &&
		    !json_is_null(json_object_get(req, "dimensions"))) {
			err = AIF_INVALID;	/* the engine's dimension is fixed */
			goto out;
		}
		path = "infer";
		if ((err = build_embedding(opt, req, &body)) != AIF_OK)
			goto out;
	} else if (kind == AIF_KIND_CHAT || kind == AIF_KIND_COMPLETION) {
		/* one sequence per call; infer mode cannot stream */
		if ((json_is_integer(n) && json_integer_value(n) != 1) ||
		    (stream && !generate)) {
			err = AIF_INVALID;
			goto out;
		}
		path = !generate ? "infer" : stream ? "generate_stream" : "generate";
		if ((err = request_prompt(m, kind, req, &prompt, &plen, &owned)) != AIF_OK)
			goto out;
		c.limit = request_max_tokens(m, kind, req);
		c.prompt_tokens = aif_triton_count_tokens(prompt, plen);
		c.prompt_len = plen;
		c.prompt_hash = fnv1a64(prompt, plen);
		if ((err = ctx_format(&c, ctxid, sizeof(ctxid))) != AIF_OK ||
		    (err = build_generation(opt, generate, req, ctxid, prompt, plen, c.limit,
		    stream, &body)) != AIF_OK)
			goto out;
	} else {
		err = AIF_INVALID;
		goto out;
	}
	if ((err = join_url(r->url, m->upstream_model, path, out->url,
	    sizeof(out->url))) != AIF_OK)
		goto out;
	err = aif_adapter_set_body(out, body);
out:
	if (err != AIF_OK) {
		free(out->body);
		memset(out, 0, sizeof(*out));
	}
	free(owned);
	json_decref(body);
	json_decref(req);
	return err;
}

/* ------------------------------------------------------------------ errors */

/* Copies the "error" text of an error body (JSON, or one SSE event: Triton frames the
 * first error of /generate_stream as `data: {...}`) into msg (cap bytes). */
static void
error_message(const char *body, size_t len, char *msg, size_t cap)
{
	json_t *root;
	const json_t *e;

	while (len > 0 && (*body == ' ' || *body == '\n' || *body == '\r')) {
		body++;
		len--;
	}
	if (len >= 5 && memcmp(body, "data:", 5) == 0) {
		body += 5;
		len -= 5;
	}
	root = json_loadb(body, len, 0, NULL);
	e = json_object_get(root, "error");
	if (json_is_string(e))
		snprintf(msg, cap, "%s", json_string_value(e));
	else if (root == NULL)
		snprintf(msg, cap, "(non-JSON error body, %zu bytes)", len);
	else
		snprintf(msg, cap, "(no message)");
	aif_utf8_trim_tail(msg);
	json_decref(root);
}

/* Messages of a 400 that point at the gateway's configuration, not the client's
 * request (older Triton releases answer 400 for every error). */
static int
names_misconfiguration(const char *emsg)
{
	static const char *const marks[] = {
		"unknown model", "unexpected inference input", "data-type is",
		"unexpected shape", "is not ready", "not found", "unable to find",
		"expected input", "unexpected inference output",
	};

	for (size_t i = 0; i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strcasestr(emsg, marks[i]) != NULL)
			return 1;
	return 0;
}

static void
classify(long status, const char *emsg, struct aif_engine_result *out)
{
	if (strcasestr(emsg, "Exceeds maximum queue size") != NULL)
		status = 503;	/* UNAVAILABLE: the dynamic batcher's queue is full */
	if ((status == 400 || status == 413 || status == 422) && names_misconfiguration(emsg)) {
		struct aif_error e;
		AIF_ERROR(&e, AIF_E_ENGINE_MISCONFIGURED_SAYS, NULL, emsg);
		aif_adapter_fail(out, AIF_FAIL_FATAL, &e);
		return;
	}
	aif_adapter_classify_status(status, emsg,
	    strcasestr(emsg, "exceeds maximum input length") != NULL ||
	    strcasestr(emsg, "context length") != NULL, out);
}

/* ------------------------------------------------------------------ answers */

/* The first string of tensor data, flat or nested (borrowed), or NULL. */
static const json_t *
first_string(const json_t *v, int depth)
{
	if (json_is_string(v))
		return v;
	if (!json_is_array(v) || json_array_size(v) == 0 || depth >= NESTING_MAX)
		return NULL;
	return first_string(json_array_get(v, 0), depth + 1);
}

/* The output tensor named `name` of an infer answer (borrowed), or NULL. */
static const json_t *
output_named(const json_t *root, const char *name)
{
	const json_t *outputs = json_object_get(root, "outputs"), *o;
	size_t i;

	json_array_foreach(outputs, i, o) {
		const json_t *nm = json_object_get(o, "name");
		if (json_is_string(nm) && strcmp(json_string_value(nm), name) == 0)
			return o;
	}
	return NULL;
}

static json_t *
usage_new(int64_t p, int64_t c)
{
	return json_pack("{s:I,s:I,s:I}", "prompt_tokens", (json_int_t)p,
	    "completion_tokens", (json_int_t)c, "total_tokens", (json_int_t)(p + c));
}

static void
parse_text(const struct aif_model *m, enum aif_kind kind, json_t *root,
    struct aif_engine_result *out)
{
	const json_t *text;
	struct call_ctx c;
	const char *s, *fr, *tmp[AIF_ADAPTER_SETTINGS_MAX];
	const char *const *opt = settings(m, tmp);
	size_t n;
	char id[64];
	int chat = kind == AIF_KIND_CHAT;
	json_t *resp;

	if (strcmp(opt[AIF_TRITON_MODE], "generate") == 0)
		text = first_string(json_object_get(root, opt[AIF_TRITON_TEXT_OUTPUT]), 0);
	else
		text = first_string(json_object_get(output_named(root,
		    opt[AIF_TRITON_TEXT_OUTPUT]), "data"), 0);
	if (text == NULL) {
		aif_adapter_bad_response(out, "no text output");
		return;
	}
	ctx_parse(json_object_get(root, "id"), &c);
	s = json_string_value(text);
	n = json_string_length(text);
	strip_echo(&c, &s, &n);
	out->prompt_tokens = c.prompt_tokens;
	out->completion_tokens = aif_triton_count_tokens(s, n);
	fr = c.limit > 0 && out->completion_tokens >= c.limit ? "length" : "stop";
	if (aif_random_id(chat ? "chatcmpl-" : "cmpl-", 24, id, sizeof(id)) != AIF_OK)
		snprintf(id, sizeof(id), "%s", chat ? "chatcmpl-triton" : "cmpl-triton");
	if (chat)
		resp = json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:{s:s,s:s%,s:n},s:n,s:s}],s:o}",
		    "id", id, "object", "chat.completion", "created",
		    (json_int_t)aif_unix_now(), "model", m->id, "choices", "index", 0,
		    "message", "role", "assistant", "content", s, n, "refusal", "logprobs",
		    "finish_reason", fr, "usage",
		    usage_new(out->prompt_tokens, out->completion_tokens));
	else
		resp = json_pack("{s:s,s:s,s:I,s:s,s:[{s:s%,s:i,s:n,s:s}],s:o}",
		    "id", id, "object", "text_completion", "created",
		    (json_int_t)aif_unix_now(), "model", m->id, "choices", "text", s, n,
		    "index", 0, "logprobs", "finish_reason", fr, "usage",
		    usage_new(out->prompt_tokens, out->completion_tokens));
	if (resp == NULL) {
		aif_adapter_transport_failure("out of memory", 0, out);
		return;
	}
	out->failure = AIF_FAIL_NONE;
	out->response = resp;
}

/* Appends every number of `v` (flat or nested) to flat; -1 on a non-number, too deep
 * or more than EMBED_MAX_VALUES. */
static int
flatten(const json_t *v, json_t *flat, int depth)
{
	const json_t *x;
	size_t i;

	if (json_is_number(v)) {
		if (json_array_size(flat) >= EMBED_MAX_VALUES)
			return -1;
		return json_array_append_new(flat, json_real(json_number_value(v)));
	}
	if (!json_is_array(v) || depth >= NESTING_MAX)
		return -1;
	json_array_foreach(v, i, x)
		if (flatten(x, flat, depth + 1) != 0)
			return -1;
	return 0;
}

static void
parse_embedding(const struct aif_model *m, json_t *root, struct aif_engine_result *out)
{
	const char *tmp[AIF_ADAPTER_SETTINGS_MAX];
	const json_t *o = output_named(root, settings(m, tmp)[AIF_TRITON_EMBEDDING_OUTPUT]);
	const json_t *shape = json_object_get(o, "shape"), *d;
	json_t *flat = json_array(), *data = json_array(), *resp;
	struct call_ctx c;
	size_t i, rows = 1, dim = 0, ndims = json_array_size(shape);

	if (flat == NULL || data == NULL) {
		aif_adapter_transport_failure("out of memory", 0, out);
		goto out;
	}
	if (o == NULL || ndims == 0 || flatten(json_object_get(o, "data"), flat, 0) != 0) {
		aif_adapter_bad_response(out, "no usable embedding output");
		goto out;
	}
	/* the last dimension is the vector, the others multiply to the row count */
	json_array_foreach(shape, i, d) {
		if (!json_is_integer(d) || json_integer_value(d) < 1 ||
		    json_integer_value(d) > EMBED_MAX_VALUES) {
			aif_adapter_bad_response(out, "an embedding output of bad shape");
			goto out;
		}
		if (i + 1 == ndims)
			dim = (size_t)json_integer_value(d);
		else
			rows *= (size_t)json_integer_value(d);
		if (rows > EMBED_MAX_VALUES) {
			aif_adapter_bad_response(out, "an embedding output of bad shape");
			goto out;
		}
	}
	ctx_parse(json_object_get(root, "id"), &c);
	if (rows * dim != json_array_size(flat) ||
	    (c.known && (int64_t)rows != c.limit)) {
		aif_adapter_bad_response(out, "embeddings that do not match their shape or inputs");
		goto out;
	}
	for (i = 0; i < rows; i++) {
		json_t *vec = json_array();
		int rc = vec == NULL;
		for (size_t k = 0; rc == 0 && k < dim; k++)
			rc = json_array_append(vec, json_array_get(flat, i * dim + k));
		if (rc != 0) {
			json_decref(vec);
			aif_adapter_transport_failure("out of memory", 0, out);
			goto out;
		}
		if (json_array_append_new(data, json_pack("{s:s,s:I,s:o}",
		    "object", "embedding", "index", (json_int_t)i, "embedding", vec)) != 0) {
			aif_adapter_transport_failure("out of memory", 0, out);
			goto out;
		}
	}
	resp = json_pack("{s:s,s:O,s:s,s:{s:I,s:I}}", "object", "list", "data", data,
	    "model", m->id, "usage", "prompt_tokens", (json_int_t)c.prompt_tokens,
	    "total_tokens", (json_int_t)c.prompt_tokens);
	if (resp == NULL) {
		aif_adapter_transport_failure("out of memory", 0, out);
		goto out;
	}
	out->failure = AIF_FAIL_NONE;
	out->response = resp;
	out->prompt_tokens = c.prompt_tokens;
	out->completion_tokens = 0;
out:
	json_decref(flat);
	json_decref(data);
}

static void
triton_parse(const struct aif_model *m, enum aif_kind kind, long status, const char *body,
    size_t len, struct aif_engine_result *out)
{
	json_t *root;
	char emsg[400];

	if (status != 200) {
		error_message(body, len, emsg, sizeof(emsg));
		classify(status, emsg, out);
		return;
	}
	root = json_loadb(body, len, 0, NULL);
	if (!json_is_object(root) || json_object_get(root, "error") != NULL)
		aif_adapter_bad_response(out, "a malformed response");
	else if (kind == AIF_KIND_EMBEDDING)
		parse_embedding(m, root, out);
	else
		parse_text(m, kind, root, out);
	json_decref(root);
}

/* ------------------------------------------------------------------ streaming */

static enum aif_failure
triton_parse_event(const struct aif_model *m, enum aif_kind kind, const char *data,
    size_t len, struct aif_stream_state *st, json_t *chunks,
    struct aif_engine_result *err)
{
	json_t *ev = aif_adapter_event_object(data, len, err);
	const json_t *e, *text;
	struct call_ctx c;
	const char *s = "", *tmp[AIF_ADAPTER_SETTINGS_MAX];
	size_t n = 0;
	enum aif_failure f = AIF_FAIL_NONE;

	if (ev == NULL)
		return err->failure;
	if ((e = json_object_get(ev, "error")) != NULL && !json_is_null(e)) {
		char emsg[400];

		snprintf(emsg, sizeof(emsg), "%s", json_is_string(e) ? json_string_value(e) :
		    "(no message)");
		aif_utf8_trim_tail(emsg);
		if (strcasestr(emsg, "Exceeds maximum queue size") != NULL) {
			classify(503, emsg, err);
		} else {
			/* the engine's text may quote the input: not copied */
			struct aif_error ge;
			AIF_ERROR(&ge, AIF_E_ENGINE_GENERATION_FAILED, NULL, "");
			aif_adapter_fail(err, AIF_FAIL_RETRYABLE, &ge);
		}
		f = err->failure;
		goto out;
	}
	st->events++;
	ctx_parse(json_object_get(ev, "id"), &c);
	text = first_string(json_object_get(ev, settings(m, tmp)[AIF_TRITON_TEXT_OUTPUT]), 0);
	if (text != NULL) {
		s = json_string_value(text);
		n = json_string_length(text);
		if (st->completion_tokens == 0)
			strip_echo(&c, &s, &n);	/* a prompt echo comes first */
	}
	if ((f = aif_adapter_role_chunk(m->id, kind, st, chunks, err)) != AIF_FAIL_NONE)
		goto out;
	if (n > 0) {
		st->completion_tokens++;
		f = aif_adapter_append_chunk(chunks,
		    aif_adapter_chunk(m->id, kind, st, 0, s, n, NULL), err);
	}
	if (c.known) {
		st->prompt_tokens = c.prompt_tokens;
		snprintf(st->finish_reason, sizeof(st->finish_reason), "%s",
		    c.limit > 0 && st->completion_tokens >= c.limit ? "length" : "stop");
	}
out:
	json_decref(ev);
	return f;
}

/* EOF ends a Triton stream: the finish chunk (and for a chat that sent nothing, the
 * role chunk before it). */
static void
triton_end_stream(const struct aif_model *m, enum aif_kind kind, struct aif_stream_state *st,
    json_t *chunks)
{
	if (kind == AIF_KIND_CHAT && st->events == 0)
		json_array_append_new(chunks, aif_adapter_chunk(m->id, kind, st, 1, "", 0, NULL));
	if (st->finish_reason[0] == '\0')
		snprintf(st->finish_reason, sizeof(st->finish_reason), "stop");
	json_array_append_new(chunks, aif_adapter_chunk(m->id, kind, st, 0, "", 0, st->finish_reason));
	st->done = 1;
}

const struct aif_adapter aif_adapter_triton = {
	.abi = AIF_ADAPTER_ABI,
	.spec = &aif_spec_triton,
	.build = triton_build,
	.parse = triton_parse,
	.parse_event = triton_parse_event,
	.stream_eof_ends = 1,	/* /generate_stream has no terminator */
	.end_stream = triton_end_stream,
	.health_path = "/v2/health/ready",
};
