/* text.h -- text from outside made safe to keep and to show: names (of API keys and
 * tenants, of roles in YAML) validated before they are stored, and any text escaped for
 * a terminal or neutralised for a spreadsheet before an operator's tool prints it
 * (aifctl). Thread-safe; no state. */
#ifndef AIF_TEXT_H
#define AIF_TEXT_H

#include <stddef.h>
#include <stdint.h>

#define AIF_NAME_MAX	128	/* bytes of a key, tenant or role name */

/* 1 when s is a valid name: 1..AIF_NAME_MAX bytes of well-formed UTF-8, no control
 * character (C0, DEL, C1), no invisible or direction-changing format character (U+200B..
 * U+200F, U+2028..U+202E, U+2060..U+2069, U+FEFF), no leading or trailing space;
 * else 0, with *why (when not NULL) set to a static phrase for messages ("contains a
 * control character"). NULL is not a name. */
int		aif_name_valid(const char *s, const char **why);

/* 1 when s is 1..max bytes, each an ASCII letter, a digit or one of `extra` (e.g. an
 * HTTP field name: "!#$%&'*+-.^_`|~"; a signal name: "_.-"); else 0. */
int		aif_token_ok(const char *s, size_t max, const char *extra);

/* 1 when code point c is one a terminal or a log line must not get raw: a control
 * character (C0, DEL, C1) or an invisible or direction-changing format character (the
 * ones aif_name_valid refuses). */
int		aif_text_unsafe_cp(uint32_t c);

/* Copies s into buf (cap bytes, NUL-terminated, cut with "..." when it does not fit)
 * with every byte a terminal could act on escaped: C0 controls and DEL as \xNN (\n, \r,
 * \t as themselves escaped: \n \r \t), C1 controls (U+0080..U+009F) as \u0080.., bytes
 * that are not well-formed UTF-8 as \xNN, and the backslash as \\. NULL gives "-".
 * Returns buf. */
const char	*aif_text_escape(const char *s, char *buf, size_t cap);

/* One CSV field (RFC 4180) for spreadsheets: escaped as aif_text_escape does, in
 * double quotes with quotes doubled, and a cell that a spreadsheet would read as a
 * formula (first character = + - @, tab or carriage return) gets a leading ' (OWASP's
 * advice on CSV injection). Writes into buf (cap bytes, cut to fit); returns buf. */
const char	*aif_csv_cell(const char *s, char *buf, size_t cap);

#endif
