/* count.c -- token counts by the model's engine tokenizer, for POST
 * /v1/messages/count_tokens and POST /v1/responses/input_tokens on a model that lists
 * the tokenize kind: no job, no row, no hold, no usage. aif-api never calls an engine,
 * so it asks a worker: what to count (the masked chat messages and tools as a tokenize
 * request), the relay secret and this process's relay go to <run_dir>/count-<n>.json
 * (0600, written whole, then the bell), "count <n>" rings one live worker
 * (workers/count.c), and the request waits, parked under n (no jobs.id: n has bit 62
 * set), for the count over the relay. It is answered with the engine's count
 * (x-aif-token-count: engine) or, when that does not come whole within COUNT_WAIT_MS,
 * with the admission's estimate (x-aif-token-count: estimate). At most
 * COUNT_IN_FLIGHT_MAX counts of this process wait at once; past that the estimate
 * answers at once, so that counting cannot load the engines beyond a bound. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "bell.h"
#include "doorbell.h"
#include "relay_proto.h"
#include "util.h"

#define COUNT_WAIT_MS	2000	/* then the estimate answers */
#define COUNT_ID_BIT	(UINT64_C(1) << 62)

/* The tokenize request of a bridged chat request (borrowed): its messages and tools as
 * the engine's chat template sees them. New, or NULL. */
static json_t *
tokenize_request(const char *model_id, const json_t *chat)
{
	json_t *t = json_pack("{s:s,s:O,s:b}", "model", model_id, "messages",
	    json_object_get(chat, "messages"), "add_generation_prompt", 1);

	if (t != NULL && json_array_size(json_object_get(chat, "tools")) > 0 &&
	    json_object_set(t, "tools", json_object_get(chat, "tools")) != 0) {
		json_decref(t);
		return NULL;
	}
	return t;
}

/* Writes the count's file (its text: what the worker needs) where workers look for it;
 * 0, or -1 (nothing left behind). */
static int
write_file(const char *path, const char *text)
{
	size_t len = strlen(text), off = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -1;
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	if (close(fd) != 0 || off != len) {
		(void)unlink(path);
		return -1;
	}
	return 0;
}

/* The text of a count's file: the model, the relay secret (hex), this process's relay,
 * the object its answer names (or none) and the tokenize request. New, or NULL. */
static char *
file_text(struct req *r, const struct aif_model *m, const json_t *chat,
    const unsigned char *secret, const char *object)
{
	char hex[2 * AIF_RELAY_SECRET_BYTES + 1];
	json_t *t = tokenize_request(m->id, chat), *f;
	char *text;

	aif_hex_encode(secret, AIF_RELAY_SECRET_BYTES, hex);
	hex[2 * AIF_RELAY_SECRET_BYTES] = '\0';
	f = t != NULL ? json_pack("{s:s,s:s,s:s,s:s?,s:o}", "model", m->id, "secret", hex,
	    "reply_to", r->api->doorbell_path, "object", object, "body", t) : NULL;
	text = f != NULL ? json_dumps(f, JSON_COMPACT) : NULL;
	json_decref(f);
	return text;
}

int
count_by_engine(struct req *r, const struct aif_model *m, const json_t *chat,
    const char *object, const char *estimate)
{
	unsigned char secret[AIF_RELAY_SECRET_BYTES];
	char path[AIF_DOORBELL_PATH_MAX + 64], bell[AIF_DOORBELL_PATH_MAX], msg[64], *text;
	uint64_t n, worker;
	size_t len;
	int rc = -1;

	if (!(m->kinds & AIF_KIND_TOKENIZE) || aif_random_bytes(&n, sizeof(n)) != AIF_OK ||
	    aif_random_bytes(secret, sizeof(secret)) != AIF_OK ||
	    /* a worker that reads this host's run_dir, where the file is written; on
	     * other hosts only: the estimate answers at once */
	    wake_pick_local(r->api, r->db, &worker, bell, sizeof(bell)) != 0)
		return -1;
	n = COUNT_ID_BIT | (n & (COUNT_ID_BIT - 1));
	if (aif_bell_count_file(r->cfg->server.run_dir, n, path, sizeof(path)) != 0)
		return -1;
	/* what counts cost the engines is bounded: past the cap, the estimate answers */
	if (__atomic_add_fetch(&r->api->counts, 1, __ATOMIC_RELAXED) > COUNT_IN_FLIGHT_MAX) {
		(void)__atomic_sub_fetch(&r->api->counts, 1, __ATOMIC_RELAXED);
		return -1;
	}
	if ((text = file_text(r, m, chat, secret, object)) == NULL) {
		count_done(r->api, n);
		return -1;
	}
	len = aif_bell_count(msg, sizeof(msg), n);
	/* the file whole before the bell; parked after it (early frames are kept) */
	if (write_file(path, text) == 0 && len > 0 &&
	    aif_doorbell_ring_patient(r->api->sender_fd, bell, msg, len, 20) == 0 &&
	    completer_park_count(r->api, n, &r->reply, aif_now_ms() + COUNT_WAIT_MS, secret,
	    estimate) == 0) {
		r->parked = 1;
		r->reply.fcgi = NULL;
		rc = 0;
	} else {
		count_done(r->api, n);	/* its file goes (taken: the worker removed it) */
	}
	free(text);
	return rc;
}

void
count_done(struct api *api, uint64_t n)
{
	char path[AIF_DOORBELL_PATH_MAX + 64];

	/* ENOENT when a worker took it, as it should */
	if (aif_bell_count_file(api->cfg->server.run_dir, n, path, sizeof(path)) == 0)
		(void)unlink(path);
	(void)__atomic_sub_fetch(&api->counts, 1, __ATOMIC_RELAXED);
}

int
count_start(struct api *api)
{
	DIR *d = opendir(api->cfg->server.run_dir);
	struct dirent *e;
	struct stat st;
	time_t now = time(NULL);

	if (d == NULL)
		return 0;	/* the listener's own checks say more */
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, "count-", 6) != 0 || len < 11 ||
		    strcmp(e->d_name + len - 5, ".json") != 0)
			continue;
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now - st.st_mtime > 60)
			(void)unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
	return 0;
}

void
count_stop(struct api *api, int grace_ms)
{
	(void)api;
	(void)grace_ms;
}
