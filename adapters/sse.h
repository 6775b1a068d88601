/* sse.h -- an incremental Server-Sent Events parser for engine streams (shared by the
 * adapters' streaming paths). Accepts `data:` with or without a space, LF or CRLF line
 * ends, `:` comment/keep-alive lines, `event:` types, and llama.cpp's non-standard
 * `error: {json}` line (reported as an event of type "error"). Bounded: an event larger
 * than the cap is an error. */
#ifndef AIF_SSE_H
#define AIF_SSE_H

#include <stddef.h>

#include "buf.h"

#define AIF_SSE_EVENT_MAX	(1u << 20)

/* Called once per complete event: `event` is "" or the event type ("error", ...);
 * `data` (borrowed, NUL-terminated) the joined data lines. Return 0 to go on, -1 to stop. */
typedef int	(*aif_sse_cb)(void *arg, const char *event, const char *data, size_t len);

struct aif_sse {
	struct aif_buf	 line;	/* the current partial line */
	struct aif_buf	 data;	/* the current event's data */
	char	 event[32];
	int	 has_data;
};

/* Feeds n bytes. Returns 0, or -1 when an event or line exceeded AIF_SSE_EVENT_MAX, memory
 * ran out, or the callback returned -1. */
int	aif_sse_feed(struct aif_sse *p, const char *bytes, size_t n, aif_sse_cb cb,
	    void *arg);

/* End of the body: dispatches a last event not followed by a blank line. */
int	aif_sse_finish(struct aif_sse *p, aif_sse_cb cb, void *arg);

/* Frees the buffers and zeroes *p; accepts a zeroed struct. */
void	aif_sse_free(struct aif_sse *p);

#endif
