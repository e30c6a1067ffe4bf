/* sync.h - the network side of scim-refreshd: one sync from a SCIM server,
 * and the daemon loop around it. */
#ifndef SCIM_REFRESHD_SYNC_H
#define SCIM_REFRESHD_SYNC_H

#include <signal.h>
#include <stdbool.h>

#include "refreshd/config.h"

/* One full sync and publish.  0 when published, negative errno otherwise
 * (-ECANCELED: refused by a publishing guard). */
int scim_sync_once(const struct scim_config *cfg, bool force);

/* The daemon's main loop: loads config_path, syncs every refresh_interval
 * (with jitter), retries sooner with backoff after a failure, reloads on
 * SIGHUP, syncs on SIGUSR1, returns on SIGTERM/SIGINT.  force applies to the
 * first sync only.  Returns 0 on a clean exit, negative errno on a fatal
 * error (bad config at start). */
int scim_daemon_run(const char *config_path, bool force);

struct scim_sync_result {
	bool published;
	unsigned retry_hint;   /* seconds a rate-limited server asked us to wait (0: none) */
};

/* One sync: list Users then Groups into a fresh model, publish, invalidate
 * nscd.  An incomplete listing starts over once with a fresh model.  stop
 * (may be NULL) aborts transfers and waits: -ECANCELED, nothing published.
 * Logs one summary line whatever happens.  Returns as scim_sync_once. */
int scim_sync_run(const struct scim_config *cfg, bool force, volatile sig_atomic_t *stop,
		  struct scim_sync_result *res);

/* Runs "nscd -i passwd" and "nscd -i group" (fork/execve of a fixed path,
 * no shell) when nscd is running; does nothing otherwise. */
void scim_nscd_invalidate(void);

/* Removes what a publisher killed mid-write left behind (<cache>.new), under
 * the writer's lock so a running publisher is never disturbed. */
void scim_clean_leftovers(const struct scim_config *cfg);

#endif
