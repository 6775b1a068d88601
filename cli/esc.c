/* esc.c -- escaped text for aifctl's output; see esc.h. */
#include "esc.h"
#include "text.h"

const char *
aifctl_esc(const char *s)
{
	static char	 ring[AIFCTL_ESC_SLOTS][AIFCTL_ESC_CAP];
	static unsigned	 next;
	char		*buf = ring[next++ % AIFCTL_ESC_SLOTS];

	return aif_text_escape(s, buf, AIFCTL_ESC_CAP);
}
