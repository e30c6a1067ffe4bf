/* writer.c - builds a complete new cache beside the live one and publishes it
 * with one rename.
 *
 * Readers open the cache read-only and take no locks, so the only safe change
 * is a whole-file replacement: the live file's data is never written.  After
 * the rename, the replaced file (no longer reachable by its name) gets its tdb
 * sequence number bumped; readers that still map it see the change in memory
 * and reopen on their next lookup. */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <tdb.h>
#include <unistd.h>

#include "cache/cache.h"
#include "cache/index.h"
#include "cache/record.h"
#include "cache/tdbfile.h"

struct chunk_buf {
	unsigned char *data;
	size_t len, cap;
	uint32_t items;
	uint32_t written; /* chunks stored so far */
};

struct scim_cache_writer {
	char *live;
	char *tmp;
	int lock_fd;
	struct scim_tdb_builder *file;
	struct chunk_buf users, groups;
	struct index_list {
		struct scim_index_entry *e;
		uint32_t n, cap;
	} index[SCIM_INDEX_NKINDS];
	/* The removed users' name checks, for the duplicate check at commit:
	 * they have no index of their own for it. */
	struct index_list removed;
	unsigned char *scratch;
	size_t scratch_cap;
	uint32_t nusers, ngroups, nsuspended;
};

static int errno_or(int fallback)
{
	return errno > 0 ? -errno : fallback;
}

static char *path_with_suffix(const char *path, const char *suffix)
{
	size_t n = strlen(path), m = strlen(suffix);
	char *p = malloc(n + m + 1);
	if (p) {
		memcpy(p, path, n);
		memcpy(p + n, suffix, m + 1);
	}
	return p;
}

static int chunk_append(struct chunk_buf *c, const void *item, size_t len)
{
	size_t need = c->len + 4 + len;
	if (len > UINT32_MAX)
		return -E2BIG;
	if (need > c->cap) {
		size_t cap = c->cap ? c->cap : 16384;
		while (cap < need)
			cap *= 2;
		unsigned char *p = realloc(c->data, cap);
		if (!p)
			return -ENOMEM;
		c->data = p;
		c->cap = cap;
	}
	c->data[c->len] = len & 0xff;
	c->data[c->len + 1] = (len >> 8) & 0xff;
	c->data[c->len + 2] = (len >> 16) & 0xff;
	c->data[c->len + 3] = (len >> 24) & 0xff;
	memcpy(c->data + c->len + 4, item, len);
	c->len = need;
	c->items++;
	return 0;
}

static int store(struct scim_cache_writer *w, const void *key, size_t klen, const void *data, size_t dlen)
{
	return scim_tdb_builder_add(w->file, key, klen, data, dlen);
}

/* At least len bytes of scratch buffer. */
static int scratch_reserve(struct scim_cache_writer *w, size_t len)
{
	unsigned char *p;
	if (len <= w->scratch_cap)
		return 0;
	p = realloc(w->scratch, len);
	if (!p)
		return -ENOMEM;
	w->scratch = p;
	w->scratch_cap = len;
	return 0;
}

static int index_add(struct index_list *l, uint32_t check, uint64_t offset)
{
	if (offset > UINT32_MAX)
		return -EFBIG;
	if (l->n == l->cap) {
		uint32_t cap = l->cap ? l->cap * 2 : 1024;
		struct scim_index_entry *e = realloc(l->e, cap * sizeof(*e));
		if (!e)
			return -ENOMEM;
		l->e = e;
		l->cap = cap;
	}
	l->e[l->n++] = (struct scim_index_entry){ check, (uint32_t)offset };
	return 0;
}

/* Two records with one name check: the same name twice, or a collision. */
static int same_name(uint32_t a, uint32_t b, void *ctx)
{
	struct scim_cache_writer *w = ctx;
	unsigned char ka[SCIM_NAME_MAX + 1], kb[SCIM_NAME_MAX + 1];
	size_t la, lb;
	int r;

	if ((r = scim_tdb_builder_key(w->file, a, ka, sizeof(ka), &la)) < 0 ||
	    (r = scim_tdb_builder_key(w->file, b, kb, sizeof(kb), &lb)) < 0)
		return r;
	return la == lb && !memcmp(ka, kb, la);
}

/* Two records with one number check: always the same number twice, since
 * the check is a bijective mix of the number. */
static int same_number(uint32_t a, uint32_t b, void *ctx)
{
	(void)a, (void)b, (void)ctx;
	return 1;
}

/* The passwd tables index the same users as the name and uid tables, which
 * are built first and have refused any repeated name or uid: a shared check
 * here can only be two names that collide. */
static int already_checked(uint32_t a, uint32_t b, void *ctx)
{
	(void)a, (void)b, (void)ctx;
	return 0;
}

/* Stores one table as "I" + tag and notes where its data landed. */
static int index_store(struct scim_cache_writer *w, int kind, char tag, uint32_t *offset, uint32_t *length)
{
	static int (*const same_key[SCIM_INDEX_NKINDS])(uint32_t, uint32_t, void *) = {
		[SCIM_INDEX_USER_NAME] = same_name,	  [SCIM_INDEX_USER_UID] = same_number,
		[SCIM_INDEX_GROUP_NAME] = same_name,	  [SCIM_INDEX_GROUP_GID] = same_number,
		[SCIM_INDEX_PASSWD_NAME] = already_checked, [SCIM_INDEX_PASSWD_UID] = already_checked,
	};
	struct index_list *l = &w->index[kind];
	unsigned char key[2] = { SCIM_KEY_INDEX, (unsigned char)tag };
	size_t len = scim_index_table_size(l->n);
	uint64_t at;
	int r;

	r = scratch_reserve(w, len);
	if (r < 0)
		return r;
	r = scim_index_build(l->e, l->n, w->scratch, same_key[kind], w);
	if (r == -EFBIG && (kind == SCIM_INDEX_PASSWD_NAME || kind == SCIM_INDEX_PASSWD_UID)) {
		/* Chunk items past 2 GiB: no passwd tables, and readers use
		 * the full records' tables instead. */
		*offset = *length = 0;
		return 0;
	}
	if (r < 0)
		return r;
	at = scim_tdb_builder_tell(w->file) + SCIM_TDB_RECORD_HEADER + sizeof(key);
	if (at + len > UINT32_MAX)
		return -EFBIG;
	r = store(w, key, sizeof(key), w->scratch, len);
	if (r < 0)
		return r;
	*offset = (uint32_t)at;
	*length = (uint32_t)len;
	free(l->e);
	memset(l, 0, sizeof(*l));
	return 0;
}

/* The four tables, then the locator that says where they are. */
static int store_indexes(struct scim_cache_writer *w)
{
	static const char tags[SCIM_INDEX_NKINDS] = {
		[SCIM_INDEX_USER_NAME] = SCIM_KEY_USER_NAME, [SCIM_INDEX_USER_UID] = SCIM_KEY_USER_UID,
		[SCIM_INDEX_GROUP_NAME] = SCIM_KEY_GROUP_NAME, [SCIM_INDEX_GROUP_GID] = SCIM_KEY_GROUP_GID,
		[SCIM_INDEX_PASSWD_NAME] = SCIM_KEY_USER_CHUNK, [SCIM_INDEX_PASSWD_UID] = 'p',
	};
	uint32_t offsets[SCIM_INDEX_NKINDS], lengths[SCIM_INDEX_NKINDS];
	unsigned char locator[SCIM_INDEX_LOCATOR_SIZE], key = SCIM_KEY_INDEX_LOCATOR;
	int r;

	for (int k = 0; k < SCIM_INDEX_NKINDS; k++) {
		r = index_store(w, k, tags[k], &offsets[k], &lengths[k]);
		if (r < 0)
			return r;
	}
	scim_index_encode_locator(offsets, lengths, locator);
	return store(w, &key, 1, locator, sizeof(locator));
}

/* Stores the chunk as tag + its number; *data_at (if set) gets the file
 * offset its data landed at. */
static int chunk_flush(struct scim_cache_writer *w, struct chunk_buf *c, char tag, uint64_t *data_at)
{
	unsigned char key[5];
	int r;
	if (c->items == 0)
		return 0;
	scim_key_num(key, tag, c->written);
	if (data_at)
		*data_at = scim_tdb_builder_tell(w->file) + SCIM_TDB_RECORD_HEADER + sizeof(key);
	r = store(w, key, sizeof(key), c->data, c->len);
	if (r < 0)
		return r;
	c->written++;
	c->items = 0;
	c->len = 0;
	return 0;
}

/* Flushes the users' chunk, then turns its users' passwd index entries,
 * which hold positions inside the chunk, into file offsets. */
static int users_flush(struct scim_cache_writer *w)
{
	uint32_t items = w->users.items;
	uint64_t at = 0;
	int r = chunk_flush(w, &w->users, SCIM_KEY_USER_CHUNK, &at);
	if (r < 0 || items == 0)
		return r;
	for (int k = SCIM_INDEX_PASSWD_NAME; k <= SCIM_INDEX_PASSWD_UID; k++) {
		struct index_list *l = &w->index[k];
		for (uint32_t i = l->n - items; i < l->n; i++) {
			if (at + l->e[i].offset > UINT32_MAX)
				return -EFBIG;
			l->e[i].offset += (uint32_t)at;
		}
	}
	return 0;
}

/* Encodes into the writer's scratch buffer, growing it as needed. */
static int encode_scratch(struct scim_cache_writer *w, int (*enc)(const void *, bool, unsigned char *, size_t *),
			  const void *obj, bool full, size_t *len)
{
	for (;;) {
		*len = w->scratch_cap;
		int r = enc(obj, full, w->scratch, len);
		if (r != -ENOBUFS)
			return r;
		r = scratch_reserve(w, *len);
		if (r < 0)
			return r;
	}
}

static int enc_user(const void *obj, bool full, unsigned char *buf, size_t *len)
{
	return scim_rec_encode_user(obj, full, buf, len);
}

static int enc_group(const void *obj, bool full, unsigned char *buf, size_t *len)
{
	return scim_rec_encode_group(obj, buf, len);
}

static void writer_free(struct scim_cache_writer *w)
{
	scim_tdb_builder_free(w->file);
	if (w->lock_fd >= 0)
		close(w->lock_fd); /* releases the flock */
	free(w->users.data);
	free(w->groups.data);
	for (int k = 0; k < SCIM_INDEX_NKINDS; k++)
		free(w->index[k].e);
	free(w->removed.e);
	free(w->scratch);
	free(w->live);
	free(w->tmp);
	free(w);
}

int scim_cache_writer_new(const char *live_path, size_t nusers_hint, size_t ngroups_hint,
			  struct scim_cache_writer **out)
{
	struct scim_cache_writer *w;
	char *lock_path = NULL;
	size_t records;
	uint32_t hash_size;
	int r = 0;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->lock_fd = -1;
	w->live = strdup(live_path);
	w->tmp = path_with_suffix(live_path, ".new");
	lock_path = path_with_suffix(live_path, ".lock");
	if (!w->live || !w->tmp || !lock_path) {
		r = -ENOMEM;
		goto out;
	}

	/* One publisher at a time: a second one would truncate the first one's
	 * .new file under it. */
	w->lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->lock_fd < 0) {
		r = errno_or(-EIO);
		goto out;
	}
	if (flock(w->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : errno_or(-EIO);
		goto out;
	}

	/* A leftover from a publisher that died is never worth keeping. */
	if (unlink(w->tmp) < 0 && errno != ENOENT) {
		r = errno_or(-EIO);
		goto out;
	}

	/* Lookups by name or number go through the direct indexes; libtdb's
	 * chains only serve the enumeration chunks, the header and scimctl, so
	 * two records a chain is plenty, and keeps the table small. */
	records = 2 * nusers_hint + 2 * ngroups_hint + nusers_hint / SCIM_CHUNK_USERS +
		  ngroups_hint / SCIM_CHUNK_GROUPS + 8;
	hash_size = records / 2 < 131 ? 131 : records / 2 > UINT32_MAX / 8 ? UINT32_MAX / 8 : (uint32_t)(records / 2);
	r = scim_tdb_builder_new(w->tmp, hash_size, &w->file);
out:
	free(lock_path);
	if (r < 0) {
		if (w)
			writer_free(w);
		return r;
	}
	*out = w;
	return 0;
}

int scim_cache_writer_add_user(struct scim_cache_writer *w, const struct scim_user *u)
{
	unsigned char ukey[5];
	size_t nlen = u->name ? strlen(u->name) : 0, len;
	unsigned char nkey[SCIM_NAME_MAX + 1];
	int r;

	if (nlen == 0 || nlen > SCIM_NAME_MAX)
		return -EINVAL;
	nkey[0] = SCIM_KEY_USER_NAME;
	memcpy(nkey + 1, u->name, nlen);

	r = encode_scratch(w, enc_user, u, true, &len);
	if (r < 0)
		goto out;
	uint64_t at = scim_tdb_builder_tell(w->file);
	r = store(w, nkey, nlen + 1, w->scratch, len);
	if (r < 0)
		goto out;
	r = index_add(&w->index[SCIM_INDEX_USER_NAME], scim_index_name_check(u->name, nlen), at);
	if (r == 0)
		r = index_add(&w->index[SCIM_INDEX_USER_UID], scim_index_number_check(u->uid), at);
	if (r < 0)
		goto out;

	/* By uid only the name: a second full copy of every user would make the
	 * file a third larger. */
	scim_key_num(ukey, SCIM_KEY_USER_UID, u->uid);
	r = store(w, ukey, sizeof(ukey), u->name, nlen);
	if (r < 0)
		goto out;

	r = encode_scratch(w, enc_user, u, false, &len);
	if (r < 0)
		goto out;
	/* The passwd tables point at the item, known for now by its place in
	 * the chunk (users_flush makes that a file offset). */
	uint64_t item = w->users.len;
	r = chunk_append(&w->users, w->scratch, len);
	if (r == 0)
		r = index_add(&w->index[SCIM_INDEX_PASSWD_NAME], scim_index_name_check(u->name, nlen), item);
	if (r == 0)
		r = index_add(&w->index[SCIM_INDEX_PASSWD_UID], scim_index_number_check(u->uid), item);
	if (r < 0)
		goto out;
	if (w->users.items == SCIM_CHUNK_USERS)
		r = users_flush(w);
	w->nusers++;
	if (u->suspended)
		w->nsuspended++;
out:
	return r;
}

int scim_cache_writer_add_group(struct scim_cache_writer *w, const struct scim_group *g)
{
	unsigned char gkey[5];
	size_t nlen = g->name ? strlen(g->name) : 0, len;
	unsigned char nkey[SCIM_NAME_MAX + 1];
	int r;

	if (nlen == 0 || nlen > SCIM_NAME_MAX)
		return -EINVAL;
	nkey[0] = SCIM_KEY_GROUP_NAME;
	memcpy(nkey + 1, g->name, nlen);

	r = encode_scratch(w, enc_group, g, true, &len);
	if (r < 0)
		goto out;
	uint64_t at = scim_tdb_builder_tell(w->file);
	r = store(w, nkey, nlen + 1, w->scratch, len);
	if (r < 0)
		goto out;
	r = index_add(&w->index[SCIM_INDEX_GROUP_NAME], scim_index_name_check(g->name, nlen), at);
	if (r == 0)
		r = index_add(&w->index[SCIM_INDEX_GROUP_GID], scim_index_number_check(g->gid), at);
	if (r < 0)
		goto out;
	/* By gid we store only the name: groups can be large, and a second copy
	 * of every member list would double the file. */
	scim_key_num(gkey, SCIM_KEY_GROUP_GID, g->gid);
	r = store(w, gkey, sizeof(gkey), g->name, nlen);
	if (r < 0)
		goto out;
	r = chunk_append(&w->groups, g->name, nlen);
	if (r < 0)
		goto out;
	if (w->groups.items == SCIM_CHUNK_GROUPS)
		r = chunk_flush(w, &w->groups, SCIM_KEY_GROUP_CHUNK, NULL);
	w->ngroups++;
out:
	return r;
}

static int enc_removed(const void *obj, bool full, unsigned char *buf, size_t *len)
{
	(void)full;
	return scim_rec_encode_removed(obj, buf, len);
}

int scim_cache_writer_add_removed(struct scim_cache_writer *w, const struct scim_removed *d)
{
	size_t nlen = d->name ? strlen(d->name) : 0, len;
	unsigned char nkey[SCIM_NAME_MAX + 1];
	uint64_t at;
	int r;

	if (nlen == 0 || nlen > SCIM_NAME_MAX)
		return -EINVAL;
	nkey[0] = SCIM_KEY_REMOVED;
	memcpy(nkey + 1, d->name, nlen);
	r = encode_scratch(w, enc_removed, d, false, &len);
	if (r < 0)
		return r;
	at = scim_tdb_builder_tell(w->file);
	r = store(w, nkey, nlen + 1, w->scratch, len);
	if (r < 0)
		return r;
	return index_add(&w->removed, scim_index_name_check(d->name, nlen), at);
}

static int enc_keys(const void *obj, bool full, unsigned char *buf, size_t *len)
{
	(void)full;
	return scim_rec_encode_keys(obj, buf, len);
}

int scim_cache_writer_add_keys(struct scim_cache_writer *w, const struct scim_ssh_keys *k)
{
	size_t nlen = k->name ? strlen(k->name) : 0, len;
	unsigned char nkey[SCIM_NAME_MAX + 1];
	int r;

	if (nlen == 0 || nlen > SCIM_NAME_MAX)
		return -EINVAL;
	nkey[0] = SCIM_KEY_SSH_KEYS;
	memcpy(nkey + 1, k->name, nlen);
	r = encode_scratch(w, enc_keys, k, false, &len);
	if (r < 0)
		return r;
	return store(w, nkey, nlen + 1, w->scratch, len);
}

static int cmp_entry_check(const void *a, const void *b)
{
	const struct scim_index_entry *x = a, *y = b;
	return (x->check > y->check) - (x->check < y->check);
}

/* tdb would quietly answer with one of two records under one key. */
static int removed_unique(struct scim_cache_writer *w)
{
	struct index_list *l = &w->removed;
	int r;

	if (l->n < 2)
		return 0; /* and l->e may be NULL, which qsort must not get */
	qsort(l->e, l->n, sizeof(*l->e), cmp_entry_check);
	for (uint32_t i = 0; i < l->n; i++)
		for (uint32_t j = i + 1; j < l->n && l->e[j].check == l->e[i].check; j++) {
			r = same_name(l->e[i].offset, l->e[j].offset, w);
			if (r != 0)
				return r < 0 ? r : -EEXIST;
		}
	return 0;
}

/* The generation of the live cache, 0 if there is none or it cannot be read. */
static uint64_t live_generation(const char *live)
{
	struct scim_cache_file *f = NULL;
	struct scim_cache_header h;
	uint64_t gen = 0;
	if (scim_cache_file_open(live, &f) == 0) {
		if (scim_cache_file_header(f, &h) == 0)
			gen = h.generation;
		scim_cache_file_close(f);
	}
	return gen;
}

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC), r = 0;
	if (fd < 0)
		return errno_or(-EIO);
	if (fsync(fd) < 0)
		r = errno_or(-EIO);
	close(fd);
	return r;
}

static int fsync_parent(const char *path)
{
	char *dir = strdup(path), *slash;
	int r;
	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (!slash)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = 0;
	else
		*slash = 0;
	r = fsync_path(dir, O_RDONLY | O_DIRECTORY);
	free(dir);
	return r;
}

int scim_cache_install(const char *tmp_path, const char *live_path)
{
	struct tdb_context *old;

	/* Take a handle on the file being replaced before the rename, so it can be
	 * marked afterwards.  Failing to open it only costs readers up to a second
	 * (their periodic stat() catches the new inode). */
	old = tdb_open(live_path, 0, TDB_SEQNUM | TDB_NOLOCK, O_RDWR | O_CLOEXEC, 0);
	if (rename(tmp_path, live_path) < 0) {
		int r = errno_or(-EIO);
		if (old)
			tdb_close(old);
		return r;
	}
	/* The rename is done and readers see the new file whatever happens next;
	 * the directory fsync only makes it survive a crash, so it is not worth
	 * failing the publish over. */
	(void)fsync_parent(live_path);
	if (old) {
		tdb_increment_seqnum_nonblock(old);
		tdb_close(old);
	}
	return 0;
}

int scim_cache_writer_commit(struct scim_cache_writer *w, const struct scim_cache_header *h)
{
	struct scim_cache_header hdr = *h;
	unsigned char key = SCIM_KEY_HEADER;
	size_t len;
	int r;

	r = users_flush(w);
	if (r < 0)
		goto fail;
	r = chunk_flush(w, &w->groups, SCIM_KEY_GROUP_CHUNK, NULL);
	if (r < 0)
		goto fail;

	r = removed_unique(w);
	if (r < 0)
		goto fail;
	r = store_indexes(w);
	if (r < 0)
		goto fail;

	hdr.format_version = SCIM_CACHE_FORMAT_VERSION;
	hdr.generation = live_generation(w->live) + 1;
	hdr.nusers = w->nusers;
	hdr.ngroups = w->ngroups;
	hdr.nsuspended = w->nsuspended;
	hdr.user_chunks = w->users.written;
	hdr.group_chunks = w->groups.written;
	len = 0;
	(void)scim_rec_encode_header(&hdr, NULL, &len);
	r = scratch_reserve(w, len);
	if (r == 0)
		r = scim_rec_encode_header(&hdr, w->scratch, &len);
	if (r < 0)
		goto fail;
	r = store(w, &key, 1, w->scratch, len);
	if (r < 0)
		goto fail;

	r = scim_tdb_builder_finish(w->file, 0644);
	w->file = NULL;
	if (r < 0)
		goto fail;

	r = scim_cache_install(w->tmp, w->live);
	if (r < 0)
		goto fail;
	writer_free(w);
	return r;

fail:
	unlink(w->tmp);
	writer_free(w);
	return r;
}

void scim_cache_writer_abort(struct scim_cache_writer *w)
{
	if (!w)
		return;
	unlink(w->tmp);
	writer_free(w);
}
