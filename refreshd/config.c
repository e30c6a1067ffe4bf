/* config.c - the scim-refreshd.conf parser.
 *
 * One table of keys, one parser per value type.  Errors carry FILE:LINE so a
 * sysadmin can go straight to the line; the first error stops the parse and
 * nothing of the file is used. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refreshd/config.h"

#ifndef SCIM_SYSCONFDIR
#define SCIM_SYSCONFDIR "/etc"
#endif
#ifndef SCIM_STATEDIR
#define SCIM_STATEDIR "/var/lib/nss-pam-scim"
#endif
#ifndef SCIM_CACHE_FILE
#define SCIM_CACHE_FILE SCIM_STATEDIR "/cache.tdb"
#endif

#define CONFIG_MAX_BYTES (1024 * 1024)

const char *scim_config_default_path(void)
{
	return SCIM_SYSCONFDIR "/scim-refreshd.conf";
}

bool scim_name_is_valid(const char *name)
{
	size_t n = 0;
	if (!name || !(islower((unsigned char)name[0]) || name[0] == '_') || (unsigned char)name[0] >= 0x80)
		return false;
	for (const char *p = name; *p; p++, n++) {
		unsigned char c = (unsigned char)*p;
		if (n >= SCIM_POSIX_NAME_MAX)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

enum key_type { T_STRING, T_ATTR, T_BOOL, T_UID, T_PATH, T_HOME, T_GROUP, T_NAMES, T_PERCENT,
		T_URL, T_SECONDS, T_PAGE, T_HEADER, T_BYTES, T_GROUPS, T_COUNT, T_FLEET };

struct key {
	const char *name;
	enum key_type type;
	size_t offset;
	bool repeatable;
};

#define K(n, t) { #n, t, offsetof(struct scim_config, n), false }
static const struct key keys[] = {
	K(name_attribute, T_ATTR),
	K(lowercase_names, T_BOOL),
	K(strip_domain, T_BOOL),
	K(uid_attribute, T_ATTR),
	K(gid_attribute, T_ATTR),
	K(uid_min, T_UID),
	K(uid_max, T_UID),
	K(home, T_HOME),
	K(shell, T_PATH),
	K(primary_group, T_GROUP),
	{ "deny_names", T_NAMES, offsetof(struct scim_config, deny_names), true },
	K(state_dir, T_PATH),
	K(cache_file, T_PATH),
	K(max_removed_percent, T_PERCENT),
	K(removed_retention, T_SECONDS),
	K(host_groups, T_GROUPS),
	K(on_suspend, T_PATH),
	K(on_suspend_timeout, T_SECONDS),
	K(ssh_keys_attribute, T_ATTR),
	/* fleet (issue 11): checked in apply_fleet() */
	K(publish_dir, T_PATH),
	K(signing_key, T_PATH),
	K(publish_deltas, T_FLEET),
	K(manifest_expires, T_SECONDS),
	K(fleet_name, T_FLEET),
	K(snapshot_url, T_FLEET),
	{ "snapshot_pubkey", T_FLEET, offsetof(struct scim_config, snapshot_pubkey), true },
	K(url, T_URL),
	K(token_file, T_PATH),
	K(ca_file, T_PATH),
	K(refresh_interval, T_SECONDS),
	K(page_size, T_PAGE),
	K(timeout, T_SECONDS),
	{ "header", T_HEADER, offsetof(struct scim_config, headers), true },
	K(max_response_bytes, T_BYTES),
	K(max_parallel, T_COUNT),
	K(max_confirmations, T_COUNT),
};
#undef K

struct parser {
	const char *name;
	unsigned line;
	char *err;
	unsigned seen[sizeof(keys) / sizeof(keys[0])]; /* line of first use */
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(p->err);
	p->err = NULL;
	if (p->line)
		(void)!asprintf(&p->err, "%s:%u: %s", p->name, p->line, msg);
	else
		(void)!asprintf(&p->err, "%s: %s", p->name, msg);
	return -EINVAL;
}

/* Strict unsigned decimal: no sign, no spaces, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int parse_number(struct parser *p, const char *key, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	int r = parse_u64(v, out);
	if (r == -EINVAL)
		return fail(p, "%s: '%s' is not a number", key, v);
	if (r < 0 || *out < lo || *out > hi)
		return fail(p, "%s: %s is out of range (%llu..%llu)", key, v, (unsigned long long)lo,
			    (unsigned long long)hi);
	return 0;
}

/* Seconds, or a number with one unit: s, m, h or d ("30d", "5m"), the way
 * admins write retention and intervals. */
static int parse_duration(struct parser *p, const char *key, const char *v, uint64_t lo, uint64_t hi, uint64_t *out)
{
	static const struct {
		char unit;
		uint64_t seconds;
	} units[] = { { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	const char *orig = v;
	char num[24];
	size_t len = strlen(v);
	uint64_t mult = 1;

	if (len > 0 && len < sizeof(num) && (v[len - 1] < '0' || v[len - 1] > '9')) {
		for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
			if (v[len - 1] == units[i].unit)
				mult = units[i].seconds;
		if (mult == 1 && v[len - 1] != 's')
			return fail(p, "%s: '%s' is not a duration (seconds, or a number with s, m, h or d)", key, v);
		memcpy(num, v, len - 1);
		num[len - 1] = 0;
		v = num;
	}
	if (parse_u64(v, out) < 0)
		return fail(p, "%s: '%s' is not a duration (seconds, or a number with s, m, h or d)", key, orig);
	if (*out > UINT64_MAX / mult || *out * mult < lo || *out * mult > hi)
		return fail(p, "%s: %s is out of range (%llu..%llu seconds)", key, orig, (unsigned long long)lo,
			    (unsigned long long)hi);
	*out *= mult;
	return 0;
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

static int append(char ***vec, size_t *n, const char *s)
{
	char **v = realloc(*vec, (*n + 2) * sizeof(**vec));
	if (!v)
		return -ENOMEM;
	*vec = v;
	if (!(v[*n] = strdup(s)))
		return -ENOMEM;
	v[++*n] = NULL;
	return 0;
}

static int set_string(char **slot, const char *v)
{
	char *s = strdup(v);
	if (!s)
		return -ENOMEM;
	free(*slot);
	*slot = s;
	return 0;
}

/* Fleet keys (issue 11). */
static int apply_fleet(struct parser *p, struct scim_config *c, const struct key *k, const char *v)
{
	uint64_t n;
	size_t len = strlen(v);
	int r;

	if (!strcmp(k->name, "publish_deltas")) {
		r = parse_number(p, k->name, v, 0, SCIM_MAX_PUBLISH_DELTAS, &n);
		if (r == 0)
			c->publish_deltas = (unsigned)n;
		return r;
	}
	if (!strcmp(k->name, "fleet_name")) {
		/* One word of the signed comment: no blanks, no '='. */
		if (len > 64 || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != len)
			return fail(p, "fleet_name: '%s' is not 1 to 64 of [A-Za-z0-9._-]", v);
		return set_string(&c->fleet_name, v);
	}
	if (!strcmp(k->name, "snapshot_url")) {
		/* Hosts fetch signed blobs, but TLS still keeps the directory's
		 * names from the network. */
		if (strncasecmp(v, "https://", 8) != 0 || len == 8)
			return fail(p, "snapshot_url: '%s' is not an https:// URL", v);
		if (has_ctl(v) || strpbrk(v, " \"<>\\^`{|}?#"))
			return fail(p, "snapshot_url: '%s' holds characters a base URL cannot hold", v);
		free(c->snapshot_url);
		/* Always one trailing '/': blob paths are appended. */
		if (asprintf(&c->snapshot_url, "%s%s", v, v[len - 1] == '/' ? "" : "/") < 0) {
			c->snapshot_url = NULL;
			return -ENOMEM;
		}
		return 0;
	}
	/* snapshot_pubkey: a minisign public key line (RW...), checked in full
	 * when the host loads it; here only its shape. */
	if (c->nsnapshot_pubkey >= SCIM_MAX_SNAPSHOT_PUBKEYS)
		return fail(p, "snapshot_pubkey: at most %u keys (the current one and the next, for rotation)",
			    SCIM_MAX_SNAPSHOT_PUBKEYS);
	if (len != 56 || strncmp(v, "RW", 2) != 0 ||
	    strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=") != len)
		return fail(p, "snapshot_pubkey: '%s' is not a minisign public key line (RW..., 56 characters)", v);
	return append(&c->snapshot_pubkey, &c->nsnapshot_pubkey, v);
}

static int apply(struct parser *p, struct scim_config *c, const struct key *k, const char *v)
{
	void *slot = (char *)c + k->offset;
	uint64_t n;
	int r;

	switch (k->type) {
	case T_FLEET:
		return apply_fleet(p, c, k, v);
	case T_STRING:
		return set_string(slot, v);
	case T_ATTR:
		/* An attribute path: "userName", "name.formatted", or a schema URN
		 * followed by ":attribute" (RFC 7644 section 3.10). */
		for (const char *s = v; *s; s++)
			if (!isalnum((unsigned char)*s) && !strchr(":._-$", *s))
				return fail(p, "%s: '%s' is not a SCIM attribute path", k->name, v);
		if (!strncasecmp(v, "urn:", 4)) {
			/* A schema URN ends with its resource type; the attribute follows it. */
			const char *last = strrchr(v, ':') + 1;
			if (!*last || !strcasecmp(last, "User") || !strcasecmp(last, "Group"))
				return fail(p, "%s: '%s' names a schema but no attribute (URN:attribute)", k->name, v);
		}
		return set_string(slot, v);
	case T_BOOL:
		if (!strcasecmp(v, "yes") || !strcasecmp(v, "true") || !strcasecmp(v, "on") || !strcmp(v, "1"))
			*(bool *)slot = true;
		else if (!strcasecmp(v, "no") || !strcasecmp(v, "false") || !strcasecmp(v, "off") || !strcmp(v, "0"))
			*(bool *)slot = false;
		else
			return fail(p, "%s: '%s' is not yes or no", k->name, v);
		return 0;
	case T_UID:
		r = parse_number(p, k->name, v, SCIM_UID_FLOOR, SCIM_UID_CEILING, &n);
		if (r < 0)
			return r;
		*(uint32_t *)slot = (uint32_t)n;
		return 0;
	case T_PATH:
		if (v[0] != '/')
			return fail(p, "%s: '%s' is not an absolute path", k->name, v);
		if (has_ctl(v) || strchr(v, ':'))
			return fail(p, "%s: '%s' holds a ':' or a control character", k->name, v);
		return set_string(slot, v);
	case T_HOME:
		if (v[0] != '/')
			return fail(p, "home: '%s' is not an absolute path", v);
		if (has_ctl(v) || strchr(v, ':'))
			return fail(p, "home: '%s' holds a ':' or a control character", v);
		for (const char *s = v; (s = strchr(s, '%')); s += 2)
			if (s[1] != 'u' && s[1] != 'U' && s[1] != '%')
				return fail(p, "home: unknown escape '%%%c' (use %%u, %%U or %%%%)", s[1] ? s[1] : ' ');
		return set_string(slot, v);
	case T_GROUP:
		if (!strcmp(v, "user")) {
			free(c->primary_group);
			c->primary_group = NULL;
			return 0;
		}
		if (!scim_name_is_valid(v))
			return fail(p, "primary_group: '%s' is neither 'user' nor a valid group name", v);
		return set_string(slot, v);
	case T_NAMES: {
		char *copy = strdup(v), *save = NULL;
		if (!copy)
			return -ENOMEM;
		r = 0;
		for (char *t = strtok_r(copy, ", \t", &save); t && r == 0; t = strtok_r(NULL, ", \t", &save)) {
			if (strlen(t) > 255 || has_ctl(t))
				r = fail(p, "deny_names: '%s' is not a name", t);
			else
				r = append(&c->deny_names, &c->ndeny_names, t);
		}
		free(copy);
		return r;
	}
	case T_GROUPS: {
		/* Directory group names, as the mapping makes them. */
		char *copy = strdup(v), *save = NULL;
		if (!copy)
			return -ENOMEM;
		r = 0;
		for (char *t = strtok_r(copy, ", \t", &save); t && r == 0; t = strtok_r(NULL, ", \t", &save)) {
			if (!scim_name_is_valid(t))
				r = fail(p, "%s: '%s' is not a valid group name", k->name, t);
			else
				r = append(&c->host_groups, &c->nhost_groups, t);
		}
		free(copy);
		if (r == 0 && c->nhost_groups == 0)
			r = fail(p, "%s: names no group", k->name);
		return r;
	}
	case T_PERCENT:
		r = parse_number(p, k->name, v, 0, 100, &n);
		if (r == 0)
			*(unsigned *)slot = (unsigned)n;
		return r;
	case T_URL: {
		size_t len = strlen(v);
		/* The token goes with every request: never over plain HTTP. */
		if (strncasecmp(v, "https://", 8) != 0 || len == 8)
			return fail(p, "url: '%s' is not an https:// URL", v);
		if (has_ctl(v) || strpbrk(v, " \"<>\\^`{|}"))
			return fail(p, "url: '%s' holds characters a URL cannot hold", v);
		if (strchr(v, '?') || strchr(v, '#'))
			return fail(p, "url: '%s' must not have a query or fragment ('/Users' is appended)", v);
		r = set_string(slot, v);
		if (r == 0)
			while (len > 9 && c->url[len - 1] == '/')
				c->url[--len] = 0;
		return r;
	}
	case T_SECONDS: {
		uint64_t lo = 1, hi = 86400;
		if (!strcmp(k->name, "refresh_interval"))
			lo = 10, hi = 7 * 86400;
		else if (!strcmp(k->name, "removed_retention"))
			lo = 0, hi = SCIM_MAX_REMOVED_RETENTION;
		else if (!strcmp(k->name, "on_suspend_timeout"))
			lo = 1, hi = 3600;
		else if (!strcmp(k->name, "manifest_expires"))
			lo = 60, hi = 30 * 86400;
		else
			hi = 3600;
		r = parse_duration(p, k->name, v, lo, hi, &n);
		if (r == 0)
			*(unsigned *)slot = (unsigned)n;
		return r;
	}
	case T_PAGE:
		r = parse_number(p, k->name, v, 1, 10000, &n);
		if (r == 0)
			*(unsigned *)slot = (unsigned)n;
		return r;
	case T_COUNT: {
		/* GitHub documents a limit of 100 concurrent requests. */
		bool par = !strcmp(k->name, "max_parallel");
		r = parse_number(p, k->name, v, par ? 1 : 0, par ? 100 : 100000, &n);
		if (r == 0)
			*(unsigned *)slot = (unsigned)n;
		return r;
	}
	case T_HEADER: {
		const char *colon = strchr(v, ':');
		if (!colon || colon == v)
			return fail(p, "header: '%s' is not 'Name: value'", v);
		for (const char *s = v; s < colon; s++)
			if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
				return fail(p, "header: '%.*s' is not a header name", (int)(colon - v), v);
		if (has_ctl(v))
			return fail(p, "header: control characters are not allowed");
		/* The token lives in token_file only, never in this (often readable) file. */
		if ((size_t)(colon - v) == strlen("Authorization") && !strncasecmp(v, "Authorization", 13))
			return fail(p, "header: Authorization is set from token_file, not here");
		return append(&c->headers, &c->nheaders, v);
	}
	case T_BYTES: {
		char num[32];
		size_t len = strlen(v);
		uint64_t mult = 1;
		const char *suffix;
		size_t digits = strspn(v, "0123456789");
		suffix = v + digits;
		if (!strcasecmp(suffix, "k") || !strcasecmp(suffix, "kib"))
			mult = 1024;
		else if (!strcasecmp(suffix, "m") || !strcasecmp(suffix, "mib"))
			mult = 1024 * 1024;
		else if (!strcasecmp(suffix, "g") || !strcasecmp(suffix, "gib"))
			mult = 1024 * 1024 * 1024;
		else if (*suffix)
			return fail(p, "%s: '%s' is not a size (bytes, or with K, M or G)", k->name, v);
		if (digits == 0 || digits >= sizeof(num) || len > 40)
			return fail(p, "%s: '%s' is not a size (bytes, or with K, M or G)", k->name, v);
		memcpy(num, v, digits);
		num[digits] = 0;
		if (parse_u64(num, &n) < 0 || n > UINT64_MAX / mult ||
		    n * mult < 1024 || n * mult > 4ull * 1024 * 1024 * 1024)
			return fail(p, "%s: %s is out of range (1K..4G)", k->name, v);
		*(uint64_t *)slot = n * mult;
		return 0;
	}
	}
	return fail(p, "internal error");
}

static int set_defaults(struct scim_config *c)
{
	c->lowercase_names = true;
	c->strip_domain = false;
	c->uid_min = SCIM_DEFAULT_UID_MIN;
	c->uid_max = SCIM_DEFAULT_UID_MAX;
	c->max_removed_percent = SCIM_DEFAULT_MAX_REMOVED_PERCENT;
	c->removed_retention = SCIM_DEFAULT_REMOVED_RETENTION;
	c->on_suspend_timeout = SCIM_DEFAULT_ON_SUSPEND_TIMEOUT;
	c->refresh_interval = SCIM_DEFAULT_REFRESH_INTERVAL;
	c->page_size = SCIM_DEFAULT_PAGE_SIZE;
	c->timeout = SCIM_DEFAULT_TIMEOUT;
	c->max_response_bytes = SCIM_DEFAULT_MAX_RESPONSE_BYTES;
	c->max_parallel = SCIM_DEFAULT_MAX_PARALLEL;
	c->max_confirmations = SCIM_DEFAULT_MAX_CONFIRMATIONS;
	c->publish_deltas = SCIM_DEFAULT_PUBLISH_DELTAS;
	c->manifest_expires = SCIM_DEFAULT_MANIFEST_EXPIRES;
	c->fleet_name = strdup("scim");
	c->snapshot_pubkey = calloc(1, sizeof(char *));
	c->name_attribute = strdup("userName");
	c->home = strdup("/home/%u");
	c->shell = strdup("/bin/bash");
	c->state_dir = strdup(SCIM_STATEDIR);
	c->cache_file = strdup(SCIM_CACHE_FILE);
	c->deny_names = calloc(1, sizeof(char *));
	c->headers = calloc(1, sizeof(char *));
	if (!c->fleet_name || !c->snapshot_pubkey || !c->name_attribute || !c->home || !c->shell || !c->state_dir || !c->cache_file || !c->deny_names ||
	    !c->headers)
		return -ENOMEM;
	return 0;
}

static char *trim(char *s)
{
	char *e;
	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = 0;
	return s;
}

static int parse_line(struct parser *p, struct scim_config *c, char *line)
{
	char *eq, *key, *val;
	const struct key *k = NULL;

	line = trim(line);
	if (!*line || *line == '#')
		return 0;
	eq = strchr(line, '=');
	if (!eq)
		return fail(p, "expected 'key = value'");
	*eq = 0;
	key = trim(line);
	val = eq + 1;
	/* A '#' after whitespace starts a comment; one inside a value (a URL
	 * fragment, a header value) without a space before it does not. */
	for (char *h = val; (h = strchr(h, '#')); h++)
		if (h == val || h[-1] == ' ' || h[-1] == '\t') {
			*h = 0;
			break;
		}
	val = trim(val);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strcmp(keys[i].name, key)) {
			k = &keys[i];
			if (!k->repeatable && p->seen[i])
				return fail(p, "%s is already set on line %u", key, p->seen[i]);
			p->seen[i] = p->line;
			break;
		}
	if (!k)
		return fail(p, "unknown key '%s'", key);
	if (!*val)
		return fail(p, "%s: missing value", key);
	return apply(p, c, k, val);
}

int scim_config_parse(const char *name, const char *text, struct scim_config **out, char **errmsg)
{
	struct parser p = { .name = name };
	struct scim_config *c;
	char *copy = NULL, *line, *next;
	int r;

	*out = NULL;
	*errmsg = NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	r = set_defaults(c);
	if (r < 0)
		goto out;
	c->path = strdup(name);
	copy = strdup(text);
	if (!c->path || !copy) {
		r = -ENOMEM;
		goto out;
	}
	for (line = copy; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = 0;
		p.line++;
		r = parse_line(&p, c, line);
		if (r < 0)
			goto out;
	}
	p.line = 0;
	if (c->uid_min > c->uid_max) {
		r = fail(&p, "uid_min (%u) is above uid_max (%u)", c->uid_min, c->uid_max);
		goto out;
	}
	/* A host takes its directory from the relay, a relay from SCIM: a
	 * config that says both is a mistake worth stopping at. */
	if (c->snapshot_url && (c->url || c->token_file || c->publish_dir)) {
		r = fail(&p, "snapshot_url (a fleet host) cannot be combined with url, token_file or publish_dir");
		goto out;
	}
	if (c->snapshot_url && c->nsnapshot_pubkey == 0) {
		r = fail(&p, "snapshot_url needs snapshot_pubkey (the relay's minisign public key)");
		goto out;
	}
	if (c->publish_dir && !c->signing_key) {
		r = fail(&p, "publish_dir needs signing_key (the relay's minisign secret key file)");
		goto out;
	}
out:
	free(copy);
	if (r < 0) {
		*errmsg = p.err ? p.err : strdup(strerror(-r));
		scim_config_free(c);
		return r;
	}
	free(p.err);
	*out = c;
	return 0;
}

int scim_config_load(const char *path, struct scim_config **out, char **errmsg)
{
	FILE *f;
	struct stat st;
	char *text = NULL;
	size_t len;
	int r;

	*out = NULL;
	*errmsg = NULL;
	if (!path)
		path = scim_config_default_path();
	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		(void)!asprintf(errmsg, "%s: cannot open: %s", path, strerror(errno));
		return r;
	}
	/* The file picks the url, the CA and the headers: whoever may write it
	 * can send the token elsewhere. */
	if (fstat(fileno(f), &st) < 0) {
		r = -errno;
		(void)!asprintf(errmsg, "%s: %s", path, strerror(errno));
		fclose(f);
		return r;
	}
	r = scim_file_check_trust(&st, path, "config file", geteuid(), false, errmsg);
	if (r < 0) {
		fclose(f);
		return r;
	}
	text = malloc(CONFIG_MAX_BYTES + 1);
	if (!text) {
		fclose(f);
		return -ENOMEM;
	}
	len = fread(text, 1, CONFIG_MAX_BYTES + 1, f);
	if (ferror(f)) {
		r = -EIO;
		(void)!asprintf(errmsg, "%s: read error", path);
		goto out;
	}
	if (len > CONFIG_MAX_BYTES) {
		r = -EFBIG;
		(void)!asprintf(errmsg, "%s: larger than %d bytes", path, CONFIG_MAX_BYTES);
		goto out;
	}
	if (memchr(text, 0, len)) {
		r = -EINVAL;
		(void)!asprintf(errmsg, "%s: holds a NUL byte (not a text file)", path);
		goto out;
	}
	text[len] = 0;
	r = scim_config_parse(path, text, out, errmsg);
	if (r == 0 && (*out)->ca_file) {
		if (stat((*out)->ca_file, &st) < 0) {
			r = -errno;
			(void)!asprintf(errmsg, "%s: ca_file %s: %s", path, (*out)->ca_file, strerror(errno));
		} else {
			r = scim_file_check_trust(&st, (*out)->ca_file, "ca_file", geteuid(), false, errmsg);
		}
		if (r < 0) {
			scim_config_free(*out);
			*out = NULL;
		}
	}
out:
	fclose(f);
	free(text);
	return r;
}

int scim_config_check_network(const struct scim_config *cfg, char **errmsg)
{
	*errmsg = NULL;
	if (!cfg->url)
		(void)!asprintf(errmsg, "%s: 'url' is not set (needed to sync from a server)", cfg->path);
	else if (!cfg->token_file)
		(void)!asprintf(errmsg, "%s: 'token_file' is not set (needed to sync from a server)", cfg->path);
	else
		return 0;
	return -EINVAL;
}

static void free_vec(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

void scim_config_free(struct scim_config *c)
{
	if (!c)
		return;
	free(c->path);
	free(c->name_attribute);
	free(c->uid_attribute);
	free(c->gid_attribute);
	free(c->home);
	free(c->shell);
	free(c->primary_group);
	free_vec(c->deny_names);
	free_vec(c->host_groups);
	free(c->on_suspend);
	free(c->ssh_keys_attribute);
	free(c->state_dir);
	free(c->cache_file);
	free(c->url);
	free(c->token_file);
	free(c->ca_file);
	free_vec(c->headers);
	free(c->publish_dir);
	free(c->signing_key);
	free(c->fleet_name);
	free(c->snapshot_url);
	free_vec(c->snapshot_pubkey);
	free(c);
}

int scim_file_check_trust(const struct stat *st, const char *path, const char *what, uid_t euid, bool secret,
			  char **errmsg)
{
	mode_t loose = secret ? (S_IRGRP | S_IWGRP | S_IROTH | S_IWOTH) : (S_IWGRP | S_IWOTH);

	*errmsg = NULL;
	if (!S_ISREG(st->st_mode)) {
		(void)!asprintf(errmsg, "%s %s: not a regular file", what, path);
		return -EINVAL;
	}
	if (st->st_uid != euid && (secret || st->st_uid != 0)) {
		(void)!asprintf(errmsg, "%s %s: owned by uid %u, not by %sthe daemon's uid %u: refusing it (chown %u)",
				what, path, (unsigned)st->st_uid, secret ? "" : "root or ", (unsigned)euid,
				(unsigned)euid);
		return -EPERM;
	}
	if (st->st_mode & loose) {
		(void)!asprintf(errmsg, "%s %s: mode %04o lets group or others %s it: refusing it (chmod %s)", what,
				path, (unsigned)(st->st_mode & 07777), secret ? "read or write" : "write",
				secret ? "600" : "644");
		return -EPERM;
	}
	return 0;
}
