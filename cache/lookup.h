/* lookup.h - tdb_parse_record with 0/-errno results, shared by reader.c and
 * file.c. */
#ifndef SCIM_LOOKUP_H
#define SCIM_LOOKUP_H

#include <sys/types.h>

#include <stddef.h>
#include <tdb.h>

typedef int (*scim_data_fn)(const unsigned char *data, size_t len, void *ctx);

/* Hands the record under key to fn (data points into the mapping, valid only
 * inside fn) and returns fn's result.  tdb_parse_record's -1 means both "no
 * such key" and "damaged file": here the first is -ENOENT, the second
 * -EBADMSG, so fn may return any -errno without being mistaken for either. */
int scim_tdb_parse(struct tdb_context *tdb, const void *key, size_t klen, scim_data_fn fn, void *ctx);

/* The same for the key tag + name[0..len); a name that is empty or longer
 * than SCIM_NAME_MAX is simply not there (-ENOENT). */
int scim_tdb_parse_name(struct tdb_context *tdb, char tag, const void *name, size_t len, scim_data_fn fn,
			void *ctx);

#endif
