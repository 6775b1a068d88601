/* metrics.c -- a process's counters and histograms until they are flushed; see
 * metrics.h. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"


static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct aif_metric_delta deltas[AIF_METRICS_MAX];
static size_t ndeltas;

/* bounds of every histogram, in milliseconds */
static const int64_t buckets_ms[] = { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500,
    5000, 10000, 30000, 60000, 120000 };
#define NBUCKETS AIF_NELEM(buckets_ms)

static void
add_locked(const char *name, const char *labels, int64_t delta)
{
	for (size_t i = 0; i < ndeltas; i++)
		if (strcmp(deltas[i].name, name) == 0 && strcmp(deltas[i].labels, labels) == 0) {
			deltas[i].value = aif_sat_add(deltas[i].value, delta);
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
	add_locked(n, labels, aif_sat_mul(ms, 1000));	/* microseconds */
	pthread_mutex_unlock(&mu);
}

size_t
aif_metrics_take(struct aif_metric_delta *out, size_t cap)
{
	size_t n;

	pthread_mutex_lock(&mu);
	n = ndeltas < cap ? ndeltas : cap;
	memcpy(out, deltas + ndeltas - n, n * sizeof(out[0]));
	ndeltas -= n;
	pthread_mutex_unlock(&mu);
	return n;
}

void
aif_metrics_give_back(const struct aif_metric_delta *d, size_t n)
{
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < n; i++)
		add_locked(d[i].name, d[i].labels, d[i].value);
	pthread_mutex_unlock(&mu);
}

const char *
aif_metrics_label(const char *v, char *out, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return out;
	for (; v != NULL && *v != '\0'; v++) {
		const char *esc = *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : *v == '\n' ?
		    "\\n" : NULL;
		size_t k = esc != NULL ? 2 : 1;
		if (o + k >= cap)
			break;
		if (esc != NULL)
			memcpy(out + o, esc, 2);
		else
			out[o] = *v;
		o += k;
	}
	out[o] = '\0';
	return out;
}
