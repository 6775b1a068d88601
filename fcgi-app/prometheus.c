/* prometheus.c -- the /metrics page in the Prometheus text format: every counter and
 * histogram of every process (store/counters.h, summed over processes) and live gauges
 * read from the queue (queue depth and oldest age by model, priority and state), the
 * workers and the replicas they report (calls in flight, circuit breakers). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "counters.h"
#include "registry.h"

#define PAGE_MAX	(64u << 20)	/* bytes of a page, a bound for a runaway table */

/* A growing text buffer for the page. */
struct buf {
	char	*s;
	size_t	 len, cap;
	int	 oom;
};

static void
bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = 1;
			return;
		}
		if ((size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap * 2 + (size_t)n;
		char *p;
		if (cap > PAGE_MAX || (p = realloc(b->s, cap)) == NULL) {
			b->oom = 1;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
}

/* "# TYPE" once per metric family (a histogram's _bucket, _count and _sum share one). */
static void
type_line(struct buf *b, const char *name, char *last, size_t cap)
{
	char base[100];
	const char *kind = "counter";
	size_t n = strlen(name);

	aif_strlcpy(base, name, sizeof(base));
	if (n > 7 && strcmp(name + n - 7, "_bucket") == 0) {
		base[n - 7] = '\0';
		kind = "histogram";
	} else if (n > 6 && strcmp(name + n - 6, "_count") == 0 && strstr(name, "_seconds")) {
		base[n - 6] = '\0';
		kind = "histogram";
	} else if (n > 4 && strcmp(name + n - 4, "_sum") == 0 && strstr(name, "_seconds")) {
		base[n - 4] = '\0';
		kind = "histogram";
	}
	if (strcmp(base, last) == 0)
		return;
	aif_strlcpy(last, base, cap);
	bprintf(b, "# TYPE %s %s\n", base, kind);
}

static void
counters(struct buf *b, const struct aif_dbrows *rows)
{
	char last[100] = "";

	for (size_t r = 0; r < rows->nrows; r++) {
		const char *name = aif_dbrows_get(rows, r, AIF_CT_NAME);
		const char *labels = aif_dbrows_get(rows, r, AIF_CT_LABELS);
		int64_t v = aif_dbrows_i64(rows, r, AIF_CT_VALUE);
		size_t n;
		if (name == NULL || labels == NULL)
			continue;
		n = strlen(name);
		type_line(b, name, last, sizeof(last));
		const char *lo = *labels ? "{" : "", *lc = *labels ? "}" : "";
		if (n > 4 && strcmp(name + n - 4, "_sum") == 0 && strstr(name, "_seconds"))
			bprintf(b, "%s%s%s%s %" PRId64 ".%06" PRId64 "\n", name, lo, labels, lc,
			    v / 1000000, (v < 0 ? -v : v) % 1000000);
		else
			bprintf(b, "%s%s%s%s %" PRId64 "\n", name, lo, labels, lc, v);
	}
}

static void
queue(struct buf *b, const struct aif_dbrows *rows)
{
	bprintf(b, "# HELP aif_queue_jobs Jobs not final, by model, priority and state.\n"
	    "# TYPE aif_queue_jobs gauge\n");
	for (size_t r = 0; r < rows->nrows; r++)
		bprintf(b, "aif_queue_jobs{model=\"%s\",priority=\"%s\",state=\"%s\"} %s\n",
		    aif_dbrows_get(rows, r, AIF_QD_MODEL), aif_dbrows_get(rows, r, AIF_QD_PRIORITY),
		    aif_dbrows_get(rows, r, AIF_QD_STATE), aif_dbrows_get(rows, r, AIF_QD_JOBS));
	bprintf(b, "# HELP aif_queue_oldest_age_seconds Age of the oldest job, by model, "
	    "priority and state.\n# TYPE aif_queue_oldest_age_seconds gauge\n");
	for (size_t r = 0; r < rows->nrows; r++) {
		int64_t us = aif_dbrows_i64(rows, r, AIF_QD_OLDEST_AGE_US);
		bprintf(b, "aif_queue_oldest_age_seconds{model=\"%s\",priority=\"%s\","
		    "state=\"%s\"} %" PRId64 ".%06" PRId64 "\n",
		    aif_dbrows_get(rows, r, AIF_QD_MODEL), aif_dbrows_get(rows, r, AIF_QD_PRIORITY),
		    aif_dbrows_get(rows, r, AIF_QD_STATE), us / 1000000, us % 1000000);
	}
}

static void
workers(struct buf *b, const struct aif_dbrows *rows)
{
	bprintf(b, "# HELP aif_workers Live workers by state.\n# TYPE aif_workers gauge\n");
	for (size_t r = 0; r < rows->nrows; r++)
		bprintf(b, "aif_workers{state=\"%s\"} %s\n", aif_dbrows_get(rows, r, AIF_WS_STATE),
		    aif_dbrows_get(rows, r, AIF_WS_WORKERS));
	bprintf(b, "# HELP aif_engine_calls_in_flight Engine calls running now.\n"
	    "# TYPE aif_engine_calls_in_flight gauge\n");
	for (size_t r = 0; r < rows->nrows; r++)
		bprintf(b, "aif_engine_calls_in_flight{state=\"%s\"} %s\n",
		    aif_dbrows_get(rows, r, AIF_WS_STATE), aif_dbrows_get(rows, r, AIF_WS_IN_FLIGHT));
}

static void
replicas(struct buf *b, const struct aif_dbrows *rows)
{
	bprintf(b, "# HELP aif_circuit_open 1 when a worker's circuit breaker for the replica is"
	    " open.\n# TYPE aif_circuit_open gauge\n");
	for (size_t r = 0; r < rows->nrows; r++)
		bprintf(b, "aif_circuit_open{model=\"%s\",replica=\"%s\"} %s\n",
		    aif_dbrows_get(rows, r, AIF_RP_MODEL), aif_dbrows_get(rows, r, AIF_RP_REPLICA),
		    aif_dbrows_get(rows, r, AIF_RP_CIRCUIT_OPEN));
	bprintf(b, "# HELP aif_replica_in_flight Calls in flight per replica.\n"
	    "# TYPE aif_replica_in_flight gauge\n");
	for (size_t r = 0; r < rows->nrows; r++)
		bprintf(b, "aif_replica_in_flight{model=\"%s\",replica=\"%s\"} %s\n",
		    aif_dbrows_get(rows, r, AIF_RP_MODEL), aif_dbrows_get(rows, r, AIF_RP_REPLICA),
		    aif_dbrows_get(rows, r, AIF_RP_IN_FLIGHT));
}

enum aif_err
prometheus_page(struct aif_db *db, int stale_s, char **out)
{
	struct aif_dbrows *c = NULL, *q = NULL, *w = NULL, *rp = NULL;
	struct buf b = { NULL, 0, 0, 0 };
	enum aif_err err;

	*out = NULL;
	if ((err = aif_counters_read(db, &c)) != AIF_OK ||
	    (err = aif_jobs_queue_depth(db, &q)) != AIF_OK ||
	    (err = aif_registry_worker_states(db, stale_s, &w)) != AIF_OK ||
	    (err = aif_registry_replicas(db, stale_s, &rp)) != AIF_OK)
		goto out;
	if ((b.s = malloc(16384)) == NULL) {
		err = AIF_NOMEM;
		goto out;
	}
	b.cap = 16384;
	b.s[0] = '\0';
	counters(&b, c);
	queue(&b, q);
	workers(&b, w);
	replicas(&b, rp);
	if (b.oom) {
		free(b.s);
		err = AIF_NOMEM;
		goto out;
	}
	*out = b.s;
out:
	aif_dbrows_free(c);
	aif_dbrows_free(q);
	aif_dbrows_free(w);
	aif_dbrows_free(rp);
	return err;
}
