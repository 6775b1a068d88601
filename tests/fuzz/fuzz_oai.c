/* fuzz_oai.c -- libFuzzer target for request parsing (aif_oai_parse, core/protocol/oai.h) and
 * for masking what it accepts (aif_pii_mask_request, then aif_pii_mask_response on the
 * same tree). The first input byte picks the request kind (the engine-native kinds
 * too: rerank, score, tokenize, detokenize); the rest is the body. A
 * fourth "kind" is Anthropic's Messages surface (core/protocol/anthropic.h), a fifth
 * OpenAI's Responses (responses.h): the body is bridged to a chat request (then parsed
 * as admission does), and read as a chat answer and as a stream chunk to translate back;
 * passed through (passthru.h), the same body is masked as the surface's own request and
 * read as an engine's answer and as its stream of events (a JSON array of them) to
 * assemble, replay and stamp.
 * Checks: no crash or leak, an accepted body's every string stays valid UTF-8 after
 * masking and the tree still serialises; a refused one has a 4xx/5xx error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "config.h"
#include "oai.h"
#include "passthru.h"
#include "pii.h"
#include "responses.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);
int	LLVMFuzzerInitialize(int *, char ***);

static const char config_yaml[] =
    "server: {listen: /tmp/x.sock, run_dir: /tmp}\n"
    "database: {socket: /tmp/db.sock, name: aif}\n"
    "models: [{id: m, adapter: openai, replicas: [{url: 'http://h:1'}]}]\n"
    "roles: [{name: user}]\n"
    "pii:\n"
    "  mask_responses: true\n"
    "  mask_style: partial\n"
    "  detectors: [{entity: SECRET, action: block}]\n";

static struct aif_config *cfg;
static struct aif_pii	 *pii;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	 err[4096];

	(void)argc;
	(void)argv;
	if (aif_cfg_load_string("fuzz.yaml", config_yaml, sizeof(config_yaml) - 1, &cfg,
	    err, sizeof(err)) != AIF_OK || aif_pii_new(cfg, 0, &pii, err,
	    sizeof(err)) != AIF_OK) {
		fprintf(stderr, "fuzz_oai: %s\n", err);
		abort();
	}
	return 0;
}

/* Aborts unless every string (and key) below v is valid UTF-8. */
static void
check_strings(json_t *v, int depth)
{
	const char	*key;
	json_t		*child;
	size_t		 i;

	if (depth > 600)
		abort();
	if (json_is_string(v) && !aif_pii_utf8_valid(json_string_value(v),
	    json_string_length(v), NULL))
		abort();
	if (json_is_object(v))
		json_object_foreach(v, key, child) {
			if (!aif_pii_utf8_valid(key, strlen(key), NULL))
				abort();
			check_strings(child, depth + 1);
		}
	if (json_is_array(v))
		json_array_foreach(v, i, child)
			check_strings(child, depth + 1);
}

static int
drop(void *arg, const char *event, const json_t *d)
{
	(void)arg;
	if (event == NULL || d == NULL)
		abort();
	return 0;
}

/* A surface passed through (kind RESPONSES or MESSAGES): the body masked as its
 * request (valid UTF-8 after), as an answer, and as events assembled (capped) and the
 * result replayed. */
static void
passthru(enum aif_kind kind, const char *body, size_t len)
{
	struct aif_pii_counts counts;
	struct aif_passthru_asm *a = aif_passthru_asm_new(kind, 4096);
	json_t *v = json_loadb(body, len, 0, NULL), *ev, *r, *evs;
	int64_t p, c;
	size_t i;

	if (a == NULL)
		abort();
	if (json_is_object(v)) {
		aif_pii_counts_init(&counts);
		if (aif_pii_screen_request(pii, "m", "user", kind, v, &counts, NULL) == AIF_OK)
			check_strings(v, 0);
		(void)aif_passthru_answer_ok(kind, v);
		aif_passthru_usage(kind, json_object_get(v, "usage"), &p, &c);
		if (p < 0 || c < 0 || aif_passthru_set_usage(v, kind, p, c) != 0)
			abort();
		json_decref(aif_passthru_replay(kind, v));
		(void)aif_passthru_asm_add(a, v);
	}
	json_array_foreach(v, i, ev)
		if (aif_passthru_asm_add(a, ev) == AIF_TOOBIG)
			break;
	r = aif_passthru_asm_result(a, "resp_x", "m");
	if (r == NULL || (evs = aif_passthru_replay(kind, r)) == NULL)
		abort();
	json_decref(evs);
	json_decref(r);
	aif_passthru_asm_free(a);
	json_decref(v);
}

/* The Messages surface both ways; a bridged request must parse as a chat request or
 * be refused with a 4xx/5xx, never crash. */
static void
anthropic(const char *body, size_t len, int count_only)
{
	struct aif_anth_limits alim = { 1 << 20, 64, 2048 };
	struct aif_oai_limits lim = { 1 << 20, 64, 2048, 1 << 20 };
	struct aif_anth_stream st;
	struct aif_oai_req req;
	struct aif_error err;
	json_t *chat = NULL, *v;
	char *s;

	if (aif_anth_to_chat(body, len, &alim, count_only, &chat, &err) != 0) {
		if (chat != NULL || err.status < 400 || err.status > 599)
			abort();
	} else {
		if ((s = json_dumps(chat, JSON_COMPACT)) == NULL)
			abort();
		if (aif_oai_parse(AIF_KIND_CHAT, s, strlen(s), &lim, &req, &err) == AIF_OK)
			aif_oai_req_free(&req);
		free(s);
		json_decref(chat);
	}
	if ((v = json_loadb(body, len, 0, NULL)) != NULL) {
		json_decref(aif_anth_message(v, "job_x"));
		json_decref(v);
	}
	aif_anth_stream_init(&st, "job_x");
	(void)aif_anth_stream_chunk(&st, body, len, "m", drop, NULL);
	(void)aif_anth_stream_end(&st, "m", 1, 2, drop, NULL);
	passthru(AIF_KIND_MESSAGES, body, len);
}

/* The Responses surface both ways, as for Messages. */
static void
responses(const char *body, size_t len)
{
	struct aif_resp_limits rlim = { 1 << 20, 64, 2048 };
	struct aif_oai_limits lim = { 1 << 20, 64, 2048, 1 << 20 };
	struct aif_resp_stream st;
	struct aif_resp_ask ask;
	struct aif_oai_req req;
	struct aif_error err;
	json_t *chat = NULL, *md = NULL, *v, *r;
	char *s = NULL, prev[64];
	size_t n = 0;

	if (aif_resp_to_chat(body, len, &rlim, 0, &chat, &md, &ask, &err) != 0) {
		if (chat != NULL || err.status < 400 || err.status > 599)
			abort();
		chat = json_object();
	} else if ((s = json_dumps(chat, JSON_COMPACT)) != NULL) {
		if (aif_oai_parse(AIF_KIND_CHAT, s, strlen(s), &lim, &req, &err) == AIF_OK)
			aif_oai_req_free(&req);
		free(s);
	}
	if ((v = json_loadb(body, len, 0, NULL)) != NULL) {
		(void)aif_resp_chain(chat, v, v, &err);
		if ((r = aif_resp_template(chat, md, "job_x", "m", 1)) != NULL)
			aif_resp_complete(r, v);
		json_decref(r);
		json_decref(v);
	}
	if (aif_resp_strip(body, len, &s, &n, prev, sizeof(prev)))
		free(s);
	aif_resp_stream_init(&st, aif_resp_template(chat, NULL, "job_x", "m", 1));
	if (st.response != NULL) {
		(void)aif_resp_stream_chunk(&st, body, len, drop, NULL);
		(void)aif_resp_stream_end(&st, 1, 2, drop, NULL);
	}
	aif_resp_stream_free(&st);
	json_decref(md);
	json_decref(chat);
	passthru(AIF_KIND_RESPONSES, body, len);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum aif_kind kinds[] = {	/* by the first byte % 9; 3 and 4 are the
						   Messages and Responses surfaces */
		AIF_KIND_CHAT, AIF_KIND_COMPLETION, AIF_KIND_EMBEDDING, AIF_KIND_CHAT,
		AIF_KIND_CHAT, AIF_KIND_RERANK, AIF_KIND_SCORE, AIF_KIND_TOKENIZE,
		AIF_KIND_DETOKENIZE,
	};
	struct aif_oai_limits	 lim = { 1 << 20, 64, 2048, 1 << 20 };
	struct aif_oai_req	 req;
	struct aif_error	 err;
	struct aif_pii_counts	 counts;
	enum aif_kind		 kind;
	char			 blocked[AIF_PII_TYPE_LEN], *s = NULL;
	enum aif_err		 rc;

	if (size == 0)
		return 0;
	if (data[0] % 9 == 3) {
		anthropic((const char *)data + 1, size - 1, data[0] & 16);
		return 0;
	}
	if (data[0] % 9 == 4) {
		responses((const char *)data + 1, size - 1);
		return 0;
	}
	kind = kinds[data[0] % 9];
	memset(&err, 0, sizeof(err));
	rc = aif_oai_parse(kind, (const char *)data + 1, size - 1, &lim, &req, &err);
	if (rc != AIF_OK) {
		if (req.body != NULL || err.status < 400 || err.status > 599)
			abort();
		return 0;
	}
	aif_pii_counts_init(&counts);
	rc = aif_pii_mask_request(pii, "m", "user", kind, req.body, &counts, blocked,
	    sizeof(blocked));
	if (rc != AIF_OK && rc != AIF_FORBIDDEN && rc != AIF_TOOBIG)
		abort();
	if (rc == AIF_FORBIDDEN && blocked[0] == '\0')
		abort();
	check_strings(req.body, 0);
	if (aif_pii_counts_json(&counts, &s) != AIF_OK)
		abort();
	free(s);
	/* the same tree as a response: choices[] may be there */
	if (aif_pii_mask_response(pii, "m", "user", kind, req.body, NULL) == AIF_FORBIDDEN)
		abort();
	check_strings(req.body, 0);
	if ((s = json_dumps(req.body, JSON_COMPACT)) == NULL)
		abort();
	free(s);
	aif_oai_req_free(&req);
	return 0;
}
