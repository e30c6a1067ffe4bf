/* scan.h - a SCIM ListResponse read in place, one resource at a time.
 *
 * A page of groups can hold a group of 30,000 members: as one json-c tree that
 * is ~30 MB for a moment.  The scanner walks the text instead (bounds-checked:
 * the buffer need not end in a NUL), checks it is strict JSON (RFC 8259, valid
 * UTF-8), and hands json-c one resource at a time.  A group goes key by key
 * and its members one at a time; a member whose keys and strings need no
 * decoding is read without json-c at all.  Used by the offline import (a
 * mapped file) and by the network sync (a page in memory).
 *
 *	struct scim_scan s;
 *	struct scim_page pg;
 *	r = scim_scan_open(&s, buf, len, "Users page 3", false);
 *	r = scim_scan_page(&s, &pg);              // the whole text is checked here
 *	r = scim_page_error(&s, &pg);             // a SCIM error document?
 *	r = scim_scan_resources(&s, &pg, &sink, &n);
 *	scim_page_free(&pg);
 *	scim_scan_close(&s);
 *
 * Everything returns 0 or a negative errno; invalid JSON is -EBADMSG and is
 * logged here, naming the input and the byte. */
#ifndef SCIM_REFRESHD_SCAN_H
#define SCIM_REFRESHD_SCAN_H

#include <stdbool.h>
#include <stddef.h>

struct json_object;
struct json_tokener;

struct scim_scan {
	const char *base, *end;
	const char *what;        /* names the input in messages */
	bool mapped;             /* base is a private read-only file mapping */
	size_t released;         /* bytes of the mapping already given back */
	const char *bad;         /* where the last check failed */
	bool checked;            /* scim_scan_page() found the whole text valid */
	struct json_tokener *tok;
};

/* buf..buf+len is not copied and must outlive the scan; what too.  mapped:
 * pages behind the scan are given back to the kernel as it goes (they read
 * back from the file if touched again).  -ENOMEM. */
int scim_scan_open(struct scim_scan *s, const char *buf, size_t len, const char *what, bool mapped);
void scim_scan_close(struct scim_scan *s);

/* The top-level fields of a document.  Keys match in any case (RFC 7643
 * section 2.1), a key given twice keeps its last value. */
struct scim_page {
	struct json_object *schemas, *status, *detail, *total, *next_cursor; /* NULL: absent or null */
	const char *resources, *resources_end; /* the text of "Resources"; NULL when absent */
};

/* Checks that the whole text is one JSON object (whitespace around it
 * allowed) and fills pg; scim_page_free() it even on error.  -EBADMSG. */
int scim_scan_page(struct scim_scan *s, struct scim_page *pg);
void scim_page_free(struct scim_page *pg);

/* -EPROTO, with its status and detail logged, when pg is a SCIM error
 * response (schemas holds "...:Error"); else 0. */
int scim_page_error(const struct scim_scan *s, const struct scim_page *pg);
/* Whether schemas (a JSON array) holds a URN ending in suffix, in any case. */
bool scim_schemas_contain(struct json_object *schemas, const char *suffix);

/* Where scim_scan_resources() puts what it reads.  Each callback's negative
 * return stops the scan and is returned as it is (nothing more is logged). */
struct scim_scan_sink {
	/* Every element of Resources that is not streamed as a group, parsed
	 * (it may be any JSON value); freed after the call. */
	int (*resource)(void *ctx, struct json_object *res);
	/* Optional (NULL: groups go to resource whole).  A group object: begin
	 * with the group without its "members", then each member, then end.
	 * member gets the member as json-c parsed it; member_ref gets a member
	 * object whose keys and strings hold no escapes, as its "value",
	 * "type" and "$ref" (or GitHub's "$+ref") strings, not NUL-terminated
	 * and NULL when absent. */
	int (*begin_group)(void *ctx, struct json_object *group);
	int (*member)(void *ctx, struct json_object *member);
	int (*member_ref)(void *ctx, const char *value, size_t value_len, const char *type, size_t type_len,
			  const char *ref, size_t ref_len);
	int (*end_group)(void *ctx);
	/* Optional: the value of a member that member_ref will get a few
	 * members later, for a sink that wants to prefetch what it looks up:
	 * step 0 when it is read, step 1 halfway to member_ref (a lookup that
	 * reads a table slot and then the key it points to can fetch one,
	 * then the other). */
	void (*member_ahead)(void *ctx, const char *value, size_t value_len, unsigned step);
	/* Optional (NULL: everything is parsed).  An object handed to resource
	 * holds only the top-level keys (NUL-terminated, len bytes) this
	 * accepts; the others are skipped without being parsed. */
	bool (*want_key)(void *ctx, const char *key, size_t len);
	void *ctx;
};

/* Feeds every element of pg->resources (which must be a JSON array checked
 * by scim_scan_page) to sink, in order; *count is how many elements were
 * read, also on error. */
int scim_scan_resources(struct scim_scan *s, const struct scim_page *pg, const struct scim_scan_sink *sink,
			size_t *count);

/* The value at p..end (one JSON value, checked) as json-c parses it; NULL
 * (logged) when it is not one. */
struct json_object *scim_scan_parse(struct scim_scan *s, const char *p, const char *end);

#endif
