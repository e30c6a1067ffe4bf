/* fetch.h - one complete listing of a SCIM resource type, page by page.
 *
 * Pages are requested with startIndex/count, advancing by the number of
 * resources received; when the server answers with nextCursor (RFC 9865) the
 * listing follows cursors instead.  Each page is read in place by the scanner
 * (scan.h), one resource at a time (a group member by member), while its body
 * is in memory; the next page reuses the body's buffer, so memory stays at
 * one body plus what the sink keeps.
 */
#ifndef SCIM_FETCH_H
#define SCIM_FETCH_H

#include <stddef.h>

#include <json-c/json.h>

#include "refreshd/http.h"
#include "refreshd/scan.h"

/* Where the resources go (the model).  put gets every resource of every
 * page, in order (see struct scim_scan_sink; a resource belongs to the page,
 * so take a reference or copy to keep it).  A resource whose id came before
 * replaces it.  ids returns how many distinct ids the sink holds.  A negative
 * return of a callback stops the listing and is returned. */
struct scim_sink {
	struct scim_scan_sink put;
	size_t (*ids)(void *ctx);
	/* Optional: told totalResults once it is known, to size its tables. */
	void (*expect)(void *ctx, size_t total);
	/* Optional: the attributes the sink reads ("userName,name,...") for
	 * attributes=.  The first page is asked for with it: a 400 asks again
	 * without, a page with keys that were not asked for (meta included)
	 * means the server ignores it (the next pages go without).  required ("userName,urn:...")
	 * names top-level keys that some resource of a page must hold: a
	 * first page with none of one is read again without attributes=. */
	const char *attributes;
	const char *required;
};

struct scim_listing {
	size_t resources;     /* unique resources (by id) */
	size_t duplicates;    /* resources seen again on a later page */
	size_t pages;
	long total;           /* totalResults of the first page, -1 if never sent */
	bool cursor;          /* the listing paged with cursors */
	bool attributes;      /* the pages were asked for with attributes= */
};

/* Lists base_url/type ("Users" or "Groups").  0 only when the listing is
 * complete: every page arrived, totalResults (when sent) never changed and
 * equals the number of unique ids.  -ESTALE when the listing was not
 * complete or the server dropped our cursor: start over with a fresh
 * snapshot.  -EBADMSG for a page that is not JSON, not an object or whose
 * Resources is not a list of objects; -EPROTO for a SCIM error document.
 * Other errors come from scim_http_get or the sink. */
int scim_fetch_listing(struct scim_http *h, const char *base_url, const char *type, unsigned page_size,
		       const struct scim_sink *sink, struct scim_listing *out);

/* base_url/type/id with id percent-encoded (a GET of one resource); NULL on
 * allocation failure. */
char *scim_resource_url(const char *base_url, const char *type, const char *id);

/* ------------------------------------------------------------- for tests */
/* Appends "?startIndex=N&count=C" or "?cursor=X&count=C" (X percent-encoded)
 * to base/type; NULL on allocation failure. */
char *scim_listing_url(const char *base_url, const char *type, size_t start_index, const char *cursor,
		       unsigned count);

#endif
