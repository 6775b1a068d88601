/* sse.c -- incremental SSE parsing; see sse.h. */
#include <string.h>

#include "sse.h"

/* Appends to a line or an event's data: -1 past AIF_SSE_EVENT_MAX (with its NUL). */
static int
append(struct aif_buf *b, const char *s, size_t n)
{
	return aif_buf_add(b, s, n, AIF_SSE_EVENT_MAX - 1) == AIF_OK ? 0 : -1;
}

static int
dispatch(struct aif_sse *p, aif_sse_cb cb, void *arg)
{
	int rc = 0;

	if (p->has_data)
		rc = cb(arg, p->event, p->data.p ? p->data.p : "", p->data.len);
	p->data.len = 0;
	if (p->data.p != NULL)
		p->data.p[0] = '\0';
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
	if (p->has_data && append(&p->data, "\n", 1) != 0)
		return -1;
	if (append(&p->data, v, vn) != 0)
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
			return append(&p->line, bytes + i, chunk);
		if (p->line.len > 0) {
			if (append(&p->line, bytes + i, chunk) != 0 ||
			    line(p, p->line.p, p->line.len, cb, arg) != 0)
				return -1;
			p->line.len = 0;
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
	if (p->line.len > 0) {
		if (line(p, p->line.p, p->line.len, cb, arg) != 0)
			return -1;
		p->line.len = 0;
	}
	return dispatch(p, cb, arg);
}

void
aif_sse_free(struct aif_sse *p)
{
	aif_buf_free(&p->line);
	aif_buf_free(&p->data);
	memset(p, 0, sizeof(*p));
}
