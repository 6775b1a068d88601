/* cron.h -- the parts of aif-cron that live in their own files. */
#ifndef AIF_CRON_H
#define AIF_CRON_H

#include "config.h"
#include "db.h"

/* One autoscaler decision round (cron_autoscale.c); dry_run decides and logs only. */
int	cron_autoscale(const struct aif_config *cfg, struct aif_db *db, int dry_run);

#endif
