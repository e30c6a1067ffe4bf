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
#include <stdint.h>

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

/* The keys a reader looks up in an object, as a tree: node 0 is the object
 * itself, every other node a key (matched in any letter case, RFC 7643
 * section 2.1) looked up in its parent's value when that is an object, or
 * with elements in each object of its parent's list (a group's members).
 * An object in which one of those keys appears twice, in any letter case,
 * is ambiguous: json-c keeps the last of exact twins and both of "members"
 * and "Members", so two readers would each pick their own.  Names are
 * copied into the tree. */
#define SCIM_KEYS_MAX 64
struct scim_keys {
	unsigned n;
	size_t used; /* of names */
	struct scim_key {
		const char *name; /* NULL for node 0 */
		unsigned short len;
		uint8_t parent;
		bool elements;
		bool has_children;
	} k[SCIM_KEYS_MAX];
	char names[2048];
};

void scim_keys_init(struct scim_keys *k);
/* The node of name (len bytes) under parent, added if it is not there yet;
 * -E2BIG when the tree is full. */
int scim_keys_add(struct scim_keys *k, unsigned parent, const char *name, size_t len, bool elements);
/* The node of key (len bytes, any case) under node, or -1. */
int scim_keys_child(const struct scim_keys *k, unsigned node, const char *key, size_t len);
/* "name.formatted": the path of node, cut to fit buf. */
void scim_keys_path(const struct scim_keys *k, unsigned node, char *buf, size_t len);

/* The top-level fields of a document.  Keys match in any case (RFC 7643
 * section 2.1).  A document in which one of the keys a listing is read for
 * (Resources, totalResults, startIndex, itemsPerPage, nextCursor, schemas,
 * status, detail) appears twice, in any letter case, is refused (-EBADMSG):
 * whether it is complete, or an error, would depend on who reads it. */
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
	/* Optional, both or neither: the keys the sink reads from a resource
	 * (with a node "members" under the root whose children it reads in
	 * each member).  A resource in which one of them appears twice is
	 * announced to ambiguous, with the first such key's path
	 * ("members.value"), and then handed over as usual but without the
	 * top-level keys that came twice (a group whose "members" came twice
	 * gets none streamed).  The call comes before resource or begin_group,
	 * or, for a key inside a member, between begin_group and end_group
	 * (members before it have been delivered); at most once a resource. */
	const struct scim_keys *keys;
	int (*ambiguous)(void *ctx, const char *path);
	void *ctx;
};

/* Feeds every element of pg->resources (which must be a JSON array checked
 * by scim_scan_page) to sink, in order; *count is how many elements were
 * read, also on error. */
int scim_scan_resources(struct scim_scan *s, const struct scim_page *pg, const struct scim_scan_sink *sink,
			size_t *count);

/* Feeds the whole document (checked by scim_scan_page) to sink as one
 * resource, the way scim_scan_resources() feeds each element: a single
 * resource is read, and its keys checked, exactly as a listed one. */
int scim_scan_single(struct scim_scan *s, const struct scim_scan_sink *sink);

/* The value at p..end (one JSON value, checked) as json-c parses it; NULL
 * (logged) when it is not one. */
struct json_object *scim_scan_parse(struct scim_scan *s, const char *p, const char *end);

#endif
