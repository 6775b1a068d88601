/* bell.c -- doorbell messages; see bell.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bell.h"

size_t
aif_bell_wake(char *buf, size_t cap, int hops)
{
	int n = hops > 0 ? snprintf(buf, cap, "wake %d\n", hops) :
	    snprintf(buf, cap, AIF_BELL_WAKE_MSG);

	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Writes "<verb> <id>\n" into buf (cap bytes); its length, 0 if it does not fit. */
static size_t
verb_id(char *buf, size_t cap, const char *verb, uint64_t id)
{
	int n = snprintf(buf, cap, "%s %" PRIu64 "\n", verb, id);

	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

size_t
aif_bell_cancel(char *buf, size_t cap, uint64_t id)
{
	return verb_id(buf, cap, "cancel", id);
}

size_t
aif_bell_take(char *buf, size_t cap, uint64_t id)
{
	return verb_id(buf, cap, "take", id);
}

size_t
aif_bell_count(char *buf, size_t cap, uint64_t id)
{
	return verb_id(buf, cap, "count", id);
}

int
aif_bell_count_file(const char *run_dir, uint64_t n, char *out, size_t cap)
{
	int len = snprintf(out, cap, "%s/count-%" PRIu64 ".json", run_dir, n);

	return len > 0 && (size_t)len < cap ? 0 : -1;
}

size_t
aif_bell_jobs(char *buf, size_t cap, const uint64_t *ids, size_t n, size_t *used)
{
	size_t len = 0;

	*used = 0;
	for (size_t i = 0; i < n; i++) {
		/* room for this id and the final newline */
		int m = snprintf(buf + len, cap - len, "%s%" PRIu64, i ? " " : "job ", ids[i]);
		if (m < 0 || len + (size_t)m + 2 > cap)
			break;
		len += (size_t)m;
		(*used)++;
	}
	if (*used == 0) {
		if (cap > 0)
			buf[0] = '\0';
		return 0;
	}
	buf[len++] = '\n';
	buf[len] = '\0';
	return len;
}

/* Parses the decimal ids after p into ids (at most cap). */
static size_t
parse_ids(const char *p, uint64_t *ids, size_t cap)
{
	size_t n = 0;
	char *end;

	while (n < cap) {
		while (*p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			break;
		uint64_t id = strtoull(p, &end, 10);
		if (end == p)
			break;
		ids[n++] = id;
		p = end;
	}
	return n;
}

enum aif_bell
aif_bell_parse(const char *msg, uint64_t *ids, size_t cap, size_t *n)
{
	*n = 0;
	if (strncmp(msg, "job ", 4) == 0) {
		*n = parse_ids(msg + 4, ids, cap);
		return AIF_BELL_JOBS;
	}
	if (strncmp(msg, "cancel ", 7) == 0) {
		*n = parse_ids(msg + 7, ids, cap < 1 ? 0 : 1);
		return *n == 1 && ids[0] > 0 ? AIF_BELL_CANCEL : AIF_BELL_UNKNOWN;
	}
	if (strncmp(msg, "take ", 5) == 0) {
		*n = parse_ids(msg + 5, ids, cap < 1 ? 0 : 1);
		return *n == 1 && ids[0] > 0 ? AIF_BELL_TAKE : AIF_BELL_UNKNOWN;
	}
	if (strncmp(msg, "count ", 6) == 0) {
		*n = parse_ids(msg + 6, ids, cap < 1 ? 0 : 1);
		return *n == 1 && ids[0] > 0 ? AIF_BELL_COUNT : AIF_BELL_UNKNOWN;
	}
	if (strncmp(msg, "share", 5) == 0)
		return AIF_BELL_SHARE;
	if (strncmp(msg, "wake", 4) == 0) {
		*n = parse_ids(msg + 4, ids, cap < 1 ? 0 : 1);
		return AIF_BELL_WAKE;
	}
	if (strncmp(msg, "run", 3) == 0)
		return AIF_BELL_RUN;
	return AIF_BELL_UNKNOWN;
}
