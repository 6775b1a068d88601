/* sdnotify.h -- systemd's readiness protocol without libsystemd: a datagram to
 * $NOTIFY_SOCKET ("READY=1", "STOPPING=1", "RELOADING=1", "STATUS=..."). Does nothing
 * when the variable is unset (the local stack, tests). */
#ifndef AIF_SDNOTIFY_H
#define AIF_SDNOTIFY_H

/* Sends `state` (borrowed); returns 0 when sent or not under systemd, -1 on error. */
int	aif_sd_notify(const char *state);

#endif
