/* scan.c - a SCIM ListResponse read in place (see scan.h).
 *
 * The checks are json-c's strict mode (JSON_TOKENER_STRICT with
 * JSON_TOKENER_VALIDATE_UTF8, what the whole-page parse used): RFC 8259
 * grammar, UTF-8 sequences well formed.  Stricter than json-c 0.16 where
 * it is laxer than RFC 8259: raw control bytes in strings, and numbers such
 * as 00, 01.5, 1. or 01e5, are refused.  Every
 * read is bounded by an end pointer; nothing relies on a NUL after the text. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "refreshd/log.h"
#include "refreshd/scan.h"

/* As deep as json-c goes with the depth the page parse gave it. */
#define MAX_DEPTH 64
/* A mapping is given back in steps of this much. */
#define RELEASE_STEP (8u << 20)

int scim_scan_open(struct scim_scan *s, const char *buf, size_t len, const char *what, bool mapped)
{
	memset(s, 0, sizeof(*s));
	s->base = buf;
	s->end = buf + len;
	s->what = what;
	s->mapped = mapped;
	s->tok = json_tokener_new_ex(MAX_DEPTH);
	if (!s->tok)
		return -ENOMEM;
	json_tokener_set_flags(s->tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	return 0;
}

void scim_scan_close(struct scim_scan *s)
{
	if (s->tok)
		json_tokener_free(s->tok);
	s->tok = NULL;
}

/* Gives back the pages of the mapping below p (MADV_DONTNEED on a private
 * read-only file mapping only drops them; they read back from the file). */
static void release(struct scim_scan *s, const char *p)
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

/* Logs where the text stopped being JSON; always -EBADMSG. */
static int invalid(const struct scim_scan *s)
{
	size_t at = (size_t)(s->bad - s->base), len = (size_t)(s->end - s->base);

	if (s->bad >= s->end)
		log_error("%s: invalid or truncated JSON: it ends inside a value (%zu bytes)", s->what, len);
	else
		log_error("%s: invalid JSON at byte %zu of %zu", s->what, at, len);
	return -EBADMSG;
}

static const char *fail(struct scim_scan *s, const char *at)
{
	s->bad = at;
	return NULL;
}

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* The bytes of w that need a look, as a mask with the high bit of each such
 * byte set: a control byte, a non-ASCII byte, '"' or '\\' (the classic "has
 * a byte less than" and "has a zero byte" word tricks, whose lowest flag is
 * always a true one). */
static uint64_t special8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
	return (w & highs) | ((w - ones * 0x20) & ~w & highs) | ((quote - ones) & ~quote & highs) |
	       ((backslash - ones) & ~backslash & highs);
}

/* How many bytes of a word loaded with memcpy come before its first flag. */
static size_t before_first(uint64_t flags)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return (size_t)__builtin_ctzll(flags) / 8;
#else
	(void)flags;
	return 0;
#endif
}

/* The '"' and '\\' bytes of w, flagged as in special8(). */
static uint64_t quote_or_backslash8(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	uint64_t quote = w ^ (ones * '"'), backslash = w ^ (ones * '\\');
	return (((quote - ones) & ~quote) | ((backslash - ones) & ~backslash)) & highs;
}

/* Most of a SCIM page is plain ASCII inside strings: from p, eight bytes a
 * step, to the first byte that needs a look (all of special8(), or with
 * quotes_only just '"' and '\\'); stops short of the last eight bytes.
 * Always inlined: each caller gets its own loop with quotes_only known. */
__attribute__((always_inline)) static inline const char *skip_words(const char *p, const char *end, bool quotes_only)
{
	while (end - p >= 8) {
		uint64_t w, hits;
		memcpy(&w, p, 8);
		hits = quotes_only ? quote_or_backslash8(w) : special8(w);
		if (hits)
			return p + before_first(hits);
		p += 8;
	}
	return p;
}

/* p at '"': the byte after the closing quote, or NULL.  *escaped says
 * whether the string holds a backslash escape (its text is not its value). */
static const char *scan_string(struct scim_scan *s, const char *p, const char *end, bool *escaped)
{
	*escaped = false;
	for (p++; p < end; p++) {
		unsigned char c;
		size_t n;

		p = skip_words(p, end, false);
		if (p >= end)
			break;
		c = (unsigned char)*p;
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\')
			continue;
		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return fail(s, p);
		if (c == '\\') {
			*escaped = true;
			if (p + 1 >= end)
				return fail(s, end);
			if (p[1] != 'u') {
				if (!p[1] || !strchr("\"\\/bfnrt", p[1]))
					return fail(s, p);
				p++;
				continue;
			}
			if (end - p < 6)
				return fail(s, end);
			for (int i = 2; i < 6; i++)
				if (!is_hex(p[i]))
					return fail(s, p);
			p += 5;
			continue;
		}
		/* The shape of a UTF-8 sequence, as json-c checks it. */
		if ((c & 0xe0) == 0xc0)
			n = 1;
		else if ((c & 0xf0) == 0xe0)
			n = 2;
		else if ((c & 0xf8) == 0xf0)
			n = 3;
		else
			return fail(s, p);
		if ((size_t)(end - p) <= n)
			return fail(s, end);
		for (size_t i = 1; i <= n; i++)
			if (((unsigned char)p[i] & 0xc0) != 0x80)
				return fail(s, p + i);
		p += n;
	}
	return fail(s, end);
}

static const char *scan_digits(const char *p, const char *end)
{
	while (p < end && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static const char *scan_number(struct scim_scan *s, const char *p, const char *end)
{
	const char *q;

	if (p < end && *p == '-')
		p++;
	if (p >= end)
		return fail(s, end);
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		p = scan_digits(p, end);
	else
		return fail(s, p);
	if (p < end && *p == '.') {
		q = scan_digits(p + 1, end);
		if (q == p + 1)
			return fail(s, q);
		p = q;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		q = scan_digits(p, end);
		if (q == p)
			return fail(s, q);
		p = q;
	}
	return p;
}

static const char *scan_word(struct scim_scan *s, const char *p, const char *end, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(end - p) < n)
		return fail(s, end);
	if (memcmp(p, word, n))
		return fail(s, p);
	return p + n;
}

static const char *skip_value(struct scim_scan *s, const char *p, const char *end, int depth);

/* p at '{' or '[': the byte after the matching bracket, or NULL. */
static const char *skip_container(struct scim_scan *s, const char *p, const char *end, int depth)
{
	char close = *p == '{' ? '}' : ']';
	bool esc;

	if (depth >= MAX_DEPTH)
		return fail(s, p);
	p = skip_ws(p + 1, end);
	if (p < end && *p == close)
		return p + 1;
	for (;;) {
		if (close == '}') {
			if (p >= end || *p != '"')
				return fail(s, p);
			if (!(p = scan_string(s, p, end, &esc)))
				return NULL;
			p = skip_ws(p, end);
			if (p >= end || *p != ':')
				return fail(s, p);
			p = skip_ws(p + 1, end);
		}
		if (!(p = skip_value(s, p, end, depth + 1)))
			return NULL;
		release(s, p);
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == close)
			return p + 1;
		return fail(s, p);
	}
}

/* The byte after the JSON value at p, or NULL (s->bad says where it broke).
 * depth is how many containers enclose p. */
static const char *skip_value(struct scim_scan *s, const char *p, const char *end, int depth)
{
	bool esc;

	if (p >= end)
		return fail(s, end);
	switch (*p) {
	case '"':
		return scan_string(s, p, end, &esc);
	case '{':
	case '[':
		return skip_container(s, p, end, depth);
	case 't':
		return scan_word(s, p, end, "true");
	case 'f':
		return scan_word(s, p, end, "false");
	case 'n':
		return scan_word(s, p, end, "null");
	default:
		return scan_number(s, p, end);
	}
}

/* p at '"' in checked text: the byte after the closing quote.  *escaped
 * (if not NULL) says whether the string holds an escape. */
static const char *known_string_end(const char *p, const char *end, bool *escaped)
{
	for (p++; p < end; p++) {
		p = skip_words(p, end, true);
		if (p >= end)
			break;
		if (*p == '\\') {
			p++;
			if (escaped)
				*escaped = true;
		} else if (*p == '"') {
			return p + 1;
		}
	}
	return NULL;
}

/* The byte after the value at p, in text that scim_scan_page() has checked
 * already: only strings and brackets matter, so a second look is cheap.
 * NULL only if the text was not checked after all. */
static const char *skip_known(const char *p, const char *end)
{
	int depth = 0;

	while (p < end) {
		switch (*p) {
		case '"':
			if (!(p = known_string_end(p, end, NULL)))
				return NULL;
			break;
		case '{':
		case '[':
			depth++;
			p++;
			break;
		case '}':
		case ']':
			depth--;
			p++;
			break;
		default:
			if (depth == 0) { /* a number or a literal on its own */
				while (p < end && !strchr(",}] \t\r\n", *p))
					p++;
				return p;
			}
			p++;
			continue;
		}
		if (depth == 0)
			return p;
	}
	return NULL;
}

/* json-c's value of p..end, which skip_value() accepted; *out is NULL for a
 * JSON null.  -EBADMSG (logged) if json-c disagrees. */
static int parse_slice(struct scim_scan *s, const char *p, const char *end, struct json_object **out)
{
	size_t len = (size_t)(end - p);
	struct json_object *o;
	enum json_tokener_error e;

	*out = NULL;
	if (len > INT32_MAX) {
		s->bad = p;
		return invalid(s);
	}
	json_tokener_reset(s->tok);
	o = json_tokener_parse_ex(s->tok, p, (int)len);
	e = json_tokener_get_error(s->tok);
	/* A bare number or literal is complete only once json-c sees what
	 * follows it. */
	if (!o && e == json_tokener_continue) {
		o = json_tokener_parse_ex(s->tok, " ", 1);
		e = json_tokener_get_error(s->tok);
		if (e == json_tokener_success) {
			*out = o;
			return 0;
		}
	}
	if (e != json_tokener_success || json_tokener_get_parse_end(s->tok) != len) {
		json_object_put(o);
		log_error("%s: invalid JSON at byte %zu: %s", s->what, (size_t)(p - s->base), json_tokener_error_desc(e));
		return -EBADMSG;
	}
	*out = o;
	return 0;
}

struct json_object *scim_scan_parse(struct scim_scan *s, const char *p, const char *end)
{
	struct json_object *o;
	const char *q;

	p = skip_ws(p, end);
	q = skip_value(s, p, end, 0);
	if (!q || skip_ws(q, end) != end) {
		if (q)
			s->bad = skip_ws(q, end);
		invalid(s);
		return NULL;
	}
	return parse_slice(s, p, q, &o) == 0 ? o : NULL;
}

/* The key at k..kend (with its quotes) as a malloc'd string. */
static int key_text(struct scim_scan *s, const char *k, const char *kend, bool escaped, char **out)
{
	struct json_object *o;
	int r;

	if (!escaped) {
		*out = strndup(k + 1, (size_t)(kend - k - 2));
		return *out ? 0 : -ENOMEM;
	}
	/* "Resources" may as well be spelled with \u0052. */
	r = parse_slice(s, k, kend, &o);
	if (r < 0)
		return r;
	*out = strdup(json_object_get_string(o));
	json_object_put(o);
	return *out ? 0 : -ENOMEM;
}

void scim_keys_init(struct scim_keys *k)
{
	memset(k, 0, sizeof(*k));
	k->n = 1;
}

int scim_keys_child(const struct scim_keys *k, unsigned node, const char *key, size_t len)
{
	/* A child always comes after its parent. */
	for (unsigned i = node + 1; i < k->n; i++)
		if (k->k[i].parent == node && k->k[i].len == len && !strncasecmp(k->k[i].name, key, len))
			return (int)i;
	return -1;
}

int scim_keys_add(struct scim_keys *k, unsigned parent, const char *name, size_t len, bool elements)
{
	int c = scim_keys_child(k, parent, name, len);
	char *copy;

	if (c >= 0) {
		k->k[c].elements |= elements;
		return c;
	}
	if (parent >= k->n || k->n >= SCIM_KEYS_MAX || len > USHRT_MAX || len >= sizeof(k->names) - k->used)
		return -E2BIG;
	copy = k->names + k->used;
	memcpy(copy, name, len);
	copy[len] = 0;
	k->used += len + 1;
	k->k[k->n] = (struct scim_key){ .name = copy, .len = (unsigned short)len, .parent = (uint8_t)parent,
					.elements = elements };
	k->k[parent].has_children = true;
	return (int)k->n++;
}

void scim_keys_path(const struct scim_keys *k, unsigned node, char *buf, size_t len)
{
	unsigned chain[SCIM_KEYS_MAX], n = 0;
	size_t at = 0;

	if (len)
		buf[0] = 0;
	for (; node > 0 && node < k->n && n < SCIM_KEYS_MAX; node = k->k[node].parent)
		chain[n++] = node;
	while (n-- > 0 && at < len)
		at += (size_t)snprintf(buf + at, len - at, "%s%s", at ? "." : "", k->k[chain[n]].name);
}

/* The one place that decides whether an object is ambiguous, for pages,
 * listed resources and single resources alike: key (len bytes, as decoded,
 * which like json-c's keys ends at a \u0000) is met in an object read at
 * node.  Returns the key's node, 0 when nothing reads it; *twice says the
 * object held it before, in some letter case (seen: the nodes met in this
 * object so far). */
static int note_key(const struct scim_keys *k, unsigned node, const char *key, size_t len, uint64_t *seen,
		    bool *twice)
{
	int c = scim_keys_child(k, node, key, len);

	*twice = false;
	if (c <= 0)
		return 0;
	*twice = (*seen >> c) & 1;
	*seen |= 1ull << c;
	return c;
}

/* An object, one member at a time: the three readers of objects below
 * (page, group, user) share this walk. */
struct obj_walk {
	const char *p, *end;
	int depth;    /* containers around the object's values */
	bool checked; /* scim_scan_page() has checked the text: skip values unchecked */
	bool started;
};

struct obj_member {
	const char *key, *key_end;     /* the key's text, quotes included */
	const char *value, *value_end; /* the value's text */
	bool key_escaped, value_escaped;
};

/* brace at '{'. */
static void obj_begin(struct obj_walk *w, const char *brace, const char *end, int depth, bool checked)
{
	*w = (struct obj_walk){ skip_ws(brace + 1, end), end, depth, checked, false };
}

/* 1 and *m: the next member; 0: the object has ended (w->p is after its
 * '}'); -EBADMSG: invalid text (s->bad says where; the caller logs). */
static int obj_next(struct scim_scan *s, struct obj_walk *w, struct obj_member *m)
{
	const char *p = w->p, *end = w->end;

	if (p < end && *p == '}') {
		w->p = p + 1;
		return 0;
	}
	if (w->started) {
		if (p >= end || *p != ',')
			goto bad;
		p = skip_ws(p + 1, end);
	}
	w->started = true;
	if (p >= end || *p != '"')
		goto bad;
	m->key = p;
	m->key_escaped = false;
	m->key_end = w->checked ? known_string_end(p, end, &m->key_escaped) : scan_string(s, p, end, &m->key_escaped);
	if (!m->key_end)
		return -EBADMSG; /* scan_string said where; checked text cannot fail */
	p = skip_ws(m->key_end, end);
	if (p >= end || *p != ':')
		goto bad;
	m->value = p = skip_ws(p + 1, end);
	m->value_escaped = false;
	if (!w->checked)
		m->value_end = skip_value(s, p, end, w->depth);
	else if (p < end && *p == '"')
		m->value_end = known_string_end(p, end, &m->value_escaped);
	else
		m->value_end = skip_known(p, end);
	if (!m->value_end) {
		if (w->checked)
			goto bad;
		return -EBADMSG; /* skip_value said where */
	}
	w->p = skip_ws(m->value_end, end);
	return 1;
bad:
	s->bad = p;
	return -EBADMSG;
}

/* Adds key: val to obj, which takes val over; on failure val is dropped. */
static int object_add(struct json_object *obj, const char *key, struct json_object *val)
{
	if (json_object_object_add(obj, key, val) == 0)
		return 0;
	json_object_put(val);
	return -ENOMEM;
}

/* note_key() on the key of m, decoded when it holds escapes. */
static int note_member(struct scim_scan *s, const struct scim_keys *k, unsigned node, const struct obj_member *m,
		       uint64_t *seen, bool *twice)
{
	char *t;
	int r;

	if (!m->key_escaped)
		return note_key(k, node, m->key + 1, (size_t)(m->key_end - m->key - 2), seen, twice);
	r = key_text(s, m->key, m->key_end, true, &t);
	if (r < 0)
		return r;
	r = note_key(k, node, t, strlen(t), seen, twice);
	free(t);
	return r;
}

static int check_object(struct scim_scan *s, const struct scim_keys *k, unsigned node, const char *p, const char *end,
			int *amb);

/* Whether the value at p..end (checked text), read at node, holds a key of
 * the tree twice in one object: 1 and *amb the key's node, or 0. */
static int check_value(struct scim_scan *s, const struct scim_keys *k, unsigned node, const char *p, const char *end,
		       int *amb)
{
	const char *e;
	int r;

	if (!k->k[node].has_children)
		return 0;
	if (*p == '{')
		return check_object(s, k, node, p, end, amb);
	if (*p != '[' || !k->k[node].elements)
		return 0; /* get_ci() reads nothing inside a list */
	for (p = skip_ws(p + 1, end); p < end && *p != ']'; p = skip_ws(p, end)) {
		if (!(e = skip_known(p, end)))
			return -EBADMSG;
		if (*p == '{' && (r = check_object(s, k, node, p, e, amb)) != 0)
			return r;
		p = skip_ws(e, end);
		if (p < end && *p == ',')
			p++;
	}
	return 0;
}

static int check_object(struct scim_scan *s, const struct scim_keys *k, unsigned node, const char *p, const char *end,
			int *amb)
{
	struct obj_member m;
	struct obj_walk w;
	uint64_t seen = 0;
	bool twice;
	int r, c;

	obj_begin(&w, p, end, 0, true);
	while ((r = obj_next(s, &w, &m)) > 0) {
		if ((c = note_member(s, k, node, &m, &seen, &twice)) < 0)
			return c;
		if (twice) {
			*amb = c;
			return 1;
		}
		if (c > 0 && (r = check_value(s, k, (unsigned)c, m.value, m.value_end, amb)) != 0)
			return r;
	}
	return r;
}

/* Leaves the top-level keys of nodes dups out of obj, in every case
 * spelling: the value of a key given twice is never used. */
static void drop_keys(struct json_object *obj, const struct scim_keys *k, uint64_t dups)
{
	for (unsigned c = 1; c < k->n; c++) {
		bool again = (dups >> c) & 1;
		while (again) {
			again = false;
			json_object_object_foreach(obj, key, val)
			{
				(void)val;
				if (!strcasecmp(key, k->k[c].name)) {
					json_object_object_del(obj, key);
					again = true;
					break;
				}
			}
		}
	}
}

/* Tells the sink its resource is ambiguous because of node. */
static int report(const struct scim_scan_sink *sink, int node)
{
	char path[256];

	scim_keys_path(sink->keys, (unsigned)node, path, sizeof(path));
	return sink->ambiguous(sink->ctx, path);
}

/* json-c's value of a scalar at p..q, made without its tokener when that is
 * plainly the same thing: a string with no escapes, true, false, null, or a
 * short integer.  Anything else goes through parse_slice(). */
static int scalar_value(struct scim_scan *s, const char *p, const char *q, bool esc, struct json_object **out)
{
	size_t len = (size_t)(q - p);

	*out = NULL;
	if (*p == '"' && !esc)
		*out = json_object_new_string_len(p + 1, (int)(len - 2));
	else if (*p == 't' || *p == 'f')
		*out = json_object_new_boolean(*p == 't');
	else if (*p == 'n')
		return 0;
	else if ((*p == '-' || (*p >= '0' && *p <= '9')) && len <= 18 && !memchr(p, '.', len) &&
		 !memchr(p, 'e', len) && !memchr(p, 'E', len))
		*out = json_object_new_int64(strtoll(p, NULL, 10));
	else
		return parse_slice(s, p, q, out);
	return *out ? 0 : -ENOMEM;
}

/* The object at p..end with only the keys sink->want_key accepts, each
 * value as json-c would parse it; the rest is skipped unread.  Most of a
 * user resource (schemas, emails, meta, roles) is never looked at, and
 * json-c's tokener costs a few microseconds a resource. */
static int parse_wanted(struct scim_scan *s, const char *p, const char *end, const struct scim_scan_sink *sink,
			struct json_object **out, int *amb)
{
	struct json_object *obj = json_object_new_object(), *val;
	uint64_t seen = 0, dups = 0;
	struct obj_member m;
	struct obj_walk w;
	char *key = NULL;
	bool twice;
	int r = 0, c;

	*amb = 0;
	if (!obj)
		return -ENOMEM;
	obj_begin(&w, p, end, 2, true);
	while ((r = obj_next(s, &w, &m)) > 0) {
		free(key);
		key = NULL;
		if ((r = key_text(s, m.key, m.key_end, m.key_escaped, &key)) < 0)
			goto out;
		if (sink->keys && (c = note_key(sink->keys, 0, key, strlen(key), &seen, &twice)) > 0) {
			if (twice)
				dups |= 1ull << c;
			if (twice && !*amb)
				*amb = c;
			else if (!*amb && (r = check_value(s, sink->keys, (unsigned)c, m.value, m.value_end, amb)) < 0)
				goto out;
		}
		/* Asked about every key: a sink may want to know what came. */
		if (sink->want_key && !sink->want_key(sink->ctx, key, strlen(key)))
			continue;
		r = *m.value == '{' || *m.value == '[' ? parse_slice(s, m.value, m.value_end, &val)
						       : scalar_value(s, m.value, m.value_end, m.value_escaped, &val);
		if (r < 0 || (r = object_add(obj, key, val)) < 0)
			goto out;
	}
	if (r < 0)
		r = invalid(s);
	else if (dups)
		drop_keys(obj, sink->keys, dups);
out:
	free(key);
	if (r < 0) {
		json_object_put(obj);
		obj = NULL;
	}
	*out = obj;
	return r < 0 ? r : 0;
}

void scim_page_free(struct scim_page *pg)
{
	json_object_put(pg->schemas);
	json_object_put(pg->status);
	json_object_put(pg->detail);
	json_object_put(pg->total);
	json_object_put(pg->next_cursor);
	memset(pg, 0, sizeof(*pg));
}

/* What fetch.c and import.c read from a page (startIndex and itemsPerPage
 * too: they say where the page is). */
#define K(n) { .name = n, .len = sizeof(n) - 1 }
static const struct scim_keys page_keys = {
	.n = 9,
	.k = { { .has_children = true }, K("Resources"), K("totalResults"), K("startIndex"), K("itemsPerPage"),
	       K("nextCursor"), K("schemas"), K("status"), K("detail") },
};
#undef K

int scim_scan_page(struct scim_scan *s, struct scim_page *pg)
{
	static const char *const names[] = { "schemas", "status", "detail", "totalResults", "nextCursor" };
	struct json_object **slots[] = { &pg->schemas, &pg->status, &pg->detail, &pg->total, &pg->next_cursor };
	const char *p, *end = s->end;
	struct obj_member m;
	struct obj_walk w;
	uint64_t seen = 0;
	char *key = NULL;
	bool twice;
	int r, c;

	memset(pg, 0, sizeof(*pg));
	p = skip_ws(s->base, end);
	if (p >= end || *p != '{') {
		log_error("%s: not a JSON object (a SCIM ListResponse or resource)", s->what);
		return -EBADMSG;
	}
	obj_begin(&w, p, end, 1, false);
	while ((r = obj_next(s, &w, &m)) > 0) {
		free(key);
		key = NULL;
		r = key_text(s, m.key, m.key_end, m.key_escaped, &key);
		if (r < 0)
			goto out;
		c = note_key(&page_keys, 0, key, strlen(key), &seen, &twice);
		if (twice) {
			log_error("%s: '%s' appears twice (in some letter case): the document is ambiguous; refused",
				  s->what, page_keys.k[c].name);
			r = -EBADMSG;
			goto out;
		}
		if (!strcasecmp(key, "Resources")) {
			pg->resources = m.value;
			pg->resources_end = m.value_end;
		}
		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (strcasecmp(key, names[i]))
				continue;
			json_object_put(*slots[i]);
			*slots[i] = NULL;
			r = parse_slice(s, m.value, m.value_end, slots[i]);
			if (r < 0)
				goto out;
		}
	}
	if (r < 0)
		goto bad;
	p = skip_ws(w.p, end);
	if (p != end) {
		s->bad = p;
		goto bad;
	}
	s->checked = true;
	goto out;
bad:
	r = invalid(s);
out:
	free(key);
	return r;
}

bool scim_schemas_contain(struct json_object *schemas, const char *suffix)
{
	size_t n, sl = strlen(suffix);

	if (!schemas || !json_object_is_type(schemas, json_type_array))
		return false;
	n = json_object_array_length(schemas);
	for (size_t i = 0; i < n; i++) {
		const char *str = json_object_get_string(json_object_array_get_idx(schemas, i));
		size_t l = str ? strlen(str) : 0;
		if (l >= sl && !strcasecmp(str + l - sl, suffix))
			return true;
	}
	return false;
}

int scim_page_error(const struct scim_scan *s, const struct scim_page *pg)
{
	if (!scim_schemas_contain(pg->schemas, ":Error"))
		return 0;
	log_error("%s: a SCIM error response (status %s): %s", s->what,
		  pg->status ? json_object_get_string(pg->status) : "?",
		  pg->detail ? json_object_get_string(pg->detail) : "no detail");
	return -EPROTO;
}

/* A member object read straight from the text: value, type, $ref, $+ref. */
struct member {
	const char *str[4];
	size_t len[4];
};

static int member_key(const char *k, size_t n)
{
	if (n == 4)
		return !strncasecmp(k, "type", 4) ? 1 : !strncasecmp(k, "$ref", 4) ? 2 : -1;
	if (n == 5)
		return !strncasecmp(k, "value", 5) ? 0 : !strncasecmp(k, "$+ref", 5) ? 3 : -1;
	return -1;
}

/* p at '{': the byte after the member object when it can be read without
 * json-c: no escapes in its keys or in the strings we use, those four keys
 * at most once each (in any case) and with string values.  NULL otherwise,
 * invalid JSON included: the json-c path then reads or reports it. */
static const char *member_fast(struct scim_scan *s, const char *p, const char *end, int depth, struct member *mb,
			       const struct scim_keys *keys, unsigned node)
{
	struct obj_member m;
	struct obj_walk w;
	uint64_t seen = 0;
	bool twice;
	int r;

	memset(mb, 0, sizeof(*mb));
	obj_begin(&w, p, end, depth + 1, true);
	while ((r = obj_next(s, &w, &m)) > 0) {
		int which;
		if (m.key_escaped)
			return NULL;
		/* A key read twice: the slow path says so. */
		if (node && (note_key(keys, node, m.key + 1, (size_t)(m.key_end - m.key - 2), &seen, &twice), twice))
			return NULL;
		which = member_key(m.key + 1, (size_t)(m.key_end - m.key - 2));
		if (which < 0)
			continue;
		if (mb->str[which] || *m.value != '"' || m.value_escaped)
			return NULL;
		mb->str[which] = m.value + 1;
		mb->len[which] = (size_t)(m.value_end - m.value - 2);
	}
	return r == 0 ? w.p : NULL;
}

/* Plain members wait in a queue this long: the sink hears of each one as it
 * is read (member_ahead) and gets it this many members later, by when the
 * memory its lookup touches is on its way to the cache. */
#define AHEAD 8

struct queue {
	struct member m[AHEAD];
	size_t head, n;
};

static int deliver(const struct scim_scan_sink *sink, struct queue *q)
{
	const struct member *mb = &q->m[q->head];
	int ref = mb->str[2] ? 2 : 3;

	q->head = (q->head + 1) % AHEAD;
	q->n--;
	return sink->member_ref(sink->ctx, mb->str[0], mb->len[0], mb->str[1], mb->len[1], mb->str[ref],
				mb->len[ref]);
}

static int drain(const struct scim_scan_sink *sink, struct queue *q)
{
	int r = 0;

	while (q->n && r == 0)
		r = deliver(sink, q);
	return r;
}

/* p at '[' of a group's members, end after its ']'.  node: the members'
 * node in sink->keys (0: none); *reported: the group was found ambiguous. */
static int stream_members(struct scim_scan *s, const char *p, const char *end, const struct scim_scan_sink *sink,
			  unsigned node, bool *reported)
{
	struct queue q = { .n = 0 };
	struct json_object *val;
	int r, amb;

	p = skip_ws(p + 1, end);
	if (p < end && *p == ']')
		return 0;
	for (;;) {
		struct member mb;
		const char *e = NULL;

		if (p < end && *p == '{')
			e = member_fast(s, p, end, 3, &mb, sink->keys, node);
		if (e) {
			if (q.n == AHEAD && (r = deliver(sink, &q)) < 0)
				return r;
			q.m[(q.head + q.n++) % AHEAD] = mb;
			if (sink->member_ahead) {
				const struct member *half = &q.m[(q.head + q.n + AHEAD / 2) % AHEAD];
				if (mb.str[0])
					sink->member_ahead(sink->ctx, mb.str[0], mb.len[0], 0);
				if (q.n > AHEAD / 2 && half->str[0])
					sink->member_ahead(sink->ctx, half->str[0], half->len[0], 1);
			}
		} else {
			/* Members keep their order: the queue goes first. */
			r = drain(sink, &q);
			if (r < 0)
				return r;
			if (!(e = skip_known(p, end)))
				return invalid(s);
			r = node && *p == '{' ? check_object(s, sink->keys, node, p, e, &amb) : 0;
			if (r < 0)
				return r;
			if (r > 0 && !*reported) {
				*reported = true;
				if ((r = report(sink, amb)) < 0)
					return r;
			}
			if (r == 0) {
				r = parse_slice(s, p, e, &val);
				if (r < 0)
					return r;
				r = sink->member(sink->ctx, val);
				json_object_put(val);
				if (r < 0)
					return r;
			}
		}
		p = skip_ws(e, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == ']')
			return drain(sink, &q);
		s->bad = p;
		return invalid(s);
	}
}

/* A group parsed key by key, its members one at a time: json-c spends about
 * 1 KB on a member object, so a 30,000-member group as one tree would cost
 * 30 MB for a moment; this way it costs one member, or nothing.  p at '{';
 * *after is set to the byte after the group. */
static int stream_group(struct scim_scan *s, const char *p, const char *end, const struct scim_scan_sink *sink,
			const char **after)
{
	struct json_object *obj = json_object_new_object(), *val;
	const char *mem = NULL, *mem_end = NULL;
	uint64_t seen = 0, dups = 0;
	unsigned mem_node = 0;
	struct obj_member m;
	struct obj_walk w;
	char *key = NULL;
	bool twice, reported = false;
	int r, c, amb = 0;

	if (!obj)
		return -ENOMEM;
	obj_begin(&w, p, end, 2, true);
	while ((r = obj_next(s, &w, &m)) > 0) {
		free(key);
		key = NULL;
		r = key_text(s, m.key, m.key_end, m.key_escaped, &key);
		if (r < 0)
			goto out;
		c = sink->keys ? note_key(sink->keys, 0, key, strlen(key), &seen, &twice) : 0;
		if (c > 0 && twice) {
			dups |= 1ull << c;
			if (!amb)
				amb = c;
		}
		if (*m.value == '[' && !strcasecmp(key, "members")) {
			/* Its members are checked one by one as they stream. */
			mem = m.value;
			mem_end = m.value_end;
			mem_node = (unsigned)c;
			continue;
		}
		if (c > 0 && !amb && (r = check_value(s, sink->keys, (unsigned)c, m.value, m.value_end, &amb)) < 0)
			goto out;
		r = parse_slice(s, m.value, m.value_end, &val);
		if (r < 0 || (r = object_add(obj, key, val)) < 0)
			goto out;
	}
	if (r < 0) {
		r = invalid(s);
		goto out;
	}
	*after = w.p;
	if (dups) {
		drop_keys(obj, sink->keys, dups);
		if (mem_node && (dups >> mem_node) & 1)
			mem = NULL;
	}
	r = 0;
	if (amb) {
		reported = true;
		r = report(sink, amb);
	}
	if (r == 0)
		r = sink->begin_group(sink->ctx, obj);
	if (r == 0 && mem)
		r = stream_members(s, mem, mem_end, sink, mem_node, &reported);
	if (r == 0)
		r = sink->end_group(sink->ctx);
out:
	free(key);
	json_object_put(obj);
	return r;
}

/* One resource at p (checked text); *after: the byte after it. */
static int scan_one(struct scim_scan *s, const char *p, const char *end, const struct scim_scan_sink *sink,
		    const char **after)
{
	struct json_object *o;
	const char *e;
	int r, amb = 0;

	if (sink->begin_group && p < end && *p == '{')
		return stream_group(s, p, end, sink, after);
	if (!(e = skip_known(p, end))) {
		s->bad = p;
		return invalid(s);
	}
	*after = e;
	if ((sink->want_key || sink->keys) && *p == '{')
		r = parse_wanted(s, p, e, sink, &o, &amb);
	else
		r = parse_slice(s, p, e, &o);
	if (r < 0)
		return r;
	if (amb)
		r = report(sink, amb);
	if (r == 0)
		r = sink->resource(sink->ctx, o);
	json_object_put(o);
	return r;
}

int scim_scan_single(struct scim_scan *s, const struct scim_scan_sink *sink)
{
	const char *e;

	if (!s->checked)
		return -EINVAL;
	s->released = 0;
	return scan_one(s, skip_ws(s->base, s->end), s->end, sink, &e);
}

int scim_scan_resources(struct scim_scan *s, const struct scim_page *pg, const struct scim_scan_sink *sink,
			size_t *count)
{
	const char *p, *end = pg->resources_end;
	int r;

	*count = 0;
	/* The walks below trust what scim_scan_page() checked. */
	if (!s->checked || !pg->resources || *pg->resources != '[')
		return -EINVAL;
	/* The first pass gave the pages back; this one reads them again. */
	s->released = 0;
	p = skip_ws(pg->resources + 1, end);
	if (p < end && *p == ']')
		return 0;
	for (;;) {
		const char *e = NULL;

		r = scan_one(s, p, end, sink, &e);
		if (r < 0)
			return r;
		++*count;
		release(s, e);
		p = skip_ws(e, end);
		if (p < end && *p == ',') {
			p = skip_ws(p + 1, end);
			continue;
		}
		if (p < end && *p == ']')
			return 0;
		s->bad = p;
		return invalid(s);
	}
}
