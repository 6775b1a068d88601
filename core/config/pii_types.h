/* pii_types.h -- the names shared by the config loader (config.c) and the PII engine
 * (core/pii/): the built-in entity types as one X-macro, the limits on custom types,
 * and how a custom rule's regex is compiled and checked, so that config.c reports a bad
 * pattern at its file:line:column and the engine compiles it the same way
 * (pii_rules.c). No state. */
#ifndef AIF_PII_TYPES_H
#define AIF_PII_TYPES_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* Built-in entity types, in the order of the type table (append only: the order is
 * the index a hit carries). */
#define AIF_PII_BUILTIN_TYPES(X)	\
	X(EMAIL)			\
	X(PHONE)			\
	X(KR_RRN)			\
	X(KR_FRN)			\
	X(KR_BRN)			\
	X(CREDIT_CARD)			\
	X(IBAN)				\
	X(KR_PASSPORT)			\
	X(KR_DRIVER_LICENSE)		\
	X(KR_BANK_ACCOUNT)		\
	X(IPV4)				\
	X(IPV6)				\
	X(US_SSN)			\
	X(SECRET)			\
	X(PERSON)			\
	X(ADDRESS)

enum aif_pii_builtin {
#define AIF_PII_TYPE_ENUM(name) AIF_PII_T_##name,
	AIF_PII_BUILTIN_TYPES(AIF_PII_TYPE_ENUM)
#undef AIF_PII_TYPE_ENUM
	AIF_PII_NBUILTIN
};

#define AIF_PII_MAX_TYPES	64	/* built-in plus custom entity types */
#define AIF_PII_TYPE_LEN	32	/* bytes of a type name, NUL included */
#define AIF_PII_MAX_RULES	64	/* custom regex rules */
#define AIF_PII_HASH_KEY_MIN	16	/* bytes of a usable hash key file (or pepper) */
#define AIF_PII_KEY_WHY_MAX	512	/* bytes of aif_pii_hash_key_read's why (cut) */

/* Returns 1 when `name` is a valid custom type name: [A-Z][A-Z0-9_]*, at most
 * AIF_PII_TYPE_LEN - 1 bytes. */
int		aif_pii_type_name_ok(const char *name);

/* The PCRE2 options of a custom rule's pattern. */
uint32_t	aif_pii_rule_options(int caseless);

/* Compiles `pattern` (borrowed) the way the engine compiles a custom rule (UTF-8,
 * caseless when `caseless`) and checks it cannot match the empty string.
 * Returns 0, or -1 with a message in msg[cap] and the byte offset of the problem in
 * the pattern in *offset. */
int		aif_pii_rule_check(const char *pattern, int caseless, char *msg,
		    size_t cap, size_t *offset);

struct aif_config;

/* Reads the key of the hash action (cfg borrowed): pii.hash_key_file, else
 * auth.pepper_file, through the secret loader (core/base/secret.h), and checks it holds
 * at least AIF_PII_HASH_KEY_MIN bytes: the one rule the servers (core/pii/pii.c) and
 * `aifctl config check` (cfg_secrets.c) apply. *what names the key for messages
 * ("pii.hash_key_file", "auth.pepper_file (pii hash key)"; static). On AIF_OK *key is
 * new (aif_secret_free) of *len bytes. Otherwise *key is NULL, *len 0 and why[cap]
 * (AIF_PII_KEY_WHY_MAX) says what is wrong, the path first, never the content
 * ("/run/k is shorter than 16 bytes ..."): AIF_IO not set or unreadable, AIF_FORBIDDEN
 * open to group or others, AIF_INVALID empty, too short or too long, AIF_NOMEM. */
enum aif_err	aif_pii_hash_key_read(const struct aif_config *cfg, unsigned char **key,
		    size_t *len, const char **what, char *why, size_t cap);

#endif
