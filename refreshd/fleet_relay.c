/* fleet_relay.c - a relay publishes its cache as a signed snapshot
 * (see fleet.h).
 *
 * The snapshot is read back from the cache the sync just published rather
 * than taken from the sync's memory: it is exactly what the relay's own
 * hosts-to-be would see, it needs nothing from the SCIM side, and a relay
 * that restarts can re-sign from its cache alone. */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "refreshd/fleet.h"
#include "refreshd/idmap.h"
#include "refreshd/local.h"
#include "refreshd/log.h"
#include "refreshd/table.h"
#include "snapshot/snapshot.h"

#include <zstd.h>

/* ------------------------------------------------- the cache as a snapshot */

struct rgroup {
	const char *id, *name;
	uint32_t gid, nmembers;
	const char **members; /* names (the cache has no ids for them) */
};

struct build {
	struct scim_arena a;
	struct scim_snap_user *users;
	size_t nusers, ucap;
	struct rgroup *groups;
	size_t ngroups, gcap;
	struct scim_snap_removed *removed;
	size_t nremoved, rcap;
	uint32_t *member_users; /* every group's members, as indexes into users */
	int err;
};

static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return arr;
	size_t c = *cap ? *cap * 2 : 256;
	void *p = realloc(arr, c * size);
	if (p)
		*cap = c;
	return p;
}

static const char *dup_or(struct build *b, const char *s)
{
	const char *d = scim_arena_strdup(&b->a, s ? s : "");
	if (!d)
		b->err = -ENOMEM;
	return d ? d : "";
}

static int user_cb(const struct scim_user *u, void *ctx)
{
	struct build *b = ctx;
	struct scim_snap_user *nu = grow(b->users, &b->ucap, b->nusers, sizeof(*nu));

	if (!nu)
		return -ENOMEM;
	b->users = nu;
	b->users[b->nusers++] = (struct scim_snap_user){
		.id = dup_or(b, u->has_ext ? u->scim_id : ""),
		.name = dup_or(b, u->name),
		.gecos = dup_or(b, u->gecos),
		.home = dup_or(b, u->home),
		.shell = dup_or(b, u->shell),
		.uid = u->uid,
		.gid = u->gid,
		.suspended = u->suspended,
	};
	return b->err;
}

static int group_cb(const struct scim_group *g, void *ctx)
{
	struct build *b = ctx;
	struct rgroup *ng = grow(b->groups, &b->gcap, b->ngroups, sizeof(*ng));
	const char *name;
	size_t pos = 0, len;

	if (!ng)
		return -ENOMEM;
	b->groups = ng;
	ng = &b->groups[b->ngroups++];
	*ng = (struct rgroup){ .id = dup_or(b, g->scim_id), .name = dup_or(b, g->name), .gid = g->gid };
	ng->members = calloc(g->nmembers ? g->nmembers : 1, sizeof(*ng->members));
	if (!ng->members)
		return -ENOMEM;
	while (ng->nmembers < g->nmembers && scim_rec_next_member(g, &pos, &name, &len) == 0) {
		ng->members[ng->nmembers] = scim_arena_strndup(&b->a, name, len);
		if (!ng->members[ng->nmembers++])
			return -ENOMEM;
	}
	return b->err;
}

static int removed_cb(const struct scim_removed *d, void *ctx)
{
	struct build *b = ctx;
	struct scim_snap_removed *nr = grow(b->removed, &b->rcap, b->nremoved, sizeof(*nr));

	if (!nr)
		return -ENOMEM;
	b->removed = nr;
	b->removed[b->nremoved++] = (struct scim_snap_removed){
		.id = dup_or(b, d->scim_id),
		.name = dup_or(b, d->name),
		.uid = d->uid,
		.since = d->since,
	};
	return b->err;
}

static void build_free(struct build *b)
{
	for (size_t i = 0; i < b->ngroups; i++)
		free(b->groups[i].members);
	free(b->users);
	free(b->groups);
	free(b->removed);
	free(b->member_users);
	scim_arena_free(&b->a);
}

/* Reads the cache and shapes it as a snapshot directory: user-private groups
 * are left out (a host makes them again from gid == uid), members become
 * indexes into the users (the encoder writes their uids), and a removed user is kept only where the stream allows it (a
 * known id whose number no user holds: a renamed user's old name is the
 * host's own business). */
static int read_cache(const struct scim_config *cfg, struct build *b, struct scim_snap_dir *dir,
		      struct scim_snap_group **groups_out, struct scim_cache_header *hdr, struct scim_snap_counts *cn)
{
	struct scim_strmap names = { 0 }, ids = { 0 };
	struct scim_nummap uids = { 0 };
	struct scim_snap_group *sg = NULL;
	size_t ng = 0, nr = 0, nm = 0, total = 0;
	int r;

	r = scim_cache_file_scan_all(cfg->cache_file, hdr, user_cb, group_cb, removed_cb, b);
	if (r < 0) {
		log_error("cannot read the cache %s to publish it: %s", cfg->cache_file, strerror(-r));
		goto out;
	}
	memset(cn, 0, sizeof(*cn));
	r = scim_strmap_reserve(&names, b->nusers);
	if (r == 0)
		r = scim_nummap_reserve(&uids, b->nusers);
	for (size_t i = 0; i < b->nusers && r == 0; i++) {
		uint32_t v = (uint32_t)i;
		if (!*b->users[i].id) {
			log_error("user %s has no SCIM id in %s: cannot publish it", b->users[i].name, cfg->cache_file);
			r = -EBADMSG;
			break;
		}
		r = scim_strmap_put(&names, 'u', b->users[i].name, &v);
		if (r == 0)
			r = scim_strmap_put(&ids, 'u', b->users[i].id, &v);
		if (r == 0)
			r = scim_nummap_put(&uids, b->users[i].uid, v);
		cn->suspended += b->users[i].suspended;
	}
	if (r < 0)
		goto out;
	for (size_t i = 0; i < b->ngroups; i++)
		total += b->groups[i].nmembers;
	sg = calloc(b->ngroups ? b->ngroups : 1, sizeof(*sg));
	b->member_users = malloc((total ? total : 1) * sizeof(*b->member_users));
	if (!sg || !b->member_users) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < b->ngroups; i++) {
		struct rgroup *g = &b->groups[i];
		uint32_t u;
		if (scim_nummap_get(&uids, g->gid, &u) == 0)
			continue; /* a user-private group */
		sg[ng] = (struct scim_snap_group){
			.id = g->id, .name = g->name, .gid = g->gid, .nmembers = g->nmembers,
			.member_users = b->member_users + nm,
		};
		for (uint32_t k = 0; k < g->nmembers; k++) {
			if (scim_strmap_get(&names, 'u', g->members[k], &u) < 0) {
				log_error("group %s: member %s is no user of %s", g->name, g->members[k],
					  cfg->cache_file);
				r = -EBADMSG;
				goto out;
			}
			b->member_users[nm++] = u;
		}
		ng++;
		cn->members += g->nmembers;
	}
	for (size_t i = 0; i < b->nremoved; i++) {
		struct scim_snap_removed *d = &b->removed[i];
		uint32_t v;
		if (!*d->id || scim_nummap_get(&uids, d->uid, &v) == 0 || scim_strmap_get(&ids, 'u', d->id, &v) == 0)
			continue;
		v = (uint32_t)nr;
		if (scim_nummap_put(&uids, d->uid, v) < 0 || scim_strmap_put(&ids, 'u', d->id, &v) < 0)
			continue;
		b->removed[nr++] = *d;
	}
	*dir = (struct scim_snap_dir){ .source = cfg->url ? cfg->url : "import",
				       .nusers = b->nusers,
				       .users = b->users,
				       .nremoved = nr,
				       .removed = b->removed,
				       .ngroups = ng,
				       .groups = sg };
	cn->users = b->nusers;
	cn->removed = nr;
	cn->groups = ng;
	*groups_out = sg;
	sg = NULL;
out:
	free(sg);
	scim_strmap_free(&names);
	scim_strmap_free(&ids);
	scim_nummap_free(&uids);
	return r;
}

/* ------------------------------------------------------------ relay state */

#define HIST_MAX (SCIM_SNAP_DELTAS_MAX + 1)

struct blob_seen {
	char name[160]; /* "snapshots/X.zst" or "deltas/X-Y.zst" */
	int64_t offered; /* when a manifest last offered it */
};

struct relay_state {
	uint64_t serial;
	size_t nhist;
	struct {
		char sha[SCIM_SNAP_SHA256_HEX];
		uint64_t size;
	} hist[HIST_MAX]; /* newest first */
	struct blob_seen *blobs;
	size_t nblobs, bcap;
};

static int state_load(const struct scim_config *cfg, struct relay_state *s)
{
	char path[4200], *buf = NULL, *line, *save = NULL;
	size_t len;
	int r;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "%s/%s", cfg->state_dir, SCIM_RELAY_STATE);
	r = scim_fleet_read_file(path, 16 << 20, &buf, &len);
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		log_error("cannot read %s: %s", path, strerror(-r));
		return r;
	}
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char a[200];
		unsigned long long n;
		long long t;
		if (sscanf(line, "serial %llu", &n) == 1) {
			s->serial = n;
		} else if (sscanf(line, "snap %64s %llu", a, &n) == 2 && strlen(a) == 64 && s->nhist < HIST_MAX) {
			memcpy(s->hist[s->nhist].sha, a, 65);
			s->hist[s->nhist++].size = n;
		} else if (sscanf(line, "blob %159s %lld", a, &t) == 2) {
			struct blob_seen *nb = grow(s->blobs, &s->bcap, s->nblobs, sizeof(*nb));
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			s->blobs = nb;
			snprintf(nb[s->nblobs].name, sizeof(nb->name), "%s", a);
			nb[s->nblobs++].offered = t;
		}
	}
	free(buf);
	return r;
}

static int state_save(const struct scim_config *cfg, const struct relay_state *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int r;

	if (!f)
		return -ENOMEM;
	fprintf(f, "scim-relay-state 1\nserial %" PRIu64 "\n", s->serial);
	for (size_t i = 0; i < s->nhist; i++)
		fprintf(f, "snap %s %" PRIu64 "\n", s->hist[i].sha, s->hist[i].size);
	for (size_t i = 0; i < s->nblobs; i++)
		fprintf(f, "blob %s %" PRId64 "\n", s->blobs[i].name, s->blobs[i].offered);
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	r = scim_fleet_write_file(cfg->state_dir, SCIM_RELAY_STATE, buf, len, 0600, 0);
	if (r < 0)
		log_error("cannot write %s/%s: %s", cfg->state_dir, SCIM_RELAY_STATE, strerror(-r));
	free(buf);
	return r;
}

static struct blob_seen *blob_find(struct relay_state *s, const char *name, bool add, int64_t now)
{
	for (size_t i = 0; i < s->nblobs; i++)
		if (!strcmp(s->blobs[i].name, name))
			return &s->blobs[i];
	if (!add)
		return NULL;
	struct blob_seen *nb = grow(s->blobs, &s->bcap, s->nblobs, sizeof(*nb));
	if (!nb)
		return NULL;
	s->blobs = nb;
	snprintf(nb[s->nblobs].name, sizeof(nb->name), "%s", name);
	nb[s->nblobs].offered = now;
	return &nb[s->nblobs++];
}

/* Removes blobs no manifest has offered for longer than a manifest lives:
 * every manifest that named them has expired, so no host may still ask.
 * The snapshots of the history stay: deltas are made from them. */
static void collect_garbage(const struct scim_config *cfg, struct relay_state *s, int64_t now)
{
	static const char *const dirs[] = { "snapshots", "deltas" };

	for (size_t d = 0; d < 2; d++) {
		char path[4200];
		struct dirent *de;
		DIR *dp;
		snprintf(path, sizeof(path), "%s/%s", cfg->publish_dir, dirs[d]);
		dp = opendir(path);
		if (!dp)
			continue;
		while ((de = readdir(dp))) {
			char name[160];
			struct blob_seen *b;
			size_t n = strlen(de->d_name);
			bool in_hist = false;
			if (de->d_name[0] == '.' || n < 5 || n > 140 || strcmp(de->d_name + n - 4, ".zst"))
				continue;
			snprintf(name, sizeof(name), "%s/%s", dirs[d], de->d_name);
			for (size_t i = 0; d == 0 && i < s->nhist; i++)
				if (n == 68 && !strncmp(de->d_name, s->hist[i].sha, 64))
					in_hist = true;
			b = blob_find(s, name, true, now);
			if (!b || in_hist)
				continue;
			if (now - b->offered >= (int64_t)cfg->manifest_expires) {
				snprintf(path, sizeof(path), "%s/%s", cfg->publish_dir, name);
				if (unlink(path) == 0)
					log_info("removed %s: no manifest has offered it for %u s", name,
						 cfg->manifest_expires);
				b->name[0] = 0;
			}
		}
		closedir(dp);
	}
	/* Forget what is gone from the disk. */
	size_t k = 0;
	for (size_t i = 0; i < s->nblobs; i++) {
		char path[4200];
		struct stat st;
		snprintf(path, sizeof(path), "%s/%s", cfg->publish_dir, s->blobs[i].name);
		if (s->blobs[i].name[0] && stat(path, &st) == 0)
			s->blobs[k++] = s->blobs[i];
	}
	s->nblobs = k;
}

/* ---------------------------------------------------------------- publish */

static int ensure_dir(const char *base, const char *sub)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s%s%s", base, sub ? "/" : "", sub ? sub : "");
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int file_size(const char *path, uint64_t *size)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return -errno;
	*size = (uint64_t)st.st_size;
	return 0;
}

/* deltas/FROM-TO.zst for one FROM of the history, made if missing. */
static int make_delta(const struct scim_config *cfg, const char *from, uint64_t from_size, const char *to,
		      const char *stream, size_t len, uint64_t *zsize)
{
	char path[4200], name[160], err[SCIM_SNAP_ERR_MAX];
	char *z = NULL;
	void *old = NULL, *delta = NULL;
	size_t zlen, dlen;
	int r;

	snprintf(name, sizeof(name), "%s-%s.zst", from, to);
	snprintf(path, sizeof(path), "%s/deltas/%s", cfg->publish_dir, name);
	if (file_size(path, zsize) == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/snapshots/%s.zst", cfg->publish_dir, from);
	r = scim_fleet_read_file(path, SCIM_SNAP_RAW_MAX, &z, &zlen);
	if (r < 0)
		goto out; /* an old snapshot that was removed: no delta from it */
	r = scim_snap_decompress(z, zlen, (size_t)from_size, &old, err);
	if (r < 0) {
		log_warning("cannot read %s for a delta: %s", path, err);
		goto out;
	}
	r = scim_snap_delta_make(old, (size_t)from_size, stream, len, SCIM_SNAP_ZSTD_LEVEL, &delta, &dlen, err);
	if (r < 0) {
		log_warning("cannot make the delta %s: %s", name, err);
		goto out;
	}
	snprintf(path, sizeof(path), "%s/deltas", cfg->publish_dir);
	r = scim_fleet_write_file(path, name, delta, dlen, 0644, 0);
	if (r < 0) {
		log_error("cannot write %s/%s: %s", path, name, strerror(-r));
		goto out;
	}
	*zsize = dlen;
out:
	free(z);
	free(old);
	free(delta);
	return r;
}

/* The process's CPU time, for the publish's log line: a relay's cost per
 * publish is mostly its deltas (publish_deltas of them per new snapshot). */
static double cpu_seconds(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int scim_fleet_relay_publish(const struct scim_config *cfg, int64_t synced)
{
	double cpu0 = cpu_seconds();
	struct build b = { 0 };
	struct scim_snap_dir dir;
	struct scim_snap_group *groups = NULL;
	struct scim_cache_header hdr = { 0 };
	struct scim_snap_limits lim = { .uid_min = cfg->uid_min, .uid_max = cfg->uid_max };
	struct scim_snap_manifest m = { 0 };
	struct scim_snap_seckey sk;
	struct relay_state s = { 0 };
	char err[SCIM_SNAP_ERR_MAX], path[4200], name[160], comment[SCIM_SNAP_COMMENT_MAX];
	char *stream = NULL, *sig = NULL;
	void *z = NULL;
	size_t len = 0, zlen;
	bool have_key = false;
	uint64_t ms;
	int r;

	r = state_load(cfg, &s);
	if (r < 0)
		goto out;
	r = read_cache(cfg, &b, &dir, &groups, &hdr, &m.counts);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < b.nusers; i++)
		if (b.users[i].gid != b.users[i].uid)
			lim.primary_gid = b.users[i].gid;
	r = scim_snap_encode(&dir, &lim, &stream, &len, err);
	if (r < 0) {
		log_error("cannot encode the snapshot: %s", err);
		goto out;
	}
	scim_snap_sha256_hex(stream, len, m.sha256);
	m.size = len;
	if ((r = ensure_dir(cfg->publish_dir, NULL)) < 0 || (r = ensure_dir(cfg->publish_dir, "snapshots")) < 0 ||
	    (r = ensure_dir(cfg->publish_dir, "deltas")) < 0) {
		log_error("cannot create %s and its snapshots/ and deltas/: %s", cfg->publish_dir, strerror(-r));
		goto out;
	}

	/* The full blob, once per content. */
	snprintf(name, sizeof(name), "%s.zst", m.sha256);
	snprintf(path, sizeof(path), "%s/snapshots/%s", cfg->publish_dir, name);
	if (file_size(path, &m.zsize) < 0) {
		r = scim_snap_compress(stream, len, SCIM_SNAP_ZSTD_LEVEL, &z, &zlen, err);
		if (r < 0) {
			log_error("cannot compress the snapshot: %s", err);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/snapshots", cfg->publish_dir);
		r = scim_fleet_write_file(path, name, z, zlen, 0644, 0);
		if (r < 0) {
			log_error("cannot write %s/%s: %s", path, name, strerror(-r));
			goto out;
		}
		m.zsize = zlen;
	}

	/* The history: this snapshot first, then up to publish_deltas others. */
	if (s.nhist == 0 || strcmp(s.hist[0].sha, m.sha256)) {
		/* From a copy: shifting in place would overwrite what is read next. */
		struct relay_state prev = s;
		size_t k = 1;
		for (size_t i = 0; i < prev.nhist && k < HIST_MAX; i++)
			if (strcmp(prev.hist[i].sha, m.sha256))
				s.hist[k++] = prev.hist[i];
		memcpy(s.hist[0].sha, m.sha256, sizeof(m.sha256));
		s.hist[0].size = len;
		s.nhist = k;
	}
	if (s.nhist > (size_t)cfg->publish_deltas + 1)
		s.nhist = (size_t)cfg->publish_deltas + 1;
	for (size_t i = 1; i < s.nhist && m.ndeltas < SCIM_SNAP_DELTAS_MAX; i++) {
		uint64_t dz = 0;
		if (make_delta(cfg, s.hist[i].sha, s.hist[i].size, m.sha256, stream, len, &dz) < 0)
			continue;
		memcpy(m.deltas[m.ndeltas].from, s.hist[i].sha, SCIM_SNAP_SHA256_HEX);
		m.deltas[m.ndeltas++].zsize = dz;
	}

	/* Never two manifests in one second: nginx's ETag is mtime and size,
	 * and a host answered 304 for a new manifest would miss it. */
	ms = now_ms();
	if (ms / 1000 <= s.serial / 1000) {
		uint64_t wait = (s.serial / 1000 + 1) * 1000 - ms;
		if (wait > 2000) {
			log_error("the last manifest's serial %" PRIu64 " is in the future (clock set back?); "
				  "not publishing before it",
				  s.serial);
			r = -ESTALE;
			goto out;
		}
		struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000L };
		nanosleep(&ts, NULL);
		ms = now_ms();
	}
	snprintf(m.fleet, sizeof(m.fleet), "%s", cfg->fleet_name);
	m.serial = ms;
	m.issued = (int64_t)(ms / 1000);
	m.expires = m.issued + (int64_t)cfg->manifest_expires;
	/* The cache's last_sync is the relay's last successful SCIM sync. */
	m.synced = synced ? synced : hdr.last_sync;
	m.generation = hdr.generation;
	r = scim_snap_manifest_format(&m, comment, sizeof(comment), err);
	if (r < 0) {
		log_error("cannot write the manifest: %s", err);
		goto out;
	}
	r = scim_snap_seckey_load(cfg->signing_key, &sk, err);
	if (r < 0) {
		log_error("signing_key: %s", err);
		goto out;
	}
	have_key = true;
	r = scim_snap_sign(&sk, stream, len, comment, &sig, err);
	if (r < 0) {
		log_error("cannot sign the manifest: %s", err);
		goto out;
	}
	r = scim_fleet_write_file(cfg->publish_dir, SCIM_FLEET_MANIFEST, sig, strlen(sig), 0644, m.issued);
	if (r < 0) {
		log_error("cannot write %s/%s: %s", cfg->publish_dir, SCIM_FLEET_MANIFEST, strerror(-r));
		goto out;
	}
	s.serial = m.serial;

	/* What this manifest offers starts (or restarts) its grace period. */
	for (size_t i = 0; i <= m.ndeltas; i++) {
		struct blob_seen *bs;
		if (i == m.ndeltas)
			snprintf(name, sizeof(name), "snapshots/%s.zst", m.sha256);
		else
			snprintf(name, sizeof(name), "deltas/%s-%s.zst", m.deltas[i].from, m.sha256);
		bs = blob_find(&s, name, true, m.issued);
		if (bs)
			bs->offered = m.issued;
	}
	collect_garbage(cfg, &s, m.issued);
	r = state_save(cfg, &s);
	log_info("published snapshot %.12s to %s: serial=%" PRIu64 " users=%" PRIu64 " groups=%" PRIu64 " size=%" PRIu64
		 " zsize=%" PRIu64 " deltas=%zu expires=%" PRId64 " synced=%" PRId64 " cpu=%.2fs",
		 m.sha256, cfg->publish_dir, m.serial, m.counts.users, m.counts.groups, m.size, m.zsize, m.ndeltas,
		 m.expires, m.synced, cpu_seconds() - cpu0);
out:
	if (have_key)
		scim_snap_seckey_wipe(&sk);
	free(sig);
	free(z);
	free(stream);
	free(groups);
	free(s.blobs);
	build_free(&b);
	return r;
}

int scim_fleet_keygen(const char *prefix)
{
	char err[SCIM_SNAP_ERR_MAX];
	int r = scim_snap_keygen(prefix, err);

	if (r < 0) {
		log_error("--keygen %s: %s", prefix,
			  r == -EEXIST ? "the key files exist already; not overwriting" : err);
		return r;
	}
	log_notice("wrote %s.key (the relay's signing_key, mode 0600) and %s.pub "
		   "(its second line is the hosts' "
		   "snapshot_pubkey)",
		   prefix, prefix);
	return 0;
}

static int seed_one(struct scim_idmap *map, char kind, const char *id, uint32_t number, bool gone, uint32_t *added)
{
	uint32_t n;
	int r = scim_idmap_get(map, kind, id, &n, NULL);

	if (r == 0) {
		if (n == number)
			return 0;
		log_error("id=%s has number %u in this id map, the snapshot says %u: not "
			  "seeding (numbers never move)",
			  id, n, number);
		return -EEXIST;
	}
	if (scim_idmap_number_taken(map, number)) {
		log_error("number %u of id=%s is held by another id in this id map: not seeding", number, id);
		return -EEXIST;
	}
	r = scim_idmap_add(map, kind, id, number);
	if (r == 0 && gone)
		r = scim_idmap_set_flags(map, kind, id, SCIM_IDMAP_GONE);
	if (r == 0)
		(*added)++;
	return r;
}

int scim_fleet_seed_idmap(const struct scim_config *cfg, const char *snapshot_path)
{
	struct scim_snap_limits lim = { .uid_min = cfg->uid_min, .uid_max = cfg->uid_max };
	struct scim_snap_dir dir;
	struct scim_idmap *map = NULL;
	char err[SCIM_SNAP_ERR_MAX];
	char *buf = NULL;
	void *raw = NULL;
	size_t len;
	uint32_t added = 0;
	bool decoded = false;
	int r;

	r = scim_fleet_read_file(snapshot_path, SCIM_SNAP_RAW_MAX, &buf, &len);
	if (r < 0) {
		log_error("--seed-idmap %s: %s", snapshot_path, strerror(-r));
		return r;
	}
	/* A blob from snapshots/, or the stream it holds. */
	if (len >= 4 && (unsigned char)buf[0] == 0x28 && (unsigned char)buf[1] == 0xb5 &&
	    (unsigned char)buf[2] == 0x2f && (unsigned char)buf[3] == 0xfd) {
		unsigned long long size = ZSTD_getFrameContentSize(buf, len);
		if (size == ZSTD_CONTENTSIZE_UNKNOWN || size == ZSTD_CONTENTSIZE_ERROR || size > SCIM_SNAP_RAW_MAX) {
			log_error("--seed-idmap %s: not a snapshot blob (no content size)", snapshot_path);
			r = -EBADMSG;
			goto out;
		}
		r = scim_snap_decompress(buf, len, (size_t)size, &raw, err);
		free(buf);
		buf = NULL;
		if (r < 0) {
			log_error("--seed-idmap %s: %s", snapshot_path, err);
			goto out;
		}
		buf = raw;
		raw = NULL;
		len = (size_t)size;
	}
	if (cfg->primary_group) {
		struct scim_local *l = NULL;
		if (scim_local_load(NULL, NULL, &l) == 0)
			(void)scim_local_group_gid(l, cfg->primary_group, &lim.primary_gid);
		scim_local_free(l);
	}
	r = scim_snap_decode(buf, len, &lim, &dir, err);
	buf = NULL; /* taken by decode */
	if (r < 0) {
		log_error("--seed-idmap %s: %s", snapshot_path, err);
		goto out;
	}
	decoded = true;
	r = scim_idmap_open(cfg->state_dir, true, &map);
	if (r < 0) {
		log_error("--seed-idmap: cannot open the id map in %s: %s", cfg->state_dir, strerror(-r));
		goto out;
	}
	for (size_t i = 0; i < dir.nusers && r == 0; i++)
		r = seed_one(map, SCIM_IDMAP_USER, dir.users[i].id, dir.users[i].uid, false, &added);
	for (size_t i = 0; i < dir.nremoved && r == 0; i++)
		r = seed_one(map, SCIM_IDMAP_USER, dir.removed[i].id, dir.removed[i].uid, true, &added);
	for (size_t i = 0; i < dir.ngroups && r == 0; i++)
		r = seed_one(map, SCIM_IDMAP_GROUP, dir.groups[i].id, dir.groups[i].gid, false, &added);
	if (r == 0)
		r = scim_idmap_commit(map);
	if (r < 0) {
		log_error("--seed-idmap %s: the id map is unchanged", snapshot_path);
		goto out;
	}
	log_notice("seeded the id map in %s from %s: %u new numbers (%zu users, %zu "
		   "removed users, %zu groups in the "
		   "snapshot)",
		   cfg->state_dir, snapshot_path, added, dir.nusers, dir.nremoved, dir.ngroups);
out:
	scim_idmap_close(map);
	if (decoded)
		scim_snap_dir_free(&dir);
	free(buf);
	free(raw);
	return r;
}
