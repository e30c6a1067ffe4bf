/* tdbfile.h - tdb's on-disk format, for the two jobs libtdb does slowly for a
 * file that is written once and never changed: building a whole new file, and
 * reading every record of one without mapping it.
 *
 * libtdb (1.2 to 1.4) stores version-1 files: a 168-byte header, the free-list
 * head and hash_size chain heads (file offsets), then records that tile the
 * rest of the file.  A record is a 24-byte header (next in chain, rec_len,
 * key_len, data_len, the key's full hash, a magic number), the key, the data,
 * padding, and a 4-byte tailer holding 24 + rec_len.  tdb_store() adds a
 * record at the head of its chain, so a chain is newest first.
 *
 * libtdb creates the header (tdb_open with O_CREAT) and does every lookup;
 * this code only lays out records the way tdb_store() would, in one
 * sequential write, and the tests hold each file it writes to tdb_check(). */
#ifndef SCIM_TDBFILE_H
#define SCIM_TDBFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A new file at path (which must not exist), built with hash_size chains.
 * Records go out in the order they are added.  Keys must be unique: the
 * builder does not look (tdb would find the newest of two); the cache
 * writer's indexes catch a repeated name or number. */
struct scim_tdb_builder;
int scim_tdb_builder_new(const char *path, uint32_t hash_size, struct scim_tdb_builder **out);
/* 0, -E2BIG, -EFBIG (past tdb's 4 GiB), or a write error (-ENOSPC, -EIO...). */
int scim_tdb_builder_add(struct scim_tdb_builder *b, const void *key, size_t klen, const void *data,
			 size_t dlen);
/* Reads back len bytes of what was added, from file offset off. */
int scim_tdb_builder_read(const struct scim_tdb_builder *b, uint64_t off, void *out, size_t len);
/* The key of the record added at off, into key (cap bytes; -ENOBUFS if it
 * is longer), and its length. */
int scim_tdb_builder_key(const struct scim_tdb_builder *b, uint64_t off, void *key, size_t cap, size_t *klen);
/* The file offset the next record will get (a record's header comes first,
 * then its key at +24, then its data). */
uint64_t scim_tdb_builder_tell(const struct scim_tdb_builder *b);
/* Writes what is buffered and the chain heads, fsyncs and sets mode; the file
 * is complete when this returns 0.  Frees b either way. */
int scim_tdb_builder_finish(struct scim_tdb_builder *b, unsigned mode);
/* Frees b; the caller removes the file. */
void scim_tdb_builder_free(struct scim_tdb_builder *b);

/* Every live record of the tdb file at path, in file order, read with
 * pread() into a small window instead of a mapping, so that scanning a file
 * costs no more memory than its largest record.  fn gets only records whose
 * key starts with one of the bytes in tags (all records if tags is NULL); key
 * and data are valid only inside fn.  A non-zero return from fn stops the
 * scan and is returned.  -ENODATA when there is no file, -EBADMSG when it is
 * not a tdb file or a record is out of bounds. */
typedef int (*scim_tdb_record_fn)(const unsigned char *key, size_t klen, const unsigned char *data, size_t dlen,
				  void *ctx);
int scim_tdb_scan(const char *path, const char *tags, scim_tdb_record_fn fn, void *ctx);

/* The live record whose header is at off in a mapped file: its key and data,
 * after checking that it lies wholly inside the file.  -EBADMSG otherwise. */
#define SCIM_TDB_RECORD_HEADER 24u
int scim_tdb_record_at(const unsigned char *map, size_t map_len, uint64_t off, const unsigned char **key,
		       size_t *klen, const unsigned char **data, size_t *dlen);

/* The size of tdb's file header (before the free-list head). */
#define SCIM_TDB_HEADER_SIZE 168u
/* Where the header keeps the sequence number (tdb_get_seqnum's value, in
 * the file's byte order). */
#define SCIM_TDB_SEQNUM_OFFSET 48u

#endif
