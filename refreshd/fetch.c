/* fetch.c - page through one SCIM listing and decide whether it is complete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "refreshd/fetch.h"
#include "refreshd/log.h"

/* A listing longer than this is a server that never stops. */
#define SCIM_MAX_PAGES 1000000

/* ---------------------------------------------------------------- URLs */
static char *scim_pct_encode(char *p, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.' || c == '~') {
			*p++ = (char)c;
		} else {
			*p++ = '%';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 15];
		}
	}
	*p = '\0';
	return p;
}

char *scim_resource_url(const char *base_url, const char *type, const char *id)
{
	size_t blen = strlen(base_url), n = blen + strlen(type) + 3 * strlen(id) + 8;
	char *u = malloc(n);

	if (!u)
		return NULL;
	while (blen && base_url[blen - 1] == '/')
		blen--;
	scim_pct_encode(u + snprintf(u, n, "%.*s/%s/", (int)blen, base_url, type), id);
	return u;
}

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
		p += sprintf(p, "cursor=");
		p = scim_pct_encode(p, cursor);
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
	size_t shifted;         /* ids seen again on a later page */
	/* While the first page asked for with attributes= is read: */
	bool checking;
	bool unwanted;          /* a key that was not asked for came: attributes= ignored */
	unsigned required_seen; /* bit i: sink->required key i came in some resource */
	bool again;             /* the first page, read a second time: no shifts */
	const char *id;         /* of the resource being fed (NULL: none) */
	size_t ids_before;
};

/* Shifts logged one by one; beyond this, only counted. */
#define SCIM_SHIFT_LOG_MAX 5

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
	f->id = NULL;
	if (!id || !json_object_is_type(id, json_type_string)) {
		f->noid++;
		f->noid_page++;
	} else {
		f->id = json_object_get_string(id);
		f->ids_before = f->sink->ids(f->sink->put.ctx);
	}
	return 0;
}

/* An id that did not add to the sink's ids came before: the offsets moved
 * under the listing (a resource removed or added in front of it).  The sink
 * keeps the later copy. */
static void feed_seen(struct feed *f)
{
	if (!f->id || f->again || f->sink->ids(f->sink->put.ctx) != f->ids_before)
		return;
	f->shifted++;
	if (f->shifted <= SCIM_SHIFT_LOG_MAX)
		log_warning("%s: id %s listed again on page %zu: the pages shifted during the listing; the "
			    "later copy is used", f->type, f->id, f->page);
}

static int feed_resource(void *ctx, json_object *res)
{
	struct feed *f = ctx;
	int r = feed_check(f, res);

	if (r == 0)
		r = f->sink->put.resource(f->sink->put.ctx, res);
	if (r == 0) {
		f->fed++;
		feed_seen(f);
	}
	return r;
}

static int feed_begin_group(void *ctx, json_object *group)
{
	struct feed *f = ctx;
	int r = feed_check(f, group);

	if (r == 0)
		r = f->sink->put.begin_group(f->sink->put.ctx, group);
	if (r == 0) {
		f->fed++;
		feed_seen(f);
	}
	/* The id belongs to the group object, which the sink may free. */
	f->id = NULL;
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

/* Whether key is one of the comma-separated names of list, in any case;
 * its position in *i. */
static bool feed_key_in(const char *list, const char *key, size_t len, unsigned *i)
{
	*i = 0;
	for (const char *p = list; p && *p; (*i)++) {
		size_t n = strcspn(p, ",");
		if (n == len && !strncasecmp(p, key, len))
			return true;
		p += n + (p[n] == ',');
	}
	return false;
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
	bool want = f->sink->put.want_key(f->sink->put.ctx, key, len);
	unsigned i;

	if (f->checking) {
		/* schemas comes with whatever is asked for; meta is only
		 * "returned by default" (RFC 7643 section 3.1), so it shows an
		 * attributes= that was ignored. */
		if (!want && strcasecmp(key, "schemas"))
			f->unwanted = true;
		if (want && feed_key_in(f->sink->required, key, len, &i) && i < 32)
			f->required_seen |= 1u << i;
	}
	return want;
}

/* One listing in progress. */
struct listing {
	struct scim_http *h;
	const char *base_url, *type;
	char *attrs;      /* "&attributes=..." (percent-encoded), or NULL */
	const struct scim_sink *sink;
	struct scim_listing *out;
	struct feed f;
	struct scim_scan_sink put;
	bool again;       /* the first page, read a second time */
};

static char *listing_url(const struct listing *l, size_t start, const char *cursor, unsigned count)
{
	char *u = scim_listing_url(l->base_url, l->type, start, cursor, count), *p;

	if (!u || !l->attrs)
		return u;
	p = realloc(u, strlen(u) + strlen(l->attrs) + 1);
	if (!p) {
		free(u);
		return NULL;
	}
	return strcat(p, l->attrs);
}

/* Checks one page and feeds its resources to the sink.  *received: the
 * elements of Resources; *cursor (when not NULL) gets a copy of nextCursor,
 * or NULL. */
static int listing_page(struct listing *l, const char *body, size_t len, size_t *received, char **cursor)
{
	struct scim_listing *out = l->out;
	const struct scim_sink *sink = l->sink;
	const char *type = l->type;
	struct scim_scan scan = { 0 };
	struct scim_page pg = { 0 };
	size_t ids_before;
	json_object *next;
	char what[64];
	long total;
	int r;

	*received = 0;
	if (cursor)
		*cursor = NULL;
	out->pages++;
	l->f.page = out->pages;
	l->f.noid_page = 0;

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
		r = scim_scan_resources(&scan, &pg, &l->put, received);
		if (r < 0)
			goto out;
	}

	/* A page of nothing but ids seen before means the server ignores
	 * startIndex or cycles its cursors: without totalResults to stop
	 * at, that would go on for ever. */
	if (*received > l->f.noid_page && sink->ids(sink->put.ctx) == ids_before &&
	    (out->total < 0 || out->cursor) && !l->again) {
		log_error("%s: page %zu brought only resources already listed: the server repeats "
			  "pages (does it ignore startIndex?)", type, out->pages);
		r = -EPROTO;
		goto out;
	}
	next = pg.next_cursor;
	if (cursor && next && json_object_is_type(next, json_type_string) && json_object_get_string_len(next) > 0) {
		*cursor = strdup(json_object_get_string(next));
		if (!*cursor)
			r = -ENOMEM;
	}
out:
	scim_page_free(&pg);
	scim_scan_close(&scan);
	return r;
}

/* The pages after the first of an index listing whose totalResults is
 * known, up to max_parallel requests in flight.  The sink gets the pages in
 * order: one that comes in early stays in h until the pages before it are
 * read, so at most max_parallel bodies are in memory.  start is the index of
 * the second page, step the number of resources the first page held. */
static int listing_parallel(struct listing *l, size_t start, size_t step, unsigned count)
{
	unsigned p = scim_http_max_parallel(l->h);
	size_t total = (size_t)l->out->total, npages, submitted = 0, scanned = 0;
	struct held {
		bool ready;
		const char *body;
		size_t len;
	} *held = NULL;
	int r;

	npages = start > total ? 0 : (total - start) / step + 1;
	if (npages >= SCIM_MAX_PAGES) {
		log_error("%s: more than %d pages: giving up", l->type, SCIM_MAX_PAGES);
		return -EPROTO;
	}
	held = calloc(p, sizeof(*held));
	if (!held)
		return -ENOMEM;
	while (scanned < npages) {
		unsigned long tag;
		const char *body;
		size_t len, received;

		while (submitted < npages && submitted < scanned + p) {
			char *url = listing_url(l, start + submitted * step, NULL, count);
			if (!url) {
				r = -ENOMEM;
				goto out;
			}
			r = scim_http_submit(l->h, url, submitted, 0);
			free(url);
			if (r < 0)
				goto out;
			submitted++;
		}
		r = scim_http_next(l->h, &tag, &body, &len);
		if (r < 0)
			goto out;
		held[tag % p] = (struct held){ true, body, len };
		while (scanned < npages && held[scanned % p].ready) {
			struct held *hp = &held[scanned % p];
			r = listing_page(l, hp->body, hp->len, &received, NULL);
			hp->ready = false;
			scim_http_release(l->h, scanned);
			scanned++;
			if (r < 0)
				goto out;
			/* An empty page: the listing ends before totalResults
			 * said (and is incomplete); no use asking further. */
			if (received == 0) {
				scim_http_cancel(l->h);
				goto done;
			}
		}
	}
done:
	r = 0;
out:
	if (r < 0)
		scim_http_cancel(l->h);
	free(held);
	return r;
}

int scim_fetch_listing(struct scim_http *h, const char *base_url, const char *type, unsigned page_size,
		       const struct scim_sink *sink, struct scim_listing *out)
{
	bool streams = sink->put.begin_group != NULL;
	struct listing l = {
		.h = h,
		.base_url = base_url,
		.type = type,
		.sink = sink,
		.out = out,
		.f = { .sink = sink, .type = type },
	};
	l.put = (struct scim_scan_sink){
		.resource = feed_resource,
		.begin_group = streams ? feed_begin_group : NULL,
		.member = streams ? feed_member : NULL,
		.member_ref = streams ? feed_member_ref : NULL,
		.end_group = streams ? feed_end_group : NULL,
		.member_ahead = streams && sink->put.member_ahead ? feed_member_ahead : NULL,
		.want_key = sink->put.want_key ? feed_want_key : NULL,
		.keys = sink->put.ambiguous ? sink->put.keys : NULL,
		.ambiguous = sink->put.ambiguous ? feed_ambiguous : NULL,
		.ctx = &l.f,
	};
	char *url = NULL, *cursor = NULL;
	size_t start = 1, ids0 = sink->ids(sink->put.ctx);
	bool fell_back = false;
	int r;

	memset(out, 0, sizeof(*out));
	out->total = -1;
	if (page_size == 0)
		page_size = 100;
	if (sink->attributes && *sink->attributes) {
		l.attrs = malloc(3 * strlen(sink->attributes) + sizeof("&attributes="));
		if (!l.attrs) {
			r = -ENOMEM;
			goto out;
		}
		scim_pct_encode(l.attrs + sprintf(l.attrs, "&attributes="), sink->attributes);
	}

	for (;;) {
		const char *body;
		size_t len, received = 0;
		char *next = NULL;

		if (out->pages >= SCIM_MAX_PAGES) {
			log_error("%s: more than %d pages: giving up", type, SCIM_MAX_PAGES);
			r = -EPROTO;
			goto out;
		}
		free(url);
		url = listing_url(&l, start, out->cursor ? (cursor ? cursor : "") : NULL, page_size);
		if (!url) {
			r = -ENOMEM;
			goto out;
		}
		r = scim_http_get_flags(h, url, l.attrs && out->pages == 0 ? SCIM_HTTP_QUIET : 0, &body, &len);
		/* A server may refuse attributes=: ask again without (an error
		 * of its own then shows). */
		if (r == -EPROTO && l.attrs && out->pages == 0) {
			log_debug("%s: attributes= refused: asking for whole resources", type);
			free(l.attrs);
			l.attrs = NULL;
			continue;
		}
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
		size_t fed = l.f.fed, noid = l.f.noid, shifted = l.f.shifted;
		l.f.checking = l.attrs && out->pages == 0;
		l.f.again = l.again;
		r = listing_page(&l, body, len, &received, &next);
		/* The body's slot is free again for the pages in parallel. */
		scim_http_release(h, 0);
		l.again = l.f.again = false;
		if (r < 0) {
			free(next);
			goto out;
		}
		if (l.f.checking) {
			/* The first page tells whether the server honours
			 * attributes=: an ignored one costs nothing (the page
			 * is whole); one that lost what the mapping needs
			 * (required keys in no resource) means reading the
			 * page again, whole; its resources replace theirs. */
			unsigned nreq = 0;
			feed_key_in(sink->required, "", 0, &nreq);
			bool lost = received > l.f.noid_page && nreq &&
				    l.f.required_seen != (nreq >= 32 ? ~0u : (1u << nreq) - 1);
			l.f.checking = false;
			if (l.f.unwanted || lost) {
				log_debug("%s: attributes= %s: asking for whole resources", type,
					  lost ? "drops attributes the mapping reads" : "ignored");
				free(l.attrs);
				l.attrs = NULL;
			}
			if (lost) {
				free(next);
				out->pages--;
				l.f.fed = fed;
				l.f.noid = noid;
				l.f.shifted = shifted;
				l.again = true;
				continue;
			}
		}

		if (next) {
			if (cursor && strcmp(cursor, next) == 0) {
				free(next);
				log_error("%s: the server sent the same nextCursor twice", type);
				r = -EPROTO;
				goto out;
			}
			free(cursor);
			cursor = next;
			out->cursor = true;
		} else if (out->cursor) {
			break;          /* no nextCursor: the last page */
		} else {
			if (received == 0)
				break;
			start += received;
			if (out->total >= 0 && start > (size_t)out->total)
				break;
			/* The rest of an index listing of known length can be
			 * asked for all at once (cursors cannot). */
			if (out->total >= 0 && out->pages == 1 && scim_http_max_parallel(h) > 1) {
				r = listing_parallel(&l, start, received,
						     received < page_size ? (unsigned)received : page_size);
				if (r < 0)
					goto out;
				break;
			}
		}
	}

	/* Pages that shifted under us hand the sink the same id twice; it
	 * keeps one, and only unique ids count toward totalResults. */
	out->resources = sink->ids(sink->put.ctx) - ids0 + l.f.noid;
	out->duplicates = l.f.fed - out->resources;
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
		out->resources = sink->ids(sink->put.ctx) - ids0 + l.f.noid;
		out->duplicates = l.f.fed - out->resources;
	}
	if (l.f.shifted > SCIM_SHIFT_LOG_MAX)
		log_warning("%s: %zu ids listed twice in all (the first %d named above)", type, l.f.shifted,
			    SCIM_SHIFT_LOG_MAX);
	out->attributes = l.attrs != NULL;
	free(url);
	free(cursor);
	free(l.attrs);
	return r;
}
