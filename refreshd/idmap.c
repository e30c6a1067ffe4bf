/* idmap.c - the sticky number map (see idmap.h).
 *
 * Loaded whole at open: a 100k-user directory is ~110k records, a few MB in
 * memory.  Staged changes are written in one tdb transaction, so a crash
 * leaves the old map or the new one, never half of it. */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <tdb.h>
#include <unistd.h>

#include "cache/record.h"
#include "refreshd/idmap.h"
#include "refreshd/log.h"
#include "refreshd/table.h"

#define META_KEY "!idmap"
#define META_MAGIC "SIDM"
#define FORMAT_VERSION 2
#define META_SIZE 16
#define CHUNK_KEY 'C'
/* A larger count in the meta record is not trusted to size the tables. */
#define EXPECT_MAX_ENTRIES (4u << 20)
/* Few records (one per chunk): tdb's default bucket count is plenty. */
#define NEW_HASH_SIZE 257

struct entry {
	const char *id;
	uint32_t number;
	uint8_t kind, flags, dirty;
};

struct scim_idmap {
	char *path;
	struct tdb_context *tdb;
	bool has_meta;
	uint32_t nchunks;
	struct scim_arena arena;
	struct entry *entries;
	size_t count, cap;
	struct scim_strmap by_id;     /* (kind, id) -> entry index */
	struct scim_nummap by_number; /* number -> entry index */
	bool sealed;                  /* scim_idmap_seal(): tables gone, no additions */
};

static int add_entry(struct scim_idmap *map, char kind, const char *id, size_t idlen, uint32_t number,
		     uint8_t flags, bool dirty, bool borrow)
{
	uint32_t idx = (uint32_t)map->count;
	const char *copy;
	int r;

	if (map->sealed)
		return -EROFS;

	if (map->count == map->cap) {
		size_t cap = map->cap ? map->cap * 2 : 1024;
		struct entry *e = realloc(map->entries, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		map->entries = e;
		map->cap = cap;
	}
	copy = borrow ? id : scim_arena_strndup(&map->arena, id, idlen);
	if (!copy)
		return -ENOMEM;
	r = scim_strmap_put(&map->by_id, (uint8_t)kind, copy, &idx);
	if (r < 0)
		return r;
	r = scim_nummap_put(&map->by_number, number, (uint32_t)map->count);
	if (r < 0)
		return r; /* the by_id slot points past count: only reachable on a fatal error */
	map->entries[map->count++] = (struct entry){ copy, number, (uint8_t)kind, flags, dirty };
	return 0;
}

int scim_idmap_reserve(struct scim_idmap *map, size_t n)
{
	int r;
	if (n > map->cap) {
		struct entry *e = realloc(map->entries, n * sizeof(*e));
		if (!e)
			return -ENOMEM;
		map->entries = e;
		map->cap = n;
	}
	r = scim_strmap_reserve(&map->by_id, n);
	return r < 0 ? r : scim_nummap_reserve(&map->by_number, n);
}

static int corrupt(struct scim_idmap *map, const char *why)
{
	log_error("%s: the id map is corrupt (%s); refusing to run: numbers could change. Restore it from a "
		  "backup.",
		  map->path, why);
	return -EBADMSG;
}

static int load_chunk(struct scim_idmap *map, const unsigned char *p, size_t len, uint32_t chunk)
{
	size_t pos = 0, n = 0;

	/* tdb checks its own structure, not our bytes: a flipped byte in an id
	 * would silently give its number to another id. */
	if (len < 8 || scim_le64(p + len - 8) != scim_fnv1a(p, len - 8, SCIM_FNV_SEED ^ chunk))
		return corrupt(map, "a chunk fails its checksum");
	len -= 8;
	while (pos < len) {
		uint16_t idlen;
		int r;
		if (len - pos < 3)
			return corrupt(map, "truncated entry");
		idlen = (uint16_t)(p[pos + 1] | p[pos + 2] << 8);
		if ((p[pos] != SCIM_IDMAP_USER && p[pos] != SCIM_IDMAP_GROUP) || idlen == 0 ||
		    len - pos - 3 < (size_t)idlen + 5 || memchr(p + pos + 3, 0, idlen))
			return corrupt(map, "malformed entry");
		r = add_entry(map, (char)p[pos], (const char *)p + pos + 3, idlen, scim_le32(p + pos + 3 + idlen),
			      p[pos + 3 + idlen + 4], false, false);
		if (r == -EEXIST)
			return corrupt(map, "an id or a number recorded twice");
		if (r == -EINVAL)
			return corrupt(map, "number 0");
		if (r < 0)
			return r;
		pos += 3 + (size_t)idlen + 5;
		n++;
	}
	if (n != SCIM_IDMAP_CHUNK && (n == 0 || chunk + 1 != map->nchunks))
		return corrupt(map, "a chunk of the wrong size");
	return 0;
}

static int count_cb(struct tdb_context *tdb, TDB_DATA key, TDB_DATA data, void *priv)
{
	size_t *n = priv;
	(*n)++;
	return 0;
}

/* Reads the meta record and every chunk. */
static int load(struct scim_idmap *map)
{
	unsigned char mkey[] = META_KEY, ckey[5];
	TDB_DATA k = { mkey, strlen(META_KEY) }, v;
	uint32_t version, nentries;
	int r = 0;

	v = tdb_fetch(map->tdb, k);
	if (!v.dptr) {
		size_t n = 0;
		if (tdb_traverse_read(map->tdb, count_cb, &n) < 0)
			return corrupt(map, "cannot traverse");
		/* A first write that never finished leaves chunks without a meta
		 * record; no cache was published from it (the map is written
		 * first), so it is safely discarded.  Anything else is not ours. */
		if (n > 0) {
			log_notice("%s: discarding an id map whose first write did not finish", map->path);
			if (tdb_wipe_all(map->tdb) != 0)
				return corrupt(map, "cannot discard an unfinished first write");
		}
		return 0;
	}
	if (v.dsize != META_SIZE || memcmp(v.dptr, META_MAGIC, 4)) {
		free(v.dptr);
		return corrupt(map, "not an id map");
	}
	version = scim_le32(v.dptr + 4);
	map->nchunks = scim_le32(v.dptr + 8);
	nentries = scim_le32(v.dptr + 12);
	free(v.dptr);
	if (version != FORMAT_VERSION) {
		log_error("%s: id map format version %u is not supported (this is version %d)", map->path, version,
			  FORMAT_VERSION);
		return -EBADMSG;
	}
	map->has_meta = true;
	if (nentries <= EXPECT_MAX_ENTRIES) {
		r = scim_idmap_reserve(map, nentries);
		if (r < 0)
			return r;
	}
	for (uint32_t c = 0; c < map->nchunks && r == 0; c++) {
		ckey[0] = CHUNK_KEY;
		scim_put_le32(ckey + 1, c);
		k = (TDB_DATA){ ckey, sizeof(ckey) };
		v = tdb_fetch(map->tdb, k);
		if (!v.dptr)
			return corrupt(map, "a chunk is missing");
		r = load_chunk(map, v.dptr, v.dsize, c);
		free(v.dptr);
	}
	if (r == 0 && map->count != nentries)
		r = corrupt(map, "entry count mismatch");
	return r;
}

int scim_idmap_open(const char *state_dir, bool create, struct scim_idmap **out)
{
	struct scim_idmap *map;
	struct stat st;
	int r = 0, flags = O_RDWR | O_CLOEXEC;

	*out = NULL;
	map = calloc(1, sizeof(*map));
	if (!map)
		return -ENOMEM;
	if (asprintf(&map->path, "%s/%s", state_dir, SCIM_IDMAP_FILE) < 0) {
		map->path = NULL;
		r = -ENOMEM;
		goto out;
	}
	if (create) {
		if (mkdir(state_dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			log_error("cannot create state directory %s: %s", state_dir, strerror(errno));
			goto out;
		}
	}
	/* Never O_CREAT on an existing file: tdb_open then rewrites a file whose
	 * header it cannot read as a new empty database, and a damaged map would
	 * silently become an empty one.  An empty file holds nothing to lose. */
	if (stat(map->path, &st) == 0 && st.st_size == 0 && create)
		unlink(map->path);
	if (create && stat(map->path, &st) < 0 && errno == ENOENT)
		flags |= O_CREAT | O_EXCL;
	/* Read once at open, written a few chunks at a time: no mapping, which
	 * would count the whole file in the daemon's memory for the whole run. */
	map->tdb = tdb_open(map->path, NEW_HASH_SIZE, TDB_INCOMPATIBLE_HASH | TDB_NOMMAP, flags, 0600);
	if (!map->tdb) {
		r = errno == ENOENT ? -ENOENT : errno == EACCES ? -EACCES : errno == EBUSY ? -EBUSY : -EBADMSG;
		if (r == -EBADMSG)
			log_error("%s: the id map is corrupt or not an id map (%s); refusing to run: numbers "
				  "could change. Restore it from a backup.",
				  map->path, strerror(errno ? errno : EIO));
		else if (r == -EBUSY)
			log_error("%s: the id map is already open in this process", map->path);
		else if (r != -ENOENT)
			log_error("%s: %s", map->path, strerror(-r));
		goto out;
	}
	/* Two publishers would each stage numbers the other does not see. */
	if (flock(tdb_fd(map->tdb), LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		log_error("%s: %s", map->path,
			  r == -EBUSY ? "another scim-refreshd is using the id map" : strerror(-r));
		goto out;
	}
	if (tdb_check(map->tdb, NULL, NULL) != 0) {
		r = -EBADMSG;
		log_error("%s: the id map fails its consistency check; refusing to run: numbers could change. "
			  "Restore it from a backup.",
			  map->path);
		goto out;
	}
	r = load(map);
out:
	if (r < 0) {
		scim_idmap_close(map);
		return r;
	}
	*out = map;
	return 0;
}

void scim_idmap_seal(struct scim_idmap *map)
{
	scim_strmap_free(&map->by_id);
	scim_nummap_free(&map->by_number);
	map->sealed = true;
}

void scim_idmap_close(struct scim_idmap *map)
{
	if (!map)
		return;
	if (map->tdb)
		tdb_close(map->tdb);
	scim_strmap_free(&map->by_id);
	scim_nummap_free(&map->by_number);
	scim_arena_free(&map->arena);
	free(map->entries);
	free(map->path);
	free(map);
}

static struct entry *find(const struct scim_idmap *map, char kind, const char *id)
{
	uint32_t idx;
	if (scim_strmap_get(&map->by_id, (uint8_t)kind, id, &idx) < 0)
		return NULL;
	return &map->entries[idx];
}

int scim_idmap_get(const struct scim_idmap *map, char kind, const char *id, uint32_t *number, uint8_t *flags)
{
	const struct entry *e = find(map, kind, id);
	if (!e)
		return -ENOENT;
	if (number)
		*number = e->number;
	if (flags)
		*flags = e->flags;
	return 0;
}

bool scim_idmap_number_taken(const struct scim_idmap *map, uint32_t number)
{
	return scim_nummap_get(&map->by_number, number, NULL) == 0;
}

int scim_idmap_add(struct scim_idmap *map, char kind, const char *id, uint32_t number)
{
	if (find(map, kind, id) || scim_idmap_number_taken(map, number))
		return -EEXIST;
	return add_entry(map, kind, id, strlen(id), number, 0, true, false);
}

int scim_idmap_add_borrowed(struct scim_idmap *map, char kind, const char *id, uint32_t number)
{
	if (find(map, kind, id) || scim_idmap_number_taken(map, number))
		return -EEXIST;
	return add_entry(map, kind, id, strlen(id), number, 0, true, true);
}

const char *scim_idmap_id(const struct scim_idmap *map, char kind, const char *id)
{
	const struct entry *e = find(map, kind, id);
	return e ? e->id : NULL;
}

int scim_idmap_set_flags(struct scim_idmap *map, char kind, const char *id, uint8_t flags)
{
	struct entry *e = find(map, kind, id);
	if (!e)
		return -ENOENT;
	if (e->flags != flags) {
		e->flags = flags;
		e->dirty = 1;
	}
	return 0;
}

int scim_idmap_foreach(const struct scim_idmap *map,
		       int (*cb)(char kind, const char *id, uint32_t number, uint8_t flags, void *ctx), void *ctx)
{
	for (size_t i = 0; i < map->count; i++) {
		const struct entry *e = &map->entries[i];
		int r = cb((char)e->kind, e->id, e->number, e->flags, ctx);
		if (r != 0)
			return r;
	}
	return 0;
}

size_t scim_idmap_count(const struct scim_idmap *map)
{
	return map->count;
}

static int store_chunk(struct scim_idmap *map, uint32_t c, unsigned char **buf, size_t *cap, size_t *stored)
{
	size_t from = (size_t)c * SCIM_IDMAP_CHUNK, to = from + SCIM_IDMAP_CHUNK, len = 0;
	unsigned char key[5] = { CHUNK_KEY };
	if (to > map->count)
		to = map->count;
	for (size_t i = from; i < to; i++) {
		const struct entry *e = &map->entries[i];
		size_t idlen = strlen(e->id);
		if (len + idlen + 8 > *cap) {
			size_t ncap = (len + idlen + 8) * 2;
			unsigned char *nb = realloc(*buf, ncap);
			if (!nb)
				return -ENOMEM;
			*buf = nb;
			*cap = ncap;
		}
		(*buf)[len] = e->kind;
		(*buf)[len + 1] = idlen & 0xff;
		(*buf)[len + 2] = (idlen >> 8) & 0xff;
		memcpy(*buf + len + 3, e->id, idlen);
		scim_put_le32(*buf + len + 3 + idlen, e->number);
		(*buf)[len + 3 + idlen + 4] = e->flags;
		len += idlen + 8;
	}
	if (len + 8 > *cap) {
		unsigned char *nb = realloc(*buf, len + 8);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = len + 8;
	}
	uint64_t sum = scim_fnv1a(*buf, len, SCIM_FNV_SEED ^ c);
	scim_put_le32(*buf + len, (uint32_t)sum);
	scim_put_le32(*buf + len + 4, (uint32_t)(sum >> 32));
	len += 8;
	scim_put_le32(key + 1, c);
	TDB_DATA k = { key, sizeof(key) }, v = { *buf, len };
	*stored += len;
	errno = 0;
	if (tdb_store(map->tdb, k, v, TDB_REPLACE) == 0)
		return 0;
	/* tdb keeps its error code from earlier calls; errno says ENOSPC. */
	return errno > 0 ? -errno : -EIO;
}

/* Grows a new map's file once to about its final size: tdb otherwise grows
 * by room for a hundred records of the size being stored, or by a quarter,
 * and a 110k-id map would end up a third empty.  Storing and deleting one
 * large record leaves one free block the chunks are then carved from. */
static int reserve(struct scim_idmap *map)
{
	static const unsigned char key[] = "~reserve";
	uint64_t bytes = 0;
	TDB_DATA k = { (unsigned char *)key, sizeof(key) - 1 }, d;
	int r = 0;

	for (size_t i = 0; i < map->count; i++)
		bytes += strlen(map->entries[i].id) + 8;
	/* tdb over-allocates records by a quarter, plus headers and checksums. */
	bytes = bytes * 5 / 4 + (map->count / SCIM_IDMAP_CHUNK + 1) * 64 + 65536;
	d.dsize = (size_t)(bytes / 2.5);
	if (d.dsize < 128 * 1024)
		return 0;
	d.dptr = calloc(1, d.dsize);
	if (!d.dptr)
		return -ENOMEM;
	errno = 0;
	if (tdb_store(map->tdb, k, d, TDB_REPLACE) != 0 || tdb_delete(map->tdb, k) != 0)
		r = errno > 0 ? -errno : -EIO;
	free(d.dptr);
	return r;
}

/* tdb loses errno on the way out of a failed commit: a full file system
 * shows only as "failed to create recovery area" in its log, and errno 0 or
 * EIO.  Before writing anything the commit grows the file for a recovery
 * area holding the old contents of every block it rewrites (at most about
 * twice the chunks it stores), and tdb grows a file by a hundred times such
 * a record (twice above 100 kB) or by a quarter, whichever is more.  With
 * less room than that bound, the disk was full. */
static int commit_error(struct scim_idmap *map, size_t dirty_bytes)
{
	struct statvfs sv;
	struct stat st;
	uint64_t need, rec = 2 * (uint64_t)dirty_bytes + 4096;

	if (errno > 0 && errno != EIO)
		return -errno;
	if (fstat(tdb_fd(map->tdb), &st) < 0 || fstatvfs(tdb_fd(map->tdb), &sv) < 0)
		return -EIO;
	need = 100 * (rec < 100 * 1024 ? rec : 100 * 1024);
	if (need < 2 * rec)
		need = 2 * rec;
	if (need < (uint64_t)st.st_size / 4)
		need = (uint64_t)st.st_size / 4;
	return (uint64_t)sv.f_bavail * sv.f_frsize < need ? -ENOSPC : -EIO;
}

int scim_idmap_commit(struct scim_idmap *map)
{
	unsigned char *buf = NULL, meta[META_SIZE] = META_MAGIC, mkey[] = META_KEY;
	size_t cap = 0, dirty_bytes = 0;
	uint32_t nchunks = (uint32_t)((map->count + SCIM_IDMAP_CHUNK - 1) / SCIM_IDMAP_CHUNK);
	bool any = false, txn = map->has_meta;
	int r = 0;

	for (size_t i = 0; i < map->count && !any; i++)
		any = map->entries[i].dirty;
	if (!any && map->has_meta)
		return 0;
	/* The first write goes straight into the empty file: a transaction
	 * would leave a recovery area as large as the map behind.  Its meta
	 * record comes last, so an interrupted first write is recognised. */
	if (txn && tdb_transaction_start(map->tdb) != 0) {
		log_error("%s: cannot start a transaction: %s", map->path, tdb_errorstr(map->tdb));
		return -EIO;
	}
	if (!txn)
		r = reserve(map);
	for (uint32_t c = 0; c < nchunks && r == 0; c++) {
		size_t from = (size_t)c * SCIM_IDMAP_CHUNK, to = from + SCIM_IDMAP_CHUNK;
		bool dirty = false;
		if (to > map->count)
			to = map->count;
		for (size_t i = from; i < to && !dirty; i++)
			dirty = map->entries[i].dirty;
		if (dirty)
			r = store_chunk(map, c, &buf, &cap, &dirty_bytes);
	}
	if (r == 0) {
		scim_put_le32(meta + 4, FORMAT_VERSION);
		scim_put_le32(meta + 8, nchunks);
		scim_put_le32(meta + 12, (uint32_t)map->count);
		TDB_DATA k = { mkey, strlen(META_KEY) }, v = { meta, sizeof(meta) };
		/* Without a transaction, the chunks must be on disk before the
		 * record that declares them. */
		if (!txn && !getenv("TDB_NO_FSYNC") && fsync(tdb_fd(map->tdb)) < 0)
			r = -errno;
		else if (tdb_store(map->tdb, k, v, TDB_REPLACE) != 0)
			r = -EIO;
	}
	free(buf);
	errno = 0;
	if (r == 0 && txn && tdb_transaction_commit(map->tdb) != 0) {
		r = commit_error(map, dirty_bytes);
		log_error("%s: cannot commit the id map: %s", map->path, strerror(-r));
		return r;
	}
	if (r == 0 && !txn && !getenv("TDB_NO_FSYNC") && fsync(tdb_fd(map->tdb)) < 0)
		r = -errno;
	if (r < 0) {
		log_error("%s: cannot write the id map: %s", map->path, strerror(-r));
		if (txn)
			tdb_transaction_cancel(map->tdb);
		return r;
	}
	map->has_meta = true;
	map->nchunks = nchunks;
	for (size_t i = 0; i < map->count; i++)
		map->entries[i].dirty = 0;
	return 0;
}

uint32_t scim_idmap_hash(const char *id, uint32_t attempt, uint32_t lo, uint32_t hi)
{
	/* FNV-1a of the id, then of the attempt number, then a finalizer: the
	 * same id gives the same sequence on every host. */
	unsigned char a[4] = { attempt & 0xff, (attempt >> 8) & 0xff, (attempt >> 16) & 0xff, (attempt >> 24) & 0xff };
	uint64_t h = scim_fnv1a(id, strlen(id), SCIM_FNV_SEED);
	uint64_t range = (uint64_t)hi - lo + 1;
	h = scim_fnv1a(a, sizeof(a), h);
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return lo + (uint32_t)(h % range);
}
