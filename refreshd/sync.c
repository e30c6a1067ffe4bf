/* sync.c - one sync from a SCIM server: both listings into a fresh model,
 * then the mapping helper's publish, then nscd. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

/* The top-level key an attribute path lives under: "name" for
 * "name.givenName", the extension's URN for "urn:...:User:uidNumber", the
 * attribute for a path in the core schema.  Appended to buf after a comma. */
static void scim_top_key_append(char *buf, size_t len, const char *path)
{
	static const char core[] = "urn:ietf:params:scim:schemas:core:2.0:User:";
	size_t n, used = strlen(buf);
	const char *colon;

	if (!strncasecmp(path, core, sizeof(core) - 1))
		path += sizeof(core) - 1;
	if (!strncasecmp(path, "urn:", 4) && (colon = strrchr(path, ':')))
		n = (size_t)(colon - path);
	else
		n = strcspn(path, ".");
	snprintf(buf + used, len - used, "%s%.*s", used ? "," : "", (int)n, path);
}

/* ------------------------------------------------------- confirmations */

/* Ids of the live cache that a complete listing lacks.  Offset paging over a
 * directory that changes meanwhile can skip a resource: before it counts as
 * removed, the server is asked for it by id. */
struct confirm {
	const struct scim_model *m;
	char **ids;     /* 'U' or 'G' and the id: the users, then the groups */
	size_t n, cap;
	size_t nusers;  /* the missing users, at the front of ids */
	bool sorted;
	unsigned max;
	size_t missing; /* every id missing, asked for or not */
	/* for the summary line */
	size_t asked, gone, came_back;
};

static int confirm_push(struct confirm *c, char kind, const char *id)
{
	char *d;

	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		char **p = realloc(c->ids, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		c->ids = p;
		c->cap = cap;
	}
	d = malloc(strlen(id) + 2);
	if (!d)
		return -ENOMEM;
	d[0] = kind;
	strcpy(d + 1, id);
	c->ids[c->n++] = d;
	return 0;
}

static int confirm_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a + 1, *(char *const *)b + 1);
}

/* Every missing user is kept until the groups are read: a group that
 * carries a user's id is that user's private group, not a directory group. */
static int confirm_user_cb(const struct scim_user *u, void *ctx)
{
	struct confirm *c = ctx;

	if (!u->has_ext || !u->scim_id || !*u->scim_id || scim_model_has_id(c->m, false, u->scim_id))
		return 0;
	c->missing++;
	c->nusers++;
	return confirm_push(c, 'U', u->scim_id);
}

static int confirm_group_cb(const struct scim_group *g, void *ctx)
{
	struct confirm *c = ctx;
	const char *id = g->scim_id;
	char key[258], *kp = key;

	if (!id || !*id || scim_model_has_id(c->m, true, id) || scim_model_has_id(c->m, false, id))
		return 0;
	if (!c->sorted) {
		qsort(c->ids, c->nusers, sizeof(*c->ids), confirm_cmp);
		c->sorted = true;
	}
	if (strlen(id) < sizeof(key) - 2) {
		key[0] = 'U';
		strcpy(key + 1, id);
		if (bsearch(&kp, c->ids, c->nusers, sizeof(*c->ids), confirm_cmp))
			return 0;
	}
	c->missing++;
	if (c->n - c->nusers >= c->max)
		return 0;
	return confirm_push(c, 'G', id);
}

/* Keeps the first n ids. */
static void confirm_drop(struct confirm *c, size_t n)
{
	while (c->n > n)
		free(c->ids[--c->n]);
}

/* A resource the listing lacked came back from GET by id: the listing was
 * inconsistent (its pages shifted), and the resource is used as it is. */
static int confirm_came_back(struct confirm *c, struct scim_model *m, size_t i, const char *body, size_t len)
{
	bool group = c->ids[i][0] == 'G';
	const char *want = c->ids[i] + 1, *kind = group ? "group" : "user";
	json_object *doc = NULL, *id;
	int r;

	r = scim_json_parse(body, len, &doc);
	if (r < 0 || !json_object_is_type(doc, json_type_object)) {
		log_error("%s %s: GET by id: the answer is not a JSON object", kind, want);
		r = -EBADMSG;
		goto out;
	}
	id = scim_json_get(doc, "id");
	if (!id || !json_object_is_type(id, json_type_string) || strcmp(json_object_get_string(id), want)) {
		log_error("%s %s: GET by id answered with another resource", kind, want);
		r = -EPROTO;
		goto out;
	}
	log_warning("%s %s: missing from the listing, but the server still has it: the listing was "
		    "inconsistent; keeping it as fetched", kind, want);
	r = group ? scim_model_add_group(m, doc) : scim_model_add_user(m, doc);
	if (r == 0)
		c->came_back++;
out:
	if (doc)
		json_object_put(doc);
	return r;
}

/* GETs by id, up to max_parallel at once, of the users and groups of the
 * live cache that the listings lack: a 404 confirms a removal, a resource
 * that comes back goes into the model.  Beyond max_confirmations the
 * publishing guards decide.  Any other failure fails the sync. */
static int scim_confirm_removals(const struct scim_config *cfg, struct scim_http *h, struct scim_model *m,
				 struct confirm *c)
{
	unsigned p = scim_http_max_parallel(h);
	struct scim_cache_header hdr;
	size_t submitted = 0, answered = 0;
	int r;

	c->m = m;
	c->max = cfg->max_confirmations;
	r = scim_cache_file_scan(cfg->cache_file, &hdr, confirm_user_cb, confirm_group_cb, c);
	if (r == -ENODATA || r == -EBADMSG) {
		/* No live cache (or a damaged one, which the publisher
		 * reports): there is nothing to lose. */
		c->missing = 0;
		confirm_drop(c, 0);
		return 0;
	}
	if (r < 0)
		return r;
	/* The users first, then the groups: max_confirmations in all. */
	if (c->nusers > c->max) {
		for (size_t i = c->max; i < c->nusers; i++)
			free(c->ids[i]);
		memmove(c->ids + c->max, c->ids + c->nusers, (c->n - c->nusers) * sizeof(*c->ids));
		c->n -= c->nusers - c->max;
	}
	confirm_drop(c, c->max);
	if (c->missing > c->n)
		log_warning("%zu users and groups are missing from the listing; %zu are confirmed by id "
			    "(max_confirmations), the publishing guards decide about the rest", c->missing, c->n);
	while (answered < c->n) {
		unsigned long tag;
		const char *body;
		size_t len;

		while (submitted < c->n && submitted < answered + p) {
			const char *id = c->ids[submitted];
			char *url = scim_resource_url(cfg->url, id[0] == 'G' ? "Groups" : "Users", id + 1);
			if (!url) {
				r = -ENOMEM;
				goto out;
			}
			r = scim_http_submit(h, url, submitted, SCIM_HTTP_MISSING_OK);
			free(url);
			if (r < 0)
				goto out;
			submitted++;
			c->asked++;
		}
		r = scim_http_next(h, &tag, &body, &len);
		if (r == -ENOENT) {
			log_info("%s %s: gone from the directory (404): removal confirmed",
				 c->ids[tag][0] == 'G' ? "group" : "user", c->ids[tag] + 1);
			c->gone++;
		} else if (r < 0) {
			goto out;
		} else {
			r = confirm_came_back(c, m, tag, body, len);
			scim_http_release(h, tag);
			if (r < 0)
				goto out;
		}
		answered++;
	}
	r = 0;
out:
	scim_http_cancel(h);
	return r;
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
		.max_parallel = cfg->max_parallel,
	};
	struct scim_sync_stats st;
	struct scim_listing lu = { 0 }, lg = { 0 };
	struct confirm conf = { 0 };
	char *attrs = NULL;
	char required[1100] = "";
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
	/* What the mapping reads of a user (see the model's sink): with a
	 * server that honours attributes=, nothing else crosses the network. */
	if (asprintf(&attrs, "userName,displayName,name,active,externalId%s%s%s%s",
		     strcasecmp(cfg->name_attribute, "userName") ? "," : "",
		     strcasecmp(cfg->name_attribute, "userName") ? cfg->name_attribute : "",
		     cfg->uid_attribute ? "," : "", cfg->uid_attribute ? cfg->uid_attribute : "") < 0) {
		attrs = NULL;
		r = -ENOMEM;
		goto out;
	}
	scim_top_key_append(required, sizeof(required), cfg->name_attribute);
	if (cfg->uid_attribute)
		scim_top_key_append(required, sizeof(required), cfg->uid_attribute);

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
		struct scim_sink su = { .ids = sink_user_ids, .expect = sink_expect_users, .attributes = attrs,
					.required = required },
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
	r = scim_confirm_removals(cfg, h, m, &conf);
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
			log_info("sync from %s published: %s confirmations=%zu (gone=%zu came_back=%zu "
				 "unconfirmed=%zu) shifted=%zu requests=%lu bytes=%llu duration=%.2fs%s%s generation=%llu",
				 cfg->url, line, conf.asked, conf.gone, conf.came_back, conf.missing - conf.n,
				 lu.duplicates + lg.duplicates, hs->requests, (unsigned long long)hs->bytes, dt,
				 lu.cursor || lg.cursor ? " paging=cursor" : "", lu.attributes ? " attributes=yes" : "",
				 (unsigned long long)st.generation);
		} else {
			log_error("sync from %s failed (%s): nothing published; users_listed=%zu groups_listed=%zu "
				  "requests=%lu bytes=%llu duration=%.2fs",
				  cfg->url, scim_sync_reason(r),
				  lu.resources, lg.resources, hs->requests, (unsigned long long)hs->bytes, dt);
		}
	} else {
		log_error("sync from %s failed (%s): nothing published", cfg->url, strerror(-r));
	}
	confirm_drop(&conf, 0);
	free(conf.ids);
	free(attrs);
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
