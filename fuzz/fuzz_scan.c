/* fuzz_scan.c - the listing scanner against a whole-document json-c parse.
 *
 * Build and run by hand (from the top of the tree, after ./configure in
 * _build):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -include _build/config.h -I. \
 *     fuzz/fuzz_scan.c refreshd/scan.c refreshd/model.c refreshd/import.c refreshd/idmap.c \
 *     refreshd/local.c refreshd/names.c refreshd/table.c refreshd/config.c refreshd/log.c \
 *     cache/file.c cache/index.c cache/lookup.c cache/reader.c cache/record.c cache/tdbfile.c \
 *     cache/writer.c $(pkg-config --cflags --libs json-c tdb) -o fuzz_scan
 *   ./fuzz_scan -max_total_time=300 -print_final_stats=1 fuzz/corpus/scan
 *
 * Each input is one document, read as a Users file and then as a Groups file
 * into a model, twice: once the way the import reads it (scan.c: the page
 * checked, resources streamed, a group member by member; single resources
 * through scim_scan_single), once from json-c's tree of the whole document
 * (strict, UTF-8 checked) handed to scim_model_add_user/add_group, with keys
 * given twice found by a plain walk of the text written here (and what
 * RFC 8259 forbids but json-c 0.16 lets through refused: raw control bytes
 * in strings, numbers like 01.5).  Both must
 * accept or refuse the document alike and leave the same users (id, name,
 * GECOS, number attribute, active), groups and memberships, skips and
 * counts; any difference aborts.  The input's length picks one of two
 * mappings (userName, or name.givenName with an extension's employeeNumber
 * and a nested gid attribute), so either tree of keys is exercised. */
#include <sys/types.h>

#include <errno.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "refreshd/config.h"
#include "refreshd/idmap.h"
#include "refreshd/import.h"
#include "refreshd/log.h"
#include "refreshd/model.h"
#include "refreshd/scan.h"

static const char *const confs[2] = {
	"",
	"name_attribute = name.givenName\n"
	"uid_attribute = urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber\n"
	"gid_attribute = urn:example:posix:2.0:Group:posix.gidNumber\n"
	"strip_domain = yes\n",
};

static struct scim_config *cfg[2];
static char state[64];

/* A replay in "make check" leaves nothing behind in /tmp. */
static void cleanup(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", state, SCIM_IDMAP_FILE);
	unlink(path);
	rmdir(state);
	for (int i = 0; i < 2; i++)
		scim_config_free(cfg[i]);
}

static void setup(void)
{
	char text[512], *err = NULL;

	scim_log_set_level(-1); /* nothing is printed in the hot path */
	snprintf(state, sizeof(state), "/tmp/fuzz_scan.XXXXXX");
	if (!mkdtemp(state))
		abort();
	for (int i = 0; i < 2; i++) {
		snprintf(text, sizeof(text), "state_dir = %s\ncache_file = %s/cache.tdb\n%s", state, state, confs[i]);
		if (scim_config_parse("fuzz", text, &cfg[i], &err) < 0)
			abort();
	}
	atexit(cleanup);
}

/* ---------------------------------------------------------------- the plain walk */

static const char *ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* The end of the value at p, in text json-c has accepted. */
static const char *skip(const char *p, const char *end)
{
	if (*p == '"') {
		for (p++; *p != '"'; p++)
			if (*p == '\\')
				p++;
		return p + 1;
	}
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = ws(p + 1, end);
		while (*p != close) {
			if (close == '}') {
				p = ws(skip(p, end), end); /* the key */
				p = ws(p + 1, end);        /* ':' */
			}
			p = ws(skip(p, end), end);
			if (*p == ',')
				p = ws(p + 1, end);
		}
		return p + 1;
	}
	while (p < end && !strchr(",]} \t\r\n", *p))
		p++;
	return p;
}

struct kv {
	char *key; /* as json-c makes it: up to a \u0000 */
	const char *v, *ve;
};

struct obj {
	struct kv *kv;
	size_t n;
};

static void obj_free(struct obj *o)
{
	for (size_t i = 0; i < o->n; i++)
		free(o->kv[i].key);
	free(o->kv);
}

/* json-c decodes a key ("\u0041" and the like). */
static struct json_object *parse_key(const char *s, size_t len)
{
	struct json_tokener *t = json_tokener_new();
	struct json_object *o = json_tokener_parse_ex(t, s, (int)len);
	json_tokener_free(t);
	return o;
}

/* The members of the object at p, in order, every key as often as given. */
static void members(const char *p, const char *end, struct obj *o)
{
	size_t cap = 0;

	o->kv = NULL;
	o->n = 0;
	p = ws(p + 1, end);
	while (*p != '}') {
		const char *k = p, *ke = skip(p, end);
		struct json_object *s = parse_key(k, (size_t)(ke - k));
		if (o->n == cap) {
			cap = cap ? 2 * cap : 8;
			o->kv = realloc(o->kv, cap * sizeof(*o->kv));
			if (!o->kv)
				abort();
		}
		o->kv[o->n].key = strdup(s ? json_object_get_string(s) : "");
		json_object_put(s);
		p = ws(ws(ke, end) + 1, end);
		o->kv[o->n].v = p;
		o->kv[o->n].ve = p = skip(p, end);
		o->n++;
		p = ws(p, end);
		if (*p == ',')
			p = ws(p + 1, end);
	}
}

static size_t count_key(const struct obj *o, const char *name, size_t *at)
{
	size_t n = 0;
	for (size_t i = 0; i < o->n; i++)
		if (!strcasecmp(o->kv[i].key, name)) {
			*at = i;
			n++;
		}
	return n;
}

/* Whether the object at p holds a key of the tree under node twice, here
 * or inside; dups (top level only) gets the nodes given twice. */
static bool ambiguous(const struct scim_keys *k, unsigned node, const char *p, const char *end, uint64_t *dups)
{
	struct obj o;
	bool amb = false;

	members(p, end, &o);
	for (unsigned c = 1; c < k->n; c++) {
		size_t at = 0, n;
		if (k->k[c].parent != node)
			continue;
		n = count_key(&o, k->k[c].name, &at);
		if (n >= 2) {
			amb = true;
			if (dups)
				*dups |= 1ull << c;
			continue;
		}
		if (n == 0 || !k->k[c].has_children)
			continue;
		const char *v = o.kv[at].v, *ve = o.kv[at].ve;
		if (*v == '{') {
			amb |= ambiguous(k, c, v, ve, NULL);
		} else if (*v == '[' && k->k[c].elements) {
			for (const char *q = ws(v + 1, ve); *q != ']';) {
				const char *qe = skip(q, ve);
				if (*q == '{')
					amb |= ambiguous(k, c, q, qe, NULL);
				q = ws(qe, ve);
				if (*q == ',')
					q = ws(q + 1, ve);
			}
		}
	}
	obj_free(&o);
	return amb;
}

/* ---------------------------------------------------------------- the oracle */

static const char *const page_keys[] = { "Resources",  "totalResults", "startIndex", "itemsPerPage",
					  "nextCursor", "schemas",      "status",     "detail" };

static struct json_object *get_ci(struct json_object *o, const char *key)
{
	json_object_object_foreach(o, k, v) if (!strcasecmp(k, key)) return v;
	return NULL;
}

/* One resource: its text p..pe and json-c's value of it. */
static void feed(struct scim_model *m, bool groups, const struct scim_keys *keys, const char *p, const char *pe,
		 struct json_object *res)
{
	struct json_object *copy = NULL;
	uint64_t dups = 0;

	if (*p == '{' && ambiguous(keys, 0, p, pe, &dups)) {
		scim_model_ambiguous(m, "?");
		/* The scanner leaves out what came twice; so must we. */
		copy = json_object_new_object();
		json_object_object_foreach(res, k, v)
		{
			bool drop = false;
			for (unsigned c = 1; c < keys->n; c++)
				if ((dups >> c) & 1 && !strcasecmp(k, keys->k[c].name))
					drop = true;
			if (!drop)
				json_object_object_add(copy, k, json_object_get(v));
		}
		res = copy;
	}
	if (groups)
		scim_model_add_group(m, res);
	else
		scim_model_add_user(m, res);
	json_object_put(copy);
}

static const char *digits(const char *p, const char *end)
{
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/* Whether p..q is a number as RFC 8259 writes it:
 * -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool rfc_number(const char *p, const char *q)
{
	const char *d;

	if (p < q && *p == '-')
		p++;
	if (p < q && *p == '0')
		p++;
	else if (p < q && *p >= '1' && *p <= '9')
		p = digits(p, q);
	else
		return false;
	if (p < q && *p == '.') {
		if ((d = digits(p + 1, q)) == p + 1)
			return false;
		p = d;
	}
	if (p < q && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < q && (*p == '+' || *p == '-'))
			p++;
		if ((d = digits(p, q)) == p)
			return false;
		p = d;
	}
	return p == q;
}

/* json-c 0.16's strict mode is laxer than RFC 8259 in two ways the scanner
 * is not: raw control bytes in strings (a raw newline in a name), and
 * numbers such as 00, 01.5, 1. or 01e5.  Those are the only places the two
 * are meant to differ: such a document is refused. */
static bool not_rfc8259(const char *p, const char *end)
{
	bool in = false;

	for (; p < end; p++) {
		if (in) {
			if (*p == '\\')
				p++;
			else if (*p == '"')
				in = false;
			else if ((unsigned char)*p < 0x20)
				return true;
		} else if (*p == '"') {
			in = true;
		} else if (*p == '-' || (*p >= '0' && *p <= '9')) {
			const char *q = p;
			while (q < end && !strchr(",]} \t\r\n", *q))
				q++;
			if (!rfc_number(p, q))
				return true;
			p = q - 1;
		}
	}
	return false;
}

/* What the import should make of the document, the slow and obvious way. */
static int oracle(const char *data, size_t size, struct scim_model *m, bool groups)
{
	struct json_tokener *tok = json_tokener_new_ex(64);
	struct json_object *doc, *schemas, *res;
	const char *end = data + size, *rp = NULL, *rpe = NULL;
	struct scim_scan_sink sink;
	struct obj o;
	int r = 0;

	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	doc = size <= INT32_MAX ? json_tokener_parse_ex(tok, data, (int)size) : NULL;
	if (!doc || json_tokener_get_error(tok) != json_tokener_success ||
	    ws(data + json_tokener_get_parse_end(tok), end) != end || !json_object_is_type(doc, json_type_object) ||
	    not_rfc8259(data, end)) {
		r = -EBADMSG;
		goto out;
	}
	members(ws(data, end), end, &o);
	for (size_t i = 0; i < sizeof(page_keys) / sizeof(page_keys[0]) && r == 0; i++) {
		size_t at = 0;
		if (count_key(&o, page_keys[i], &at) > 1)
			r = -EBADMSG;
		else if (i == 0 && count_key(&o, page_keys[i], &at) == 1) {
			rp = o.kv[at].v;
			rpe = o.kv[at].ve;
		}
	}
	obj_free(&o);
	if (r < 0)
		goto out;
	schemas = get_ci(doc, "schemas");
	if (scim_schemas_contain(schemas, ":Error")) {
		r = -EPROTO;
		goto out;
	}
	scim_model_sink(m, groups, &sink);
	if (!rp) {
		if (!scim_schemas_contain(schemas, ":ListResponse"))
			feed(m, groups, sink.keys, ws(data, end), end, doc);
		goto out;
	}
	res = get_ci(doc, "Resources");
	if (!res)
		goto out; /* null */
	if (!json_object_is_type(res, json_type_array)) {
		r = -EBADMSG;
		goto out;
	}
	size_t i = 0;
	for (const char *q = ws(rp + 1, rpe); *q != ']'; i++) {
		const char *qe = skip(q, rpe);
		feed(m, groups, sink.keys, q, qe, json_object_array_get_idx(res, i));
		q = ws(qe, rpe);
		if (*q == ',')
			q = ws(q + 1, rpe);
	}
	if (i != json_object_array_length(res))
		abort(); /* the plain walk is wrong, not the scanner */
out:
	json_object_put(doc);
	json_tokener_free(tok);
	return r;
}

/* ---------------------------------------------------------------- both */

static char *describe(struct scim_model *m)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f || scim_model_describe(m, f) < 0)
		abort();
	fclose(f);
	return out;
}

static char *run(const char *data, size_t size, const struct scim_config *c, bool scanner, int r[2])
{
	struct scim_model *m;
	char *d;

	if (scim_model_new(c, &m) < 0)
		abort();
	for (int g = 0; g < 2; g++) {
		if (scanner) {
			struct scim_scan_sink sink;
			struct scim_scan s;
			scim_model_sink(m, g, &sink);
			if (scim_scan_open(&s, data, size, "fuzz", false) < 0)
				abort();
			r[g] = scim_import_document(&s, &sink);
			scim_scan_close(&s);
		} else {
			r[g] = oracle(data, size, m, g);
		}
	}
	d = describe(m);
	scim_model_free(m);
	return d;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct scim_config *c;
	int rs[2], ro[2];
	char *ds, *dor;

	if (!cfg[0])
		setup();
	c = cfg[size & 1];
	ds = run((const char *)data, size, c, true, rs);
	dor = run((const char *)data, size, c, false, ro);
	if (rs[0] != ro[0] || rs[1] != ro[1] || strcmp(ds, dor)) {
		fprintf(stderr, "scanner: users %d groups %d\n%s\njson-c: users %d groups %d\n%s\n", rs[0], rs[1], ds,
			ro[0], ro[1], dor);
		abort();
	}
	free(ds);
	free(dor);
	return 0;
}
