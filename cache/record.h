/* record.h - internal constants of the cache format (see cache.h for the layout). */
#ifndef SCIM_RECORD_H
#define SCIM_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define SCIM_REC_VERSION 1

enum {
	SCIM_REC_USER = 1,
	SCIM_REC_GROUP = 2,
	SCIM_REC_HEADER = 3,
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

/* A chunk is a run of (le32 length, bytes) items.  Sets *rec to the item at
 * *pos and advances *pos; -ENOENT at the end, -EBADMSG if it runs over. */
int scim_chunk_next(const unsigned char *chunk, size_t len, size_t *pos, const unsigned char **rec,
		    size_t *rec_len);

/* tag + le32 number: the key of a uid, gid or chunk. */
void scim_key_num(unsigned char key[5], char tag, uint32_t n);

#endif
