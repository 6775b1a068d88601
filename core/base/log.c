/* log.c -- logfmt records on stderr; see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

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
	for (int i = 0; i < 4; i++)
		if (strcasecmp(lv, level_names[i]) == 0)
			log_min = (enum aif_log_level)i;
}

void
aif_log(enum aif_log_level level, const char *fmt, ...)
{
	char buf[2048];
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
	m = vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if ((size_t)n + (size_t)m > sizeof(buf) - 2)
		m = (int)(sizeof(buf) - 2 - (size_t)n);	/* truncated record */
	n += m;
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, (size_t)n);
}
