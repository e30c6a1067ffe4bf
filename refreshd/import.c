/* import.c - offline import of a SCIM export directory.
 *
 * A 100k-user export is a ~40 MB Users.json and a ~70 MB Groups.json.  Parsing
 * either whole with json-c would take several times that in memory, so the
 * file is mapped read-only, a small scanner finds the elements of the
 * top-level "Resources" array, and json-c parses one resource at a time.
 * Pages already scanned are dropped from the mapping as we go, so the import's
 * memory is the model plus one resource. */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refreshd/import.h"
#include "refreshd/log.h"
#include "refreshd/model.h"

#define MAX_DEPTH 64
#define RELEASE_STEP (8u << 20)

struct scan {
	const char *base, *end;
	const char *what;
	bool mapped;
	size_t released; /* bytes from base already given back */
	struct scim_model *groups; /* set: Resources are groups, streamed into it */
};

/* Gives back the pages of the mapping below p (MADV_DONTNEED on a private
 * read-only file mapping only drops them; they read back from the file). */
static void release(struct scan *s, const char *p)
{
	size_t off = (size_t)(p - s->base);
	if (!s->mapped || off < s->released + RELEASE_STEP)
		return;
	off &= ~(size_t)(sysconf(_SC_PAGESIZE) - 1);
	if (off > s->released) {
		madvise((void *)(s->base + s->released), off - s->released, MADV_DONTNEED);
		s->released = off;
	}
}

static const char *skip_ws(const struct scan *s, const char *p)
{
	while (p < s->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* p at '"': returns the byte after the closing quote, or NULL. */
static const char *skip_string(const struct scan *s, const char *p)
{
	for (p++; p < s->end; p++) {
		if (*p == '"')
			return p + 1;
		if (*p == '\\') {
			p++;
			continue;
		}
		if ((unsigned char)*p < 0x20)
			return NULL;
	}
	return NULL;
}

/* Returns the byte after the value at p, or NULL (truncated or unbalanced).
 * Only the structure is checked here; json-c checks each resource fully. */
static const char *skip_value(struct scan *s, const char *p)
{
	char stack[MAX_DEPTH];
	int depth = 0;

	if (p >= s->end)
		return NULL;
	if (*p == '"')
		return skip_string(s, p);
	if (*p != '{' && *p != '[') {
		const char *q = p;
		while (q < s->end && !strchr(",}] \t\r\n", *q))
			q++;
		return q > p ? q : NULL;
	}
	while (p < s->end) {
		char c = *p;
		if (c == '"') {
			p = skip_string(s, p);
			if (!p)
				return NULL;
			continue;
		}
		if (c == '{' || c == '[') {
			if (depth == MAX_DEPTH)
				return NULL;
			stack[depth++] = c == '{' ? '}' : ']';
		} else if (c == '}' || c == ']') {
			if (depth == 0 || stack[depth - 1] != c)
				return NULL;
			if (--depth == 0)
				return p + 1;
		}
		p++;
		if (((uintptr_t)p & 0xfffff) == 0)
			release(s, p);
	}
	return NULL;
}

static struct json_object *parse_slice(struct json_tokener *tok, const char *p, size_t len)
{
	struct json_object *o;
	if (len > INT32_MAX)
		return NULL;
	json_tokener_reset(tok);
	o = json_tokener_parse_ex(tok, p, (int)len);
	/* A bare number is complete only once json-c sees what follows it. */
	if (!o && json_tokener_get_error(tok) == json_tokener_continue && len > 0 && p[len - 1] >= '0' &&
	    p[len - 1] <= '9') {
		o = json_tokener_parse_ex(tok, " ", 1);
		if (o && json_tokener_get_error(tok) == json_tokener_success)
			return o;
	}
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		json_object_put(o);
		return NULL;
	}
	return o;
}

/* A key (quoted, at p..q) equals name, ignoring case.  Keys with escapes
 * are decoded first: "Resources" could be spelled with \u0052. */
static bool key_is(struct json_tokener *tok, const char *p, const char *q, const char *name)
{
	size_t n = strlen(name);
	if (!memchr(p, '\\', (size_t)(q - p)))
		return (size_t)(q - p) == n + 2 && !strncasecmp(p + 1, name, n);
	struct json_object *o = parse_slice(tok, p, (size_t)(q - p));
	bool eq = o && json_object_is_type(o, json_type_string) && !strcasecmp(json_object_get_string(o), name);
	json_object_put(o);
	return eq;
}

static bool schemas_contain(struct json_object *schemas, const char *suffix)
{
	size_t n, sl = strlen(suffix);
	if (!schemas || !json_object_is_type(schemas, json_type_array))
		return false;
	n = json_object_array_length(schemas);
	for (size_t i = 0; i < n; i++) {
		const char *s = json_object_get_string(json_object_array_get_idx(schemas, i));
		size_t l = s ? strlen(s) : 0;
		if (l >= sl && !strcasecmp(s + l - sl, suffix))
			return true;
	}
	return false;
}

/* A group parsed key by key: its members one at a time.  json-c spends about
 * 1 KB on a member object, so a 30,000-member group as one tree would cost
 * 30 MB for a moment; this way it costs one member. */
static int stream_group(struct scan *s, struct json_tokener *tok, const char *p, const char *end,
			struct scim_model *m)
{
	struct json_object *obj = json_object_new_object(), *val;
	const char *mem_start = NULL, *mem_end = NULL;
	char *key = NULL;
	int r = 0;

	if (!obj)
		return -ENOMEM;
	p = skip_ws(s, p + 1);
	if (p < end && *p == '}')
		p++;
	else
		for (;;) {
			const char *k = p, *kend, *v, *vend;
			if (p >= end || *p != '"' || !(kend = skip_string(s, p)))
				goto bad;
			p = skip_ws(s, kend);
			if (p >= end || *p != ':')
				goto bad;
			v = skip_ws(s, p + 1);
			vend = skip_value(s, v);
			if (!vend || vend > end)
				goto bad;
			if (key_is(tok, k, kend, "members") && *v == '[') {
				mem_start = v;
				mem_end = vend;
			} else {
				struct json_object *ko = NULL;
				free(key);
				if (memchr(k, '\\', (size_t)(kend - k))) {
					ko = parse_slice(tok, k, (size_t)(kend - k));
					key = ko ? strdup(json_object_get_string(ko)) : NULL;
					json_object_put(ko);
				} else {
					key = strndup(k + 1, (size_t)(kend - k - 2));
				}
				val = parse_slice(tok, v, (size_t)(vend - v));
				if (!key || (!val && strncmp(v, "null", 4)))
					goto bad;
				json_object_object_add(obj, key, val);
			}
			p = skip_ws(s, vend);
			if (p < end && *p == ',') {
				p = skip_ws(s, p + 1);
				continue;
			}
			if (p < end && *p == '}') {
				p++;
				break;
			}
			goto bad;
		}
	r = scim_model_begin_group(m, obj);
	if (r < 0 || !mem_start)
		goto out;
	p = skip_ws(s, mem_start + 1);
	if (p < mem_end && *p == ']')
		goto out;
	for (;;) {
		const char *e = skip_value(s, p);
		if (!e || e > mem_end || !(val = parse_slice(tok, p, (size_t)(e - p))))
			goto bad;
		r = scim_model_add_member(m, val);
		json_object_put(val);
		if (r < 0)
			goto out;
		p = skip_ws(s, e);
		if (p < mem_end && *p == ',') {
			p = skip_ws(s, p + 1);
			continue;
		}
		if (p < mem_end && *p == ']')
			break;
		goto bad;
	}
	goto out;
bad:
	r = -EBADMSG;
out:
	if (r == 0)
		r = scim_model_end_group(m);
	free(key);
	json_object_put(obj);
	return r;
}

static int foreach_resource(struct scan *s, int (*cb)(struct json_object *, void *), void *ctx)
{
	struct json_tokener *tok = json_tokener_new_ex(MAX_DEPTH);
	struct json_object *schemas = NULL, *detail = NULL, *status = NULL, *doc = NULL;
	const char *p, *res_start = NULL, *res_end = NULL;
	size_t count = 0;
	int r = 0;

	if (!tok)
		return -ENOMEM;
	p = skip_ws(s, s->base);
	if (p >= s->end || *p != '{') {
		log_error("%s: not a JSON object (a SCIM ListResponse or resource)", s->what);
		r = -EBADMSG;
		goto out;
	}
	/* Pass 1: the top-level keys; remember where Resources is. */
	p = skip_ws(s, p + 1);
	if (p < s->end && *p == '}')
		p++;
	else
		for (;;) {
			const char *k = p, *kend, *v, *vend;
			if (p >= s->end || *p != '"' || !(kend = skip_string(s, p)))
				goto bad;
			p = skip_ws(s, kend);
			if (p >= s->end || *p != ':')
				goto bad;
			v = skip_ws(s, p + 1);
			vend = skip_value(s, v);
			if (!vend)
				goto bad;
			if (key_is(tok, k, kend, "Resources")) {
				res_start = v;
				res_end = vend;
			} else if (key_is(tok, k, kend, "schemas") || key_is(tok, k, kend, "detail") ||
				   key_is(tok, k, kend, "status")) {
				struct json_object *o = parse_slice(tok, v, (size_t)(vend - v));
				if (!o)
					goto bad;
				struct json_object **slot = key_is(tok, k, kend, "schemas") ? &schemas :
							    key_is(tok, k, kend, "detail")  ? &detail :
											      &status;
				json_object_put(*slot);
				*slot = o;
			}
			p = skip_ws(s, vend);
			if (p < s->end && *p == ',') {
				p = skip_ws(s, p + 1);
				continue;
			}
			if (p < s->end && *p == '}') {
				p++;
				break;
			}
			goto bad;
		}
	if (skip_ws(s, p) != s->end)
		goto bad;

	if (schemas_contain(schemas, ":Error")) {
		log_error("%s: a SCIM error response (status %s): %s", s->what,
			  status ? json_object_get_string(status) : "?",
			  detail ? json_object_get_string(detail) : "no detail");
		r = -EPROTO;
		goto out;
	}
	if (!res_start) {
		if (schemas_contain(schemas, ":ListResponse"))
			goto out; /* an empty listing */
		/* A single resource: small enough to parse whole. */
		doc = parse_slice(tok, s->base, (size_t)(s->end - s->base));
		if (!doc)
			goto bad;
		r = cb(doc, ctx);
		goto out;
	}
	if (*res_start != '[') {
		if (!strncmp(res_start, "null", 4))
			goto out;
		log_error("%s: 'Resources' is not a list", s->what);
		r = -EBADMSG;
		goto out;
	}
	/* Pass 2: one resource at a time. */
	s->released = 0;
	p = skip_ws(s, res_start + 1);
	if (p < res_end && *p == ']')
		goto out;
	for (;;) {
		const char *e = skip_value(s, p);
		struct json_object *o;
		if (!e || e > res_end)
			goto bad;
		if (s->groups && *p == '{') {
			r = stream_group(s, tok, p, e, s->groups);
			if (r == -EBADMSG) {
				log_error("%s: resource %zu (at byte %zu) is not valid JSON", s->what, count + 1,
					  (size_t)(p - s->base));
				goto out;
			}
			if (r < 0)
				goto out;
			goto next;
		}
		o = parse_slice(tok, p, (size_t)(e - p));
		if (!o) {
			log_error("%s: resource %zu (at byte %zu) is not valid JSON: %s", s->what, count + 1,
				  (size_t)(p - s->base), json_tokener_error_desc(json_tokener_get_error(tok)));
			r = -EBADMSG;
			goto out;
		}
		r = cb(o, ctx);
		json_object_put(o);
		if (r < 0)
			goto out;
next:
		count++;
		release(s, e);
		p = skip_ws(s, e);
		if (p < res_end && *p == ',') {
			p = skip_ws(s, p + 1);
			continue;
		}
		if (p < res_end && *p == ']')
			break;
		goto bad;
	}
	goto out;
bad:
	log_error("%s: invalid or truncated JSON", s->what);
	r = -EBADMSG;
out:
	json_object_put(schemas);
	json_object_put(detail);
	json_object_put(status);
	json_object_put(doc);
	json_tokener_free(tok);
	return r;
}

int scim_json_foreach_resource(const char *buf, size_t len, const char *what,
			       int (*cb)(struct json_object *res, void *ctx), void *ctx)
{
	struct scan s = { buf, buf + len, what, false, 0, NULL };
	return foreach_resource(&s, cb, ctx);
}

struct import_ctx {
	struct scim_model *m;
	bool groups;
};

static int add_cb(struct json_object *res, void *ctx)
{
	struct import_ctx *c = ctx;
	return c->groups ? scim_model_add_group(c->m, res) : scim_model_add_user(c->m, res);
}

static int import_file(struct scim_model *m, int dirfd, const char *dir, const char *name, bool groups)
{
	struct import_ctx c = { m, groups };
	char what[4096];
	struct stat st;
	void *map;
	int fd, r;

	snprintf(what, sizeof(what), "%s/%s", dir, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		log_error("%s: %s", what, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("%s: not a regular file", what);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		log_error("%s: empty file (not JSON)", what);
		close(fd);
		return -EBADMSG;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		r = -errno;
		log_error("%s: %s", what, strerror(errno));
		return r;
	}
	madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	struct scan s = { map, (const char *)map + st.st_size, what, true, 0, groups ? m : NULL };
	size_t before = groups ? scim_model_group_ids(m) : scim_model_user_ids(m);
	r = foreach_resource(&s, add_cb, &c);
	munmap(map, (size_t)st.st_size);
	if (r == 0)
		log_info("%s: %zu %s read", what, (groups ? scim_model_group_ids(m) : scim_model_user_ids(m)) - before,
			 groups ? "groups" : "users");
	return r;
}

static int json_name(const struct dirent *d, const char *pattern)
{
	return fnmatch(pattern, d->d_name, 0) == 0;
}

static int users_filter(const struct dirent *d)
{
	return json_name(d, "Users*.json");
}

static int groups_filter(const struct dirent *d)
{
	return json_name(d, "Groups*.json");
}

int scim_import_dir(const struct scim_config *cfg, const char *dir, bool force, struct scim_sync_stats *stats)
{
	struct dirent **users = NULL, **groups = NULL;
	struct scim_model *m = NULL;
	char *source = NULL;
	int nu = -1, ng = -1, dirfd, r = 0;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		log_error("%s: %s", dir, strerror(errno));
		return r;
	}
	nu = scandir(dir, &users, users_filter, alphasort);
	ng = scandir(dir, &groups, groups_filter, alphasort);
	if (nu < 0 || ng < 0) {
		r = -errno;
		log_error("%s: cannot list: %s", dir, strerror(errno));
		goto out;
	}
	if (nu + ng == 0) {
		log_error("%s holds no Users*.json or Groups*.json: nothing to import", dir);
		r = -ENOENT;
		goto out;
	}
	r = scim_model_new(cfg, &m);
	if (r < 0)
		goto out;
	for (int i = 0; i < nu && r == 0; i++)
		r = import_file(m, dirfd, dir, users[i]->d_name, false);
	for (int i = 0; i < ng && r == 0; i++)
		r = import_file(m, dirfd, dir, groups[i]->d_name, true);
	if (r < 0)
		goto out;
	if (asprintf(&source, "import:%s", dir) < 0) {
		source = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = scim_publish(m, source, force, stats);
out:
	for (int i = 0; i < nu; i++)
		free(users[i]);
	for (int i = 0; i < ng; i++)
		free(groups[i]);
	free(users);
	free(groups);
	free(source);
	scim_model_free(m);
	close(dirfd);
	return r;
}
