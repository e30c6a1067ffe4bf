/* tdbfile.c - building and scanning tdb files in one sequential pass (see
 * tdbfile.h).
 *
 * Why not tdb_store()?  Through a mapping, building a 100k-user cache made
 * the publisher's resident size grow by the whole file (~50 MB) and cost one
 * page fault per page; without the mapping (TDB_NOMMAP) every store is a
 * dozen small preads and pwrites, 20 s for the same file.  Written here, the
 * file goes out in 1 MiB writes and the publisher holds only the chain heads
 * (4 bytes per chain). */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tdb.h>
#include <unistd.h>

#include "cache/tdbfile.h"

/* From tdb's format (tdb_private.h): a file of version TDB_VERSION. */
#define TDB_FILE_MAGIC "TDB file\n"
#define TDB_FILE_VERSION (0x26011967u + 6)
#define TDB_REC_MAGIC 0x26011999u
#define TDB_REC_FREE_MAGIC (~TDB_REC_MAGIC)
#define TDB_REC_DEAD_MAGIC 0xFEE1DEADu
#define TDB_REC_HEADER SCIM_TDB_RECORD_HEADER
#define TDB_TAILER 4u
#define TDB_HASH_SIZE_OFFSET 36u
/* Offset of chain head b (the free-list head comes first). */
#define TDB_HEAD_OFFSET(b) (SCIM_TDB_HEADER_SIZE + 4u * ((uint64_t)(b) + 1))
#define TDB_DATA_START(hash_size) TDB_HEAD_OFFSET(hash_size)

#define OUT_BUFFER (1u << 20)
#define SCAN_WINDOW (1u << 20)

struct scim_tdb_builder {
	int fd;
	uint32_t hash_size;
	uint32_t *heads;            /* per chain: offset of its newest record */
	uint64_t end;               /* file offset where the next record goes */
	unsigned char *buf;         /* what has not been written yet */
	size_t blen;
	uint64_t buf_off;           /* file offset of buf[0] */
};

static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4); /* tdb files are in the host's byte order */
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint32_t key_hash(const void *key, size_t klen)
{
	TDB_DATA k = { (unsigned char *)key, klen };
	return tdb_jenkins_hash(&k);
}

static int write_all(int fd, const unsigned char *p, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int flush(struct scim_tdb_builder *b)
{
	int r = write_all(b->fd, b->buf, b->blen, b->buf_off);
	if (r < 0)
		return r;
	b->buf_off += b->blen;
	b->blen = 0;
	return 0;
}

static int append(struct scim_tdb_builder *b, const void *data, size_t len)
{
	const unsigned char *p = data;
	while (len > 0) {
		size_t n = OUT_BUFFER - b->blen;
		if (n == 0) {
			int r = flush(b);
			if (r < 0)
				return r;
			continue;
		}
		if (n > len)
			n = len;
		memcpy(b->buf + b->blen, p, n);
		b->blen += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* len bytes from off; short_err when the file ends first. */
static int read_all(int fd, void *out, size_t len, uint64_t off, int short_err)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = pread(fd, (unsigned char *)out + done, len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return short_err;
		done += (size_t)n;
	}
	return 0;
}

int scim_tdb_builder_read(const struct scim_tdb_builder *b, uint64_t off, void *out, size_t len)
{
	if (off > b->end || len > b->end - off)
		return -EINVAL;
	if (off >= b->buf_off) {
		memcpy(out, b->buf + (off - b->buf_off), len);
		return 0;
	}
	return read_all(b->fd, out, len, off, -EIO);
}

int scim_tdb_builder_key(const struct scim_tdb_builder *b, uint64_t off, void *key, size_t cap, size_t *klen)
{
	unsigned char hdr[TDB_REC_HEADER];
	int r = scim_tdb_builder_read(b, off, hdr, sizeof(hdr));
	if (r < 0)
		return r;
	*klen = get32(hdr + 8);
	if (*klen > cap)
		return -ENOBUFS;
	return scim_tdb_builder_read(b, off + TDB_REC_HEADER, key, *klen);
}

int scim_tdb_builder_new(const char *path, uint32_t hash_size, struct scim_tdb_builder **out)
{
	struct scim_tdb_builder *b;
	struct tdb_context *tdb;
	struct stat st;
	int r = 0;

	*out = NULL;
	if (hash_size == 0 || hash_size > (UINT32_MAX - SCIM_TDB_HEADER_SIZE) / 4 - 2)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->fd = -1;
	b->hash_size = hash_size;
	b->heads = calloc(hash_size, sizeof(*b->heads));
	b->buf = malloc(OUT_BUFFER);
	if (!b->heads || !b->buf) {
		r = -ENOMEM;
		goto out;
	}

	/* libtdb writes the header: the magic, version, hash function
	 * markers and an empty hash table. */
	errno = 0;
	tdb = tdb_open(path, (int)hash_size, TDB_NOLOCK | TDB_NOSYNC | TDB_INCOMPATIBLE_HASH,
		       O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (!tdb) {
		r = errno > 0 ? -errno : -EIO;
		goto out;
	}
	tdb_close(tdb);
	b->fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (b->fd < 0 || fstat(b->fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	/* The layout assumed here is the one every libtdb since 1.2 writes. */
	if ((uint64_t)st.st_size != TDB_DATA_START(hash_size)) {
		r = -EPROTO;
		goto out;
	}
	b->end = b->buf_off = (uint64_t)st.st_size;
out:
	if (r < 0) {
		scim_tdb_builder_free(b);
		return r;
	}
	*out = b;
	return 0;
}

int scim_tdb_builder_add(struct scim_tdb_builder *b, const void *key, size_t klen, const void *data,
			 size_t dlen)
{
	static const unsigned char zeros[4];
	unsigned char hdr[TDB_REC_HEADER], tailer[TDB_TAILER];
	uint32_t hash, chain;
	uint64_t rec_len, pad;
	int r;

	if (klen > UINT32_MAX || dlen > UINT32_MAX)
		return -E2BIG;
	/* key, data, padding to a multiple of 4, the tailer */
	pad = (4 - (klen + dlen) % 4) % 4;
	rec_len = (uint64_t)klen + dlen + pad + TDB_TAILER;
	if (b->end + TDB_REC_HEADER + rec_len > UINT32_MAX)
		return -EFBIG; /* tdb offsets are 32 bits */
	hash = key_hash(key, klen);
	chain = hash % b->hash_size;
	put32(hdr, b->heads[chain]);
	put32(hdr + 4, (uint32_t)rec_len);
	put32(hdr + 8, (uint32_t)klen);
	put32(hdr + 12, (uint32_t)dlen);
	put32(hdr + 16, hash);
	put32(hdr + 20, TDB_REC_MAGIC);
	put32(tailer, (uint32_t)(TDB_REC_HEADER + rec_len));
	if ((r = append(b, hdr, sizeof(hdr))) < 0 || (r = append(b, key, klen)) < 0 ||
	    (r = append(b, data, dlen)) < 0 || (r = append(b, zeros, pad)) < 0 ||
	    (r = append(b, tailer, sizeof(tailer))) < 0)
		return r;

	b->heads[chain] = (uint32_t)b->end;
	b->end += TDB_REC_HEADER + rec_len;
	return 0;
}

uint64_t scim_tdb_builder_tell(const struct scim_tdb_builder *b)
{
	return b->end;
}

int scim_tdb_builder_finish(struct scim_tdb_builder *b, unsigned mode)
{
	int r = flush(b);
	if (r < 0)
		goto out;
	r = write_all(b->fd, (const unsigned char *)b->heads, (size_t)b->hash_size * 4, TDB_HEAD_OFFSET(0));
	if (r < 0)
		goto out;
	if (fsync(b->fd) < 0 || fchmod(b->fd, (mode_t)mode) < 0)
		r = -errno;
out:
	scim_tdb_builder_free(b);
	return r;
}

void scim_tdb_builder_free(struct scim_tdb_builder *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	free(b->heads);
	free(b->buf);
	free(b);
}

int scim_tdb_record_at(const unsigned char *map, size_t map_len, uint64_t off, const unsigned char **key,
		       size_t *klen, const unsigned char **data, size_t *dlen)
{
	const unsigned char *p;
	uint32_t rec_len, kl, dl;

	if (off < SCIM_TDB_HEADER_SIZE || off > map_len || map_len - off < TDB_REC_HEADER)
		return -EBADMSG;
	p = map + off;
	rec_len = get32(p + 4);
	kl = get32(p + 8);
	dl = get32(p + 12);
	if (get32(p + 20) != TDB_REC_MAGIC || rec_len > map_len - off - TDB_REC_HEADER ||
	    (uint64_t)kl + dl > rec_len)
		return -EBADMSG;
	*key = p + TDB_REC_HEADER;
	*klen = kl;
	*data = p + TDB_REC_HEADER + kl;
	*dlen = dl;
	return 0;
}

/* ---------------------------------------------------------------- scan */

struct window {
	int fd;
	uint64_t size;      /* of the file */
	unsigned char *buf;
	size_t cap;
	uint64_t off;       /* file offset of buf[0] */
	size_t len;         /* bytes valid in buf */
};

/* Points *p at len bytes of the file from off, reading ahead a window. */
static int window_get(struct window *w, uint64_t off, uint64_t len, const unsigned char **p)
{
	if (off > w->size || len > w->size - off)
		return -EBADMSG;
	if (off < w->off || off + len > w->off + w->len) {
		uint64_t want = len > SCAN_WINDOW ? len : SCAN_WINDOW;
		if (want > w->size - off)
			want = w->size - off;
		if (want > w->cap) {
			unsigned char *n = realloc(w->buf, (size_t)want);
			if (!n)
				return -ENOMEM;
			w->buf = n;
			w->cap = (size_t)want;
		}
		w->off = off;
		w->len = 0;
		/* Short: the file shrank under us. */
		int r = read_all(w->fd, w->buf, (size_t)want, off, -EBADMSG);
		if (r < 0)
			return r;
		w->len = (size_t)want;
	}
	*p = w->buf + (off - w->off);
	return 0;
}

int scim_tdb_scan(const char *path, const char *tags, scim_tdb_record_fn fn, void *ctx)
{
	struct window w = { .fd = -1 };
	const unsigned char *p;
	struct stat st;
	uint64_t off;
	int r;

	w.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (w.fd < 0)
		return errno == ENOENT ? -ENODATA : -errno;
	if (fstat(w.fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EBADMSG;
		goto out;
	}
	w.size = (uint64_t)st.st_size;
	r = window_get(&w, 0, SCIM_TDB_HEADER_SIZE, &p);
	if (r < 0)
		goto out;
	if (memcmp(p, TDB_FILE_MAGIC, sizeof(TDB_FILE_MAGIC)) || get32(p + 32) != TDB_FILE_VERSION ||
	    get32(p + TDB_HASH_SIZE_OFFSET) == 0) {
		r = -EBADMSG; /* not a tdb file, or one in the other byte order */
		goto out;
	}
	for (off = TDB_DATA_START(get32(p + TDB_HASH_SIZE_OFFSET)); off < w.size;) {
		uint32_t rec_len, klen, dlen, magic;
		r = window_get(&w, off, TDB_REC_HEADER, &p);
		if (r < 0)
			goto out;
		rec_len = get32(p + 4);
		klen = get32(p + 8);
		dlen = get32(p + 12);
		magic = get32(p + 20);
		if (rec_len > w.size - off - TDB_REC_HEADER) {
			r = -EBADMSG;
			goto out;
		}
		if (magic == TDB_REC_MAGIC) {
			if ((uint64_t)klen + dlen > rec_len) {
				r = -EBADMSG;
				goto out;
			}
			r = window_get(&w, off + TDB_REC_HEADER, (uint64_t)klen + dlen, &p);
			if (r < 0)
				goto out;
			if (!tags || (klen > 0 && memchr(tags, p[0], strlen(tags)))) {
				r = fn(p, klen, p + klen, dlen, ctx);
				if (r != 0)
					goto out;
			}
		} else if (magic != TDB_REC_FREE_MAGIC && magic != TDB_REC_DEAD_MAGIC) {
			/* Recovery areas exist only in files changed by
			 * transactions, which a cache never is. */
			r = -EBADMSG;
			goto out;
		}
		off += TDB_REC_HEADER + rec_len;
	}
	r = 0;
out:
	close(w.fd);
	free(w.buf);
	return r;
}
