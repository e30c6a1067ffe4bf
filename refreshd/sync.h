/* sync.h - the network side of scim-refreshd (owned by the network sync).
 * Until it lands, sync_stub.c provides these and returns -ENOSYS. */
#ifndef SCIM_REFRESHD_SYNC_H
#define SCIM_REFRESHD_SYNC_H

#include <stdbool.h>

#include "refreshd/config.h"

/* One full sync and publish.  0 when published, negative errno otherwise
 * (-ECANCELED: refused by a publishing guard). */
int scim_sync_once(const struct scim_config *cfg, bool force);

/* The daemon's main loop: loads config_path, syncs every refresh_interval,
 * reloads on SIGHUP, syncs on SIGUSR1, returns on SIGTERM/SIGINT.  Returns 0
 * on a clean exit, negative errno on a fatal error. */
int scim_daemon_run(const char *config_path, bool force);

#endif
