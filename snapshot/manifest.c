/* manifest.c - the trusted comment: one line of key=value words, strictly
 * ordered, and the freshness rules a host applies to it.
 *
 * The parser is strict on purpose: every field is required, in one order,
 * once; an unknown field is refused rather than skipped, since a new field
 * comes with a new version. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snapshot.h"
#include "snapshot/snap_err.h"


static bool fleet_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SCIM_SNAP_FLEET_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.' || c == '-'))
			return false;
	}
	return true;
}

static bool hex_ok(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

static int parse_u64(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || (s[0] == '0' && n > 1))
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EBADMSG;
		if (x > (max - (uint64_t)(s[i] - '0')) / 10)
			return -EBADMSG;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	*v = x;
	return 0;
}

static bool sane_manifest(const struct scim_snap_manifest *m, char *err)
{
	if (!fleet_ok(m->fleet)) {
		scim_snap_seterr(err, "fleet name must be 1 to %d of [A-Za-z0-9_.-]", SCIM_SNAP_FLEET_MAX);
		return false;
	}
	if (m->issued < 0 || (uint64_t)m->issued != m->serial / 1000) {
		scim_snap_seterr(err, "issued is not the serial in seconds");
		return false;
	}
	if (m->expires <= m->issued || m->synced < 0 || m->synced > m->issued) {
		scim_snap_seterr(err, "expires must follow issued, and synced precede it");
		return false;
	}
	if (m->counts.suspended > m->counts.users) {
		scim_snap_seterr(err, "more suspended users than users");
		return false;
	}
	if (!hex_ok(m->sha256, 64)) {
		scim_snap_seterr(err, "sha256 is not 64 lowercase hex digits");
		return false;
	}
	if (m->size > SCIM_SNAP_RAW_MAX || m->zsize == 0 || m->zsize > SCIM_SNAP_RAW_MAX) {
		scim_snap_seterr(err, "snapshot sizes out of range");
		return false;
	}
	if (m->ndeltas > SCIM_SNAP_DELTAS_MAX) {
		scim_snap_seterr(err, "more than %d deltas", SCIM_SNAP_DELTAS_MAX);
		return false;
	}
	for (size_t i = 0; i < m->ndeltas; i++) {
		if (!hex_ok(m->deltas[i].from, 64) || !strcmp(m->deltas[i].from, m->sha256) ||
		    m->deltas[i].zsize == 0 || m->deltas[i].zsize > SCIM_SNAP_RAW_MAX) {
			scim_snap_seterr(err, "delta %zu: bad source hash or size", i + 1);
			return false;
		}
		for (size_t j = 0; j < i; j++)
			if (!strcmp(m->deltas[i].from, m->deltas[j].from)) {
				scim_snap_seterr(err, "delta from %s is listed twice", m->deltas[i].from);
				return false;
			}
	}
	return true;
}

int scim_snap_manifest_format(const struct scim_snap_manifest *m, char *out, size_t outlen, char *err)
{
	size_t n;
	int k;

	if (!sane_manifest(m, err))
		return -EINVAL;
	k = snprintf(out, outlen,
		     "scim-fleet=%d fleet=%s serial=%" PRIu64 " issued=%" PRId64 " expires=%" PRId64 " synced=%" PRId64
		     " generation=%" PRIu64 " users=%" PRIu64 " suspended=%" PRIu64 " removed=%" PRIu64
		     " groups=%" PRIu64 " members=%" PRIu64 " size=%" PRIu64 " sha256=%s zsize=%" PRIu64 " deltas=",
		     SCIM_SNAP_MANIFEST_VERSION, m->fleet, m->serial, m->issued, m->expires, m->synced, m->generation,
		     m->counts.users, m->counts.suspended, m->counts.removed, m->counts.groups, m->counts.members,
		     m->size, m->sha256, m->zsize);
	if (k < 0 || (size_t)k >= outlen)
		goto too_long;
	n = (size_t)k;
	if (m->ndeltas == 0) {
		k = snprintf(out + n, outlen - n, "-");
		if (k < 0 || (size_t)k >= outlen - n)
			goto too_long;
		n += (size_t)k;
	}
	for (size_t i = 0; i < m->ndeltas; i++) {
		k = snprintf(out + n, outlen - n, "%s%s:%" PRIu64, i ? "," : "", m->deltas[i].from, m->deltas[i].zsize);
		if (k < 0 || (size_t)k >= outlen - n)
			goto too_long;
		n += (size_t)k;
	}
	if (n > SCIM_SNAP_COMMENT_MAX)
		goto too_long;
	return 0;
too_long:
	scim_snap_seterr(err, "the trusted comment does not fit in %zu bytes",
	       outlen < SCIM_SNAP_COMMENT_MAX ? outlen : (size_t)SCIM_SNAP_COMMENT_MAX);
	return -E2BIG;
}

enum kind { K_U64, K_I64, K_FLEET, K_HEX, K_DELTAS, K_VERSION };

int scim_snap_manifest_parse(const char *comment, struct scim_snap_manifest *m, char *err)
{
	const struct {
		const char *key;
		enum kind kind;
		void *dst;
	} fields[] = {
		{ "scim-fleet", K_VERSION, NULL },
		{ "fleet", K_FLEET, m->fleet },
		{ "serial", K_U64, &m->serial },
		{ "issued", K_I64, &m->issued },
		{ "expires", K_I64, &m->expires },
		{ "synced", K_I64, &m->synced },
		{ "generation", K_U64, &m->generation },
		{ "users", K_U64, &m->counts.users },
		{ "suspended", K_U64, &m->counts.suspended },
		{ "removed", K_U64, &m->counts.removed },
		{ "groups", K_U64, &m->counts.groups },
		{ "members", K_U64, &m->counts.members },
		{ "size", K_U64, &m->size },
		{ "sha256", K_HEX, m->sha256 },
		{ "zsize", K_U64, &m->zsize },
		{ "deltas", K_DELTAS, NULL },
	};
	const size_t nfields = sizeof(fields) / sizeof(*fields);
	const char *p = comment;
	size_t i = 0;

	memset(m, 0, sizeof(*m));
	if (strlen(comment) > SCIM_SNAP_COMMENT_MAX) {
		scim_snap_seterr(err, "the trusted comment is longer than %d bytes", SCIM_SNAP_COMMENT_MAX);
		return -EBADMSG;
	}
	for (; *p; i++) {
		const char *word = p, *eq, *val, *end = strchr(p, ' ');
		size_t klen, vlen;
		uint64_t v;

		if (!end)
			end = p + strlen(p);
		eq = memchr(word, '=', (size_t)(end - word));
		if (!eq) {
			scim_snap_seterr(err, "'%.*s' is not key=value", (int)(end - word > 40 ? 40 : end - word), word);
			return -EBADMSG;
		}
		klen = (size_t)(eq - word);
		val = eq + 1;
		vlen = (size_t)(end - val);
		if (i == nfields || strlen(fields[i].key) != klen || memcmp(fields[i].key, word, klen)) {
			bool known = false;
			for (size_t j = 0; j < nfields; j++)
				known |= strlen(fields[j].key) == klen && !memcmp(fields[j].key, word, klen);
			if (i == 0)
				scim_snap_seterr(err, "not a fleet manifest (it must start with scim-fleet=)");
			else if (!known)
				scim_snap_seterr(err, "unknown field '%.*s'", (int)(klen > 40 ? 40 : klen), word);
			else
				scim_snap_seterr(err, "field '%.*s' is repeated or out of place (expected '%s')", (int)klen, word,
				       i < nfields ? fields[i].key : "the end");
			return -EBADMSG;
		}
		switch (fields[i].kind) {
		case K_VERSION:
			if (parse_u64(val, vlen, UINT32_MAX, &v) < 0 || v != SCIM_SNAP_MANIFEST_VERSION) {
				scim_snap_seterr(err, "manifest version '%.*s' is not supported (this build reads %d)",
				       (int)(vlen > 20 ? 20 : vlen), val, SCIM_SNAP_MANIFEST_VERSION);
				return -EBADMSG;
			}
			break;
		case K_U64:
		case K_I64:
			if (parse_u64(val, vlen, fields[i].kind == K_I64 ? INT64_MAX : UINT64_MAX, &v) < 0) {
				scim_snap_seterr(err, "%s: '%.*s' is not a canonical decimal number", fields[i].key,
				       (int)(vlen > 24 ? 24 : vlen), val);
				return -EBADMSG;
			}
			if (fields[i].kind == K_I64)
				*(int64_t *)fields[i].dst = (int64_t)v;
			else
				*(uint64_t *)fields[i].dst = v;
			break;
		case K_FLEET:
		case K_HEX:
			if (vlen > (fields[i].kind == K_FLEET ? SCIM_SNAP_FLEET_MAX : 64)) {
				scim_snap_seterr(err, "%s is too long", fields[i].key);
				return -EBADMSG;
			}
			memcpy(fields[i].dst, val, vlen);
			((char *)fields[i].dst)[vlen] = '\0';
			break;
		case K_DELTAS:
			if (vlen == 1 && val[0] == '-')
				break;
			if (vlen == 0) {
				scim_snap_seterr(err, "deltas is empty (write '-' for none)");
				return -EBADMSG;
			}
			for (const char *d = val; d < end;) {
				const char *comma = memchr(d, ',', (size_t)(end - d)), *colon;
				struct scim_snap_delta_ref *ref = &m->deltas[m->ndeltas];
				if (!comma)
					comma = end;
				if (m->ndeltas == SCIM_SNAP_DELTAS_MAX) {
					scim_snap_seterr(err, "more than %d deltas", SCIM_SNAP_DELTAS_MAX);
					return -E2BIG;
				}
				colon = memchr(d, ':', (size_t)(comma - d));
				if (!colon || colon - d != 64 ||
				    parse_u64(colon + 1, (size_t)(comma - colon - 1), UINT64_MAX, &ref->zsize) < 0) {
					scim_snap_seterr(err, "deltas: entry %zu is not FROMSHA256:SIZE", m->ndeltas + 1);
					return -EBADMSG;
				}
				memcpy(ref->from, d, 64);
				ref->from[64] = '\0';
				m->ndeltas++;
				d = comma + 1;
				if (comma < end && d == end) {
					scim_snap_seterr(err, "deltas: trailing comma");
					return -EBADMSG;
				}
			}
			break;
		}
		if (!*end)
			p = end;
		else if (!end[1]) {
			scim_snap_seterr(err, "the trusted comment ends with a space");
			return -EBADMSG;
		} else
			p = end + 1;
	}
	if (i != nfields) {
		scim_snap_seterr(err, "field '%s' is missing", i < nfields ? fields[i].key : "?");
		return -EBADMSG;
	}
	if (!sane_manifest(m, err))
		return -EBADMSG;
	return 0;
}

int scim_snap_manifest_check(const struct scim_snap_manifest *m, const char *comment,
			     const struct scim_snap_accepted *last, uint64_t now_ms, bool *same, char *err)
{
	char h[SCIM_SNAP_SHA256_HEX];

	*same = false;
	if (m->serial > now_ms + SCIM_SNAP_FUTURE_MAX_MS) {
		scim_snap_seterr(err, "manifest issued %" PRIu64 " ms in the future (clock skew, or a forged serial)",
		       m->serial - now_ms);
		return -EBADMSG;
	}
	if ((uint64_t)m->expires <= now_ms / 1000) {
		scim_snap_seterr(err, "manifest expired at %" PRId64 " (the relay stopped publishing, or a replay)", m->expires);
		return -EBADMSG;
	}
	if (last && last->serial) {
		if (m->serial < last->serial) {
			scim_snap_seterr(err,
			       "manifest serial %" PRIu64 " is older than the last accepted %" PRIu64 " (rollback)",
			       m->serial, last->serial);
			return -EBADMSG;
		}
		if (m->serial == last->serial) {
			scim_snap_sha256_hex(comment, strlen(comment), h);
			if (strcmp(h, last->comment_sha256)) {
				scim_snap_seterr(err, "manifest serial %" PRIu64 " was accepted before with other content",
				       m->serial);
				return -EBADMSG;
			}
			*same = true;
		}
	}
	return 0;
}
