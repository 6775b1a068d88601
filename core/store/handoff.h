/* handoff.h -- a job handed to a worker at insert (queue.h), carried whole in the bell
 * that tells the worker about it, so the worker need not read the row back: the
 * datagram "take <id>\n" (bell.h) goes on with one JSON object holding what
 * aif_queue_take_handed would read (the row as inserted, under lease token 1, attempt
 * 1). aif-api writes it after the row committed; the worker believes it only from a
 * process of its own user (doorbell.h, aif_doorbell_recv_local) and only when it names
 * this worker's id; anything else (a bell too large, a workflow step, a worker started
 * again under a new id, a malformed object) falls back to reading the row. Fencing is
 * unchanged: the result still commits only under the lease token the row holds. */
#ifndef AIF_HANDOFF_H
#define AIF_HANDOFF_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "queue.h"

/* The largest "take" bell with its job. Unread datagrams count against the sender's
 * send buffer (net.core.wmem_default, often 208 KiB): bells this small leave room for
 * a dozen waiting at busy workers. A job whose bell would be larger is rung as
 * "take <id>" (its worker reads the row). */
#define AIF_HANDOFF_BELL_MAX	(16 * 1024)

/* Writes the bell of job j (borrowed), inserted as id / public_id and handed to
 * j->handoff_worker, into *out (new, free; NUL-terminated) of *len bytes. AIF_TOOBIG
 * when it would exceed AIF_HANDOFF_BELL_MAX or j is a workflow's run or step (ring
 * the plain aif_bell_take then), AIF_NOMEM. */
enum aif_err	aif_handoff_encode(const struct aif_job_new *j, uint64_t id,
		    const char *public_id, char **out, size_t *len);

/* Fills c from the bell msg (len bytes, NUL-terminated) of a job handed to worker_id,
 * as aif_queue_take_handed reads the row; c->request_body is new (free). AIF_OK;
 * AIF_NOTFOUND when msg carries no job or one handed to another worker id (read the
 * row); AIF_INVALID when it is malformed or its job id is not `id`; AIF_NOMEM. */
enum aif_err	aif_handoff_decode(const char *msg, size_t len, uint64_t id,
		    uint64_t worker_id, struct aif_claimed *c);

#endif
