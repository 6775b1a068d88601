/* wakeup.c -- a "wake" this worker cannot use goes on to one peer. aif-api rings one
 * live worker per enqueue (round robin), not all of them: a job costs one claim, not
 * one per worker. The woken worker claims; when it claimed nothing (it is full or
 * draining, its share of the job's replica is used up, or a peer was faster), it rings
 * the next peer with the hop count one higher ("wake <hops>"), until every peer was
 * asked once. Nothing depends on the bell arriving: workers poll the queue every
 * queue.poll_interval_ms. The peers' doorbells are re-read with every heartbeat and
 * "share" bell (update_share). */
#include <stdlib.h>
#include <string.h>

#include "bell.h"
#include "doorbell.h"
#include "registry.h"
#include "worker.h"

void
wakeup_peers(struct worker *w, int stale_s)
{
	char **list = NULL;
	size_t n = 0, k = 0;

	if (aif_registry_doorbells(w->db, stale_s, &list, NULL, &n) != AIF_OK)
		return;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(list[i], w->doorbell_path) == 0) {
			free(list[i]);
			continue;
		}
		list[k++] = list[i];
	}
	aif_registry_doorbells_free(w->peers, w->npeers);
	w->peers = list;
	w->npeers = k;
}

void
wakeup_forward(struct worker *w, int hops)
{
	char msg[64];
	size_t len;

	if (hops < 0 || (size_t)hops >= w->npeers ||
	    (len = aif_bell_wake(msg, sizeof(msg), hops + 1)) == 0)
		return;
	/* the next peer that takes the bell (a gone one refuses it) */
	for (size_t k = 0; k < w->npeers; k++) {
		const char *to = w->peers[w->peer_next++ % w->npeers];
		if (aif_doorbell_ring(w->sender_fd, to, msg, len) == 0)
			return;
	}
}

void
wakeup_free(struct worker *w)
{
	aif_registry_doorbells_free(w->peers, w->npeers);
	w->peers = NULL;
	w->npeers = 0;
}
