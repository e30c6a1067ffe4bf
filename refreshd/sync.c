/* sync.c - one sync from a SCIM server: both listings into a fresh model,
 * then the mapping helper's publish, then nscd. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "refreshd/fetch.h"
#include "refreshd/fleet.h"
#include "refreshd/http.h"
#include "refreshd/log.h"
#include "refreshd/model.h"
#include "refreshd/sync.h"

#define SCIM_NSCD "/usr/sbin/nscd"
#define SCIM_NSCD_PIDFILE "/run/nscd/nscd.pid"

static size_t sink_user_ids(void *ctx)
{
	return scim_model_user_ids(ctx);
}

static size_t sink_group_ids(void *ctx)
{
	return scim_model_group_ids(ctx);
}

static void sink_expect_users(void *ctx, size_t total)
{
	scim_model_expect(ctx, false, total);
}

static void sink_expect_groups(void *ctx, size_t total)
{
	scim_model_expect(ctx, true, total);
}

static double scim_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool scim_nscd_running(void)
{
	char buf[32];
	ssize_t n;
	long pid;
	int fd;

	fd = open(SCIM_NSCD_PIDFILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	return pid > 1 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
}

static void scim_run_nscd(const char *db)
{
	char *const argv[] = { (char *)"nscd", (char *)"-i", (char *)db, NULL };
	char *const envp[] = { (char *)"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		log_warning("fork: %s: nscd may serve stale %s entries", strerror(errno), db);
		return;
	}
	if (pid == 0) {
		/* No shell, a fixed path, an empty environment. */
		int fd = open("/dev/null", O_RDWR);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
		}
		execve(SCIM_NSCD, argv, envp);
		_exit(127);
	}
	/* nscd -i answers at once; don't let a wedged nscd hold the daemon. */
	for (int i = 0; i < 50; i++) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
				log_warning("nscd -i %s failed: nscd may serve stale entries", db);
			return;
		}
		if (w < 0 && errno != EINTR)
			return;
		struct timespec ts = { 0, 100000000L };
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	log_warning("nscd -i %s did not answer within 5 s: nscd may serve stale entries", db);
}

void scim_nscd_invalidate(void)
{
	if (access(SCIM_NSCD, X_OK) != 0 || !scim_nscd_running())
		return;
	/* nscd handles one -i per invocation. */
	scim_run_nscd("passwd");
	scim_run_nscd("group");
	log_debug("invalidated nscd's passwd and group caches");
}

void scim_clean_leftovers(const struct scim_config *cfg)
{
	struct scim_cache_writer *w;
	char *tmp = NULL;
	struct stat st;

	if (asprintf(&tmp, "%s.new", cfg->cache_file) < 0)
		return;
	if (lstat(tmp, &st) == 0) {
		/* The writer removes a stale .new under its lock: opening one and
		 * aborting it is the cleanup, and it never races a live publisher. */
		int r = scim_cache_writer_new(cfg->cache_file, 0, 0, &w);
		if (r == 0) {
			scim_cache_writer_abort(w);
			log_info("removed %s left by an interrupted publish", tmp);
		} else {
			log_warning("could not clean up %s: %s", tmp, strerror(-r));
		}
	}
	free(tmp);
}

static const char *scim_sync_reason(int r)
{
	switch (r) {
	case -EACCES:
		return "authentication failed";
	case -EAGAIN:
		return "rate limited";
	case -ESTALE:
		return "listing incomplete";
	case -EFBIG:
		return "response too large";
	case -EBADMSG:
		return "invalid or truncated response";
	case -ETIMEDOUT:
		return "timed out";
	case -ECANCELED:
		return "refused by a publishing guard";
	case -EINTR:
		return "interrupted";
	default:
		return strerror(-r);
	}
}

int scim_sync_run(const struct scim_config *cfg, bool force, volatile sig_atomic_t *stop,
		  struct scim_sync_result *res)
{
	struct scim_http_opts o = {
		.token_file = cfg->token_file,
		.ca_file = cfg->ca_file,
		.timeout = (long)cfg->timeout,
		.max_response_bytes = (size_t)cfg->max_response_bytes,
		.headers = (const char *const *)cfg->headers,
		.nheaders = cfg->nheaders,
		.retries = SCIM_HTTP_RETRIES,
		.backoff_ms = SCIM_HTTP_BACKOFF_MS,
		.backoff_max_ms = SCIM_HTTP_BACKOFF_MAX_MS,
		.max_wait = SCIM_HTTP_MAX_WAIT,
		.stop = stop,
	};
	struct scim_sync_stats st;
	struct scim_listing lu = { 0 }, lg = { 0 };
	struct scim_model *m = NULL;
	struct scim_http *h = NULL;
	double t0 = scim_now();
	bool publishing = false;
	char line[1024];
	int r, relay_r = 0;

	memset(res, 0, sizeof(*res));
	memset(&st, 0, sizeof(st));
	if (scim_config_is_fleet_host(cfg)) {
		/* A fleet host installs the relay's snapshot instead (fleet_host.c). */
		struct scim_fleet_result fr;
		r = scim_fleet_host_run(cfg, force, stop, &fr);
		res->published = fr.published || fr.fresh;
		res->retry_hint = fr.retry_hint;
		return r;
	}
	r = scim_http_new(&o, &h);
	if (r < 0)
		goto out;

	/* An incomplete listing (pages shifted, totalResults moved, cursor
	 * expired) starts over once, with a fresh model so nothing from the
	 * first attempt leaks into the snapshot. */
	for (int attempt = 0; attempt < 2; attempt++) {
		if (m) {
			scim_model_free(m);
			m = NULL;
		}
		r = scim_model_new(cfg, &m);
		if (r < 0)
			goto out;
		struct scim_sink su = { .ids = sink_user_ids, .expect = sink_expect_users },
				 sg = { .ids = sink_group_ids, .expect = sink_expect_groups };
		scim_model_sink(m, false, &su.put);
		scim_model_sink(m, true, &sg.put);
		r = scim_fetch_listing(h, cfg->url, "Users", cfg->page_size, &su, &lu);
		if (r == 0)
			r = scim_fetch_listing(h, cfg->url, "Groups", cfg->page_size, &sg, &lg);
		if (r != -ESTALE)
			break;
		if (attempt == 0)
			log_warning("listing incomplete: starting over once");
	}
	if (r < 0)
		goto out;
	if (stop && *stop) {
		r = -EINTR;
		goto out;
	}
	publishing = true;
	r = scim_publish(m, cfg->url, force, &st);
	if (r < 0)
		goto out;
	res->published = true;
	scim_nscd_invalidate();
	/* A relay: the hosts get what was just published.  A failure there
	 * counts as a failed sync, so the daemon retries with backoff. */
	if (cfg->publish_dir && (relay_r = scim_fleet_relay_publish(cfg, 0)) < 0)
		res->published = false;
out:
	/* An interrupted transfer reports -ECANCELED, which to callers means a
	 * publishing guard: keep the two apart. */
	if (r == -ECANCELED && !publishing)
		r = -EINTR;
	if (h) {
		const struct scim_http_stats *hs = scim_http_get_stats(h);
		double dt = scim_now() - t0;
		res->retry_hint = scim_http_retry_hint(h);
		if (r == 0) {
			scim_sync_stats_format(&st, line, sizeof(line));
			log_info("sync from %s published: %s requests=%lu bytes=%llu duration=%.2fs%s generation=%llu",
				 cfg->url, line, hs->requests, (unsigned long long)hs->bytes, dt,
				 lu.cursor || lg.cursor ? " paging=cursor" : "", (unsigned long long)st.generation);
		} else {
			log_error("sync from %s failed (%s): nothing published; users_listed=%zu groups_listed=%zu "
				  "requests=%lu bytes=%llu duration=%.2fs",
				  cfg->url, scim_sync_reason(r),
				  lu.resources, lg.resources, hs->requests, (unsigned long long)hs->bytes, dt);
		}
	} else {
		log_error("sync from %s failed (%s): nothing published", cfg->url, strerror(-r));
	}
	scim_model_free(m);
	scim_http_free(h);
	return r ? r : relay_r;
}

int scim_sync_once(const struct scim_config *cfg, bool force)
{
	struct scim_sync_result res;
	char *err = NULL;
	int r;

	r = scim_config_is_fleet_host(cfg) ? 0 : scim_config_check_network(cfg, &err);
	if (r < 0) {
		log_error("%s", err ? err : strerror(-r));
		free(err);
		return r;
	}
	r = scim_http_global_init();
	if (r < 0)
		return r;
	return scim_sync_run(cfg, force, NULL, &res);
}
