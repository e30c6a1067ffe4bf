/* fetch.h - one complete listing of a SCIM resource type, page by page.
 *
 * Pages are requested with startIndex/count, advancing by the number of
 * resources received; when the server answers with nextCursor (RFC 9865) the
 * listing follows cursors instead.  Each resource is handed to the callback
 * to the sink while its page is in memory; the page is freed
 * before the next one is asked for, so memory stays at one page plus the ids.
 */
#ifndef SCIM_FETCH_H
#define SCIM_FETCH_H

#include <stddef.h>

#include <json-c/json.h>

#include "refreshd/http.h"

/* Where the resources go (the model).  add is called for every resource of
 * every page, in order; the resource belongs to the page, so take a reference
 * or copy to keep it.  A resource whose id came before replaces it.  ids
 * returns how many distinct ids the sink holds.  A negative return of add
 * stops the listing and is returned. */
struct scim_sink {
	int (*add)(void *ctx, json_object *resource);
	size_t (*ids)(void *ctx);
	void *ctx;
};

struct scim_listing {
	size_t resources;     /* unique resources (by id) */
	size_t duplicates;    /* resources seen again on a later page */
	size_t pages;
	long total;           /* totalResults of the first page, -1 if never sent */
	bool cursor;          /* the listing paged with cursors */
};

/* Lists base_url/type ("Users" or "Groups").  0 only when the listing is
 * complete: every page arrived, totalResults (when sent) never changed and
 * equals the number of unique ids.  -ESTALE when the listing was not
 * complete or the server dropped our cursor: start over with a fresh
 * snapshot.  Other errors come from scim_http_get_json or the sink. */
int scim_fetch_listing(struct scim_http *h, const char *base_url, const char *type, unsigned page_size,
		       const struct scim_sink *sink, struct scim_listing *out);

/* ------------------------------------------------------------- for tests */
/* Appends "?startIndex=N&count=C" or "?cursor=X&count=C" (X percent-encoded)
 * to base/type; NULL on allocation failure. */
char *scim_listing_url(const char *base_url, const char *type, size_t start_index, const char *cursor,
		       unsigned count);

#endif
