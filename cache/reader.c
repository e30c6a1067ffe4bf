/* reader.c - the process-wide, read-only view of the cache.
 *
 * Why one table for the whole process: sshd loads the NSS module and the PAM
 * module into one process, and tdb refuses a second open of the same file in
 * one process (its list of open databases is global).  pam_scim.so therefore
 * reaches this code through libnss_scim.so.2 rather than linking a copy.
 *
 * Why a snapshot is refcounted: an enumeration pins the file it started on,
 * so a whole getpwent pass comes from one published cache even when a new one
 * is published meanwhile; lookups always use the newest file.
 *
 * Why snapshots are found by device and inode, not by path: one file may be
 * named several ways ("//", a symlink, NSS_SCIM_CACHE and pam_scim's cache=),
 * and a second tdb_open of it would fail with EBUSY.  Each spelling has a
 * source of its own; sources naming one file share its snapshot. */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <tdb.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/index.h"
#include "cache/lookup.h"
#include "cache/record.h"
#include "cache/tdbfile.h"

#ifndef SCIM_CACHE_FILE
#define SCIM_CACHE_FILE "/var/lib/nss-pam-scim/cache.tdb"
#endif

/* How long a reader trusts the replaced-file mark alone before it also
 * stat()s the path (covers a publisher that died between rename and mark). */
#define RECHECK_NSEC 1000000000LL
#define MAX_SOURCES 8

struct scim_snapshot {
	struct tdb_context *tdb;
	int seqnum;
	bool dead; /* the file shrank under its mappings: never touch them again */
	dev_t dev;
	ino_t ino;
	off_t size; /* what the mappings (ours and libtdb's) cover */
	unsigned refs;
	struct scim_snapshot *next; /* in the list of every open snapshot */
	uint32_t user_chunks, group_chunks;
	/* The direct indexes (index.h), read through a mapping of our own:
	 * libtdb keeps its mapping to itself. */
	const unsigned char *map;
	size_t map_len;
	struct scim_index ix[SCIM_INDEX_NKINDS];
};

/* One cache path and the snapshot currently open for it. */
struct source {
	char *path;
	struct scim_snapshot *snap;
	int64_t checked_ns;
	/* The last file that failed to open, so a corrupt cache is not reopened
	 * and re-read on every lookup; any change to it is retried at once. */
	int failed_err;
	struct stat failed_st;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static struct source sources[MAX_SOURCES];
static struct scim_snapshot *open_snapshots;
static char *default_path;

/* ---------------------------------------------------------------- setup */

static void atfork_prepare(void)
{
	pthread_mutex_lock(&cache_lock);
}

static void atfork_release(void)
{
	pthread_mutex_unlock(&cache_lock);
}

static void cache_init(void)
{
	const char *env = secure_getenv("NSS_SCIM_CACHE");
	default_path = env && *env ? strdup(env) : NULL;
	/* Without this a child forked while another thread held the lock would
	 * deadlock on its first lookup. */
	pthread_atfork(atfork_prepare, atfork_release, atfork_release);
}

const char *scim_cache_default_path(void)
{
	pthread_once(&cache_once, cache_init);
	return default_path ? default_path : SCIM_CACHE_FILE;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	/* The coarse clock is read from the vDSO: no system call. */
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---------------------------------------------------------------- snapshots */

static void snapshot_unref(struct scim_snapshot *s)
{
	if (s && --s->refs == 0) {
		for (struct scim_snapshot **p = &open_snapshots; *p; p = &(*p)->next) {
			if (*p == s) {
				*p = s->next;
				break;
			}
		}
		if (s->map)
			munmap((void *)s->map, s->map_len);
		tdb_close(s->tdb);
		free(s);
	}
}

static int header_into_snapshot(const unsigned char *data, size_t len, void *ctx)
{
	struct scim_snapshot *s = ctx;
	struct scim_cache_header h;
	int r = scim_rec_decode_header(data, len, &h);
	if (r < 0)
		return r;
	s->user_chunks = h.user_chunks;
	s->group_chunks = h.group_chunks;
	return 0;
}

struct locator {
	unsigned char data[SCIM_INDEX_LOCATOR_SIZE];
	size_t len;
};

static int copy_locator(const unsigned char *data, size_t len, void *ctx)
{
	struct locator *l = ctx;
	if (len > sizeof(l->data))
		len = sizeof(l->data); /* kinds this reader does not know */
	memcpy(l->data, data, len);
	l->len = len;
	return 0;
}

/* Sets up the direct indexes if the file has them.  Without them (or with a
 * damaged locator) lookups go through libtdb, slower but just as right. */
static void indexes_open(struct scim_snapshot *s, size_t file_size)
{
	unsigned char key = SCIM_KEY_INDEX_LOCATOR;
	struct locator loc;
	void *map;

	if (scim_tdb_parse(s->tdb, &key, 1, copy_locator, &loc) != 0 || file_size < SCIM_TDB_HEADER_SIZE)
		return;
	map = mmap(NULL, file_size, PROT_READ, MAP_SHARED, tdb_fd(s->tdb), 0);
	if (map == MAP_FAILED)
		return;
	if (scim_index_open(loc.data, loc.len, map, file_size, s->ix) < 0) {
		munmap(map, file_size);
		return;
	}
	s->map = map;
	s->map_len = file_size;
}

/* The replaced-file mark (see cache.h): tdb's sequence number, read from
 * our own mapping when there is one, which spares every lookup a call into
 * libtdb and the cache lines of its handle. */
static int snapshot_mark(const struct scim_snapshot *s)
{
	uint32_t v;
	if (!s->map)
		return tdb_get_seqnum(s->tdb);
	memcpy(&v, s->map + SCIM_TDB_SEQNUM_OFFSET, sizeof(v));
	return (int)v;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* A cache anyone but root (or us) could have written is not an answer. */
static int check_owner(const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return -EBADMSG;
	if (st->st_uid != 0 && st->st_uid != geteuid())
		return -EPERM;
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return -EPERM;
	return 0;
}

static int snapshot_open(struct source *src, const struct stat *st, struct scim_snapshot **out)
{
	struct scim_snapshot *s = NULL;
	struct stat fst;
	unsigned char key = SCIM_KEY_HEADER;
	int r;

	r = check_owner(st);
	if (r < 0)
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s) {
		r = -ENOMEM;
		goto out;
	}
	s->refs = 1;
	s->tdb = tdb_open(src->path, 0, TDB_NOLOCK, O_RDONLY | O_CLOEXEC, 0);
	if (!s->tdb) {
		r = errno == ENOENT ? -ENODATA : errno == EACCES ? -EACCES : errno == EBUSY ? -EBUSY : -EBADMSG;
		goto out;
	}
	/* The file we opened must be the one we checked. */
	if (fstat(tdb_fd(s->tdb), &fst) < 0 || fst.st_dev != st->st_dev || fst.st_ino != st->st_ino) {
		r = -EAGAIN;
		goto out;
	}
	r = scim_tdb_parse(s->tdb, &key, 1, header_into_snapshot, s);
	if (r < 0) {
		r = r == -ENOENT ? -EBADMSG : r;
		goto out;
	}
	indexes_open(s, (size_t)fst.st_size);
	s->seqnum = snapshot_mark(s);
	/* The publisher renames the new file into place, then marks the one it
	 * replaced.  Had both happened since our stat, the mark just read would
	 * already be the marked value, and this file would pass for current
	 * until the next once-a-second stat: the path must still name it after
	 * the mark is read. */
	if (stat(src->path, &fst) < 0 || fst.st_dev != st->st_dev || fst.st_ino != st->st_ino) {
		r = -EAGAIN;
		goto out;
	}
	s->dev = st->st_dev;
	s->ino = st->st_ino;
	s->size = fst.st_size;
	s->next = open_snapshots;
	open_snapshots = s;
out:
	if (r < 0) {
		if (s && s->map)
			munmap((void *)s->map, s->map_len);
		if (s && s->tdb)
			tdb_close(s->tdb);
		free(s);
		return r;
	}
	*out = s;
	return 0;
}

/* The NSS module always asks for the default path: remembered, so its
 * lookups skip the path comparison. */
static struct source *default_source;

static struct source *find_source(const char *path)
{
	struct source *free_slot = NULL;
	for (int i = 0; i < MAX_SOURCES; i++) {
		if (sources[i].path && strcmp(sources[i].path, path) == 0)
			return &sources[i];
		if (!sources[i].path && !free_slot)
			free_slot = &sources[i];
	}
	/* Full: recycle a path that has nothing open (one that never existed,
	 * say), never the NSS module's default. */
	for (int i = 0; !free_slot && i < MAX_SOURCES; i++) {
		if (!sources[i].snap && &sources[i] != default_source) {
			free(sources[i].path);
			memset(&sources[i], 0, sizeof(sources[i]));
			free_slot = &sources[i];
		}
	}
	if (!free_slot)
		return NULL;
	free_slot->path = strdup(path);
	return free_slot->path ? free_slot : NULL;
}

static struct source *source_for(const char *path)
{
	if (path)
		return find_source(path);
	if (!default_source)
		default_source = find_source(scim_cache_default_path());
	return default_source;
}

/* The open snapshot of the file st describes, under whatever name it was
 * opened: while a snapshot holds the file open its inode cannot be reused, so
 * (dev, ino) names that very file. */
static struct scim_snapshot *open_snapshot_of(const struct stat *st)
{
	for (struct scim_snapshot *s = open_snapshots; s; s = s->next)
		if (!s->dead && s->dev == st->st_dev && s->ino == st->st_ino && s->size <= st->st_size)
			return s;
	return NULL;
}

/* Called with cache_lock held.  Hands out the source's current snapshot
 * (borrowed: valid while the lock is held). */
static int current_snapshot(const char *path, struct scim_snapshot **out)
{
	struct source *src;
	struct stat st;
	int64_t now;
	int r;

	pthread_once(&cache_once, cache_init);
	src = source_for(path);
	if (!src)
		return -ENOMEM;

	now = now_ns();
	if (src->snap) {
		struct scim_snapshot *snap = src->snap;
		/* Fast path: the mark is read from the mapping, no system call.  A
		 * dead snapshot's mapping is not read at all. */
		if (!snap->dead && now - src->checked_ns < RECHECK_NSEC && snapshot_mark(snap) == snap->seqnum) {
			*out = snap;
			return 0;
		}
		/* Once a second: stat before reading the mark, so that a file
		 * written in place (cp over it, truncated) is seen before a page
		 * past its new end is touched, which would SIGBUS. */
		src->checked_ns = now;
		if (!snap->dead && stat(src->path, &st) == 0 && st.st_dev == snap->dev && st.st_ino == snap->ino) {
			if (st.st_size < snap->size) {
				/* Dropped for every source and cursor sharing it. */
				snap->dead = true;
				snapshot_unref(snap);
				src->snap = NULL;
				return -EBADMSG;
			}
			if (snapshot_mark(snap) == snap->seqnum) {
				*out = snap;
				return 0;
			}
		}
		snapshot_unref(snap);
		src->snap = NULL;
	}

	/* Each -EAGAIN means a publish landed while we opened; a few in a row
	 * happen only when publishes come back to back. */
	for (int attempt = 0; attempt < 8; attempt++) {
		if (stat(src->path, &st) < 0)
			return errno == ENOENT || errno == ENOTDIR ? -ENODATA : errno == EACCES ? -EACCES : -EIO;
		if (src->failed_err && same_file(&st, &src->failed_st))
			return src->failed_err;
		if ((src->snap = open_snapshot_of(&st)) != NULL) {
			src->snap->refs++;
			r = 0;
			break;
		}
		r = snapshot_open(src, &st, &src->snap);
		if (r != -EAGAIN) /* -EAGAIN: replaced between stat and open */
			break;
	}
	if (r < 0) {
		src->failed_err = r == -EBUSY || r == -ENOMEM || r == -EAGAIN ? 0 : r;
		src->failed_st = st;
		return r;
	}
	src->failed_err = 0;
	src->checked_ns = now;
	*out = src->snap;
	return 0;
}

/* ---------------------------------------------------------------- lookups */

/* A record found by number must carry that number: want is set then.  The
 * index checks it itself; without an index, a "u"/"g" record that names a
 * user or group with another number is damage. */
struct user_ctx {
	scim_user_cb cb;
	void *ctx;
	const uint32_t *want;
	bool head_only; /* the passwd fields are all the caller reads */
};

static int user_record(const unsigned char *data, size_t len, void *priv)
{
	struct user_ctx *c = priv;
	struct scim_user u;
	int r = c->head_only ? scim_rec_decode_user_head(data, len, &u) : scim_rec_decode_user(data, len, &u);
	if (r == 0 && c->want && u.uid != *c->want)
		r = -EBADMSG;
	return r < 0 ? r : c->cb(&u, c->ctx);
}

struct group_ctx {
	scim_group_cb cb;
	void *ctx;
	const uint32_t *want;
};

static int group_record(const unsigned char *data, size_t len, void *priv)
{
	struct group_ctx *c = priv;
	struct scim_group g;
	int r = scim_rec_decode_group(data, len, &g);
	if (r == 0 && c->want && g.gid != *c->want)
		r = -EBADMSG;
	return r < 0 ? r : c->cb(&g, c->ctx);
}

struct header_ctx {
	scim_header_cb cb;
	void *ctx;
};

static int header_record(const unsigned char *data, size_t len, void *priv)
{
	struct header_ctx *c = priv;
	struct scim_cache_header h;
	int r = scim_rec_decode_header(data, len, &h);
	return r < 0 ? r : c->cb(&h, c->ctx);
}

/* What each index finds, and the keys libtdb finds the same thing under. */
static const struct {
	char name_tag; /* the record: "U"/"G" + name */
	char num_tag;  /* "u"/"g" + number -> name */
	bool items;    /* the index points at "P" chunk items, not at records */
	enum scim_index_kind instead; /* the index to use when this one is absent */
} kinds[SCIM_INDEX_NKINDS] = {
	[SCIM_INDEX_USER_NAME] = { SCIM_KEY_USER_NAME, SCIM_KEY_USER_UID, false, SCIM_INDEX_USER_NAME },
	[SCIM_INDEX_USER_UID] = { SCIM_KEY_USER_NAME, SCIM_KEY_USER_UID, false, SCIM_INDEX_USER_UID },
	[SCIM_INDEX_GROUP_NAME] = { SCIM_KEY_GROUP_NAME, SCIM_KEY_GROUP_GID, false, SCIM_INDEX_GROUP_NAME },
	[SCIM_INDEX_GROUP_GID] = { SCIM_KEY_GROUP_NAME, SCIM_KEY_GROUP_GID, false, SCIM_INDEX_GROUP_GID },
	[SCIM_INDEX_PASSWD_NAME] = { SCIM_KEY_USER_NAME, SCIM_KEY_USER_UID, true, SCIM_INDEX_USER_NAME },
	[SCIM_INDEX_PASSWD_UID] = { SCIM_KEY_USER_NAME, SCIM_KEY_USER_UID, true, SCIM_INDEX_USER_UID },
};

/* A file may lack the passwd tables (too big for them, or written before
 * them): the full records' tables find the same users. */
static enum scim_index_kind usable_kind(const struct scim_snapshot *s, enum scim_index_kind k)
{
	return s->ix[k].slots ? k : kinds[k].instead;
}

/* What a candidate offset of kind k proposes: the record's data and, if
 * name is set, the name it is for (for a record, its key without the tag;
 * for a chunk item, the user's name inside it).  -EBADMSG if there is no
 * such thing there. */
static int index_candidate(const struct scim_snapshot *s, enum scim_index_kind k, uint32_t off,
			   const unsigned char **name, size_t *nlen, const unsigned char **data, size_t *dlen)
{
	const unsigned char *key;
	size_t klen;

	if (off >= s->map_len)
		return -EBADMSG;
	/* A passwd item is about 70 bytes and a full user record about 190
	 * (initgroups reads its gids, at the end), so two to four cache lines,
	 * and the later ones are only addressed after the lengths before them
	 * are read.  Asking for them now makes their misses overlap instead of
	 * queueing.  (A prefetch never faults, even past the end of the
	 * mapping.) */
	__builtin_prefetch(s->map + off + 64);
	__builtin_prefetch(s->map + off + 120);
	if (!kinds[k].items)
		__builtin_prefetch(s->map + off + 184);
	if (kinds[k].items) {
		if (s->map_len - off < 4)
			return -EBADMSG;
		uint32_t n = scim_le32(s->map + off);
		if (n > s->map_len - off - 4)
			return -EBADMSG;
		*data = s->map + off + 4;
		*dlen = n;
		return name ? scim_rec_user_name(*data, *dlen, name, nlen) : 0;
	}
	if (scim_tdb_record_at(s->map, s->map_len, off, &key, &klen, data, dlen) < 0 || klen < 2 ||
	    key[0] != kinds[k].name_tag)
		return -EBADMSG;
	if (name) {
		*name = key + 1;
		*nlen = klen - 1;
	}
	return 0;
}

/* A slot only proposes: its fingerprint matches other keys now and then,
 * so each candidate's own key (or number) decides. */
static int index_by_name(const struct scim_snapshot *s, enum scim_index_kind k, const char *name, size_t n,
			 scim_data_fn fn, void *ctx)
{
	uint32_t check = scim_index_name_check(name, n), pos = 0, off;
	const unsigned char *key, *data;
	size_t klen, dlen;

	while ((off = scim_index_next(&s->ix[k], check, &pos)) != 0) {
		int r = index_candidate(s, k, off, &key, &klen, &data, &dlen);
		if (r < 0)
			return r;
		if (klen == n && !memcmp(key, name, n))
			return fn(data, dlen, ctx);
	}
	return -ENOENT;
}

static int index_by_num(const struct scim_snapshot *s, enum scim_index_kind k, uint32_t num, scim_data_fn fn,
			void *ctx)
{
	uint32_t check = scim_index_number_check(num), pos = 0, off, found;
	const unsigned char *data;
	size_t dlen;

	while ((off = scim_index_next(&s->ix[k], check, &pos)) != 0) {
		int r = index_candidate(s, k, off, NULL, NULL, &data, &dlen);
		if (r == 0)
			r = scim_rec_number(data, dlen, &found);
		if (r < 0)
			return r;
		if (found == num)
			return fn(data, dlen, ctx);
	}
	return -ENOENT;
}

static int lookup_name(const struct scim_snapshot *s, enum scim_index_kind k, const char *name, size_t n,
		       scim_data_fn fn, void *ctx)
{
	return s->ix[k].slots ? index_by_name(s, k, name, n, fn, ctx)
			      : scim_tdb_parse_name(s->tdb, kinds[k].name_tag, name, n, fn, ctx);
}

static int with_snapshot_name(const char *path, enum scim_index_kind k, const char *name, scim_data_fn fn,
			      void *ctx)
{
	struct scim_snapshot *s;
	size_t n = strlen(name);
	int r;

	if (n == 0 || n > SCIM_NAME_MAX)
		return -ENOENT; /* before the lock: a junk name costs nothing */
	pthread_mutex_lock(&cache_lock);
	r = current_snapshot(path, &s);
	if (r == 0)
		r = lookup_name(s, usable_kind(s, k), name, n, fn, ctx);
	pthread_mutex_unlock(&cache_lock);
	return r;
}

/* Without an index: "u" uid and "g" gid hold a name, and the record itself
 * is under "U"/"G" name. */
struct by_num_ctx {
	struct tdb_context *tdb;
	char name_tag;
	scim_data_fn fn;
	void *ctx;
};

static int num_to_record(const unsigned char *data, size_t len, void *priv)
{
	struct by_num_ctx *c = priv;
	int r = scim_tdb_parse_name(c->tdb, c->name_tag, data, len, c->fn, c->ctx);
	return r == -ENOENT ? -EBADMSG : r; /* the number's name must be there */
}

static int with_snapshot_num(const char *path, enum scim_index_kind k, uint32_t num, scim_data_fn fn, void *ctx)
{
	struct scim_snapshot *s;
	unsigned char key[5];
	int r;

	pthread_mutex_lock(&cache_lock);
	r = current_snapshot(path, &s);
	if (r == 0)
		k = usable_kind(s, k);
	if (r == 0 && s->ix[k].slots) {
		r = index_by_num(s, k, num, fn, ctx);
	} else if (r == 0) {
		struct by_num_ctx c = { s->tdb, kinds[k].name_tag, fn, ctx };
		scim_key_num(key, kinds[k].num_tag, num);
		r = scim_tdb_parse(s->tdb, key, sizeof(key), num_to_record, &c);
	}
	pthread_mutex_unlock(&cache_lock);
	return r;
}

int scim_cache_user_by_name(const char *path, const char *name, scim_user_cb cb, void *ctx)
{
	struct user_ctx c = { cb, ctx, NULL, false };
	return with_snapshot_name(path, SCIM_INDEX_USER_NAME, name, user_record, &c);
}

int scim_cache_user_by_uid(const char *path, uint32_t uid, scim_user_cb cb, void *ctx)
{
	struct user_ctx c = { cb, ctx, &uid, false };
	return with_snapshot_num(path, SCIM_INDEX_USER_UID, uid, user_record, &c);
}

int scim_cache_passwd_by_name(const char *path, const char *name, scim_user_cb cb, void *ctx)
{
	struct user_ctx c = { cb, ctx, NULL, true };
	return with_snapshot_name(path, SCIM_INDEX_PASSWD_NAME, name, user_record, &c);
}

int scim_cache_passwd_by_uid(const char *path, uint32_t uid, scim_user_cb cb, void *ctx)
{
	struct user_ctx c = { cb, ctx, &uid, true };
	return with_snapshot_num(path, SCIM_INDEX_PASSWD_UID, uid, user_record, &c);
}

int scim_cache_group_by_name(const char *path, const char *name, scim_group_cb cb, void *ctx)
{
	struct group_ctx c = { cb, ctx, NULL };
	return with_snapshot_name(path, SCIM_INDEX_GROUP_NAME, name, group_record, &c);
}

int scim_cache_group_by_gid(const char *path, uint32_t gid, scim_group_cb cb, void *ctx)
{
	struct group_ctx c = { cb, ctx, &gid };
	return with_snapshot_num(path, SCIM_INDEX_GROUP_GID, gid, group_record, &c);
}

int scim_cache_header(const char *path, scim_header_cb cb, void *ctx)
{
	struct header_ctx c = { cb, ctx };
	unsigned char key = SCIM_KEY_HEADER;
	struct scim_snapshot *s;
	int r;

	pthread_mutex_lock(&cache_lock);
	r = current_snapshot(path, &s);
	if (r == 0) {
		r = scim_tdb_parse(s->tdb, &key, 1, header_record, &c);
		if (r == -ENOENT)
			r = -EBADMSG;
	}
	pthread_mutex_unlock(&cache_lock);
	return r;
}

/* Records filed under a user's name outside the direct indexes ("D", "K"):
 * found through libtdb's hash chains, since only the account stage (for a
 * name that is not a user) and sshd's AuthorizedKeysCommand (once a login)
 * ask.  parse gets the record under the lock. */
static int named_record(const char *path, unsigned char tag, const char *name, size_t name_len,
			int (*parse)(const unsigned char *data, size_t len, void *priv), void *priv)
{
	struct scim_snapshot *s;
	int r;

	if (name_len == 0 || name_len > SCIM_NAME_MAX)
		return -ENOENT;
	pthread_mutex_lock(&cache_lock);
	r = current_snapshot(path, &s);
	if (r == 0)
		r = scim_tdb_parse_name(s->tdb, tag, name, name_len, parse, priv);
	pthread_mutex_unlock(&cache_lock);
	return r;
}

/* A record must be for the name it is filed under. */
static bool filed_under(const char *name, size_t name_len, const char *want, size_t want_len)
{
	return name_len == want_len && memcmp(name, want, want_len) == 0;
}

struct removed_ctx {
	scim_removed_cb cb;
	void *ctx;
	const char *name;
	size_t name_len;
};

static int removed_record(const unsigned char *data, size_t len, void *priv)
{
	struct removed_ctx *c = priv;
	struct scim_removed d;
	int r = scim_rec_decode_removed(data, len, &d);
	if (r == 0 && !filed_under(d.name, d.name_len, c->name, c->name_len))
		r = -EBADMSG;
	return r < 0 ? r : c->cb(&d, c->ctx);
}

int scim_cache_removed_by_name(const char *path, const char *name, scim_removed_cb cb, void *ctx)
{
	struct removed_ctx c = { cb, ctx, name, strlen(name) };
	return named_record(path, SCIM_KEY_REMOVED, name, c.name_len, removed_record, &c);
}

struct keys_ctx {
	scim_ssh_keys_cb cb;
	void *ctx;
	const char *name;
	size_t name_len;
};

static int keys_record(const unsigned char *data, size_t len, void *priv)
{
	struct keys_ctx *c = priv;
	struct scim_ssh_keys k;
	int r = scim_rec_decode_keys(data, len, &k);
	if (r == 0 && !filed_under(k.name, k.name_len, c->name, c->name_len))
		r = -EBADMSG;
	return r < 0 ? r : c->cb(&k, c->ctx);
}

int scim_cache_keys_by_name(const char *path, const char *name, scim_ssh_keys_cb cb, void *ctx)
{
	struct keys_ctx c = { cb, ctx, name, strlen(name) };
	return named_record(path, SCIM_KEY_SSH_KEYS, name, c.name_len, keys_record, &c);
}

/* ---------------------------------------------------------------- enumeration */

int scim_cache_cursor_open(const char *path, struct scim_cursor *cur)
{
	struct scim_snapshot *s;
	int r;

	memset(cur, 0, sizeof(*cur));
	pthread_mutex_lock(&cache_lock);
	r = current_snapshot(path, &s);
	if (r == 0) {
		s->refs++;
		cur->snap = s;
	}
	pthread_mutex_unlock(&cache_lock);
	return r;
}

void scim_cache_cursor_close(struct scim_cursor *cur)
{
	if (cur->snap) {
		pthread_mutex_lock(&cache_lock);
		snapshot_unref(cur->snap);
		pthread_mutex_unlock(&cache_lock);
	}
	free(cur->copy);
	memset(cur, 0, sizeof(*cur));
}

static int copy_chunk(const unsigned char *data, size_t len, void *priv)
{
	struct scim_cursor *cur = priv;
	/* An empty chunk is never written; copying one would also hand
	 * memcpy the NULL of a cursor that has no copy yet
	 * (fuzz/corpus/cache/crash-empty-chunk). */
	if (len == 0)
		return -EBADMSG;
	if (len > cur->copy_cap) {
		unsigned char *p = realloc(cur->copy, len);
		if (!p)
			return -ENOMEM;
		cur->copy = p;
		cur->copy_cap = len;
	}
	memcpy(cur->copy, data, len);
	cur->copy_len = len;
	return 0;
}

/* Sets *item to the entry at the cursor, loading chunks as needed; -ENOENT
 * past the last chunk.  The cursor only moves when the caller says so
 * (cursor_advance), so an entry refused with -ERANGE comes again. */
static int cursor_peek(struct scim_cursor *cur, char tag, uint32_t nchunks, const unsigned char **item,
		       size_t *item_len, size_t *next)
{
	unsigned char key[5];
	int r;

	if (!cur->snap)
		return -EBADF;
	for (;;) {
		if (cur->chunk >= nchunks)
			return -ENOENT;
		if (!cur->loaded) {
			scim_key_num(key, tag, cur->chunk);
			pthread_mutex_lock(&cache_lock);
			r = cur->snap->dead ? -EBADMSG
					    : scim_tdb_parse(cur->snap->tdb, key, sizeof(key), copy_chunk, cur);
			pthread_mutex_unlock(&cache_lock);
			if (r < 0)
				return r == -ENOENT ? -EBADMSG : r; /* the header promised it */
			cur->loaded = true;
			cur->offset = 0;
		}
		*next = cur->offset;
		r = scim_chunk_next(cur->copy, cur->copy_len, next, item, item_len);
		if (r != -ENOENT)
			return r;
		if (cur->offset == 0)
			return -EBADMSG; /* an empty chunk is never written */
		cur->chunk++;
		cur->loaded = false;
	}
}

int scim_cache_user_next(struct scim_cursor *cur, scim_user_cb cb, void *ctx)
{
	struct user_ctx uc = { cb, ctx, NULL };
	const unsigned char *item;
	size_t len, next;
	int r = cursor_peek(cur, SCIM_KEY_USER_CHUNK, cur->snap ? cur->snap->user_chunks : 0, &item, &len, &next);
	if (r == 0)
		r = user_record(item, len, &uc); /* from the private copy: no lock needed */
	if (r == 0)
		cur->offset = next;
	return r;
}

int scim_cache_group_next(struct scim_cursor *cur, scim_group_cb cb, void *ctx)
{
	struct group_ctx gc = { cb, ctx, NULL };
	const unsigned char *item;
	size_t len, next;
	int r = cursor_peek(cur, SCIM_KEY_GROUP_CHUNK, cur->snap ? cur->snap->group_chunks : 0, &item, &len, &next);
	if (r < 0)
		return r;
	pthread_mutex_lock(&cache_lock);
	r = cur->snap->dead ? -EBADMSG
			    : lookup_name(cur->snap, SCIM_INDEX_GROUP_NAME, (const char *)item, len, group_record, &gc);
	pthread_mutex_unlock(&cache_lock);
	if (r == -ENOENT)
		r = -EBADMSG;
	if (r == 0)
		cur->offset = next;
	return r;
}

void scim_cache_reset(void)
{
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < MAX_SOURCES; i++) {
		snapshot_unref(sources[i].snap);
		free(sources[i].path);
		memset(&sources[i], 0, sizeof(sources[i]));
	}
	default_source = NULL;
	pthread_mutex_unlock(&cache_lock);
}
