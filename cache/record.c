/* record.c - the cache's record codec.
 *
 * Every record starts with a 4-byte prefix: kind, version, flags, reserved.
 * Integers are little-endian; strings are a le16 length, the bytes, and a NUL
 * (so a decoded string can be used in place).  Nothing is aligned: the tdb
 * mapping gives no alignment guarantee, so every integer goes through memcpy
 * helpers, and every length is checked against what is left of the record. */
#include <errno.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/record.h"

/* ---------------------------------------------------------------- writing */

struct enc {
	unsigned char *buf;
	size_t cap;
	size_t len; /* bytes needed so far, may exceed cap */
};

static void put_bytes(struct enc *e, const void *p, size_t n)
{
	if (e->len <= e->cap && n <= e->cap - e->len)
		memcpy(e->buf + e->len, p, n);
	e->len += n;
}

static void put_u8(struct enc *e, uint8_t v)
{
	put_bytes(e, &v, 1);
}

static void put_u32(struct enc *e, uint32_t v)
{
	unsigned char b[4];
	scim_put_le32(b, v);
	put_bytes(e, b, 4);
}

static void put_u64(struct enc *e, uint64_t v)
{
	put_u32(e, (uint32_t)v);
	put_u32(e, (uint32_t)(v >> 32));
}

static int put_str(struct enc *e, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > UINT16_MAX)
		return -EINVAL;
	unsigned char b[2] = { n & 0xff, n >> 8 };
	put_bytes(e, b, 2);
	put_bytes(e, s ? s : "", n);
	put_u8(e, 0);
	return 0;
}

static void put_prefix(struct enc *e, uint8_t kind, uint8_t flags)
{
	put_u8(e, kind);
	put_u8(e, SCIM_REC_VERSION);
	put_u8(e, flags);
	put_u8(e, 0);
}

static int enc_finish(struct enc *e, size_t *len)
{
	bool fits = e->len <= e->cap;
	*len = e->len;
	return fits ? 0 : -ENOBUFS;
}

int scim_rec_encode_user(const struct scim_user *u, bool full, unsigned char *buf, size_t *len)
{
	struct enc e = { buf, buf ? *len : 0, 0 };
	uint8_t flags = (u->suspended ? SCIM_REC_F_SUSPENDED : 0) | (full ? SCIM_REC_F_EXT : 0);
	int r = 0;

	put_prefix(&e, SCIM_REC_USER, flags);
	put_u32(&e, u->uid);
	put_u32(&e, u->gid);
	if ((r = put_str(&e, u->name)) < 0 || (r = put_str(&e, u->gecos)) < 0 ||
	    (r = put_str(&e, u->home)) < 0 || (r = put_str(&e, u->shell)) < 0)
		return r;
	if (full) {
		if ((r = put_str(&e, u->scim_id)) < 0)
			return r;
		put_u32(&e, u->ngids);
		for (uint32_t i = 0; i < u->ngids; i++)
			put_u32(&e, u->gids[i]);
	}
	return enc_finish(&e, len);
}

int scim_rec_encode_group(const struct scim_group *g, unsigned char *buf, size_t *len)
{
	struct enc e = { buf, buf ? *len : 0, 0 };
	uint64_t member_bytes = 0;
	int r = 0;

	for (uint32_t i = 0; i < g->nmembers; i++)
		member_bytes += strlen(g->members[i]) + 1;
	if (member_bytes > UINT32_MAX)
		return -E2BIG;

	put_prefix(&e, SCIM_REC_GROUP, 0);
	put_u32(&e, g->gid);
	put_u32(&e, g->nmembers);
	put_u32(&e, (uint32_t)member_bytes);
	if ((r = put_str(&e, g->name)) < 0 || (r = put_str(&e, g->scim_id)) < 0)
		return r;
	/* Members are most of a large directory's bytes: a one-byte length and
	 * no NUL (the packer copies them anyway). */
	for (uint32_t i = 0; i < g->nmembers; i++) {
		size_t n = strlen(g->members[i]);
		if (n == 0 || n > SCIM_NAME_MAX)
			return -EINVAL;
		put_u8(&e, (uint8_t)n);
		put_bytes(&e, g->members[i], n);
	}
	return enc_finish(&e, len);
}

int scim_rec_encode_removed(const struct scim_removed *d, unsigned char *buf, size_t *len)
{
	struct enc e = { buf, buf ? *len : 0, 0 };
	size_t n = d->name ? strlen(d->name) : 0;
	int r;

	if (n == 0 || n > SCIM_NAME_MAX)
		return -EINVAL;
	put_prefix(&e, SCIM_REC_REMOVED, 0);
	put_u32(&e, d->uid);
	put_u64(&e, (uint64_t)d->since);
	if ((r = put_str(&e, d->name)) < 0 || (r = put_str(&e, d->scim_id)) < 0)
		return r;
	return enc_finish(&e, len);
}

int scim_rec_encode_header(const struct scim_cache_header *h, unsigned char *buf, size_t *len)
{
	struct enc e = { buf, buf ? *len : 0, 0 };
	int r;

	put_prefix(&e, SCIM_REC_HEADER, 0);
	put_u32(&e, SCIM_CACHE_FORMAT_VERSION);
	put_u64(&e, h->generation);
	put_u64(&e, (uint64_t)h->last_sync);
	put_u32(&e, h->nusers);
	put_u32(&e, h->ngroups);
	put_u32(&e, h->nsuspended);
	put_u32(&e, h->user_chunks);
	put_u32(&e, h->group_chunks);
	if ((r = put_str(&e, h->source)) < 0)
		return r;
	return enc_finish(&e, len);
}

/* ---------------------------------------------------------------- reading */

struct dec {
	const unsigned char *p;
	size_t left;
};

static int get_bytes(struct dec *d, size_t n, const unsigned char **out)
{
	if (n > d->left)
		return -EBADMSG;
	*out = d->p;
	d->p += n;
	d->left -= n;
	return 0;
}

static int get_u32(struct dec *d, uint32_t *v)
{
	const unsigned char *b;
	if (get_bytes(d, 4, &b) < 0)
		return -EBADMSG;
	*v = scim_le32(b);
	return 0;
}

static int get_u64(struct dec *d, uint64_t *v)
{
	uint32_t lo, hi;
	if (get_u32(d, &lo) < 0 || get_u32(d, &hi) < 0)
		return -EBADMSG;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

/* A string must carry its terminating NUL inside the record. */
static int get_str(struct dec *d, const char **s, size_t *slen)
{
	const unsigned char *b;
	size_t n;
	if (get_bytes(d, 2, &b) < 0)
		return -EBADMSG;
	n = (size_t)b[0] | (size_t)b[1] << 8;
	if (get_bytes(d, n + 1, &b) < 0 || b[n] != 0)
		return -EBADMSG;
	*s = (const char *)b;
	if (slen)
		*slen = n;
	return 0;
}

static int get_prefix(struct dec *d, uint8_t kind, uint8_t *flags)
{
	const unsigned char *b;
	if (get_bytes(d, 4, &b) < 0 || b[0] != kind || b[1] != SCIM_REC_VERSION)
		return -EBADMSG;
	*flags = b[2];
	return 0;
}

/* The fields every user record starts with; d is left at what follows. */
static int decode_user_head(struct dec *d, struct scim_user *out, uint8_t *flags)
{
	size_t n[4];

	memset(out, 0, sizeof(*out));
	if (get_prefix(d, SCIM_REC_USER, flags) < 0 || get_u32(d, &out->uid) < 0 || get_u32(d, &out->gid) < 0 ||
	    get_str(d, &out->name, &n[0]) < 0 || get_str(d, &out->gecos, &n[1]) < 0 ||
	    get_str(d, &out->home, &n[2]) < 0 || get_str(d, &out->shell, &n[3]) < 0)
		return -EBADMSG;
	/* get_str's lengths come from a le16, so they fit */
	out->name_len = (uint16_t)n[0];
	out->gecos_len = (uint16_t)n[1];
	out->home_len = (uint16_t)n[2];
	out->shell_len = (uint16_t)n[3];
	out->suspended = *flags & SCIM_REC_F_SUSPENDED;
	return 0;
}

int scim_rec_decode_user_head(const unsigned char *rec, size_t len, struct scim_user *out)
{
	struct dec d = { rec, len };
	uint8_t flags;
	return decode_user_head(&d, out, &flags);
}

int scim_rec_decode_user(const unsigned char *rec, size_t len, struct scim_user *out)
{
	struct dec d = { rec, len };
	uint8_t flags;
	const unsigned char *gids;

	if (decode_user_head(&d, out, &flags) < 0)
		return -EBADMSG;
	out->has_ext = flags & SCIM_REC_F_EXT;
	if (out->has_ext) {
		if (get_str(&d, &out->scim_id, NULL) < 0 || get_u32(&d, &out->ngids) < 0 ||
		    out->ngids > d.left / 4 || get_bytes(&d, (size_t)out->ngids * 4, &gids) < 0)
			return -EBADMSG;
		out->gids_le = gids;
	}
	return d.left == 0 ? 0 : -EBADMSG;
}

int scim_rec_decode_group(const unsigned char *rec, size_t len, struct scim_group *out)
{
	struct dec d = { rec, len };
	uint8_t flags;

	memset(out, 0, sizeof(*out));
	if (get_prefix(&d, SCIM_REC_GROUP, &flags) < 0 || get_u32(&d, &out->gid) < 0 ||
	    get_u32(&d, &out->nmembers) < 0 || get_u32(&d, &out->member_bytes) < 0 ||
	    get_str(&d, &out->name, NULL) < 0 || get_str(&d, &out->scim_id, NULL) < 0)
		return -EBADMSG;
	/* Each member is a length byte and at least one character, and the
	 * members must fill the rest of the record exactly: member_bytes (the
	 * names with their NULs, what the NSS module reserves in the caller's
	 * buffer before copying) is the same number of bytes. */
	if (out->nmembers > d.left / 2 || d.left != (size_t)out->member_bytes)
		return -EBADMSG;
	out->members_raw = d.p;
	out->members_raw_len = d.left;
	return 0;
}

int scim_rec_next_member(const struct scim_group *g, size_t *pos, const char **name, size_t *name_len)
{
	size_t left, n;
	if (*pos > g->members_raw_len)
		return -EBADMSG;
	left = g->members_raw_len - *pos;
	if (left == 0)
		return -ENOENT;
	n = g->members_raw[*pos];
	if (n == 0 || n > left - 1)
		return -EBADMSG;
	*name = (const char *)g->members_raw + *pos + 1;
	*name_len = n;
	*pos += 1 + n;
	return 0;
}

int scim_rec_encode_keys(const struct scim_ssh_keys *k, unsigned char *buf, size_t *len)
{
	struct enc e = { buf, buf ? *len : 0, 0 };
	size_t n = k->name ? strlen(k->name) : 0;
	int r;

	if (n == 0 || n > SCIM_NAME_MAX || k->nkeys == 0 || k->nkeys > SCIM_SSH_KEYS_MAX)
		return -EINVAL;
	put_prefix(&e, SCIM_REC_KEYS, 0);
	if ((r = put_str(&e, k->name)) < 0)
		return r;
	put_u32(&e, k->nkeys);
	for (uint32_t i = 0; i < k->nkeys; i++)
		if ((r = put_str(&e, k->keys[i])) < 0)
			return r;
	return enc_finish(&e, len);
}

int scim_rec_decode_keys(const unsigned char *rec, size_t len, struct scim_ssh_keys *out)
{
	struct dec d = { rec, len };
	uint8_t flags;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (get_prefix(&d, SCIM_REC_KEYS, &flags) < 0 || get_str(&d, &out->name, &n) < 0 || n == 0 ||
	    n > SCIM_NAME_MAX || memchr(out->name, 0, n) || get_u32(&d, &out->nkeys) < 0 || out->nkeys == 0 ||
	    out->nkeys > SCIM_SSH_KEYS_MAX)
		return -EBADMSG;
	out->name_len = (uint16_t)n;
	out->raw = d.p;
	out->raw_len = d.left;
	/* Every line is checked here, so scim_rec_next_key() cannot fail. */
	for (uint32_t i = 0; i < out->nkeys; i++) {
		const char *s;
		size_t kl;
		if (get_str(&d, &s, &kl) < 0 || kl == 0 || memchr(s, 0, kl) || memchr(s, '\n', kl))
			return -EBADMSG;
	}
	return d.left == 0 ? 0 : -EBADMSG;
}

int scim_rec_next_key(const struct scim_ssh_keys *k, size_t *pos, const char **line, size_t *line_len)
{
	size_t n;

	if (*pos >= k->raw_len)
		return -ENOENT;
	if (k->raw_len - *pos < 3)
		return -EBADMSG;
	n = (size_t)k->raw[*pos] | (size_t)k->raw[*pos + 1] << 8;
	if (k->raw_len - *pos - 2 < n + 1)
		return -EBADMSG;
	*line = (const char *)k->raw + *pos + 2;
	*line_len = n;
	*pos += 2 + n + 1;
	return 0;
}

int scim_rec_decode_removed(const unsigned char *rec, size_t len, struct scim_removed *out)
{
	struct dec d = { rec, len };
	uint8_t flags;
	uint64_t since;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (get_prefix(&d, SCIM_REC_REMOVED, &flags) < 0 || get_u32(&d, &out->uid) < 0 || get_u64(&d, &since) < 0 ||
	    get_str(&d, &out->name, &n) < 0 || n == 0 || n > SCIM_NAME_MAX || get_str(&d, &out->scim_id, NULL) < 0)
		return -EBADMSG;
	/* A name with a NUL inside would match a shorter key than its own. */
	if (memchr(out->name, 0, n))
		return -EBADMSG;
	out->name_len = (uint16_t)n;
	out->since = (int64_t)since;
	return d.left == 0 ? 0 : -EBADMSG;
}

int scim_rec_decode_header(const unsigned char *rec, size_t len, struct scim_cache_header *out)
{
	struct dec d = { rec, len };
	uint8_t flags;
	uint64_t last_sync;

	memset(out, 0, sizeof(*out));
	if (get_prefix(&d, SCIM_REC_HEADER, &flags) < 0 || get_u32(&d, &out->format_version) < 0 ||
	    out->format_version != SCIM_CACHE_FORMAT_VERSION || get_u64(&d, &out->generation) < 0 ||
	    get_u64(&d, &last_sync) < 0 || get_u32(&d, &out->nusers) < 0 ||
	    get_u32(&d, &out->ngroups) < 0 || get_u32(&d, &out->nsuspended) < 0 ||
	    get_u32(&d, &out->user_chunks) < 0 || get_u32(&d, &out->group_chunks) < 0 ||
	    get_str(&d, &out->source, NULL) < 0)
		return -EBADMSG;
	out->last_sync = (int64_t)last_sync;
	return d.left == 0 ? 0 : -EBADMSG;
}

/* ---------------------------------------------------------------- chunks */

int scim_chunk_next(const unsigned char *chunk, size_t len, size_t *pos, const unsigned char **rec,
		    size_t *rec_len)
{
	struct dec d;
	uint32_t n;
	if (*pos > len)
		return -EBADMSG;
	d.p = chunk + *pos;
	d.left = len - *pos;
	if (d.left == 0)
		return -ENOENT;
	if (get_u32(&d, &n) < 0 || get_bytes(&d, n, rec) < 0)
		return -EBADMSG;
	*rec_len = n;
	*pos = len - d.left;
	return 0;
}

int scim_rec_number(const unsigned char *rec, size_t len, uint32_t *number)
{
	if (len < 8)
		return -EBADMSG;
	*number = scim_le32(rec + 4);
	return 0;
}

int scim_rec_user_name(const unsigned char *rec, size_t len, const unsigned char **name, size_t *name_len)
{
	struct dec d = { rec, len };
	uint8_t flags;
	uint32_t skip;
	const char *s;
	if (get_prefix(&d, SCIM_REC_USER, &flags) < 0 || get_u32(&d, &skip) < 0 || get_u32(&d, &skip) < 0 ||
	    get_str(&d, &s, name_len) < 0)
		return -EBADMSG;
	*name = (const unsigned char *)s;
	return 0;
}

void scim_key_num(unsigned char key[5], char tag, uint32_t n)
{
	key[0] = (unsigned char)tag;
	key[1] = n & 0xff;
	key[2] = (n >> 8) & 0xff;
	key[3] = (n >> 16) & 0xff;
	key[4] = n >> 24;
}
