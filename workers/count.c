/* count.c -- token counts by a model's engine tokenizer, asked by aif-api for POST
 * /v1/messages/count_tokens and /v1/responses/input_tokens (fcgi-app/count.c): no job,
 * no row, no usage. The bell "count <n>" names a file under server.run_dir that aif-api
 * wrote (0600): the model, the relay secret, the relay of the waiting aif-api, the
 * answer's object and the tokenize request (masked). The worker reads and removes it,
 * runs the call like any other (the model's replica, its adapter's tokenize path, on
 * the multi handle) under a short timeout, and sends {"input_tokens": N} over the relay
 * as a synchronous answer (RESULT, END), signed with the count's key. When the call
 * cannot start or fails, END says so and aif-api answers its estimate. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bell.h"
#include "log.h"
#include "relay_proto.h"
#include "worker.h"

/* The count file's text (new, NUL-terminated), or NULL; the file is removed either
 * way (it is this worker's once the bell came). Bounded by max bytes. */
static char *
take_file(const char *path, size_t max)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	char *buf = NULL;
	size_t len = 0;
	struct stat st;
	ssize_t n;

	if (fd < 0)
		return NULL;
	(void)unlink(path);
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (size_t)st.st_size > max) {	/* aif-api writes a regular file, whole */
		close(fd);
		return NULL;
	}
	if ((buf = malloc(max + 1)) == NULL) {
		close(fd);
		return NULL;
	}
	while (len <= max && ((n = read(fd, buf + len, max + 1 - len)) > 0 ||
	    (n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	close(fd);
	if (len == 0 || len > max) {
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	return buf;
}

/* The call of count n from its file (j, borrowed), or NULL when the file is not one. */
static struct engine_call *
call_of_file(struct worker *w, uint64_t n, const json_t *j)
{
	const char *model = json_string_value(json_object_get(j, "model"));
	const char *reply_to = json_string_value(json_object_get(j, "reply_to"));
	const char *object = json_string_value(json_object_get(j, "object"));
	const struct aif_model *m = model != NULL ? aif_cfg_model(w->cfg, model) : NULL;
	struct engine_call *c;

	if (m == NULL || !(m->kinds & AIF_KIND_TOKENIZE) || reply_to == NULL ||
	    strlen(reply_to) > AIF_REPLY_TO_MAX || strlen(m->id) > AIF_MODEL_ID_MAX ||
	    (object != NULL && strcmp(object, "response.input_tokens") != 0) ||
	    !json_is_object(json_object_get(j, "body")) || (c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (aif_hex_decode(json_string_value(json_object_get(j, "secret")),
	    c->job.relay_secret, AIF_RELAY_SECRET_BYTES) != 0 ||
	    (c->job.request_body = json_dumps(json_object_get(j, "body"), JSON_COMPACT)) ==
	    NULL) {
		free(c);
		return NULL;
	}
	c->count = 1;
	snprintf(c->count_object, sizeof(c->count_object), "%s", object ? object : "");
	c->job.id = c->job.relay_id = n;
	c->job.attempt = 1;
	/* the key its frames are signed with, also when its call never starts */
	aif_relay_key(c->job.relay_secret, n, 1, c->relay_key);
	c->job.kind = AIF_KIND_TOKENIZE;
	c->job.has_relay_secret = 1;
	c->job.zero_retention = 1;
	snprintf(c->job.public_id, sizeof(c->job.public_id), "count");
	snprintf(c->job.model, sizeof(c->job.model), "%s", m->id);
	snprintf(c->job.reply_to, sizeof(c->job.reply_to), "%s", reply_to);
	return c;
}

void
count_start(struct worker *w, uint64_t n)
{
	char path[1024], *text;
	json_t *j;
	struct engine_call *c;

	if (aif_bell_count_file(w->cfg->server.run_dir, n, path, sizeof(path)) != 0 ||
	    (text = take_file(path, 2 * w->cfg->server.max_body_bytes + 4096)) == NULL)
		return;
	j = json_loads(text, 0, NULL);
	free(text);
	c = j != NULL ? call_of_file(w, n, j) : NULL;
	json_decref(j);
	if (c == NULL) {
		aif_warn("msg=\"token count file refused\" n=%llu", (unsigned long long)n);
		return;
	}
	dispatch_start_call(w, c);
}

/* Sends the count's answer (text, len bytes) or, for NULL, that there is none. */
static void
send_answer(struct worker *w, struct engine_call *c, const char *text, size_t len)
{
	struct relay_conn *r = c->relay;
	struct aif_error e;
	char *end;
	size_t elen;

	if ((r == NULL || r->io.fd < 0) && (r = relay_get(&w->relays, c->job.reply_to)) ==
	    NULL)
		return;		/* aif-api answers its estimate at its deadline */
	if (text != NULL && relay_send(r, c->job.relay_id, AIF_RELAY_RESULT, 1, c->relay_key,
	    text, len) != 0)
		return;
	AIF_ERROR0(&e, AIF_E_BUILD_FAILED, NULL);
	end = text != NULL ? aif_relay_end_result(len, &elen) : aif_relay_end_error(&e, &elen);
	if (end != NULL)
		(void)relay_send(r, c->job.relay_id, AIF_RELAY_END, 1, c->relay_key, end, elen);
	free(end);
}

void
count_refuse(struct worker *w, struct engine_call *c)
{
	send_answer(w, c, NULL, 0);
}

void
count_finish(struct worker *w, struct engine_call *c, CURLcode done)
{
	struct aif_engine_result res;
	long status = 0;
	json_t *a = NULL;
	char *text = NULL;

	memset(&res, 0, sizeof(res));
	if (done == CURLE_OK)
		curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	if (status == 200 && !c->resp.overflow)
		c->adapter->parse(c->model, AIF_KIND_TOKENIZE, status, c->resp.buf.p ?
		    c->resp.buf.p : "", c->resp.buf.len, &res);
	if (status == 200 && res.failure == AIF_FAIL_NONE && res.prompt_tokens >= 0)
		a = json_pack("{s:s*,s:I}", "object", c->count_object[0] ? c->count_object :
		    NULL, "input_tokens", (json_int_t)res.prompt_tokens);
	if (a != NULL)
		text = json_dumps(a, JSON_COMPACT);
	send_answer(w, c, text, text != NULL ? strlen(text) : 0);
	if (text == NULL)
		aif_info("msg=\"token count by the engine failed; the estimate answers\" "
		    "model=%s status=%ld", c->model != NULL ? c->model->id : "-", status);
	free(text);
	json_decref(a);
	aif_engine_result_clear(&res);
	engine_call_free(c);
}
