/* log.h -- one-line structured log records (logfmt) on stderr, which systemd's journal
 * or the local stack's log files collect. Never pass prompts, keys or response text:
 * log ids, counts, states and error classes. Thread-safe (one write(2) per record). */
#ifndef AIF_LOG_H
#define AIF_LOG_H

enum aif_log_level { AIF_LOG_DEBUG, AIF_LOG_INFO, AIF_LOG_WARN, AIF_LOG_ERR };

/* Sets the program name shown in every record and the minimum level (default INFO;
 * AIF_LOG_LEVEL=debug|info|warn|error in the environment overrides). Call once at start. */
void	aif_log_init(const char *prog);

/* Writes `level=… prog=… msg="<formatted>"`; the message should itself be logfmt
 * key=value pairs after a short text. Records are capped at 2 KiB. */
void	aif_log(enum aif_log_level level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#define aif_debug(...)	aif_log(AIF_LOG_DEBUG, __VA_ARGS__)
#define aif_info(...)	aif_log(AIF_LOG_INFO, __VA_ARGS__)
#define aif_warn(...)	aif_log(AIF_LOG_WARN, __VA_ARGS__)
#define aif_error(...)	aif_log(AIF_LOG_ERR, __VA_ARGS__)

#endif
