/* file.c - a private, read-only handle on one cache file, for the publisher
 * (which compares the live cache with the snapshot it is about to publish)
 * and for scimctl.  The modules never use this: they go through reader.c's
 * process-wide handles. */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <tdb.h>

#include "cache/cache.h"
#include "cache/lookup.h"
#include "cache/record.h"
#include "cache/tdbfile.h"

struct scim_cache_file {
	struct tdb_context *tdb;
	TDB_DATA header; /* a malloc'd copy: the header's strings outlive a parse */
	struct scim_cache_header hdr;
};

static int fetch_header(struct scim_cache_file *f)
{
	unsigned char key = SCIM_KEY_HEADER;
	TDB_DATA k = { &key, 1 };
	f->header = tdb_fetch(f->tdb, k);
	if (!f->header.dptr)
		return -EBADMSG;
	return scim_rec_decode_header(f->header.dptr, f->header.dsize, &f->hdr);
}

int scim_cache_file_open(const char *path, struct scim_cache_file **out)
{
	struct scim_cache_file *f;
	int r;

	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->tdb = tdb_open(path, 0, TDB_NOLOCK, O_RDONLY | O_CLOEXEC, 0);
	if (!f->tdb) {
		r = errno == ENOENT ? -ENODATA : errno == EACCES ? -EACCES : errno == EBUSY ? -EBUSY : -EBADMSG;
		free(f);
		return r;
	}
	r = fetch_header(f);
	if (r < 0) {
		scim_cache_file_close(f);
		return r;
	}
	*out = f;
	return 0;
}

void scim_cache_file_close(struct scim_cache_file *f)
{
	if (!f)
		return;
	tdb_close(f->tdb);
	free(f->header.dptr);
	free(f);
}

int scim_cache_file_header(struct scim_cache_file *f, struct scim_cache_header *out)
{
	*out = f->hdr;
	return 0;
}

struct walk_ctx {
	struct tdb_context *tdb;
	scim_user_cb ucb;
	scim_group_cb gcb;
	void *ctx;
};

static int group_rec(const unsigned char *data, size_t len, void *priv)
{
	struct walk_ctx *w = priv;
	struct scim_group g;
	int r = scim_rec_decode_group(data, len, &g);
	return r < 0 ? r : w->gcb(&g, w->ctx);
}

static int user_rec(const unsigned char *data, size_t len, void *priv)
{
	struct walk_ctx *w = priv;
	struct scim_user u;
	int r = scim_rec_decode_user(data, len, &u);
	return r < 0 ? r : w->ucb(&u, w->ctx);
}

static int walk_chunk(const unsigned char *data, size_t len, void *priv)
{
	struct walk_ctx *w = priv;
	const unsigned char *item;
	size_t pos = 0, ilen;
	int r;

	while ((r = scim_chunk_next(data, len, &pos, &item, &ilen)) == 0) {
		if (w->ucb) {
			r = user_rec(item, ilen, w);
		} else {
			r = scim_tdb_parse_name(w->tdb, SCIM_KEY_GROUP_NAME, item, ilen, group_rec, w);
			if (r == -ENOENT)
				r = -EBADMSG;
		}
		if (r != 0)
			return r;
	}
	return r == -ENOENT ? 0 : r;
}

static int walk(struct scim_cache_file *f, char tag, uint32_t nchunks, struct walk_ctx *w)
{
	unsigned char key[5];
	for (uint32_t i = 0; i < nchunks; i++) {
		scim_key_num(key, tag, i);
		int r = scim_tdb_parse(f->tdb, key, sizeof(key), walk_chunk, w);
		if (r != 0)
			return r == -ENOENT ? -EBADMSG : r;
	}
	return 0;
}

int scim_cache_file_foreach_user(struct scim_cache_file *f, scim_user_cb cb, void *ctx)
{
	struct walk_ctx w = { f->tdb, cb, NULL, ctx };
	return walk(f, SCIM_KEY_USER_CHUNK, f->hdr.user_chunks, &w);
}

int scim_cache_file_foreach_group(struct scim_cache_file *f, scim_group_cb cb, void *ctx)
{
	struct walk_ctx w = { f->tdb, NULL, cb, ctx };
	return walk(f, SCIM_KEY_GROUP_CHUNK, f->hdr.group_chunks, &w);
}

int scim_cache_file_user_by_name(struct scim_cache_file *f, const char *name, scim_user_cb cb, void *ctx)
{
	struct walk_ctx w = { f->tdb, cb, NULL, ctx };
	return scim_tdb_parse_name(f->tdb, SCIM_KEY_USER_NAME, name, strlen(name), user_rec, &w);
}

struct removed_walk {
	scim_removed_cb cb;
	void *ctx;
	const unsigned char *name; /* the key's name: the record must be for it */
	size_t name_len;
};

static int removed_rec(const unsigned char *data, size_t len, void *priv)
{
	struct removed_walk *w = priv;
	struct scim_removed d;
	int r = scim_rec_decode_removed(data, len, &d);
	if (r == 0 && (d.name_len != w->name_len || memcmp(d.name, w->name, w->name_len) != 0))
		r = -EBADMSG;
	return r < 0 ? r : w->cb(&d, w->ctx);
}

int scim_cache_file_removed_by_name(struct scim_cache_file *f, const char *name, scim_removed_cb cb, void *ctx)
{
	struct removed_walk w = { cb, ctx, (const unsigned char *)name, strlen(name) };
	return scim_tdb_parse_name(f->tdb, SCIM_KEY_REMOVED, name, w.name_len, removed_rec, &w);
}

struct keys_walk {
	scim_ssh_keys_cb cb;
	void *ctx;
	const char *name;
	size_t name_len;
};

static int keys_rec(const unsigned char *data, size_t len, void *priv)
{
	struct keys_walk *w = priv;
	struct scim_ssh_keys k;
	int r = scim_rec_decode_keys(data, len, &k);
	if (r == 0 && (k.name_len != w->name_len || memcmp(k.name, w->name, w->name_len) != 0))
		r = -EBADMSG;
	return r < 0 ? r : w->cb(&k, w->ctx);
}

int scim_cache_file_keys_by_name(struct scim_cache_file *f, const char *name, scim_ssh_keys_cb cb, void *ctx)
{
	struct keys_walk w = { cb, ctx, name, strlen(name) };
	if (w.name_len == 0 || w.name_len > SCIM_NAME_MAX)
		return -ENOENT;
	return scim_tdb_parse_name(f->tdb, SCIM_KEY_SSH_KEYS, name, w.name_len, keys_rec, &w);
}

struct scan_ctx {
	struct walk_ctx walk; /* the record decoders above, and their callbacks */
	scim_removed_cb rcb;
	struct scim_cache_header *hdr;
	bool have_header;
};

/* scan_brief: a "P" chunk's users, by their heads. */
static int brief_chunk(const unsigned char *data, size_t len, struct walk_ctx *w)
{
	const unsigned char *item;
	size_t pos = 0, ilen;
	int r;

	while ((r = scim_chunk_next(data, len, &pos, &item, &ilen)) == 0) {
		struct scim_user u;
		r = scim_rec_decode_user_head(item, ilen, &u);
		if (r == 0)
			r = w->ucb(&u, w->ctx);
		if (r != 0)
			return r;
	}
	return r == -ENOENT ? 0 : r;
}

/* scan_brief: a group's gid, from its "g" key. */
static int brief_gid(const unsigned char *key, size_t klen, struct walk_ctx *w)
{
	struct scim_group g = { 0 };

	if (klen != 5)
		return -EBADMSG;
	g.gid = (uint32_t)key[1] | (uint32_t)key[2] << 8 | (uint32_t)key[3] << 16 | (uint32_t)key[4] << 24;
	return w->gcb(&g, w->ctx);
}

static int scan_record(const unsigned char *key, size_t klen, const unsigned char *data, size_t dlen, void *priv)
{
	struct scan_ctx *c = priv;
	int r;

	switch (key[0]) {
	case SCIM_KEY_HEADER:
		if (klen != 1)
			return -EBADMSG;
		r = scim_rec_decode_header(data, dlen, c->hdr);
		c->hdr->source = NULL; /* it would point into the scan's buffer */
		c->have_header = r == 0;
		return r;
	case SCIM_KEY_USER_NAME:
		return user_rec(data, dlen, &c->walk);
	case SCIM_KEY_GROUP_NAME:
		return group_rec(data, dlen, &c->walk);
	case SCIM_KEY_USER_CHUNK:
		return brief_chunk(data, dlen, &c->walk);
	case SCIM_KEY_GROUP_GID:
		return brief_gid(key, klen, &c->walk);
	case SCIM_KEY_REMOVED: {
		struct removed_walk w = { c->rcb, c->walk.ctx, key + 1, klen - 1 };
		return removed_rec(data, dlen, &w);
	}
	default:
		return 0;
	}
}

/* Scans for the header, the records of user_tag and group_tag (full records,
 * or the brief scan's chunks and gid keys: scan_record knows each) and the
 * removed users; only the kinds someone asked for, the others are not even
 * decoded. */
static int scan_tags(const char *path, struct scim_cache_header *hdr, char user_tag, char group_tag,
		     scim_user_cb ucb, scim_group_cb gcb, scim_removed_cb rcb, void *ctx)
{
	char tags[5];
	size_t n = 0;
	struct scan_ctx c = { { NULL, ucb, gcb, ctx }, rcb, hdr, false };
	int r;

	tags[n++] = SCIM_KEY_HEADER;
	if (ucb)
		tags[n++] = user_tag;
	if (gcb)
		tags[n++] = group_tag;
	if (rcb)
		tags[n++] = SCIM_KEY_REMOVED;
	tags[n] = 0;
	r = scim_tdb_scan(path, tags, scan_record, &c);
	return r == 0 && !c.have_header ? -EBADMSG : r;
}

int scim_cache_file_scan_all(const char *path, struct scim_cache_header *hdr, scim_user_cb ucb, scim_group_cb gcb,
			     scim_removed_cb rcb, void *ctx)
{
	return scan_tags(path, hdr, SCIM_KEY_USER_NAME, SCIM_KEY_GROUP_NAME, ucb, gcb, rcb, ctx);
}

int scim_cache_file_scan_brief(const char *path, struct scim_cache_header *hdr, scim_user_cb ucb, scim_group_cb gcb,
			       scim_removed_cb rcb, void *ctx)
{
	return scan_tags(path, hdr, SCIM_KEY_USER_CHUNK, SCIM_KEY_GROUP_GID, ucb, gcb, rcb, ctx);
}

int scim_cache_file_scan(const char *path, struct scim_cache_header *hdr, scim_user_cb ucb, scim_group_cb gcb,
			 void *ctx)
{
	return scim_cache_file_scan_all(path, hdr, ucb, gcb, NULL, ctx);
}
