/* spansock.h -- how aif-api hands its spans (core/protocol/span.h) to a worker's OTLP
 * exporter without blocking a request: each worker that exports listens on a Unix
 * SOCK_SEQPACKET socket `<run_dir>/otel-<instance>.sock` (a message per span, the
 * socket buffer bounding what waits); aif-api keeps one connection per process and
 * sends without waiting. A span that cannot go at once (no exporter listens, its buffer
 * is full) is dropped, and the caller counts it. */
#ifndef AIF_SPANSOCK_H
#define AIF_SPANSOCK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define AIF_SPANSOCK_PREFIX	"otel-"
#define AIF_SPANSOCK_SUFFIX	".sock"

/* The exporter's socket path for worker `instance` (letters, digits, '-', '_') into out
 * (cap bytes). 0, or -1 when it does not fit. */
int		aif_spansock_path(const char *run_dir, const char *instance, char *out,
		    size_t cap);

/* Binds and listens at path (non-blocking, mode 0660, replacing a stale file). */
enum aif_err	aif_spansock_listen(const char *path, int *fd);

/* The sending side of one process. Zeroed, then aif_spansock_client_init. */
struct aif_spansock_client {
	pthread_mutex_t	 mu;
	char		 run_dir[4096];
	int		 fd;		/* -1: not connected */
	int64_t		 retry_ms;	/* no connect attempt before this (monotonic) */
	unsigned	 next;		/* where the next search for an exporter starts */
};

void	aif_spansock_client_init(struct aif_spansock_client *c, const char *run_dir);
void	aif_spansock_client_close(struct aif_spansock_client *c);

/* Sends one span (msg, len bytes) without blocking. 0 when sent; -1 when dropped:
 * *why is then "no_exporter" (none listens; a new search at most once a second) or
 * "busy" (the exporter's buffer is full). Thread-safe. */
int	aif_spansock_send(struct aif_spansock_client *c, const void *msg, size_t len,
	    const char **why);

#endif
