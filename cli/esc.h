/* esc.h -- aifctl's way to print text it did not write (database rows: engine error
 * messages, key and tenant names, model ids, hosts, replica URLs): escaped for the
 * terminal by core/base/text.h (control characters as \x1b, \u009b, ...), into a ring of
 * buffers so that one printf can show several. aifctl is single-threaded. */
#ifndef AIFCTL_ESC_H
#define AIFCTL_ESC_H

#define AIFCTL_ESC_SLOTS	24	/* values one printf may show */
#define AIFCTL_ESC_CAP		2048	/* bytes of one escaped value (cut: "...") */

/* s escaped (NULL: "-"), borrowed: valid until AIFCTL_ESC_SLOTS more calls. */
const char	*aifctl_esc(const char *s);

#endif
