/* import.h - offline import: a directory of SCIM JSON files -> the cache.
 *
 * Reads every Users*.json, then every Groups*.json in dir (each sorted by
 * name; other files are ignored).  Each file is a SCIM ListResponse or a
 * single resource.  A ListResponse's Resources are parsed one at a time from
 * a read-only mapping of the file, so memory stays bounded by the largest
 * single resource, not the file. */
#ifndef SCIM_REFRESHD_IMPORT_H
#define SCIM_REFRESHD_IMPORT_H

#include <stdbool.h>

#include "refreshd/config.h"
#include "refreshd/model.h"
#include "refreshd/scan.h"

/* Imports and publishes.  Returns what scim_publish() returns, or a negative
 * errno for an unreadable directory or file, or invalid JSON (-EBADMSG); on
 * any error the cache is untouched.  stats may be NULL. */
int scim_import_dir(const struct scim_config *cfg, const char *dir, bool force, struct scim_sync_stats *stats);

/* Calls cb for every resource of one JSON document held in buf: each element
 * of a ListResponse's "Resources" (any case), or the document itself when it
 * is a single resource.  The object passed to cb is freed after cb returns.
 * A SCIM error response gives -EPROTO (with its detail logged).  Invalid or
 * truncated JSON gives -EBADMSG.  what names the input in messages. */
struct json_object;
int scim_json_foreach_resource(const char *buf, size_t len, const char *what,
			       int (*cb)(struct json_object *res, void *ctx), void *ctx);

/* What the import does with one file: checks the document (scim_scan_page),
 * refuses a SCIM error, and feeds sink every resource of a ListResponse, or
 * the document itself when it is a single resource.  s is open on the
 * file's text. */
int scim_import_document(struct scim_scan *s, const struct scim_scan_sink *sink);

#endif
