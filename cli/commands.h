/* commands.h -- the aifctl subcommands that live in their own files. Each returns the
 * process exit status. `config_path` is the resolved config file (borrowed). */
#ifndef AIFCTL_COMMANDS_H
#define AIFCTL_COMMANDS_H

#include <stddef.h>
#include <stdint.h>

struct aif_config;

/* The config file at path, loaded as the programs load it (with the adapters'
 * checks): new (aif_cfg_free), or NULL after the loader's message went to stderr. */
struct aif_config	*aifctl_load(const char *path);

/* aifctl keys create|list|show|revoke|rotate: cli/cmd_keys.c. argv[0] is "keys". */
int	aifctl_cmd_keys(const struct aif_config *cfg, int argc, char **argv);

/* aifctl usage --since ... --by key|tenant|model --format table|csv|json: cmd_usage.c */
int	aifctl_cmd_usage(const struct aif_config *cfg, int argc, char **argv);

/* aifctl jobs show|list|cancel: cli/cmd_jobs.c. argv[0] is "jobs". */
int	aifctl_cmd_jobs(const struct aif_config *cfg, int argc, char **argv);

/* aifctl workers | queue | top: cli/cmd_ops.c. argv[0] is the command. */
int	aifctl_cmd_ops(const struct aif_config *cfg, int argc, char **argv);

/* aifctl batches list|show: cli/cmd_batches.c. argv[0] is "batches". */
int	aifctl_cmd_batches(const struct aif_config *cfg, int argc, char **argv);

/* The seconds a batch in status `status` (borrowed) needs to end at its rate so far:
 * total lines, done of them processed (completed or failed) since in_progress_at
 * (unix seconds), now_ms the same clock in milliseconds. Rounded up; 0 when nothing
 * is left; -1 when there is no ETA: not in_progress, nothing processed yet, no time
 * passed. Pure. */
int64_t	aifctl_batch_eta(const char *status, int64_t total, int64_t done,
	    int64_t in_progress_at, int64_t now_ms);

/* s seconds as "42s", "3m12s", "2h05m", "1d04h"; "-" when s < 0. Into buf (cap). */
void	aifctl_duration(int64_t s, char *buf, size_t cap);

/* aifctl pii mask [--explain] [--model M] [--role R]: cli/cmd_pii.c */
int	aifctl_cmd_pii(const char *config_path, int argc, char **argv);

#endif
