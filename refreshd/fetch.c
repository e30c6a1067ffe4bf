/* fetch.c - page through one SCIM listing and decide whether it is complete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refreshd/fetch.h"
#include "refreshd/log.h"

/* A listing longer than this is a server that never stops. */
#define SCIM_MAX_PAGES 1000000

/* ---------------------------------------------------------------- URLs */
char *scim_listing_url(const char *base_url, const char *type, size_t start_index, const char *cursor,
		       unsigned count)
{
	size_t blen = strlen(base_url), clen = cursor ? strlen(cursor) : 0;
	size_t n = blen + strlen(type) + 3 * clen + 64;
	char *u = malloc(n), *p;

	if (!u)
		return NULL;
	while (blen && base_url[blen - 1] == '/')
		blen--;
	p = u + snprintf(u, n, "%.*s/%s?", (int)blen, base_url, type);
	if (cursor) {
		static const char hex[] = "0123456789ABCDEF";
		p += sprintf(p, "cursor=");
		for (size_t i = 0; i < clen; i++) {
			unsigned char c = (unsigned char)cursor[i];
			if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			    c == '-' || c == '_' || c == '.' || c == '~') {
				*p++ = (char)c;
			} else {
				*p++ = '%';
				*p++ = hex[c >> 4];
				*p++ = hex[c & 15];
			}
		}
		sprintf(p, "&count=%u", count);
	} else {
		sprintf(p, "startIndex=%zu&count=%u", start_index, count);
	}
	return u;
}

/* ---------------------------------------------------------------- listing */
static bool scim_get_long(json_object *x, long *v)
{
	if (!x)
		return false;
	/* Some servers send numbers as strings. */
	if (json_object_is_type(x, json_type_int)) {
		*v = (long)json_object_get_int64(x);
		return true;
	}
	if (json_object_is_type(x, json_type_string)) {
		char *end;
		errno = 0;
		*v = strtol(json_object_get_string(x), &end, 10);
		return !errno && *end == '\0' && end != json_object_get_string(x);
	}
	return false;
}

/* Between the scanner and the caller's sink: every resource is checked to be
 * an object and counted. */
struct feed {
	const struct scim_sink *sink;
	const char *type;
	size_t page;
	size_t noid, noid_page; /* resources without a string id */
	size_t fed;             /* resources the sink took */
};

static int feed_check(struct feed *f, json_object *res)
{
	json_object *id;

	if (!json_object_is_type(res, json_type_object)) {
		log_error("%s: a resource on page %zu is not an object", f->type, f->page);
		return -EBADMSG;
	}
	/* The sink skips and logs a resource without an id; it still counts
	 * toward totalResults. */
	id = scim_json_get(res, "id");
	if (!id || !json_object_is_type(id, json_type_string)) {
		f->noid++;
		f->noid_page++;
	}
	return 0;
}

static int feed_resource(void *ctx, json_object *res)
{
	struct feed *f = ctx;
	int r = feed_check(f, res);

	if (r == 0)
		r = f->sink->put.resource(f->sink->put.ctx, res);
	if (r == 0)
		f->fed++;
	return r;
}

static int feed_begin_group(void *ctx, json_object *group)
{
	struct feed *f = ctx;
	int r = feed_check(f, group);

	if (r == 0)
		r = f->sink->put.begin_group(f->sink->put.ctx, group);
	if (r == 0)
		f->fed++;
	return r;
}

static int feed_member(void *ctx, json_object *member)
{
	struct feed *f = ctx;
	return f->sink->put.member(f->sink->put.ctx, member);
}

static int feed_member_ref(void *ctx, const char *value, size_t value_len, const char *type, size_t type_len,
			   const char *ref, size_t ref_len)
{
	struct feed *f = ctx;
	return f->sink->put.member_ref(f->sink->put.ctx, value, value_len, type, type_len, ref, ref_len);
}

static int feed_end_group(void *ctx)
{
	struct feed *f = ctx;
	return f->sink->put.end_group(f->sink->put.ctx);
}

static void feed_member_ahead(void *ctx, const char *value, size_t value_len, unsigned step)
{
	struct feed *f = ctx;
	f->sink->put.member_ahead(f->sink->put.ctx, value, value_len, step);
}

/* Before the resource it is about: a resource whose "id" came twice
 * arrives without one and is counted with those that have none. */
static int feed_ambiguous(void *ctx, const char *path)
{
	struct feed *f = ctx;
	return f->sink->put.ambiguous(f->sink->put.ctx, path);
}

/* "id" is among the keys a sink wants: feed_check reads it. */
static bool feed_want_key(void *ctx, const char *key, size_t len)
{
	struct feed *f = ctx;
	return f->sink->put.want_key(f->sink->put.ctx, key, len);
}

int scim_fetch_listing(struct scim_http *h, const char *base_url, const char *type, unsigned page_size,
		       const struct scim_sink *sink, struct scim_listing *out)
{
	struct feed f = { .sink = sink, .type = type };
	bool streams = sink->put.begin_group != NULL;
	struct scim_scan_sink put = {
		.resource = feed_resource,
		.begin_group = streams ? feed_begin_group : NULL,
		.member = streams ? feed_member : NULL,
		.member_ref = streams ? feed_member_ref : NULL,
		.end_group = streams ? feed_end_group : NULL,
		.member_ahead = streams && sink->put.member_ahead ? feed_member_ahead : NULL,
		.want_key = sink->put.want_key ? feed_want_key : NULL,
		.keys = sink->put.ambiguous ? sink->put.keys : NULL,
		.ambiguous = sink->put.ambiguous ? feed_ambiguous : NULL,
		.ctx = &f,
	};
	struct scim_scan scan = { 0 };
	struct scim_page pg = { 0 };
	char *url = NULL, *cursor = NULL, what[64];
	size_t start = 1, ids0 = sink->ids(sink->put.ctx);
	bool fell_back = false;
	int r;

	memset(out, 0, sizeof(*out));
	out->total = -1;
	if (page_size == 0)
		page_size = 100;

	for (;;) {
		const char *body;
		size_t len, received = 0, ids_before;
		json_object *next;
		long total;

		if (out->pages >= SCIM_MAX_PAGES) {
			log_error("%s: more than %d pages: giving up", type, SCIM_MAX_PAGES);
			r = -EPROTO;
			goto out;
		}
		free(url);
		url = scim_listing_url(base_url, type, start, out->cursor ? (cursor ? cursor : "") : NULL,
				       page_size);
		if (!url) {
			r = -ENOMEM;
			goto out;
		}
		r = scim_http_get(h, url, &body, &len);
		/* A cursor-only provider may refuse startIndex on the first
		 * page: ask again the RFC 9865 way, once. */
		if (r == -EPROTO && scim_http_last_status(h) == 400 && out->pages == 0 && !out->cursor &&
		    !fell_back) {
			log_info("%s: the server refused index paging; trying cursor paging", type);
			fell_back = true;
			out->cursor = true;
			continue;
		}
		if (r < 0)
			goto out;
		out->pages++;
		f.page = out->pages;
		f.noid_page = 0;

		/* The whole page is checked before any of it reaches the sink. */
		snprintf(what, sizeof(what), "%s page %zu", type, out->pages);
		r = scim_scan_open(&scan, body, len, what, false);
		if (r == 0)
			r = scim_scan_page(&scan, &pg);
		if (r == 0)
			r = scim_page_error(&scan, &pg);
		if (r < 0)
			goto out;

		if (scim_get_long(pg.total, &total)) {
			if (total < 0) {
				log_error("%s: negative totalResults %ld", type, total);
				r = -EBADMSG;
				goto out;
			}
			if (out->total < 0) {
				out->total = total;
				if (sink->expect)
					sink->expect(sink->put.ctx, (size_t)total);
			} else if (total != out->total) {
				log_warning("%s: totalResults changed from %ld to %ld during the listing", type,
					 out->total, total);
				r = -ESTALE;
				goto out;
			}
		}
		/* "Resources": null is no Resources. */
		if (pg.resources && *pg.resources != 'n' && *pg.resources != '[') {
			log_error("%s: Resources is not an array (page %zu)", type, out->pages);
			r = -EBADMSG;
			goto out;
		}
		ids_before = sink->ids(sink->put.ctx);
		if (pg.resources && *pg.resources == '[') {
			r = scim_scan_resources(&scan, &pg, &put, &received);
			if (r < 0)
				goto out;
		}

		/* A page of nothing but ids seen before means the server ignores
		 * startIndex or cycles its cursors: without totalResults to stop
		 * at, that would go on for ever. */
		if (received > f.noid_page && sink->ids(sink->put.ctx) == ids_before &&
		    (out->total < 0 || out->cursor)) {
			log_error("%s: page %zu brought only resources already listed: the server repeats "
				  "pages (does it ignore startIndex?)", type, out->pages);
			r = -EPROTO;
			goto out;
		}

		next = pg.next_cursor;
		if (next && json_object_is_type(next, json_type_string) && json_object_get_string_len(next) > 0) {
			const char *nc = json_object_get_string(next);
			if (cursor && strcmp(cursor, nc) == 0) {
				log_error("%s: the server sent the same nextCursor twice", type);
				r = -EPROTO;
				goto out;
			}
			free(cursor);
			cursor = strdup(nc);
			if (!cursor) {
				r = -ENOMEM;
				goto out;
			}
			out->cursor = true;
		} else if (out->cursor) {
			break;          /* no nextCursor: the last page */
		} else {
			if (received == 0)
				break;
			start += received;
			if (out->total >= 0 && start > (size_t)out->total)
				break;
		}
		scim_page_free(&pg);
		scim_scan_close(&scan);
	}

	/* Pages that shifted under us hand the sink the same id twice; it
	 * keeps one, and only unique ids count toward totalResults. */
	out->resources = sink->ids(sink->put.ctx) - ids0 + f.noid;
	out->duplicates = f.fed - out->resources;
	if (out->total >= 0 && out->resources != (size_t)out->total) {
		log_warning("%s: listing incomplete: %zu unique resources, totalResults %ld", type,
			    out->resources, out->total);
		r = -ESTALE;
		goto out;
	}
	r = 0;
out:
	if (r < 0) {
		/* What arrived before the failure, for the summary line. */
		out->resources = sink->ids(sink->put.ctx) - ids0 + f.noid;
		out->duplicates = f.fed - out->resources;
	}
	scim_page_free(&pg);
	scim_scan_close(&scan);
	free(url);
	free(cursor);
	return r;
}
