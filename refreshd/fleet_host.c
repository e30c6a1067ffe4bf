/* fleet_host.c - a host installs the relay's signed snapshot (see fleet.h).
 *
 * Order matters: nothing in a manifest is used before its global signature
 * verifies against a pinned key, no blob is decompressed before its size is
 * the signed one, and nothing decoded is published before it passes the
 * snapshot unit's validation and this host's own rules.  Any refusal leaves
 * the cache, the installed snapshot and the accepted manifest as they were. */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "refreshd/fleet.h"
#include "refreshd/http.h"
#include "refreshd/idmap.h"
#include "refreshd/local.h"
#include "refreshd/log.h"
#include "refreshd/names.h"
#include "refreshd/publish.h"
#include "refreshd/sync.h"
#include "refreshd/table.h"
#include "snapshot/snapshot.h"

/* A manifest is one short signature file. */
#define SCIM_MANIFEST_MAX 16384

/* What a host remembers of the last manifest it accepted: the rollback
 * check's serial and comment hash, the ETag for If-None-Match, the comment
 * itself (its expiry), and which snapshot is installed. */
struct accepted {
	struct scim_snap_accepted last;
	char etag[256];
	char comment[SCIM_SNAP_COMMENT_MAX + 1];
	char installed[SCIM_SNAP_SHA256_HEX];
	uint64_t installed_size;
};

static void state_path(const struct scim_config *cfg, const char *name, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", cfg->state_dir, name);
}

static int accepted_load(const struct scim_config *cfg, struct accepted *a)
{
	char path[4200], *buf = NULL, *line, *save = NULL;
	size_t len;
	int r;

	memset(a, 0, sizeof(*a));
	state_path(cfg, SCIM_HOST_ACCEPTED, path, sizeof(path));
	r = scim_fleet_read_file(path, 64 << 10, &buf, &len);
	if (r == -ENOENT)
		return 0; /* a fresh host accepts any valid, unexpired manifest */
	if (r < 0) {
		log_error("cannot read %s: %s", path, strerror(-r));
		return r;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long long n, sz;
		char hex[80];
		if (sscanf(line, "serial %llu", &n) == 1)
			a->last.serial = n;
		else if (sscanf(line, "comment-sha256 %64s", hex) == 1 && strlen(hex) == 64)
			memcpy(a->last.comment_sha256, hex, 65);
		else if (!strncmp(line, "etag ", 5))
			snprintf(a->etag, sizeof(a->etag), "%s", line + 5);
		else if (!strncmp(line, "comment ", 8))
			snprintf(a->comment, sizeof(a->comment), "%s", line + 8);
		else if (sscanf(line, "installed %64s %llu", hex, &sz) == 2 && strlen(hex) == 64) {
			memcpy(a->installed, hex, 65);
			a->installed_size = sz;
		}
	}
	free(buf);
	return 0;
}

static int accepted_save(const struct scim_config *cfg, const struct accepted *a)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return -ENOMEM;
	fprintf(f, "serial %" PRIu64 "\ncomment-sha256 %s\netag %s\ncomment %s\ninstalled %s %" PRIu64 "\n",
		a->last.serial, a->last.comment_sha256, a->etag, a->comment, a->installed, a->installed_size);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	r = scim_fleet_write_file(cfg->state_dir, SCIM_HOST_ACCEPTED, buf, len, 0600, 0);
	if (r < 0)
		log_error("cannot write %s/%s: %s", cfg->state_dir, SCIM_HOST_ACCEPTED, strerror(-r));
	free(buf);
	return r;
}

/* The installed stream, if it still has the size the state names.  Its
 * hash is not checked here: what is built on it is (a delta's result must
 * have the signed SHA-256, else the full blob is fetched), and the same
 * snapshot re-signed is hashed before it is used.  That keeps 18 MB of
 * hashing out of every delta at 100k users. */
static int installed_load(const struct scim_config *cfg, const struct accepted *a, char **out, size_t *len)
{
	char path[4200];
	int r;

	*out = NULL;
	if (!a->installed[0])
		return -ENOENT;
	state_path(cfg, SCIM_HOST_SNAPSHOT, path, sizeof(path));
	r = scim_fleet_read_file(path, SCIM_SNAP_RAW_MAX, out, len);
	if (r < 0)
		return r;
	if (*len != a->installed_size) {
		log_warning("%s is %zu bytes, not the %" PRIu64 " of the installed snapshot %.12s (damaged?); "
			    "fetching the full blob",
			    path, *len, a->installed_size, a->installed);
		free(*out);
		*out = NULL;
		return -EBADMSG;
	}
	return 0;
}

/* ---------------------------------------------------------- host rules */

/* The snapshot as this host publishes it. */
struct host_dir {
	struct scim_pub_user *users;
	struct scim_pub_group *groups;
	struct scim_pub_removed *removed;
	uint32_t *members, *gids;
	size_t nusers, ngroups, nremoved;
	struct scim_idmap *idmap;
	struct scim_local *local;
};

static void host_dir_free(struct host_dir *h)
{
	free(h->users);
	free(h->groups);
	free(h->removed);
	free(h->members);
	free(h->gids);
	scim_idmap_close(h->idmap);
	scim_local_free(h->local);
}

static bool name_refused(const struct scim_config *cfg, const struct scim_local *local, const char *kind,
			 const char *id, const char *name, struct scim_sync_stats *st, bool group)
{
	enum scim_skip_reason why;
	bool denied = scim_name_is_reserved(name);

	for (size_t i = 0; i < cfg->ndeny_names && !denied; i++)
		denied = !strcasecmp(name, cfg->deny_names[i]);
	if (denied) {
		log_warning("skipping %s id=%s: name '%s' is reserved (system or package "
			    "account, or deny_names)",
			    kind, id, name);
		why = SCIM_SKIP_RESERVED;
	} else if (scim_local_has_name(local, name)) {
		log_warning("skipping %s id=%s: name '%s' exists in /etc/passwd or "
			    "/etc/group (the directory never "
			    "shadows a local account)",
			    kind, id, name);
		why = SCIM_SKIP_LOCAL;
	} else {
		return false;
	}
	if (st) {
		if (group)
			st->skipped_groups[why]++;
		else
			st->skipped_users[why]++;
	}
	return true;
}

/* The relay's numbers, recorded in this host's id map: a known id keeps its
 * number, and a number this map holds for another id is never handed to a
 * new one.  Either would change who owns files here: refuse the snapshot. */
static int record_number(struct host_dir *h, char kind, const char *id, uint32_t number, char *why, size_t wlen)
{
	uint32_t n;
	int r = scim_idmap_get(h->idmap, kind, id, &n, NULL);

	if (r == 0) {
		if (n == number)
			return 0;
		snprintf(why, wlen,
			 "%s id=%s has number %u here, the snapshot says %u (numbers never "
			 "move)",
			 kind == SCIM_IDMAP_USER ? "user" : "group", id, n, number);
		return -EBADMSG;
	}
	if (scim_idmap_number_taken(h->idmap, number)) {
		snprintf(why, wlen,
			 "the snapshot gives number %u to %s id=%s, but this host's id map "
			 "holds it for "
			 "another id (numbers are never reused)",
			 number, kind == SCIM_IDMAP_USER ? "user" : "group", id);
		return -EBADMSG;
	}
	/* Borrowed: the ids lie in the stream, which outlives the map. */
	r = scim_idmap_add_borrowed(h->idmap, kind, id, number);
	if (r < 0)
		snprintf(why, wlen, "cannot record number %u of id=%s: %s", number, id, strerror(-r));
	return r;
}

/* host_groups on a host: as for a SCIM sync, only the members of those
 * groups (the relay's groups are already flattened) are published, and only
 * the groups that keep a member; the others are hidden, which the publish
 * compares as removed from this host. */
static int select_host(const struct scim_config *cfg, struct host_dir *h, struct scim_sync_stats *st)
{
	uint32_t primary = 0, left = 0;
	bool *sel;
	size_t ng = 0;

	st->host_groups = cfg->host_groups != NULL;
	if (!cfg->host_groups)
		return 0;
	sel = calloc(h->nusers ? h->nusers : 1, sizeof(*sel));
	if (!sel)
		return -ENOMEM;
	for (size_t k = 0; k < cfg->nhost_groups; k++) {
		bool found = false;
		for (size_t i = 0; i < h->ngroups; i++) {
			if (strcmp(h->groups[i].name, cfg->host_groups[k]))
				continue;
			found = true;
			for (uint32_t m = 0; m < h->groups[i].nmembers; m++)
				sel[h->groups[i].members[m]] = true;
		}
		if (!found)
			log_warning("host_groups: '%s' is not a group of the snapshot; it selects nobody",
				    cfg->host_groups[k]);
	}
	for (size_t i = 0; i < h->nusers; i++) {
		if (h->users[i].gid != h->users[i].uid)
			primary = h->users[i].gid;
		if (!sel[i]) {
			h->users[i].hidden = true;
			st->not_selected++;
		}
	}
	for (size_t i = 0; i < h->ngroups; i++) {
		struct scim_pub_group *g = &h->groups[i];
		uint32_t *mem = (uint32_t *)g->members, n = 0;
		for (uint32_t k = 0; k < g->nmembers; k++)
			if (sel[mem[k]])
				mem[n++] = mem[k];
		g->nmembers = n;
		/* A directory primary group is every user's group: it stays. */
		if (n == 0 && g->gid != primary) {
			left++;
			continue;
		}
		h->groups[ng++] = *g;
	}
	h->ngroups = ng;
	if (left)
		log_info("host_groups: %u groups of the snapshot have no member on this host; left out", left);
	free(sel);
	return 0;
}

/* Takes the decoded directory's arrays (users first, once copied): what
 * the publish needs is in h, the strings stay in the stream. */
static int host_apply(const struct scim_config *cfg, struct scim_snap_dir *s, struct host_dir *h,
		      struct scim_sync_stats *st, char *why, size_t wlen)
{
	/* A directory group may not take the name of a user's private group.
	 * The groups' names go in the table and the users look them up: ten
	 * times fewer entries than the other way round, in a table that stays
	 * in the cache. */
	struct scim_strmap group_names = { 0 };
	bool *clash = NULL;
	uint32_t *map = NULL, *ngids = NULL;
	size_t nm = 0, ngid = 0;
	int r;

	r = scim_local_load(NULL, NULL, &h->local);
	if (r < 0) {
		snprintf(why, wlen, "cannot read /etc/passwd or /etc/group: %s", strerror(-r));
		return r;
	}
	r = scim_idmap_open(cfg->state_dir, true, &h->idmap);
	if (r < 0) {
		snprintf(why, wlen, "cannot open the id map in %s: %s", cfg->state_dir, strerror(-r));
		return r;
	}
	h->users = calloc(s->nusers ? s->nusers : 1, sizeof(*h->users));
	h->groups = calloc(s->ngroups ? s->ngroups : 1, sizeof(*h->groups));
	h->removed = calloc(s->nremoved ? s->nremoved : 1, sizeof(*h->removed));
	map = malloc((s->nusers ? s->nusers : 1) * sizeof(*map));
	ngids = calloc(s->nusers ? s->nusers : 1, sizeof(*ngids));
	clash = calloc(s->ngroups ? s->ngroups : 1, sizeof(*clash));
	if (!h->users || !h->groups || !h->removed || !map || !ngids || !clash) {
		r = -ENOMEM;
		goto out;
	}
	/* Numbers first, for every record: the map must agree with the whole
	 * snapshot, whatever this host leaves out.  Room for all of them at
	 * once: a first install would otherwise grow the tables 17 times.  A
	 * map that has them already needs room for a few new ones only. */
	size_t want = s->nusers + s->nremoved + s->ngroups;
	if (want < scim_idmap_count(h->idmap))
		want = scim_idmap_count(h->idmap);
	r = scim_idmap_reserve(h->idmap, want + want / 16);
	if (r < 0) {
		snprintf(why, wlen, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < s->nusers && r == 0; i++)
		r = record_number(h, SCIM_IDMAP_USER, s->users[i].id, s->users[i].uid, why, wlen);
	for (size_t i = 0; i < s->nremoved && r == 0; i++)
		r = record_number(h, SCIM_IDMAP_USER, s->removed[i].id, s->removed[i].uid, why, wlen);
	for (size_t i = 0; i < s->ngroups && r == 0; i++)
		r = record_number(h, SCIM_IDMAP_GROUP, s->groups[i].id, s->groups[i].gid, why, wlen);
	if (r < 0)
		goto out;
	/* Every number is recorded: the map's lookup tables (8 MB at 100k
	 * users) go before the host's copy of the directory grows. */
	scim_idmap_seal(h->idmap);

	for (size_t i = 0; i < s->nusers; i++) {
		const struct scim_snap_user *u = &s->users[i];
		map[i] = UINT32_MAX;
		if (name_refused(cfg, h->local, "user", u->id, u->name, st, false))
			continue;
		if (scim_local_has_number(h->local, u->uid)) {
			log_error("skipping user id=%s: its number %u belongs to a local account", u->id, u->uid);
			st->skipped_users[SCIM_SKIP_LOCAL]++;
			continue;
		}
		map[i] = (uint32_t)h->nusers;
		h->users[h->nusers++] = (struct scim_pub_user){
			.id = u->id,
			.name = u->name,
			.gecos = u->gecos,
			.home = u->home,
			.shell = u->shell,
			.uid = u->uid,
			.gid = u->gid,
			.suspended = u->suspended,
		};
	}
	scim_snap_dir_drop_users(s);
	/* Members by index, and each user's supplementary gids. */
	for (size_t i = 0; i < s->ngroups; i++)
		nm += s->groups[i].nmembers;
	h->members = malloc((nm ? nm : 1) * sizeof(*h->members));
	if (!h->members) {
		r = -ENOMEM;
		goto out;
	}
	nm = 0;
	/* Group names are unique (the decoder checked). */
	if ((r = scim_strmap_reserve(&group_names, s->ngroups)) < 0)
		goto out;
	for (size_t i = 0; i < s->ngroups; i++) {
		uint32_t v = (uint32_t)i;
		if ((r = scim_strmap_put(&group_names, 'g', s->groups[i].name, &v)) < 0)
			goto out;
	}
	for (size_t i = 0; i < h->nusers; i++) {
		uint32_t g;
		if (h->users[i].gid == h->users[i].uid && scim_strmap_get(&group_names, 'g', h->users[i].name, &g) == 0)
			clash[g] = true;
	}
	for (size_t i = 0; i < s->ngroups; i++) {
		const struct scim_snap_group *g = &s->groups[i];
		struct scim_pub_group *pg;
		if (name_refused(cfg, h->local, "group", g->id, g->name, st, true))
			continue;
		if (scim_local_has_number(h->local, g->gid)) {
			log_error("skipping group id=%s: its number %u belongs to a local account", g->id, g->gid);
			st->skipped_groups[SCIM_SKIP_LOCAL]++;
			continue;
		}
		if (clash[i]) {
			log_warning("skipping group id=%s: name '%s' is the private group of a user", g->id, g->name);
			st->skipped_groups[SCIM_SKIP_DUPLICATE]++;
			continue;
		}
		pg = &h->groups[h->ngroups++];
		*pg = (struct scim_pub_group){
			.id = g->id, .name = g->name, .gid = g->gid, .members = h->members + nm
		};
		for (uint32_t k = 0; k < g->nmembers; k++) {
			uint32_t u = map[g->member_users[k]];
			if (u == UINT32_MAX) {
				st->members_dropped++;
				continue;
			}
			h->members[nm++] = u;
			pg->nmembers++;
		}
	}
	r = select_host(cfg, h, st);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < h->ngroups; i++)
		for (uint32_t k = 0; k < h->groups[i].nmembers; k++)
			ngids[h->groups[i].members[k]]++;
	for (size_t i = 0; i < h->nusers; i++)
		ngid += ngids[i];
	h->gids = malloc((ngid ? ngid : 1) * sizeof(*h->gids));
	if (!h->gids) {
		r = -ENOMEM;
		goto out;
	}
	ngid = 0;
	for (size_t i = 0; i < h->nusers; i++) {
		h->users[i].gids = h->gids + ngid;
		ngid += ngids[i];
	}
	for (size_t i = 0; i < h->ngroups; i++)
		for (uint32_t k = 0; k < h->groups[i].nmembers; k++) {
			struct scim_pub_user *u = &h->users[h->groups[i].members[k]];
			((uint32_t *)u->gids)[u->ngids++] = h->groups[i].gid;
		}
	/* The relay's removed users, for pam_scim: never a name this host
	 * has of its own (denying it would lock out a local account). */
	for (size_t i = 0; i < s->nremoved; i++) {
		const struct scim_snap_removed *d = &s->removed[i];
		if (name_refused(cfg, h->local, "removed user", d->id, d->name, NULL, false))
			continue;
		h->removed[h->nremoved++] = (struct scim_pub_removed){
			.id = d->id,
			.name = d->name,
			.uid = d->uid,
			.since = d->since,
		};
	}
out:
	scim_strmap_free(&group_names);
	free(clash);
	free(map);
	free(ngids);
	return r;
}

/* ------------------------------------------------------------- the poll */

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static double mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* GETs a blob of exactly zsize bytes. */
static int fetch_blob(struct scim_http *h, const char *url, uint64_t zsize, const char **body, size_t *len, char *why,
		      size_t wlen)
{
	int r;

	if (zsize == 0 || zsize > SCIM_SNAP_RAW_MAX) {
		snprintf(why, wlen, "the manifest signs a blob size of %" PRIu64 " bytes", zsize);
		return -EFBIG;
	}
	/* One byte over the signed size is enough to know it is too big. */
	scim_http_set_max_response(h, (size_t)zsize);
	r = scim_http_get(h, url, body, len);
	if (r == -EFBIG) {
		snprintf(why, wlen, "%s is bigger than the signed %" PRIu64 " bytes", url, zsize);
		return r;
	}
	if (r < 0) {
		snprintf(why, wlen, "cannot fetch %s: %s", url, strerror(-r));
		return r;
	}
	if (*len != zsize) {
		snprintf(why, wlen, "%s is %zu bytes, the manifest signed %" PRIu64, url, *len, zsize);
		return -EBADMSG;
	}
	return 0;
}

/* Fetches what m names, delta first when one is offered from the installed
 * snapshot; a delta whose result fails the hash falls back to the full blob,
 * once.  *stream is malloc'd, m->size bytes with the signed SHA-256. */
static int fetch_snapshot(const struct scim_config *cfg, struct scim_http *h, const struct scim_snap_manifest *m,
			  const char *old, size_t oldlen, const char *old_sha, char **stream, const char **via,
			  char *why, size_t wlen)
{
	char url[8192], err[SCIM_SNAP_ERR_MAX], hex[SCIM_SNAP_SHA256_HEX];
	const char *body;
	void *out = NULL;
	size_t len;
	int r;

	*stream = NULL;
	for (size_t i = 0; old && i < m->ndeltas; i++) {
		if (strcmp(m->deltas[i].from, old_sha))
			continue;
		snprintf(url, sizeof(url), "%sdeltas/%s-%s.zst", cfg->snapshot_url, old_sha, m->sha256);
		r = fetch_blob(h, url, m->deltas[i].zsize, &body, &len, why, wlen);
		if (r == 0) {
			r = scim_snap_delta_apply(old, oldlen, body, len, (size_t)m->size, &out, err);
			if (r < 0)
				snprintf(why, wlen, "delta %.12s-%.12s: %s", old_sha, m->sha256, err);
		}
		if (r == 0) {
			scim_snap_sha256_hex(out, (size_t)m->size, hex);
			if (strcmp(hex, m->sha256)) {
				snprintf(why, wlen, "delta %.12s-%.12s gives SHA-256 %.12s, not the signed %.12s",
					 old_sha, m->sha256, hex, m->sha256);
				r = -EBADMSG;
			}
		}
		if (r == 0) {
			*stream = out;
			*via = "delta";
			return 0;
		}
		if (r == -ECANCELED)
			return r;
		free(out);
		out = NULL;
		log_warning("%s; fetching the full snapshot instead", why);
		break;
	}
	snprintf(url, sizeof(url), "%ssnapshots/%s.zst", cfg->snapshot_url, m->sha256);
	r = fetch_blob(h, url, m->zsize, &body, &len, why, wlen);
	if (r < 0)
		return r;
	r = scim_snap_decompress(body, len, (size_t)m->size, &out, err);
	if (r < 0) {
		snprintf(why, wlen, "snapshot %.12s: %s", m->sha256, err);
		return r;
	}
	scim_snap_sha256_hex(out, (size_t)m->size, hex);
	if (strcmp(hex, m->sha256)) {
		snprintf(why, wlen, "snapshot blob gives SHA-256 %.12s, not the signed %.12s", hex, m->sha256);
		free(out);
		return -EBADMSG;
	}
	*stream = out;
	*via = "full";
	return 0;
}

static int load_keys(const struct scim_config *cfg, struct scim_snap_pubkey *pks, size_t *npk)
{
	char err[SCIM_SNAP_ERR_MAX];

	*npk = 0;
	for (size_t i = 0; i < cfg->nsnapshot_pubkey && i < SCIM_MAX_SNAPSHOT_PUBKEYS; i++) {
		int r = scim_snap_pubkey_parse(cfg->snapshot_pubkey[i], &pks[*npk], err);
		if (r < 0) {
			log_error("snapshot_pubkey %s: %s", cfg->snapshot_pubkey[i], err);
			return r;
		}
		(*npk)++;
	}
	return *npk ? 0 : -EINVAL;
}

int scim_fleet_host_run(const struct scim_config *cfg, bool force, volatile sig_atomic_t *stop,
			struct scim_fleet_result *res)
{
	struct scim_http_opts o = {
		.ca_file = cfg->ca_file,
		.timeout = (long)cfg->timeout,
		.max_response_bytes = SCIM_MANIFEST_MAX,
		.headers = (const char *const *)cfg->headers,
		.nheaders = cfg->nheaders,
		.retries = SCIM_HTTP_RETRIES,
		.backoff_ms = SCIM_HTTP_BACKOFF_MS,
		.backoff_max_ms = SCIM_HTTP_BACKOFF_MAX_MS,
		.max_wait = SCIM_HTTP_MAX_WAIT,
		.stop = stop,
	};
	struct scim_snap_pubkey pks[SCIM_MAX_SNAPSHOT_PUBKEYS];
	struct scim_snap_sig sig;
	struct scim_snap_manifest m = { 0 };
	struct scim_snap_limits lim = { .uid_min = cfg->uid_min, .uid_max = cfg->uid_max };
	struct scim_snap_dir sdir = { 0 };
	struct scim_sync_stats st = { 0 };
	struct host_dir hd = { 0 };
	struct accepted acc, next;
	struct scim_http *h = NULL;
	char url[8192], etag[256] = "", err[SCIM_SNAP_ERR_MAX], why[9000] = "", line[1024];
	char *old = NULL, *stream = NULL;
	const char *body, *via = "none", *stage = "manifest";
	size_t npk = 0, len, oldlen = 0;
	double t0 = mono();
	bool same = false, decoded = false, manifest_304 = false, have_cache, fresh_stream = false;
	bool keep_installed = true, http_done = false;
	struct scim_http_stats hs = { 0 };
	struct stat cst;
	int r;

	memset(res, 0, sizeof(*res));
	r = load_keys(cfg, pks, &npk);
	if (r < 0)
		goto out;
	r = accepted_load(cfg, &acc);
	if (r < 0)
		goto out;
	r = scim_http_new(&o, &h);
	if (r < 0)
		goto out;

	snprintf(url, sizeof(url), "%s%s", cfg->snapshot_url, SCIM_FLEET_MANIFEST);
	/* Without a cache (removed by hand, a failed first install) the same
	 * manifest is installed again: no If-None-Match, and "same" is no
	 * reason to stop. */
	have_cache = stat(cfg->cache_file, &cst) == 0;
	r = scim_http_get_cond(h, url, acc.last.serial && have_cache ? acc.etag : NULL, etag, sizeof(etag), &body,
			       &len);
	if (r == -EALREADY) {
		/* 304: the edge or the relay says nothing changed. */
		same = true;
		manifest_304 = true;
		r = 0;
		goto unchanged;
	}
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot fetch %s: %s", url, strerror(-r));
		goto out;
	}
	r = scim_snap_sig_parse(body, len, &sig, err);
	if (r == 0)
		r = scim_snap_sig_verify_comment(&sig, pks, npk, err);
	if (r < 0) {
		snprintf(why, sizeof(why), "manifest signature: %s", err);
		goto out;
	}
	/* From here the trusted comment may be read. */
	r = scim_snap_manifest_parse(sig.comment, &m, err);
	if (r == 0 && strcmp(m.fleet, cfg->fleet_name)) {
		snprintf(err, sizeof(err), "the manifest is for fleet '%s', this host is in fleet '%s'", m.fleet,
			 cfg->fleet_name);
		r = -EBADMSG;
	}
	if (r == 0)
		r = scim_snap_manifest_check(&m, sig.comment, &acc.last, now_ms(), &same, err);
	if (r < 0) {
		snprintf(why, sizeof(why), "manifest serial %" PRIu64 ": %s", m.serial, err);
		goto out;
	}
	if (same && have_cache)
		goto unchanged;

	/* A new manifest: the snapshot it names, from what is installed. */
	stage = "snapshot";
	if (installed_load(cfg, &acc, &old, &oldlen) < 0) {
		old = NULL;
		oldlen = 0;
	}
	if (old && !strcmp(acc.installed, m.sha256)) {
		/* The relay re-signed the same snapshot (synced moved on). */
		char hex[SCIM_SNAP_SHA256_HEX];
		scim_snap_sha256_hex(old, oldlen, hex);
		if (strcmp(hex, m.sha256)) {
			log_warning("the installed snapshot %.12s has SHA-256 %.12s (damaged?); fetching the full blob",
				    m.sha256, hex);
			free(old);
			old = NULL;
		}
	}
	if (old && !strcmp(acc.installed, m.sha256)) {
		stream = old;
		old = NULL;
		via = "installed";
	} else {
		r = fetch_snapshot(cfg, h, &m, old, oldlen, acc.installed, &stream, &via, why, sizeof(why));
		free(old);
		old = NULL;
		if (r < 0)
			goto out;
	}
	/* The network part is over: give back the body buffer (a whole blob)
	 * before the decode and the publish need their memory. */
	hs = *scim_http_get_stats(h);
	res->retry_hint = scim_http_retry_hint(h);
	scim_http_free(h);
	h = NULL;
	http_done = true;
	/* The stream's own signature (what minisign -V checks by hand) is
	 * not checked again here: the verified trusted comment signs the
	 * stream's SHA-256, which the stream has, and the comment's signature
	 * covers the stream's signature too.  A second check would add a
	 * BLAKE2b pass over the whole stream and no assurance. */
	if (cfg->primary_group) {
		struct scim_local *l = NULL;
		if (scim_local_load(NULL, NULL, &l) == 0)
			(void)scim_local_group_gid(l, cfg->primary_group, &lim.primary_gid);
		scim_local_free(l);
	}
	lim.expect = &m.counts;
	/* The stream goes to snapshot.new now, and becomes snapshot.current
	 * (what deltas apply to) only once published: decode takes the buffer,
	 * and one copy of a 40 MB stream in memory is enough. */
	fresh_stream = strcmp(via, "installed") != 0;
	if (fresh_stream) {
		r = scim_fleet_write_file(cfg->state_dir, SCIM_HOST_SNAPSHOT ".new", stream, (size_t)m.size, 0600, 0);
		if (r < 0) {
			log_warning("cannot keep the new snapshot in %s: %s (the next change is a full download)",
				    cfg->state_dir, strerror(-r));
			fresh_stream = false;
			keep_installed = false;
		}
	}
	r = scim_snap_decode(stream, (size_t)m.size, &lim, &sdir, err);
	stream = NULL; /* taken by decode, freed with sdir (or on failure) */
	if (r < 0) {
		snprintf(why, sizeof(why), "snapshot %.12s: %s", m.sha256, err);
		goto out;
	}
	decoded = true;
	r = host_apply(cfg, &sdir, &hd, &st, why, sizeof(why));
	if (r < 0)
		goto out;
	scim_snap_dir_drop_arrays(&sdir);
	struct scim_pub_dir d = {
		.source = cfg->snapshot_url,
		.last_sync = m.synced,
		.idmap = hd.idmap,
		.users = hd.users,
		.nusers = hd.nusers,
		.groups = hd.groups,
		.ngroups = hd.ngroups,
		.removed = hd.removed,
		.nremoved = hd.nremoved,
	};
	stage = "publish";
	r = scim_publish_dir(cfg, &d, force, &st);
	if (r < 0) {
		snprintf(why, sizeof(why), "%s", r == -ECANCELED ? "refused by a publishing guard" : strerror(-r));
		goto out;
	}
	res->published = true;
	scim_nscd_invalidate();
	/* Now the installed copy and the accepted manifest: a crash before
	 * this leaves the old ones, and the next poll fetches again. */
	next = acc;
	if (fresh_stream) {
		char from[4200], to[4200];
		state_path(cfg, SCIM_HOST_SNAPSHOT ".new", from, sizeof(from));
		state_path(cfg, SCIM_HOST_SNAPSHOT, to, sizeof(to));
		if (rename(from, to) < 0) {
			log_warning("cannot rename %s: %s (the next change is a full download)", from, strerror(errno));
			keep_installed = false;
		}
	}
	if (keep_installed) {
		memcpy(next.installed, m.sha256, sizeof(m.sha256));
		next.installed_size = m.size;
	} else {
		next.installed[0] = 0;
	}
	next.last.serial = m.serial;
	scim_snap_sha256_hex(sig.comment, strlen(sig.comment), next.last.comment_sha256);
	snprintf(next.etag, sizeof(next.etag), "%s", etag);
	snprintf(next.comment, sizeof(next.comment), "%s", sig.comment);
	r = accepted_save(cfg, &next);
	res->fresh = true;
	goto out;

unchanged:
	/* Nothing new: only freshness.  An expired manifest that keeps coming
	 * back (the relay stopped, the edge serves it stale) is a failure. */
	if (acc.comment[0] && scim_snap_manifest_parse(acc.comment, &m, err) == 0 &&
	    (int64_t)(now_ms() / 1000) > m.expires) {
		snprintf(why, sizeof(why),
			 "the accepted manifest (serial %" PRIu64 ") expired at %" PRId64
			 " and no newer one is published (is the relay syncing?)",
			 m.serial, m.expires);
		r = -ESTALE;
		goto out;
	}
	res->fresh = true;
	if (etag[0] && strcmp(etag, acc.etag) && acc.last.serial) {
		snprintf(acc.etag, sizeof(acc.etag), "%s", etag);
		(void)accepted_save(cfg, &acc);
	}
	log_info("snapshot from %s unchanged: serial=%" PRIu64 " synced=%" PRId64 "%s", cfg->snapshot_url,
		 acc.last.serial, acc.comment[0] ? m.synced : (int64_t)0, manifest_304 ? " (304)" : "");
out:
	if (h) {
		hs = *scim_http_get_stats(h);
		res->retry_hint = scim_http_retry_hint(h);
	}
	if (h || http_done) {
		double dt = mono() - t0;
		if (r == 0 && res->published) {
			scim_sync_stats_format(&st, line, sizeof(line));
			log_info("snapshot from %s installed: %s serial=%" PRIu64 " sha256=%.12s via=%s requests=%lu "
				 "bytes=%llu duration=%.2fs generation=%llu",
				 cfg->snapshot_url, line, m.serial, m.sha256, via, hs.requests,
				 (unsigned long long)hs.bytes, dt, (unsigned long long)st.generation);
		} else if (r < 0) {
			log_error("snapshot sync from %s failed at the %s (%s): nothing published; requests=%lu "
				  "bytes=%llu duration=%.2fs",
				  cfg->snapshot_url, stage, why[0] ? why : strerror(-r), hs.requests,
				  (unsigned long long)hs.bytes, dt);
		}
	} else if (r < 0) {
		log_error("snapshot sync from %s failed (%s): nothing published", cfg->snapshot_url, strerror(-r));
	}
	host_dir_free(&hd); /* first: its id map borrows ids from the stream */
	if (decoded)
		scim_snap_dir_free(&sdir);
	free(stream);
	free(old);
	scim_http_free(h);
	return r;
}
