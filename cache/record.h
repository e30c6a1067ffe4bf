/* record.h - internal constants of the cache format (see cache.h for the layout). */
#ifndef SCIM_RECORD_H
#define SCIM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define SCIM_REC_VERSION 1

/* Little-endian fields, read and written a byte at a time: records are not
 * aligned, and the byte order must not depend on the host. */
static inline uint32_t scim_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t scim_le64(const unsigned char *p)
{
	return (uint64_t)scim_le32(p) | (uint64_t)scim_le32(p + 4) << 32;
}

static inline void scim_put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

enum {
	SCIM_REC_USER = 1,
	SCIM_REC_GROUP = 2,
	SCIM_REC_HEADER = 3,
	SCIM_REC_REMOVED = 4,
	SCIM_REC_KEYS = 5,
};

#define SCIM_REC_F_SUSPENDED 0x01
#define SCIM_REC_F_EXT 0x02

/* Key tags. */
#define SCIM_KEY_HEADER 'H'
#define SCIM_KEY_USER_NAME 'U'
#define SCIM_KEY_USER_UID 'u'
#define SCIM_KEY_GROUP_NAME 'G'
#define SCIM_KEY_GROUP_GID 'g'
#define SCIM_KEY_USER_CHUNK 'P'
#define SCIM_KEY_GROUP_CHUNK 'R'
#define SCIM_KEY_REMOVED 'D'
#define SCIM_KEY_SSH_KEYS 'K'

/* A chunk is a run of (le32 length, bytes) items.  Sets *rec to the item at
 * *pos and advances *pos; -ENOENT at the end, -EBADMSG if it runs over. */
int scim_chunk_next(const unsigned char *chunk, size_t len, size_t *pos, const unsigned char **rec,
		    size_t *rec_len);

/* The uid of a user record or the gid of a group record (both follow the
 * prefix), without decoding the rest; -EBADMSG if the record is too short. */
int scim_rec_number(const unsigned char *rec, size_t len, uint32_t *number);

/* The name of a user record (full or passwd-only), in place and without its
 * NUL, without decoding the rest; -EBADMSG if it is not a user record or is
 * cut short. */
int scim_rec_user_name(const unsigned char *rec, size_t len, const unsigned char **name, size_t *name_len);

/* tag + le32 number: the key of a uid, gid or chunk. */
void scim_key_num(unsigned char key[5], char tag, uint32_t n);

#endif
