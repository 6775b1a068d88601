/* tracectx.h -- W3C Trace Context (https://www.w3.org/TR/trace-context/): the
 * `traceparent` and `tracestate` a caller sends are kept on its job, and each engine
 * attempt is sent a traceparent of its own (the same trace, a new span id), so that the
 * engine's spans join the caller's trace through the queue. A request without a valid
 * traceparent starts a trace (a random trace id), as the specification says a receiver
 * does. Thread-safe; no state. */
#ifndef AIF_TRACECTX_H
#define AIF_TRACECTX_H

#include <stddef.h>

#define AIF_TRACEPARENT_LEN	55	/* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define AIF_TRACESTATE_MAX	512	/* the specification's limit */

/* 1 when s (NUL-terminated, borrowed) is a traceparent this gateway continues:
 * version 00 (or a later version, of which the first 55 characters are read, as the
 * specification asks), lowercase hex, a trace id and a parent id that are not all
 * zeros; 0 otherwise. */
int	aif_trace_valid(const char *s);

/* 1 when the flags of tp (a valid traceparent, borrowed) have the sampled bit. */
int	aif_trace_sampled(const char *tp);

/* 1 when s is a tracestate to pass on: 1..AIF_TRACESTATE_MAX printable ASCII bytes
 * (0x20..0x7e); 0 otherwise (it is then dropped, as the specification allows). */
int	aif_tracestate_valid(const char *s);

/* Writes into out (AIF_TRACEPARENT_LEN + 1 bytes) the caller's traceparent (caller
 * borrowed, may be NULL; when valid: its first 55 characters as version 00, the flags
 * but the sampled bit zeroed), else a new trace's (random ids, sampled). Returns 0, or
 * -1 when no random bytes could be had. */
int	aif_trace_of_request(const char *caller, char *out);

/* Writes into out (AIF_TRACEPARENT_LEN + 1 bytes) the traceparent of a new child span
 * of parent (a valid traceparent, borrowed): the same trace id and flags, a random
 * span id. Returns 0, or -1 (parent not valid, no random bytes). */
int	aif_trace_child(const char *parent, char *out);

#endif
