/* metrics.c -- counters, histograms and their rendering; see metrics.h. */
#include <inttypes.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

struct delta {
	char	 name[100];
	char	 labels[AIF_METRICS_LABELS];
	int64_t	 value;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct delta deltas[AIF_METRICS_MAX];
static size_t ndeltas;

/* bounds of every histogram, in milliseconds */
static const int64_t buckets_ms[] = { 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000,
    10000, 30000, 60000, 120000 };
#define NBUCKETS (sizeof(buckets_ms) / sizeof(buckets_ms[0]))

static void
add_locked(const char *name, const char *labels, int64_t delta)
{
	for (size_t i = 0; i < ndeltas; i++)
		if (strcmp(deltas[i].name, name) == 0 && strcmp(deltas[i].labels, labels) == 0) {
			deltas[i].value += delta;
			return;
		}
	if (ndeltas == AIF_METRICS_MAX || strlen(name) >= sizeof(deltas[0].name) ||
	    strlen(labels) >= sizeof(deltas[0].labels))
		return;
	aif_strlcpy(deltas[ndeltas].name, name, sizeof(deltas[0].name));
	aif_strlcpy(deltas[ndeltas].labels, labels, sizeof(deltas[0].labels));
	deltas[ndeltas].value = delta;
	ndeltas++;
}

void
aif_metrics_add(const char *name, const char *labels, int64_t delta)
{
	pthread_mutex_lock(&mu);
	add_locked(name, labels, delta);
	pthread_mutex_unlock(&mu);
}

void
aif_metrics_observe_ms(const char *name, const char *labels, int64_t ms)
{
	char n[100], l[AIF_METRICS_LABELS];

	pthread_mutex_lock(&mu);
	snprintf(n, sizeof(n), "%s_bucket", name);
	for (size_t i = 0; i < NBUCKETS; i++) {
		if (ms > buckets_ms[i])
			continue;
		snprintf(l, sizeof(l), "%s%sle=\"%g\"", labels, *labels ? "," : "",
		    (double)buckets_ms[i] / 1000.0);
		add_locked(n, l, 1);
	}
	snprintf(l, sizeof(l), "%s%sle=\"+Inf\"", labels, *labels ? "," : "");
	add_locked(n, l, 1);
	snprintf(n, sizeof(n), "%s_count", name);
	add_locked(n, labels, 1);
	snprintf(n, sizeof(n), "%s_sum", name);
	add_locked(n, labels, ms * 1000);	/* microseconds */
	pthread_mutex_unlock(&mu);
}

enum aif_err
aif_metrics_flush(struct aif_db *db)
{
	struct delta copy[64];
	char sql[8192];
	struct aif_dbp p[64 * 3];
	size_t n, off;
	enum aif_err err = AIF_OK;

	for (;;) {
		pthread_mutex_lock(&mu);
		n = ndeltas < 64 ? ndeltas : 64;
		memcpy(copy, deltas + ndeltas - n, n * sizeof(copy[0]));
		ndeltas -= n;
		pthread_mutex_unlock(&mu);
		if (n == 0)
			return AIF_OK;
		off = (size_t)snprintf(sql, sizeof(sql),
		    "INSERT INTO metric_counters (name, labels, value) VALUES ");
		for (size_t i = 0; i < n; i++) {
			off += (size_t)snprintf(sql + off, sizeof(sql) - off, "%s(?,?,?)",
			    i ? "," : "");
			p[3 * i] = AIF_P_STR(copy[i].name);
			p[3 * i + 1] = AIF_P_STR(copy[i].labels);
			p[3 * i + 2] = AIF_P_I64(copy[i].value);
		}
		snprintf(sql + off, sizeof(sql) - off,
		    " ON DUPLICATE KEY UPDATE value = value + VALUES(value)");
		if ((err = aif_db_exec(db, sql, p, 3 * n, NULL, NULL)) != AIF_OK) {
			/* keep them for the next flush */
			pthread_mutex_lock(&mu);
			for (size_t i = 0; i < n; i++)
				add_locked(copy[i].name, copy[i].labels, copy[i].value);
			pthread_mutex_unlock(&mu);
			return err;
		}
	}
}

/* A growing text buffer for the rendered page. */
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
		char *p = realloc(b->s, cap);
		if (p == NULL) {
			b->oom = 1;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
}

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

enum aif_err
aif_metrics_render(struct aif_db *db, char **out)
{
	static const char counters[] =
	    "SELECT name, labels, value FROM metric_counters ORDER BY"
	    " REPLACE(REPLACE(REPLACE(name, '_bucket', ''), '_count', ''), '_sum', ''), name, labels";
	static const char depth[] =
	    "SELECT model, priority, state, COUNT(*),"
	    " COALESCE(TIMESTAMPDIFF(MICROSECOND, MIN(created_at), NOW(6)), 0)"
	    " FROM jobs WHERE state IN ('queued','running','compensating')"
	    " GROUP BY model, priority, state";
	static const char workers[] =
	    "SELECT state, COUNT(*), COALESCE(SUM(in_flight), 0) FROM workers"
	    " WHERE state <> 'stopped' AND heartbeat_at > NOW(6) - INTERVAL 30 SECOND"
	    " GROUP BY state";
	static const char replicas[] =
	    "SELECT model, replica, SUM(in_flight), MAX(circuit_open) FROM replica_state"
	    " WHERE updated_at > NOW(6) - INTERVAL 30 SECOND GROUP BY model, replica";
	struct aif_dbrows *rows = NULL;
	struct buf b = { NULL, 0, 0, 0 };
	char last[100] = "";
	enum aif_err err;

	*out = NULL;
	if ((b.s = malloc(16384)) == NULL)
		return AIF_NOMEM;
	b.cap = 16384;
	b.s[0] = '\0';
	if ((err = aif_db_query(db, counters, NULL, 0, &rows)) != AIF_OK)
		goto fail;
	for (size_t r = 0; r < rows->nrows; r++) {
		const char *name = aif_dbrows_get(rows, r, 0), *labels = aif_dbrows_get(rows, r, 1);
		int64_t v = 0;
		size_t n = strlen(name);
		(void)aif_parse_i64(aif_dbrows_get(rows, r, 2), INT64_MIN, INT64_MAX, &v);
		type_line(&b, name, last, sizeof(last));
		const char *lo = *labels ? "{" : "", *lc = *labels ? "}" : "";
		if (n > 4 && strcmp(name + n - 4, "_sum") == 0 && strstr(name, "_seconds"))
			bprintf(&b, "%s%s%s%s %" PRId64 ".%06" PRId64 "\n", name, lo, labels, lc,
			    v / 1000000, (v < 0 ? -v : v) % 1000000);
		else
			bprintf(&b, "%s%s%s%s %" PRId64 "\n", name, lo, labels, lc, v);
	}
	aif_dbrows_free(rows);
	rows = NULL;
	if ((err = aif_db_query(db, depth, NULL, 0, &rows)) != AIF_OK)
		goto fail;
	bprintf(&b, "# HELP aif_queue_jobs Jobs not final, by model, priority and state.\n"
	    "# TYPE aif_queue_jobs gauge\n");
	for (size_t r = 0; r < rows->nrows; r++)
		bprintf(&b, "aif_queue_jobs{model=\"%s\",priority=\"%s\",state=\"%s\"} %s\n",
		    aif_dbrows_get(rows, r, 0), aif_dbrows_get(rows, r, 1),
		    aif_dbrows_get(rows, r, 2), aif_dbrows_get(rows, r, 3));
	bprintf(&b, "# HELP aif_queue_oldest_age_seconds Age of the oldest job, by model, "
	    "priority and state.\n# TYPE aif_queue_oldest_age_seconds gauge\n");
	for (size_t r = 0; r < rows->nrows; r++) {
		int64_t us = 0;
		(void)aif_parse_i64(aif_dbrows_get(rows, r, 4), 0, INT64_MAX, &us);
		bprintf(&b, "aif_queue_oldest_age_seconds{model=\"%s\",priority=\"%s\",state=\"%s\"}"
		    " %" PRId64 ".%06" PRId64 "\n", aif_dbrows_get(rows, r, 0),
		    aif_dbrows_get(rows, r, 1), aif_dbrows_get(rows, r, 2), us / 1000000,
		    us % 1000000);
	}
	aif_dbrows_free(rows);
	rows = NULL;
	if ((err = aif_db_query(db, workers, NULL, 0, &rows)) != AIF_OK)
		goto fail;
	bprintf(&b, "# HELP aif_workers Live workers by state.\n# TYPE aif_workers gauge\n");
	for (size_t r = 0; r < rows->nrows; r++)
		bprintf(&b, "aif_workers{state=\"%s\"} %s\n", aif_dbrows_get(rows, r, 0),
		    aif_dbrows_get(rows, r, 1));
	bprintf(&b, "# HELP aif_engine_calls_in_flight Engine calls running now.\n"
	    "# TYPE aif_engine_calls_in_flight gauge\n");
	for (size_t r = 0; r < rows->nrows; r++)
		bprintf(&b, "aif_engine_calls_in_flight{state=\"%s\"} %s\n",
		    aif_dbrows_get(rows, r, 0), aif_dbrows_get(rows, r, 2));
	aif_dbrows_free(rows);
	rows = NULL;
	if ((err = aif_db_query(db, replicas, NULL, 0, &rows)) != AIF_OK)
		goto fail;
	bprintf(&b, "# HELP aif_circuit_open 1 when a worker's circuit breaker for the replica is"
	    " open.\n# TYPE aif_circuit_open gauge\n");
	for (size_t r = 0; r < rows->nrows; r++)
		bprintf(&b, "aif_circuit_open{model=\"%s\",replica=\"%s\"} %s\n",
		    aif_dbrows_get(rows, r, 0), aif_dbrows_get(rows, r, 1),
		    aif_dbrows_get(rows, r, 3));
	bprintf(&b, "# HELP aif_replica_in_flight Calls in flight per replica.\n"
	    "# TYPE aif_replica_in_flight gauge\n");
	for (size_t r = 0; r < rows->nrows; r++)
		bprintf(&b, "aif_replica_in_flight{model=\"%s\",replica=\"%s\"} %s\n",
		    aif_dbrows_get(rows, r, 0), aif_dbrows_get(rows, r, 1),
		    aif_dbrows_get(rows, r, 2));
	aif_dbrows_free(rows);
	if (b.oom) {
		free(b.s);
		return AIF_NOMEM;
	}
	*out = b.s;
	return AIF_OK;
fail:
	aif_dbrows_free(rows);
	free(b.s);
	return err;
}
