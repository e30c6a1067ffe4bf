/* fuzz_config.c - scim-refreshd.conf (refreshd/config.c) and what the mapping
 * makes of a directory entry with it (refreshd/names.c): names, gecos and
 * home directories.
 *
 * Input: the config text up to the first NUL byte; after it, a flags byte
 * (bit 0 lower-case, bit 1 strip the domain, bit 2 use the config's settings
 * instead), a le32 uid, a length byte and that many bytes of a raw name, and
 * the rest as a raw gecos.  A text that does not parse leaves the defaults,
 * and its first line is tried as a home template as it is.
 *
 * Invariants:
 *   - a config that parses has values its man page allows (absolute paths
 *     without ':' or control characters, a valid primary group, uid_min <=
 *     uid_max inside the floor and ceiling, https:// URLs); one that does not
 *     has a one-line message and no config;
 *   - a mapped name is exactly the raw name lower-cased and cut at '@' as
 *     asked, and is accepted exactly when that matches [a-z_][a-z0-9_.-]{0,31}
 *     (scim-refreshd.conf(5), NAMES);
 *   - gecos holds no ':' ',' or control character, no space at either end,
 *     at most 255 bytes, and stays valid UTF-8 when the input was;
 *   - a home is the template expanded (%u, %U, %%), -ENAMETOOLONG exactly when
 *     it does not fit, and nothing past the buffer is written;
 *   - so no ':' or newline reaches any passwd or group field (name, gecos,
 *     home, shell). */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "fuzz/fuzz.h"
#include "refreshd/config.h"
#include "refreshd/log.h"
#include "refreshd/names.h"

#define CANARY 0x5C
#define GUARD 16

static bool name_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* [a-z_][a-z0-9_.-]{0,31}, written out again rather than trusting
 * scim_name_is_valid. */
static bool name_matches(const char *s, size_t n)
{
	if (n < 1 || n > 32 || !((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!name_char((unsigned char)s[i]))
			return false;
	return true;
}

static bool field_ok(const char *s)
{
	for (; *s; s++)
		if (*s == ':' || *s == '\n' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static bool abs_path_ok(const char *s)
{
	return s && s[0] == '/' && field_ok(s);
}

/* Structure only (a lead byte and its continuation bytes): that is what a
 * cut can break. */
static bool utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t len = c < 0x80                ? 1
		             : c >= 0xc0 && c < 0xe0 ? 2
		             : c >= 0xe0 && c < 0xf0 ? 3
		             : c >= 0xf0 && c < 0xf8 ? 4
		                                     : 0;
		if (len == 0 || len > n - i)
			return false;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += len;
	}
	return true;
}

static void check_config(const struct scim_config *c)
{
	FUZZ_CHECK(c->name_attribute && *c->name_attribute);
	FUZZ_CHECK(abs_path_ok(c->home) && abs_path_ok(c->shell) && abs_path_ok(c->state_dir) &&
	           abs_path_ok(c->cache_file));
	FUZZ_CHECK(!c->token_file || abs_path_ok(c->token_file));
	FUZZ_CHECK(!c->ca_file || abs_path_ok(c->ca_file));
	FUZZ_CHECK(!c->primary_group || scim_name_is_valid(c->primary_group));
	FUZZ_CHECK(!c->primary_group || name_matches(c->primary_group, strlen(c->primary_group)));
	FUZZ_CHECK(c->uid_min >= SCIM_UID_FLOOR && c->uid_max <= SCIM_UID_CEILING && c->uid_min <= c->uid_max);
	FUZZ_CHECK(c->max_removed_percent <= 100 && c->page_size >= 1 && c->page_size <= 10000);
	FUZZ_CHECK(c->refresh_interval >= 10 && c->timeout >= 1);
	FUZZ_CHECK(c->max_response_bytes >= 1024 && c->max_response_bytes <= 4ull << 30);
	FUZZ_CHECK(!c->url || (!strncasecmp(c->url, "https://", 8) && strlen(c->url) > 8));
	if (c->url)
		for (const char *s = c->url; *s; s++)
			FUZZ_CHECK((unsigned char)*s >= 0x20 && *s != 0x7f && *s != ' ' && *s != '?' && *s != '#');
	FUZZ_CHECK(c->deny_names && c->deny_names[c->ndeny_names] == NULL);
	FUZZ_CHECK(c->headers && c->headers[c->nheaders] == NULL);
	for (size_t i = 0; i < c->nheaders; i++) {
		FUZZ_CHECK(strchr(c->headers[i], ':') != NULL && strchr(c->headers[i], '\n') == NULL &&
		           strchr(c->headers[i], '\r') == NULL);
		FUZZ_CHECK(strncasecmp(c->headers[i], "Authorization:", 14) != 0);
	}
}

static void check_map(const char *raw, size_t len, bool lower, bool strip)
{
	char out[SCIM_POSIX_NAME_MAX + 1 + GUARD], want[256];
	size_t n = len;
	const char *at = strip ? memchr(raw, '@', len) : NULL;
	int r;

	if (at)
		n = (size_t)(at - raw);
	for (size_t i = 0; i < n && i < sizeof(want); i++)
		want[i] = lower && raw[i] >= 'A' && raw[i] <= 'Z' ? (char)(raw[i] - 'A' + 'a') : raw[i];
	memset(out, CANARY, sizeof(out));
	r = scim_map_name(raw, len, lower, strip, out);
	for (size_t i = SCIM_POSIX_NAME_MAX + 1; i < sizeof(out); i++)
		FUZZ_CHECK((unsigned char)out[i] == CANARY);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK((r == 0) == (n <= sizeof(want) && name_matches(want, n)));
	if (r == 0) {
		FUZZ_CHECK(strlen(out) == n && !memcmp(out, want, n));
		FUZZ_CHECK(scim_name_is_valid(out) && field_ok(out));
	}
}

static void check_gecos(const char *raw, size_t len, char *out)
{
	char buf[SCIM_GECOS_MAX + 1 + GUARD];
	size_t n;

	memset(buf, CANARY, sizeof(buf));
	scim_clean_gecos(raw, len, buf);
	for (size_t i = SCIM_GECOS_MAX + 1; i < sizeof(buf); i++)
		FUZZ_CHECK((unsigned char)buf[i] == CANARY);
	n = strlen(buf);
	FUZZ_CHECK(n <= SCIM_GECOS_MAX && field_ok(buf) && !strchr(buf, ','));
	FUZZ_CHECK(n == 0 || (buf[0] != ' ' && buf[n - 1] != ' '));
	/* Removing ASCII bytes and trimming keep valid UTF-8 valid; the cut at
	 * 255 bytes must too. */
	if (utf8_ok((const unsigned char *)raw, len))
		FUZZ_CHECK(utf8_ok((const unsigned char *)buf, n));
	/* Nothing but the removed bytes is dropped when it all fits. */
	size_t kept = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)raw[i];
		kept += !(c < 0x20 || c == 0x7f || c == ':' || c == ',');
	}
	if (kept <= SCIM_GECOS_MAX)
		FUZZ_CHECK(n <= kept);
	memcpy(out, buf, n + 1);
}

/* The template expanded by hand: %u name, %U uid, %% percent, anything else
 * as it is. */
static size_t expand(const char *tmpl, const char *name, uint32_t uid, char *out, size_t cap)
{
	size_t n = 0;
	char num[16];
	for (const char *p = tmpl; *p; p++) {
		const char *add = p;
		size_t alen = 1;
		if (p[0] == '%' && (p[1] == 'u' || p[1] == 'U' || p[1] == '%')) {
			if (p[1] == 'u')
				add = name;
			else if (p[1] == 'U')
				snprintf(num, sizeof(num), "%u", uid), add = num;
			else
				add = "%";
			alen = strlen(add);
			p++;
		}
		for (size_t i = 0; i < alen; i++, n++)
			if (n < cap)
				out[n] = add[i];
	}
	if (n < cap)
		out[n] = 0;
	return n;
}

static void check_home(const char *tmpl, const char *name, uint32_t uid, size_t outlen, bool trusted, char *home)
{
	char *out = malloc(outlen + GUARD), *want = malloc(outlen + 1);
	size_t n;
	int r;

	FUZZ_CHECK(out && want);
	memset(out, CANARY, outlen + GUARD);
	n = expand(tmpl, name, uid, want, outlen + 1);
	r = scim_expand_home(tmpl, name, uid, out, outlen);
	for (size_t i = outlen; i < outlen + GUARD; i++)
		FUZZ_CHECK((unsigned char)out[i] == CANARY);
	FUZZ_CHECK(r == (n < outlen ? 0 : -ENAMETOOLONG));
	if (r == 0) {
		FUZZ_CHECK(strlen(out) == n && !memcmp(out, want, n));
		/* A template the config accepted and a valid name give a field
		 * that cannot split a passwd line. */
		if (trusted)
			FUZZ_CHECK(abs_path_ok(out));
		if (home)
			memcpy(home, out, n + 1);
	}
	free(out);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t text_len = nul ? (size_t)(nul - data) : size;
	char *text = malloc(text_len + 1), *err = NULL, *line;
	struct scim_config *cfg = NULL;
	struct fuzz_input in = {nul ? nul + 1 : data + size, nul ? size - text_len - 1 : 0};
	char name[SCIM_POSIX_NAME_MAX + 1], gecos[SCIM_GECOS_MAX + 1], home[SCIM_HOME_MAX + 1];
	bool parsed;
	int r;

	/* The parser and the mapping do not log today; if they ever do, the
	 * fuzzer must not spend its time writing to stderr. */
	scim_log_set_level(-1);
	FUZZ_CHECK(text != NULL);
	memcpy(text, data, text_len);
	text[text_len] = 0;
	r = scim_config_parse("fuzz.conf", text, &cfg, &err);
	parsed = r == 0;
	if (parsed) {
		FUZZ_CHECK(cfg != NULL && err == NULL);
		check_config(cfg);
	} else {
		FUZZ_CHECK(cfg == NULL && err != NULL && !strchr(err, '\n'));
		FUZZ_CHECK(r == -EINVAL || r == -ENOMEM);
		free(err);
		FUZZ_CHECK(scim_config_parse("fuzz.conf", "", &cfg, &err) == 0);
	}

	uint8_t flags = (uint8_t)fuzz_u32(&in, 1);
	uint32_t uid = fuzz_u32(&in, 4);
	size_t name_len = fuzz_u32(&in, 1);
	if (name_len > in.left)
		name_len = in.left;
	/* Exact-size copies: a read past either is a sanitizer error. */
	char *raw_name = malloc(name_len ? name_len : 1), *raw_gecos;
	FUZZ_CHECK(raw_name != NULL);
	memcpy(raw_name, in.p, name_len);
	in.p += name_len;
	in.left -= name_len;
	raw_gecos = malloc(in.left ? in.left : 1);
	FUZZ_CHECK(raw_gecos != NULL);
	memcpy(raw_gecos, in.p, in.left);

	bool lower = flags & 4 ? cfg->lowercase_names : flags & 1, strip = flags & 4 ? cfg->strip_domain : flags & 2;
	check_map(raw_name, name_len, lower, strip);
	check_gecos(raw_gecos, in.left, gecos);

	/* The passwd line the mapping would make: every field clean. */
	if (scim_map_name(raw_name, name_len, lower, strip, name) == 0) {
		home[0] = 0;
		check_home(cfg->home, name, uid, sizeof(home), true, home);
		check_home(cfg->home, name, uid, flags >> 3, true, NULL);
		if (home[0]) {
			FUZZ_CHECK(field_ok(name) && field_ok(gecos) && field_ok(home) && field_ok(cfg->shell));
			FUZZ_CHECK(!cfg->primary_group || field_ok(cfg->primary_group));
		}
	}
	/* A template nobody checked must still not overrun. */
	if (!parsed) {
		line = strndup(text, strcspn(text, "\n"));
		FUZZ_CHECK(line != NULL);
		check_home(line, "alice", uid, 64, false, NULL);
		check_home(line, "alice", uid, flags, false, NULL);
		free(line);
	}
	scim_config_free(cfg);
	free(raw_name);
	free(raw_gecos);
	free(text);
	return 0;
}
