/* metrics.c -- a process's counters and histograms until they are flushed; see
 * metrics.h. A histogram observation only bumps its label set's bucket counter here;
 * the Prometheus series (cumulative buckets, count, sum) are made when they are taken,
 * once per flush, not once per observation. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "util.h"

#define HISTS_MAX	128	/* histogram label sets per process between flushes */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct aif_metric_delta deltas[AIF_METRICS_MAX];
static uint32_t delta_hash[AIF_METRICS_MAX];	/* of name and labels: a cheap first test */
static size_t ndeltas;

/* bounds of every histogram, in milliseconds, and as Prometheus writes them (seconds) */
static const int64_t buckets_ms[] = { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500,
    5000, 10000, 30000, 60000, 120000 };
static const char *const buckets_le[] = { "0.001", "0.002", "0.005", "0.01", "0.025",
    "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120" };
#define NBUCKETS AIF_NELEM(buckets_ms)
#define HIST_SERIES (NBUCKETS + 3)	/* the buckets, +Inf, _count and _sum */

/* One histogram's label set: observations per bucket (the last: above every bound). */
struct hist {
	char	 name[sizeof(deltas[0].name) - sizeof("_bucket")];
	char	 labels[AIF_METRICS_LABELS - sizeof(",le=\"+Inf\"")];
	uint32_t hash;
	int64_t	 in[NBUCKETS + 1];
	int64_t	 sum_us;
};
static struct hist hists[HISTS_MAX];
static size_t nhists;

/* FNV-1a of name, a separator and labels. */
static uint32_t
hash_of(const char *name, const char *labels)
{
	uint32_t h = aif_fnv1a(AIF_FNV1A_INIT, name, strlen(name));

	return aif_fnv1a(aif_fnv1a(h, "\xff", 1), labels, strlen(labels));
}

static void
add_locked(const char *name, const char *labels, int64_t delta)
{
	uint32_t h = hash_of(name, labels);

	for (size_t i = 0; i < ndeltas; i++)
		if (delta_hash[i] == h && strcmp(deltas[i].name, name) == 0 &&
		    strcmp(deltas[i].labels, labels) == 0) {
			deltas[i].value = aif_sat_add(deltas[i].value, delta);
			return;
		}
	if (ndeltas == AIF_METRICS_MAX || strlen(name) >= sizeof(deltas[0].name) ||
	    strlen(labels) >= sizeof(deltas[0].labels))
		return;
	aif_strlcpy(deltas[ndeltas].name, name, sizeof(deltas[0].name));
	aif_strlcpy(deltas[ndeltas].labels, labels, sizeof(deltas[0].labels));
	deltas[ndeltas].value = delta;
	delta_hash[ndeltas] = h;
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
	uint32_t h = hash_of(name, labels);
	struct hist *x = NULL;
	size_t b = 0;

	while (b < NBUCKETS && ms > buckets_ms[b])
		b++;
	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < nhists && x == NULL; i++)
		if (hists[i].hash == h && strcmp(hists[i].name, name) == 0 &&
		    strcmp(hists[i].labels, labels) == 0)
			x = &hists[i];
	if (x == NULL && nhists < HISTS_MAX && strlen(name) < sizeof(x->name) &&
	    strlen(labels) < sizeof(x->labels)) {
		x = &hists[nhists++];
		memset(x, 0, sizeof(*x));
		aif_strlcpy(x->name, name, sizeof(x->name));
		aif_strlcpy(x->labels, labels, sizeof(x->labels));
		x->hash = h;
	}
	if (x != NULL) {	/* else dropped, as a full table drops a counter */
		x->in[b] = aif_sat_add(x->in[b], 1);
		x->sum_us = aif_sat_add(x->sum_us, aif_sat_mul(ms, 1000));
	}
	pthread_mutex_unlock(&mu);
}

/* The histograms' series into the deltas: name_bucket{labels,le=...} for every bound at
 * or above an observation (cumulative), le="+Inf", name_count and name_sum. A label set
 * goes whole or not at all: one that finds too little room in the deltas stays for the
 * next take. */
static void
spill_hists_locked(void)
{
	char n[sizeof(deltas[0].name)], l[AIF_METRICS_LABELS];
	size_t kept = 0;

	for (size_t i = 0; i < nhists; i++) {
		const struct hist *x = &hists[i];
		const char *sep = x->labels[0] != '\0' ? "," : "";
		int64_t cum = 0;

		if (AIF_METRICS_MAX - ndeltas < HIST_SERIES) {
			if (kept != i)
				hists[kept] = hists[i];
			kept++;
			continue;
		}

		/* the name fits: hist.name leaves room for the longest suffix */
		snprintf(n, sizeof(n), "%.*s_bucket", (int)sizeof(x->name) - 1, x->name);
		for (size_t b = 0; b < NBUCKETS; b++) {
			cum = aif_sat_add(cum, x->in[b]);
			if (cum == 0)
				continue;
			snprintf(l, sizeof(l), "%s%sle=\"%s\"", x->labels, sep,
			    buckets_le[b]);
			add_locked(n, l, cum);
		}
		cum = aif_sat_add(cum, x->in[NBUCKETS]);
		snprintf(l, sizeof(l), "%s%sle=\"+Inf\"", x->labels, sep);
		add_locked(n, l, cum);
		snprintf(n, sizeof(n), "%.*s_count", (int)sizeof(x->name) - 1, x->name);
		add_locked(n, x->labels, cum);
		snprintf(n, sizeof(n), "%.*s_sum", (int)sizeof(x->name) - 1, x->name);
		add_locked(n, x->labels, x->sum_us);
	}
	nhists = kept;
}

size_t
aif_metrics_take(struct aif_metric_delta *out, size_t cap)
{
	size_t n;

	pthread_mutex_lock(&mu);
	spill_hists_locked();
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
