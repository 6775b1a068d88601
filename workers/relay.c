/* relay.c (workers) -- relay connections to aif-api processes; see relay.h. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "relay.h"
#include "relay_proto.h"

struct relay_conn *
relay_get(struct relay_set *set, const char *reply_to)
{
	char path[AIF_DOORBELL_PATH_MAX];
	struct relay_conn *c;

	if (reply_to == NULL || *reply_to == '\0' ||
	    aif_relay_path(reply_to, path, sizeof(path)) != 0)
		return NULL;
	for (c = set->conns; c != NULL; c = c->next)
		if (strcmp(c->path, path) == 0)
			break;
	if (c == NULL) {
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return NULL;
		memcpy(c->path, path, strlen(path) + 1);
		aif_relay_init(&c->io);
		c->next = set->conns;
		set->conns = c;
	}
	if (c->io.fd < 0 && aif_relay_connect(&c->io, c->path) != AIF_OK) {
		aif_warn("msg=\"cannot reach the relay of a waiting aif-api\" path=%s", c->path);
		return NULL;
	}
	return c;
}

int
relay_send(struct relay_conn *c, uint64_t job, uint32_t type, const void *payload,
    size_t len)
{
	if (c == NULL)
		return -1;
	if (aif_relay_send(&c->io, job, type, payload, len) != 0) {
		aif_warn("msg=\"relay closed\" path=%s", c->path);
		return -1;
	}
	return 0;
}

/* The frame callback: only CANCEL is meaningful from aif-api. */
struct cancel_ctx {
	void	(*on_cancel)(void *, uint64_t);
	void	*arg;
};

static void
on_frame(void *arg, uint64_t job, uint32_t type, const char *payload, uint32_t len)
{
	struct cancel_ctx *x = arg;

	(void)payload;
	(void)len;
	if (type == AIF_RELAY_CANCEL && x->on_cancel != NULL)
		x->on_cancel(x->arg, job);
}

int
relay_read(struct relay_conn *c, void (*on_cancel)(void *, uint64_t), void *arg)
{
	struct cancel_ctx x = { on_cancel, arg };

	return aif_relay_recv(&c->io, on_frame, &x);
}

void
relay_close_all(struct relay_set *set)
{
	struct relay_conn *c = set->conns, *next;

	for (; c != NULL; c = next) {
		next = c->next;
		aif_relay_close(&c->io);
		free(c);
	}
	set->conns = NULL;
}
