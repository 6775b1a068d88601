/* pii_rules.c -- the names and regexes of custom PII rules, as the config loader checks
 * them and the engine compiles them; see pii_types.h. */
#include <stdio.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "pii_types.h"

int
aif_pii_type_name_ok(const char *name)
{
	size_t	 i;

	if (name == NULL || !(name[0] >= 'A' && name[0] <= 'Z'))
		return 0;
	for (i = 1; name[i] != '\0'; i++)
		if (!((name[i] >= 'A' && name[i] <= 'Z') ||
		    (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
			return 0;
	return i < AIF_PII_TYPE_LEN;
}

uint32_t
aif_pii_rule_options(int caseless)
{
	return PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C | (caseless ? PCRE2_CASELESS : 0);
}

int
aif_pii_rule_check(const char *pattern, int caseless, char *msg, size_t cap,
    size_t *offset)
{
	pcre2_code	*re;
	PCRE2_SIZE	 off = 0;
	uint32_t	 minlen = 0;
	int		 err = 0;

	*offset = 0;
	re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
	    aif_pii_rule_options(caseless), &err, &off, NULL);
	if (re == NULL) {
		if (pcre2_get_error_message(err, (PCRE2_UCHAR *)msg, cap) < 0 && cap > 0)
			msg[0] = '\0';
		*offset = off;
		return -1;
	}
	if (pcre2_pattern_info(re, PCRE2_INFO_MINLENGTH, &minlen) != 0 || minlen == 0) {
		(void)snprintf(msg, cap, "the pattern can match the empty string");
		pcre2_code_free(re);
		return -1;
	}
	pcre2_code_free(re);
	return 0;
}
