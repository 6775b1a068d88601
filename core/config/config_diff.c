/* config_diff.c -- what a reload cannot change in a running aif-api: the keys it reads
 * only when it starts (its listener, threads, doorbell folder, the subsystems' bounds
 * and pacing, its database handles, the key pepper), compared between the config it
 * started with and a reloaded one (aif_cfg_api_boot_changes in config.h). The list is
 * docs/OPERATIONS.md's "Reload"; aif-worker has none (it re-executes itself on a
 * reload). */
#include <stddef.h>
#include <string.h>

#include "config.h"
#include "util.h"

enum boot_type { B_STR, B_INT };

#define CFG(f)	offsetof(struct aif_config, f)
static const struct boot_key {
	const char	*name;
	enum boot_type	 type;
	size_t		 off;
} api_boot_keys[] = {
	{ "server.listen", B_STR, CFG(server.listen) },
	{ "server.threads", B_INT, CFG(server.threads) },
	{ "server.run_dir", B_STR, CFG(server.run_dir) },
	{ "server.max_waiting", B_INT, CFG(server.max_waiting) },
	{ "server.poll_interval_ms", B_INT, CFG(server.poll_interval_ms) },
	{ "server.stream_disconnect", B_STR, CFG(server.stream_disconnect) },
	{ "database.socket", B_STR, CFG(database.socket) },
	{ "database.host", B_STR, CFG(database.host) },
	{ "database.port", B_INT, CFG(database.port) },
	{ "database.user", B_STR, CFG(database.user) },
	{ "database.password_file", B_STR, CFG(database.password_file) },
	{ "database.name", B_STR, CFG(database.name) },
	{ "database.connect_timeout_ms", B_INT, CFG(database.connect_timeout_ms) },
	{ "database.rw_timeout_ms", B_INT, CFG(database.rw_timeout_ms) },
	{ "auth.pepper_file", B_STR, CFG(auth.pepper_file) },
	{ "tracing.otlp_endpoint", B_STR, CFG(tracing.otlp_endpoint) },
	{ "cluster.address", B_STR, CFG(cluster.address) },
	{ "cluster.secret_file", B_STR, CFG(cluster.secret_file) },
};

static int
differs(const struct boot_key *k, const struct aif_config *a, const struct aif_config *b)
{
	const char *pa = (const char *)a + k->off, *pb = (const char *)b + k->off;

	if (k->type == B_INT)
		return *(const int *)(const void *)pa != *(const int *)(const void *)pb;
	pa = *(const char *const *)(const void *)pa;
	pb = *(const char *const *)(const void *)pb;
	if (pa == NULL || pb == NULL)
		return pa != pb;
	return strcmp(pa, pb) != 0;
}

size_t
aif_cfg_api_boot_changes(const struct aif_config *running, const struct aif_config *next,
    const char **names, size_t cap)
{
	size_t	 n = 0;

	for (size_t i = 0; i < AIF_NELEM(api_boot_keys); i++)
		if (differs(&api_boot_keys[i], running, next)) {
			if (n < cap)
				names[n] = api_boot_keys[i].name;
			n++;
		}
	return n;
}
