/* log.c -- logfmt records on stderr, bounded (2 KiB) and escaped (control characters,
 * invisible and direction-changing ones, and invalid UTF-8 as \xNN); see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "text.h"
#include "util.h"

static const char *log_prog = "aif";
static enum aif_log_level log_min = AIF_LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
aif_log_init(const char *prog)
{
	const char *lv = getenv("AIF_LOG_LEVEL");

	log_prog = prog;
	if (lv == NULL)
		return;
	for (size_t i = 0; i < AIF_NELEM(level_names); i++)
		if (strcasecmp(lv, level_names[i]) == 0)
			log_min = (enum aif_log_level)i;
}

/* Copies the record text src (n bytes) into dst (cap bytes) with every byte of a
 * control character (C0, DEL, C1), of an invisible or direction-changing character
 * (aif_text_unsafe_cp) and every byte that is not valid UTF-8 written as \xNN: bytes
 * from clients or engines (a header, a database error quoting them) never reach the
 * log raw nor reorder it on screen. Returns the length, cut at a whole character. */
static size_t
escape_record(char *dst, size_t cap, const char *src, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t o = 0, i = 0, k, b;
	uint32_t cp;

	while (i < n) {
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			if (o + 1 > cap)
				break;
			dst[o++] = (char)s[i++];
			continue;
		}
		k = aif_utf8_seq(s + i, n - i, &cp);
		if (k > 1 && !aif_text_unsafe_cp(cp)) {
			if (o + k > cap)
				break;
			memcpy(dst + o, s + i, k);
			o += k;
			i += k;
			continue;
		}
		if (k == 0)
			k = 1;		/* not UTF-8: the byte alone */
		if (o + 4 * k > cap)
			break;
		for (b = 0; b < k; b++, i++) {
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[s[i] >> 4];
			dst[o++] = hex[s[i] & 15];
		}
	}
	return o;
}

void
aif_log(enum aif_log_level level, const char *fmt, ...)
{
	char buf[2048], msg[1800];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n, m;

	if (level < log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(buf, sizeof(buf),
	    "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s prog=%s pid=%ld ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	    tm.tm_sec, ts.tv_nsec / 1000000, level_names[level], log_prog,
	    (long)getpid());
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	va_start(ap, fmt);
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof(msg))
		m = (int)sizeof(msg) - 1;	/* truncated record */
	n += (int)escape_record(buf + n, sizeof(buf) - (size_t)n - 1, msg, (size_t)m);
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, (size_t)n);
}
