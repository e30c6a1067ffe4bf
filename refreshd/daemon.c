/* daemon.c - scim-refreshd's foreground loop: sync, sleep with jitter,
 * retry sooner after a failure, and answer SIGHUP, SIGUSR1, SIGTERM, SIGINT.
 *
 * Signal handlers only set flags.  Every wait is a loop of short sleeps that
 * checks them, and libcurl's progress callback checks the stop flag, so a
 * SIGTERM ends a transfer, a backoff or the idle wait within a fraction of a
 * second.  A publish in progress is finished, never cut: the cache writer's
 * rename is what makes a snapshot visible, and it is atomic anyway. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "refreshd/config.h"
#include "refreshd/fleet.h"
#include "refreshd/http.h"
#include "refreshd/log.h"
#include "refreshd/sync.h"

/* First retry after a failed sync, doubling up to refresh_interval. */
#define SCIM_FAIL_RETRY_S 30
/* A rate-limit hint longer than this is capped. */
#define SCIM_MAX_HINT_S 3600

static volatile sig_atomic_t got_stop, got_hup, got_usr1;

static void on_signal(int sig)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		got_stop = 1;
		break;
	case SIGHUP:
		got_hup = 1;
		break;
	case SIGUSR1:
		got_usr1 = 1;
		break;
	}
}

static int scim_install_signals(void)
{
	struct sigaction sa;
	static const int sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGUSR1 };

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: blocking calls return EINTR so the flags are seen. */
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigaction(sigs[i], &sa, NULL) < 0)
			return -errno;
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -errno;
	return 0;
}

/* interval +-10%, so a fleet started together drifts apart. */
static uint64_t scim_jitter_ms(uint64_t secs)
{
	uint64_t ms = secs * 1000, span = ms / 5;

	if (!span)
		return ms;
	return ms - ms / 10 + (uint64_t)scim_random32() % (span + 1);
}

/* Delay before the next sync after `failures` failures in a row (0: the last
 * sync was fine). */
static uint64_t scim_next_delay_ms(const struct scim_config *cfg, unsigned failures, unsigned hint)
{
	uint64_t ms;

	if (failures == 0 && scim_config_is_fleet_host(cfg)) {
		/* A fleet host polls in its own slot of the interval (from
		 * /etc/machine-id), plus up to 5% jitter: hosts never poll in
		 * step, and the edge sees a steady trickle. */
		struct timespec ts;
		uint64_t iv = (uint64_t)cfg->refresh_interval * 1000, slot, now;
		clock_gettime(CLOCK_REALTIME, &ts);
		now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
		slot = (uint64_t)scim_fleet_splay(cfg->refresh_interval) * 1000;
		ms = ((now + iv - slot) / iv + 1) * iv + slot - iv - now;
		if (ms < iv / 2)
			ms += iv;
		return ms + (uint64_t)scim_random32() % (iv / 20 + 1);
	}
	if (failures == 0)
		return scim_jitter_ms(cfg->refresh_interval);
	ms = scim_backoff_ms(failures - 1, SCIM_FAIL_RETRY_S * 1000, cfg->refresh_interval * 1000u, scim_random32());
	/* Never come back before a rate-limited server said we may. */
	if (hint) {
		uint64_t h = (uint64_t)(hint > SCIM_MAX_HINT_S ? SCIM_MAX_HINT_S : hint) * 1000;
		if (h > ms)
			ms = h;
	}
	return ms;
}

/* Loads config_path and checks what a sync needs: url, token_file, and the
 * token file's owner and mode.  The token is read again at every sync (a
 * rotated token needs no restart), but a wrong owner or mode is refused up
 * front: at start the daemon does not start, on SIGHUP the new config is
 * refused.  Logs why not. */
static int scim_load_checked(const char *config_path, struct scim_config **out)
{
	struct scim_config *n = NULL;
	char *err = NULL, *tok = NULL;
	int r;

	r = scim_config_load(config_path, &n, &err);
	if (r == 0 && !scim_config_is_fleet_host(n))
		r = scim_config_check_network(n, &err);
	if (r < 0) {
		log_error("%s", err ? err : strerror(-r));
		free(err);
		goto out;
	}
	/* A fleet host has no token. */
	if (!scim_config_is_fleet_host(n))
		r = scim_token_read(n->token_file, geteuid(), &tok);
	scim_token_free(tok);
out:
	if (r < 0)
		scim_config_free(n);
	else
		*out = n;
	return r;
}

static uint64_t scim_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Waits ms, answering SIGHUP on the way; returns at the deadline, on SIGUSR1,
 * on SIGTERM/SIGINT, or after a successful reload (a new config takes effect
 * with a sync right away; a refused one keeps the old config and schedule). */
static void scim_wait(uint64_t ms, const char *config_path, struct scim_config **cfg)
{
	uint64_t end = scim_mono_ms() + ms;

	while (!got_stop && !got_usr1) {
		if (got_hup) {
			struct scim_config *n = NULL;
			got_hup = 0;
			if (scim_load_checked(config_path, &n) < 0) {
				log_error("SIGHUP: new configuration refused, keeping the old one");
			} else {
				scim_config_free(*cfg);
				*cfg = n;
				log_info("SIGHUP: configuration reloaded from %s", n->path);
				return;
			}
		}
		if (scim_mono_ms() >= end)
			return;
		/* Short slices: a flag set just before a long sleep would
		 * otherwise wait out the whole sleep. */
		struct timespec slice = { 0, 100000000L };
		nanosleep(&slice, NULL);
	}
}

int scim_daemon_run(const char *config_path, bool force)
{
	struct scim_config *cfg = NULL;
	unsigned failures = 0;
	int r;

	r = scim_load_checked(config_path, &cfg);
	if (r < 0) {
		log_error("not starting");
		goto out;
	}
	r = scim_install_signals();
	if (r < 0) {
		log_error("sigaction: %s", strerror(-r));
		goto out;
	}
	r = scim_http_global_init();
	if (r < 0)
		goto out;
	scim_clean_leftovers(cfg);
	if (scim_config_is_fleet_host(cfg))
		log_info("scim-refreshd %s: fleet host, polling %s every %u s in slot %u", PACKAGE_VERSION,
			 cfg->snapshot_url, cfg->refresh_interval, scim_fleet_splay(cfg->refresh_interval));
	else
		log_info("scim-refreshd %s: syncing %s every %u s (+-10%%)", PACKAGE_VERSION, cfg->url,
			 cfg->refresh_interval);

	while (!got_stop) {
		struct scim_sync_result res;
		uint64_t delay;

		got_usr1 = 0;
		r = scim_sync_run(cfg, force, &got_stop, &res);
		/* --force is for the one sync an admin expects to be big. */
		force = false;
		if (got_stop)
			break;
		failures = res.published ? 0 : failures + 1;
		delay = scim_next_delay_ms(cfg, failures, res.retry_hint);
		if (failures)
			log_info("next attempt in %llu s (failure %u in a row)", (unsigned long long)(delay / 1000),
				 failures);
		else
			log_debug("next sync in %llu s", (unsigned long long)(delay / 1000));
		scim_wait(delay, config_path, &cfg);
		if (got_usr1)
			log_info("SIGUSR1: syncing now");
	}
	log_info("stopping on signal");
	r = 0;
out:
	scim_config_free(cfg);
	return r;
}
