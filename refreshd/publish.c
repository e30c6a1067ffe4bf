/* publish.c - a mapped directory -> the guarded publish of the cache.
 *
 * What the live cache held is read back for the comparison (who was added,
 * removed, renamed, suspended), the guards and the removed users that
 * pam_scim keeps denying; then the new cache is written beside it and
 * renamed into place (cache/writer.c).  See publish.h. */
#include <sys/types.h>

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"
#include "cache/sshkey.h"
#include "refreshd/hook.h"
#include "refreshd/idmap.h"
#include "refreshd/log.h"
#include "refreshd/publish.h"
#include "refreshd/table.h"

static const char *const reason_names[SCIM_SKIP_NREASONS] = {
	[SCIM_SKIP_BAD_RESOURCE] = "bad_resource", [SCIM_SKIP_NO_ID] = "no_id",
	[SCIM_SKIP_NO_NAME] = "no_name",	   [SCIM_SKIP_BAD_NAME] = "invalid_name",
	[SCIM_SKIP_RESERVED] = "reserved_name",	   [SCIM_SKIP_LOCAL] = "local_name",
	[SCIM_SKIP_DUPLICATE] = "duplicate_name",  [SCIM_SKIP_NO_NUMBER] = "no_free_number",
	[SCIM_SKIP_AMBIGUOUS] = "ambiguous",
};

const char *scim_skip_reason_name(enum scim_skip_reason r)
{
	return (unsigned)r < SCIM_SKIP_NREASONS ? reason_names[r] : "unknown";
}

struct publish {
	const struct scim_config *cfg;
	const struct scim_pub_dir *d;
	struct scim_sync_stats *st;
	/* the live cache */
	bool have_old;
	struct scim_cache_header old_hdr;
	struct scim_arena old_arena;
	struct scim_nummap old_users; /* uid -> index */
	const char **old_names;
	bool *old_susp;
	bool *old_seen;
	size_t old_n, old_cap;
	uint32_t *old_uids;
	struct scim_nummap old_groups; /* gid -> 1 */
	/* Removed users for the new cache: the carried-over ones and the live
	 * cache's first, then this sync's (removed_keep() decides which stay). */
	struct removed_entry {
		const char *name, *scim_id;
		uint32_t uid;
		int64_t since;
	} * rm;
	size_t rm_n, rm_cap;
	struct scim_arena rm_arena;
	struct scim_nummap gone; /* uid -> index into d->gone */
	int64_t now;
	/* Users this sync suspends or removes, for on_suspend (names in rm_arena). */
	struct scim_ended_user *ended;
	size_t ended_n, ended_cap;
};

static int old_user_cb(const struct scim_user *u, void *ctx)
{
	struct publish *p = ctx;
	int r;
	if (p->old_n == p->old_cap) {
		size_t cap = p->old_cap ? p->old_cap * 2 : 1024;
		const char **nn = realloc(p->old_names, cap * sizeof(*nn));
		if (!nn)
			return -ENOMEM;
		p->old_names = nn;
		bool *ns = realloc(p->old_susp, cap * sizeof(*ns));
		if (!ns)
			return -ENOMEM;
		p->old_susp = ns;
		uint32_t *nu = realloc(p->old_uids, cap * sizeof(*nu));
		if (!nu)
			return -ENOMEM;
		p->old_uids = nu;
		p->old_cap = cap;
	}
	p->old_names[p->old_n] = scim_arena_strndup(&p->old_arena, u->name, u->name_len);
	if (!p->old_names[p->old_n])
		return -ENOMEM;
	p->old_susp[p->old_n] = u->suspended;
	p->old_uids[p->old_n] = u->uid;
	r = scim_nummap_put(&p->old_users, u->uid, (uint32_t)p->old_n);
	if (r == -EEXIST || r == -EINVAL)
		return 0; /* a damaged cache is being replaced anyway */
	if (r < 0)
		return r;
	p->old_n++;
	return 0;
}

static int old_group_cb(const struct scim_group *g, void *ctx)
{
	struct publish *p = ctx;
	int r = scim_nummap_put(&p->old_groups, g->gid, 1);
	return r == -EEXIST || r == -EINVAL ? 0 : r;
}

/* Copies into rm_arena: the old cache's arena is freed before the write. */
static int removed_add(struct publish *p, const char *name, const char *scim_id, uint32_t uid, int64_t since)
{
	struct removed_entry *e;
	if (p->rm_n == p->rm_cap) {
		size_t cap = p->rm_cap ? p->rm_cap * 2 : 64;
		e = realloc(p->rm, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		p->rm = e;
		p->rm_cap = cap;
	}
	e = &p->rm[p->rm_n];
	e->name = scim_arena_strdup(&p->rm_arena, name);
	e->scim_id = scim_arena_strdup(&p->rm_arena, scim_id ? scim_id : "");
	if (!e->name || !e->scim_id)
		return -ENOMEM;
	e->uid = uid;
	e->since = since;
	p->rm_n++;
	return 0;
}

static int ended_add(struct publish *p, const char *name, uint32_t uid)
{
	if (!p->cfg->on_suspend)
		return 0;
	if (p->ended_n == p->ended_cap) {
		size_t cap = p->ended_cap ? p->ended_cap * 2 : 16;
		struct scim_ended_user *e = realloc(p->ended, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		p->ended = e;
		p->ended_cap = cap;
	}
	p->ended[p->ended_n].name = scim_arena_strdup(&p->rm_arena, name);
	if (!p->ended[p->ended_n].name)
		return -ENOMEM;
	p->ended[p->ended_n++].uid = uid;
	return 0;
}

static int old_removed_cb(const struct scim_removed *d, void *ctx)
{
	return removed_add(ctx, d->name, d->scim_id, d->uid, d->since);
}

/* Reads what the live cache holds, for the comparison and the guards. */
static int load_old(struct publish *p)
{
	const struct scim_config *cfg = p->cfg;
	int r;

	/* Sized for the new directory: the live one is most likely about as
	 * big, and growing the tables 17 times over costs more than a guess. */
	if ((r = scim_nummap_reserve(&p->old_users, p->d->nusers)) < 0 ||
	    (r = scim_nummap_reserve(&p->old_groups, p->d->nusers + p->d->ngroups)) < 0)
		return r;
	/* Names, numbers and suspension are all the comparison reads: the
	 * brief scan leaves the full records and member lists undecoded. */
	r = scim_cache_file_scan_brief(cfg->cache_file, &p->old_hdr, old_user_cb, old_group_cb, old_removed_cb, p);

	if (r == -ENODATA)
		return 0;
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		log_warning("the live cache %s cannot be read (%s); it will be replaced "
			    "without comparison",
			    cfg->cache_file, r == -EBADMSG ? "damaged or of another format" : strerror(-r));
		p->old_n = 0;
		p->rm_n = 0;
		return 0;
	}
	p->have_old = true;
	p->old_seen = calloc(p->old_n ? p->old_n : 1, sizeof(*p->old_seen));
	return p->old_seen ? 0 : -ENOMEM;
}

/* Additions and removals are logged by name up to this many per sync (every
 * suspension, reactivation and rename always is). */
#define LOG_BY_NAME_MAX 100

/* A name that leaves the directory becomes a removed user (since now), so
 * pam_scim keeps denying it: the name of a user who is gone, and the old
 * name of a renamed user (who may be suspended under the new one). */
static int compare(struct publish *p)
{
	const struct scim_pub_dir *d = p->d;
	struct scim_sync_stats *st = p->st;
	int r;

	for (size_t i = 0; i < d->nusers; i++) {
		const struct scim_pub_user *u = &d->users[i];
		uint32_t o;
		if (u->hidden) {
			/* Left the host's groups: gone from this host, and denied
			 * like a removed user, under the name the host knew. */
			if (scim_nummap_get(&p->old_users, u->uid, &o) < 0)
				continue;
			p->old_seen[o] = true;
			if (st->removed++ < LOG_BY_NAME_MAX)
				log_info("user %s removed (uid %u): in none of host_groups", p->old_names[o], u->uid);
			r = removed_add(p, p->old_names[o], u->id, u->uid, p->now);
			if (r == 0)
				r = ended_add(p, p->old_names[o], u->uid);
			if (r < 0)
				return r;
			continue;
		}
		if (scim_nummap_get(&p->old_users, u->uid, &o) < 0) {
			/* By name only up to a point: a first sync adds everyone. */
			if (st->added++ < LOG_BY_NAME_MAX)
				log_info("user %s (uid %u) added%s", u->name, u->uid,
					 u->suspended ? ", suspended" : "");
			continue;
		}
		p->old_seen[o] = true;
		if (strcmp(p->old_names[o], u->name)) {
			st->renamed++;
			log_info("user %s (uid %u) renamed to %s", p->old_names[o], u->uid, u->name);
			r = removed_add(p, p->old_names[o], u->id, u->uid, p->now);
			if (r < 0)
				return r;
		}
		if (u->suspended && !p->old_susp[o]) {
			st->suspended++;
			log_notice("user %s (uid %u) suspended", u->name, u->uid);
			r = ended_add(p, u->name, u->uid);
			if (r < 0)
				return r;
		} else if (!u->suspended && p->old_susp[o]) {
			st->reactivated++;
			log_notice("user %s (uid %u) reactivated", u->name, u->uid);
		}
	}
	for (size_t o = 0; o < p->old_n; o++) {
		const char *id;
		uint32_t g;
		if (p->old_seen[o])
			continue;
		if (st->removed++ < LOG_BY_NAME_MAX)
			log_info("user %s removed (uid %u)", p->old_names[o], p->old_uids[o]);
		/* The id is only a label for scimctl: "" if the producer did not say. */
		id = scim_nummap_get(&p->gone, p->old_uids[o], &g) == 0 ? d->gone[g].id : "";
		r = removed_add(p, p->old_names[o], id, p->old_uids[o], p->now);
		if (r == 0)
			r = ended_add(p, p->old_names[o], p->old_uids[o]);
		if (r < 0)
			return r;
	}
	if (st->added > LOG_BY_NAME_MAX)
		log_info("... and %u more users added", st->added - LOG_BY_NAME_MAX);
	if (st->removed > LOG_BY_NAME_MAX)
		log_info("... and %u more users removed", st->removed - LOG_BY_NAME_MAX);
	return 0;
}

/* Which removed users the new cache keeps: each name once (the latest
 * entry), none past since + removed_retention, and none whose name a user of
 * the new snapshot holds, for that user is who the name means now. */
static int removed_keep(struct publish *p)
{
	const struct scim_pub_dir *d = p->d;
	int64_t retention = p->cfg->removed_retention;
	struct scim_strmap names = { 0 };
	bool *drop = NULL;
	size_t kept = 0;
	int r = 0;

	if (p->rm_n == 0 || retention == 0)
		goto out;
	drop = calloc(p->rm_n, sizeof(*drop));
	if (!drop) {
		r = -ENOMEM;
		goto out;
	}
	r = scim_strmap_reserve(&names, p->rm_n);
	/* Newest first: this sync's entries were added last. */
	for (size_t i = p->rm_n; i-- > 0 && r == 0;) {
		uint32_t v = (uint32_t)i;
		/* A time from a clock that ran ahead would keep the entry long
		 * after the clock is put right. */
		if (p->rm[i].since > p->now)
			p->rm[i].since = p->now;
		r = scim_strmap_put(&names, 'u', p->rm[i].name, &v);
		if (r == -EEXIST) {
			drop[i] = true;
			r = 0;
		} else if (r == 0 && p->now - p->rm[i].since >= retention) {
			drop[i] = true;
		}
	}
	for (size_t i = 0; i < d->nusers && r == 0; i++) {
		uint32_t v;
		if (!d->users[i].hidden && scim_strmap_get(&names, 'u', d->users[i].name, &v) == 0)
			drop[v] = true;
	}
	if (r < 0)
		goto out;
	for (size_t i = 0; i < p->rm_n; i++)
		if (!drop[i])
			p->rm[kept++] = p->rm[i];
out:
	p->rm_n = kept;
	p->st->removed_kept = (uint32_t)kept;
	scim_strmap_free(&names);
	free(drop);
	return r;
}

/* Writes what goes into the cache: users, their private groups, directory
 * groups, removed users. */
struct emit {
	struct publish *p;
	struct scim_cache_writer *w;
	const char **names;
	size_t names_cap;
};

static int emit_keys(struct emit *e, const struct scim_pub_user *u)
{
	const char *lines[SCIM_SSH_KEYS_MAX];
	char buf[SCIM_SSHKEYS_BYTES_MAX + 1], *p = buf;
	uint32_t n = 0;
	int r;

	/* The joined lines, split in place of a copy. */
	snprintf(buf, sizeof(buf), "%s", u->keys);
	while (*p && n < SCIM_SSH_KEYS_MAX) {
		char *nl = strchr(p, '\n');
		if (!nl)
			break;
		*nl = 0;
		lines[n++] = p;
		p = nl + 1;
	}
	struct scim_ssh_keys k = { .name = u->name, .nkeys = n, .keys = lines };
	r = scim_cache_writer_add_keys(e->w, &k);
	if (r < 0)
		log_error("cannot add the SSH keys of user %s to %s: %s", u->name, e->p->cfg->cache_file, strerror(-r));
	return r;
}

static int emit_all(struct emit *e)
{
	const struct scim_pub_dir *d = e->p->d;
	const struct scim_config *cfg = e->p->cfg;
	int r;

	for (size_t i = 0; i < d->nusers; i++) {
		const struct scim_pub_user *u = &d->users[i];
		if (u->hidden)
			continue;
		struct scim_user su = {
			.name = u->name,
			.uid = u->uid,
			.gid = u->gid,
			.gecos = u->gecos,
			.home = u->home,
			.shell = u->shell,
			.suspended = u->suspended,
			.has_ext = true,
			.scim_id = u->id,
			.ngids = u->ngids,
			.gids = u->gids,
		};
		if ((r = scim_cache_writer_add_user(e->w, &su)) < 0) {
			log_error("cannot add user %s to %s: %s", u->name, cfg->cache_file, strerror(-r));
			return r;
		}
		/* A suspended user's keys are not published: nothing that reads
		 * the cache can hand them to sshd. */
		if (u->nkeys && !u->suspended && (r = emit_keys(e, u)) < 0)
			return r;
	}
	for (size_t i = 0; i < d->nusers; i++) {
		const struct scim_pub_user *u = &d->users[i];
		if (u->hidden || u->gid != u->uid)
			continue;
		struct scim_group sg = { .name = u->name, .gid = u->uid, .scim_id = u->id };
		if ((r = scim_cache_writer_add_group(e->w, &sg)) < 0) {
			log_error("cannot add the private group of %s to %s: %s", u->name, cfg->cache_file,
				  strerror(-r));
			return r;
		}
	}
	for (size_t i = 0; i < d->ngroups; i++) {
		const struct scim_pub_group *g = &d->groups[i];
		if (g->nmembers > e->names_cap) {
			const char **nn = realloc(e->names, g->nmembers * sizeof(*nn));
			if (!nn)
				return -ENOMEM;
			e->names = nn;
			e->names_cap = g->nmembers;
		}
		for (uint32_t k = 0; k < g->nmembers; k++)
			e->names[k] = d->users[g->members[k]].name;
		struct scim_group sg = {
			.name = g->name, .gid = g->gid, .scim_id = g->id, .nmembers = g->nmembers, .members = e->names
		};
		if ((r = scim_cache_writer_add_group(e->w, &sg)) < 0) {
			log_error("cannot add group %s to %s: %s", g->name, cfg->cache_file, strerror(-r));
			return r;
		}
	}
	for (size_t i = 0; i < e->p->rm_n; i++) {
		const struct removed_entry *rm = &e->p->rm[i];
		struct scim_removed sd = {
			.name = rm->name, .uid = rm->uid, .since = rm->since, .scim_id = rm->scim_id
		};
		if ((r = scim_cache_writer_add_removed(e->w, &sd)) < 0) {
			log_error("cannot add removed user %s to %s: %s", rm->name, cfg->cache_file, strerror(-r));
			return r;
		}
	}
	return 0;
}

static int write_cache(struct publish *p)
{
	const struct scim_config *cfg = p->cfg;
	struct scim_cache_header h = { .last_sync = p->d->last_sync ? p->d->last_sync : time(NULL),
				       .source = p->d->source };
	struct emit e = { .p = p };
	int r;

	/* The id map first: a crash after it leaves numbers reserved that no
	 * cache uses yet (harmless); the other order could publish numbers that
	 * the next run hands out again.  It also claims its disk space before
	 * the cache's new file does. */
	if (p->d->idmap) {
		r = scim_idmap_commit(p->d->idmap);
		if (r < 0)
			goto out;
		/* The writer's tables are the publish's peak: the map's go first. */
		scim_idmap_seal(p->d->idmap);
	}
	r = scim_cache_writer_new(cfg->cache_file, p->st->users, p->st->groups, &e.w);
	if (r < 0) {
		log_error("cannot start writing %s: %s", cfg->cache_file,
			  r == -EBUSY ? "another process is publishing it" : strerror(-r));
		e.w = NULL;
		goto out;
	}
	r = emit_all(&e);
	if (r < 0)
		goto out;
	r = scim_cache_writer_commit(e.w, &h);
	e.w = NULL;
	if (r < 0) {
		log_error("cannot publish %s: %s", cfg->cache_file, strerror(-r));
		goto out;
	}
	p->st->generation = p->have_old ? p->old_hdr.generation + 1 : 1;
out:
	scim_cache_writer_abort(e.w);
	free(e.names);
	return r;
}

/* The guards: a listing that lost most users is far more likely a fault
 * upstream than the truth, and publishing it locks people out. */
static int guards(struct publish *p, bool force)
{
	const struct scim_config *cfg = p->cfg;
	struct scim_sync_stats *stats = p->st;

	/* A selection that keeps nobody is a typo far more often than a host
	 * meant for no directory user. */
	if (cfg->host_groups && stats->users == 0 && stats->not_selected > 0) {
		if (!force) {
			log_error("refusing to publish: host_groups selects none of the %u "
				  "directory users; run with "
				  "--force if that is intended",
				  stats->not_selected);
			return -ECANCELED;
		}
		log_warning("publishing a snapshot where host_groups selects none of the "
			    "%u directory users (--force)",
			    stats->not_selected);
	}
	if (p->have_old && stats->users == 0 && p->old_n > 0) {
		if (!force) {
			log_error("refusing to publish: the new snapshot has no users, but the "
				  "cache %s has %zu; "
				  "run with --force if the directory really is empty",
				  cfg->cache_file, p->old_n);
			return -ECANCELED;
		}
		log_warning("publishing an empty snapshot over %zu users (--force)", p->old_n);
	}
	if (p->have_old && p->old_n > 0 &&
	    (uint64_t)stats->removed * 100 > (uint64_t)cfg->max_removed_percent * p->old_n) {
		if (!force) {
			log_error("refusing to publish: the new snapshot would remove %u of the "
				  "%zu users in the cache "
				  "(%u%%), more than max_removed_percent = %u; run with --force "
				  "if that is intended",
				  stats->removed, p->old_n, (unsigned)((uint64_t)stats->removed * 100 / p->old_n),
				  cfg->max_removed_percent);
			return -ECANCELED;
		}
		log_warning("removing %u of %zu users, more than max_removed_percent = %u "
			    "(--force)",
			    stats->removed, p->old_n, cfg->max_removed_percent);
	}
	return 0;
}

int scim_publish_dir(const struct scim_config *cfg, const struct scim_pub_dir *d, bool force,
		     struct scim_sync_stats *stats)
{
	struct publish p = { .cfg = cfg, .d = d, .st = stats };
	int r = 0;

	p.now = (int64_t)time(NULL);
	stats->users = stats->groups = stats->suspended_total = 0;
	for (size_t i = 0; i < d->nusers; i++) {
		const struct scim_pub_user *u = &d->users[i];
		if (u->hidden)
			continue;
		stats->users++;
		stats->suspended_total += u->suspended;
		if (u->gid == u->uid)
			stats->groups++;
	}
	stats->groups += (uint32_t)d->ngroups;
	for (size_t i = 0; i < d->ngone && r == 0; i++) {
		r = scim_nummap_put(&p.gone, d->gone[i].uid, (uint32_t)i);
		if (r == -EEXIST || r == -EINVAL)
			r = 0;
	}
	if (r < 0)
		goto out;

	/* The carried-over removed users come first: the live cache's and this
	 * sync's entries for the same name are newer. */
	for (size_t i = 0; i < d->nremoved && r == 0; i++)
		r = removed_add(&p, d->removed[i].name, d->removed[i].id, d->removed[i].uid, d->removed[i].since);
	if (r < 0)
		goto out;
	r = load_old(&p);
	if (r < 0)
		goto out;
	if (p.have_old) {
		r = compare(&p);
		if (r < 0)
			goto out;
		for (size_t i = 0; i < d->ngroups; i++)
			if (scim_nummap_get(&p.old_groups, d->groups[i].gid, NULL) < 0)
				stats->groups_added++;
		if (p.old_groups.count + stats->groups_added > stats->groups)
			stats->groups_removed = (uint32_t)(p.old_groups.count + stats->groups_added - stats->groups);
	} else {
		stats->added = stats->users;
		stats->groups_added = stats->groups;
	}
	r = removed_keep(&p);
	if (r < 0)
		goto out;
	/* Free the comparison's memory before the writer needs its own. */
	scim_nummap_free(&p.old_users);
	scim_nummap_free(&p.old_groups);
	scim_arena_free(&p.old_arena);

	r = guards(&p, force);
	if (r < 0)
		goto out;
	malloc_trim(0);
	scim_log_memory(__func__, "comparing");
	r = write_cache(&p);
	scim_log_memory(__func__, "publishing");
	if (r == 0) {
		stats->published = true;
		/* Only now: a sync that publishes nothing ends nobody's
		 * session, and the next one that publishes still sees them as
		 * newly suspended. */
		scim_on_suspend_run(cfg, p.ended, p.ended_n);
	}
out:
	scim_nummap_free(&p.old_users);
	scim_nummap_free(&p.old_groups);
	scim_arena_free(&p.old_arena);
	free(p.old_names);
	free(p.old_susp);
	free(p.old_seen);
	free(p.old_uids);
	free(p.rm);
	free(p.ended);
	scim_nummap_free(&p.gone);
	scim_arena_free(&p.rm_arena);
	return r;
}

void scim_sync_stats_format(const struct scim_sync_stats *st, char *buf, size_t len)
{
	uint32_t skipped = 0;
	size_t n;
	char detail[512] = "";
	size_t dn = 0;

	for (int i = 0; i < SCIM_SKIP_NREASONS; i++) {
		uint32_t c = st->skipped_users[i] + st->skipped_groups[i];
		if (!c)
			continue;
		skipped += c;
		dn += (size_t)snprintf(detail + dn, dn < sizeof(detail) ? sizeof(detail) - dn : 0, "%s%s=%u",
				       dn ? " " : "", reason_names[i], c);
		if (dn >= sizeof(detail))
			dn = sizeof(detail) - 1;
	}
	n = (size_t)snprintf(buf, len,
			     "users=%u groups=%u suspended_total=%u added=%u removed=%u renamed=%u "
			     "suspended=%u "
			     "reactivated=%u groups_added=%u groups_removed=%u skipped=%u%s%s%s "
			     "members_dropped=%u cycles=%u new_numbers=%u collisions=%u tombstoned=%u "
			     "removed_kept=%u",
			     st->users, st->groups, st->suspended_total, st->added, st->removed, st->renamed,
			     st->suspended, st->reactivated, st->groups_added, st->groups_removed, skipped,
			     skipped ? " (" : "", detail, skipped ? ")" : "", st->members_dropped, st->cycles,
			     st->new_numbers, st->collisions, st->tombstoned, st->removed_kept);
	if (st->host_groups && n < len)
		snprintf(buf + n, len - n, " not_selected=%u", st->not_selected);
}