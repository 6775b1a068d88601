/* sse.c -- incremental SSE parsing; see sse.h. */
#include <stdlib.h>
#include <string.h>

#include "sse.h"

static int
append(char **buf, size_t *len, size_t *cap, const char *s, size_t n)
{
	if (*len + n + 1 > AIF_SSE_EVENT_MAX)
		return -1;
	if (*len + n + 1 > *cap) {
		size_t nc = *cap ? *cap : 256;
		char *p;
		while (nc < *len + n + 1)
			nc *= 2;
		if ((p = realloc(*buf, nc)) == NULL)
			return -1;
		*buf = p;
		*cap = nc;
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = '\0';
	return 0;
}

static int
dispatch(struct aif_sse *p, aif_sse_cb cb, void *arg)
{
	int rc = 0;

	if (p->has_data)
		rc = cb(arg, p->event, p->data ? p->data : "", p->data_len);
	p->data_len = 0;
	if (p->data != NULL)
		p->data[0] = '\0';
	p->has_data = 0;
	p->event[0] = '\0';
	return rc;
}

/* Handles one complete line (without its line end). */
static int
line(struct aif_sse *p, const char *s, size_t n, aif_sse_cb cb, void *arg)
{
	const char *v;
	size_t vn;

	if (n > 0 && s[n - 1] == '\r')
		n--;
	if (n == 0)
		return dispatch(p, cb, arg);
	if (s[0] == ':')
		return 0;
	if (n >= 5 && memcmp(s, "data:", 5) == 0) {
		v = s + 5;
		vn = n - 5;
	} else if (n >= 6 && memcmp(s, "error:", 6) == 0) {
		v = s + 6;	/* llama.cpp: a bare error field */
		vn = n - 6;
		memcpy(p->event, "error", 6);
	} else if (n >= 6 && memcmp(s, "event:", 6) == 0) {
		v = s + 6;
		vn = n - 6;
		if (vn > 0 && *v == ' ') {
			v++;
			vn--;
		}
		if (vn >= sizeof(p->event))
			vn = sizeof(p->event) - 1;
		memcpy(p->event, v, vn);
		p->event[vn] = '\0';
		return 0;
	} else {
		return 0;	/* id:, retry: and unknown fields */
	}
	if (vn > 0 && *v == ' ') {
		v++;
		vn--;
	}
	if (p->has_data && append(&p->data, &p->data_len, &p->data_cap, "\n", 1) != 0)
		return -1;
	if (append(&p->data, &p->data_len, &p->data_cap, v, vn) != 0)
		return -1;
	p->has_data = 1;
	return 0;
}

int
aif_sse_feed(struct aif_sse *p, const char *bytes, size_t n, aif_sse_cb cb, void *arg)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(bytes + i, '\n', n - i);
		size_t chunk = nl ? (size_t)(nl - (bytes + i)) : n - i;

		if (nl == NULL)
			return append(&p->line, &p->line_len, &p->line_cap, bytes + i, chunk);
		if (p->line_len > 0) {
			if (append(&p->line, &p->line_len, &p->line_cap, bytes + i, chunk) != 0 ||
			    line(p, p->line, p->line_len, cb, arg) != 0)
				return -1;
			p->line_len = 0;
		} else if (line(p, bytes + i, chunk, cb, arg) != 0) {
			return -1;
		}
		i += chunk + 1;
	}
	return 0;
}

int
aif_sse_finish(struct aif_sse *p, aif_sse_cb cb, void *arg)
{
	if (p->line_len > 0) {
		if (line(p, p->line, p->line_len, cb, arg) != 0)
			return -1;
		p->line_len = 0;
	}
	return dispatch(p, cb, arg);
}

void
aif_sse_free(struct aif_sse *p)
{
	free(p->line);
	free(p->data);
	memset(p, 0, sizeof(*p));
}
