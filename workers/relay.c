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
relay_send(struct relay_conn *c, uint64_t job, uint32_t type, uint32_t attempt,
    const unsigned char key[AIF_RELAY_KEY_LEN], const void *payload, size_t len)
{
	if (relay_queue(c, job, type, attempt, key, payload, len) != 0)
		return -1;
	if (aif_relay_flush(&c->io) != 0) {
		aif_warn("msg=\"relay closed\" path=%s", c->path);
		return -1;
	}
	return 0;
}

int
relay_queue(struct relay_conn *c, uint64_t job, uint32_t type, uint32_t attempt,
    const unsigned char key[AIF_RELAY_KEY_LEN], const void *payload, size_t len)
{
	if (c == NULL)
		return -1;
	if (aif_relay_queue(&c->io, job, type, attempt, key, payload, len) != 0) {
		aif_warn("msg=\"relay closed\" path=%s", c->path);
		return -1;
	}
	return 0;
}

void
relay_flush_all(struct relay_set *set)
{
	for (struct relay_conn *c = set->conns; c != NULL; c = c->next)
		if (c->io.fd >= 0 && c->io.out_len > 0 && aif_relay_flush(&c->io) != 0)
			aif_warn("msg=\"relay closed\" path=%s", c->path);
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
