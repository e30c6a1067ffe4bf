/* sshkey.c - see sshkey.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cache/sshkey.h"

/* What follows the type in each blob, as SSH strings: their number, and
 * for each a fixed length, or 0 for "any, not empty" (RSA's numbers, a
 * security key's application).  curve names the string that must come
 * first, when there is one. */
static const struct key_type {
	const char *name;
	const char *curve;
	int nfields;
	uint32_t len[3];
} key_types[] = {
	{ "ssh-ed25519", NULL, 1, { 32 } },
	{ "ecdsa-sha2-nistp256", "nistp256", 2, { 8, 65 } },
	{ "ecdsa-sha2-nistp384", "nistp384", 2, { 8, 97 } },
	{ "ecdsa-sha2-nistp521", "nistp521", 2, { 8, 133 } },
	{ "sk-ssh-ed25519@openssh.com", NULL, 2, { 32, 0 } },
	{ "sk-ecdsa-sha2-nistp256@openssh.com", "nistp256", 3, { 8, 65, 0 } },
	{ "ssh-rsa", NULL, 2, { 0, 0 } },
};

/* A blob larger than this is no public key of the types above (a 16384-bit
 * RSA key takes about 2 KiB). */
#define BLOB_MAX 4096

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int b64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict: whole quads, padding only at the end.  Returns the decoded length,
 * or -1. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t outlen)
{
	size_t o = 0;

	if (n == 0 || n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (s[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad)
				return -1; /* data after padding */
			v[k] = b64_value((unsigned char)s[i + k]);
			if (v[k] < 0)
				return -1;
		}
		uint32_t q = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
		for (int k = 0; k < 3 - pad; k++) {
			if (o >= outlen)
				return -1;
			out[o++] = (unsigned char)(q >> (16 - 8 * k));
		}
	}
	return (long)o;
}

static const struct key_type *known_type(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(key_types) / sizeof(key_types[0]); i++)
		if (strlen(key_types[i].name) == n && memcmp(key_types[i].name, s, n) == 0)
			return &key_types[i];
	return NULL;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The fields after the type: as many as the type has, of the right
 * lengths, and nothing after them. */
static bool blob_fields_ok(const struct key_type *kt, const unsigned char *b, size_t n)
{
	size_t pos = 0;

	for (int i = 0; i < kt->nfields; i++) {
		uint32_t l;
		if (n - pos < 4)
			return false;
		l = be32(b + pos);
		pos += 4;
		if (l > n - pos || l == 0 || (kt->len[i] && l != kt->len[i]))
			return false;
		if (i == 0 && kt->curve && memcmp(b + pos, kt->curve, l) != 0)
			return false;
		pos += l;
	}
	return pos == n;
}

/* Splits a line into type, base64 and comment, and decodes the blob. */
struct parsed {
	const char *type, *b64, *comment;
	size_t type_len, b64_len, comment_len;
	unsigned char blob[BLOB_MAX];
	size_t blob_len;
};

static int parse(const char *line, size_t len, struct parsed *p, const char **why)
{
	const char *s = line, *end = line + len;
	const struct key_type *kt;
	long bl;
	uint32_t tl;

	while (s < end && (is_blank(*s) || *s == '\r' || *s == '\n'))
		s++;
	while (end > s && (is_blank(end[-1]) || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	for (const char *c = s; c < end; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
			*why = "it holds a control character or a line break";
			return -EINVAL;
		}
	if (s == end) {
		*why = "it is empty";
		return -EINVAL;
	}
	p->type = s;
	while (s < end && !is_blank(*s))
		s++;
	p->type_len = (size_t)(s - p->type);
	kt = known_type(p->type, p->type_len);
	if (!kt) {
		/* authorized_keys options come first: command="...",from="..." */
		if (memchr(p->type, '=', p->type_len) || memchr(p->type, ',', p->type_len) ||
		    memchr(p->type, '"', p->type_len))
			*why = "key options (command=, from=, ...) are not accepted";
		else
			*why = "unknown key type";
		return -EINVAL;
	}
	while (s < end && is_blank(*s))
		s++;
	p->b64 = s;
	while (s < end && !is_blank(*s))
		s++;
	p->b64_len = (size_t)(s - p->b64);
	while (s < end && is_blank(*s))
		s++;
	p->comment = s;
	p->comment_len = (size_t)(end - s);
	bl = b64_decode(p->b64, p->b64_len, p->blob, sizeof(p->blob));
	if (bl < 0) {
		*why = "the key is not base64";
		return -EINVAL;
	}
	p->blob_len = (size_t)bl;
	/* The blob starts with its own type, an SSH string. */
	if (p->blob_len < 4) {
		*why = "the key blob is cut short";
		return -EINVAL;
	}
	tl = (uint32_t)p->blob[0] << 24 | (uint32_t)p->blob[1] << 16 | (uint32_t)p->blob[2] << 8 | p->blob[3];
	if (tl != p->type_len || p->blob_len - 4 < tl || memcmp(p->blob + 4, p->type, tl) != 0) {
		*why = "the key blob is of another type than the line says";
		return -EINVAL;
	}
	if (!blob_fields_ok(kt, p->blob + 4 + tl, p->blob_len - 4 - tl)) {
		*why = "the key blob is not a key of its type";
		return -EINVAL;
	}
	return 0;
}

int scim_sshkey_check(const char *line, size_t len, char *out, size_t outlen, const char **why)
{
	struct parsed p;
	int n, r;

	*why = "";
	if (len > SCIM_SSHKEY_LINE_MAX) {
		*why = "the line is too long";
		return -EINVAL;
	}
	r = parse(line, len, &p, why);
	if (r < 0)
		return r;
	if (p.comment_len)
		n = snprintf(out, outlen, "%.*s %.*s %.*s", (int)p.type_len, p.type, (int)p.b64_len, p.b64,
			     (int)p.comment_len, p.comment);
	else
		n = snprintf(out, outlen, "%.*s %.*s", (int)p.type_len, p.type, (int)p.b64_len, p.b64);
	return n < 0 || (size_t)n >= outlen ? -ENOBUFS : 0;
}

/* ---------------------------------------------------------------- SHA-256 (FIPS 180-4) */

static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROR(x, n) ((x) >> (n) | (x) << (32 - (n)))

static void sha256_block(uint32_t h[8], const unsigned char *b)
{
	uint32_t w[64], a, bb, c, d, e, f, g, hh;

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 | (uint32_t)b[4 * i + 2] << 8 |
		       b[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0], bb = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
	for (int i = 0; i < 64; i++) {
		uint32_t t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
		uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & bb) ^ (a & c) ^ (bb & c));
		hh = g, g = f, f = e, e = d + t1, d = c, c = bb, bb = a, a = t1 + t2;
	}
	h[0] += a, h[1] += bb, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
}

static void sha256(const unsigned char *data, size_t len, unsigned char out[32])
{
	uint32_t h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
			  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };
	unsigned char last[128];
	size_t full = len / 64 * 64, rest = len - full, n;
	uint64_t bits = (uint64_t)len * 8;

	for (size_t i = 0; i < full; i += 64)
		sha256_block(h, data + i);
	memset(last, 0, sizeof(last));
	memcpy(last, data + full, rest);
	last[rest] = 0x80;
	n = rest + 1 + 8 <= 64 ? 64 : 128;
	for (int k = 0; k < 8; k++)
		last[n - 1 - k] = (unsigned char)(bits >> (8 * k));
	for (size_t i = 0; i < n; i += 64)
		sha256_block(h, last + i);
	for (int i = 0; i < 8; i++) {
		out[4 * i] = (unsigned char)(h[i] >> 24);
		out[4 * i + 1] = (unsigned char)(h[i] >> 16);
		out[4 * i + 2] = (unsigned char)(h[i] >> 8);
		out[4 * i + 3] = (unsigned char)h[i];
	}
}

int scim_sshkey_fingerprint(const char *line, size_t len, char *type, size_t tlen, char *fp, size_t fplen)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct parsed p;
	unsigned char d[32];
	const char *why;
	size_t o;

	if (len > SCIM_SSHKEY_LINE_MAX || parse(line, len, &p, &why) < 0)
		return -EINVAL;
	/* 7 for "SHA256:", 43 for the digest, and the NUL. */
	if (tlen <= p.type_len || fplen < 51)
		return -ENOBUFS;
	memcpy(type, p.type, p.type_len);
	type[p.type_len] = 0;
	sha256(p.blob, p.blob_len, d);
	o = (size_t)snprintf(fp, fplen, "SHA256:");
	for (size_t i = 0; i < 32; i += 3) {
		uint32_t q = (uint32_t)d[i] << 16 | (i + 1 < 32 ? (uint32_t)d[i + 1] << 8 : 0) |
			     (i + 2 < 32 ? d[i + 2] : 0);
		size_t chars = i + 2 < 32 ? 4 : i + 1 < 32 ? 3 : 2;
		for (size_t k = 0; k < chars; k++)
			fp[o++] = alphabet[(q >> (18 - 6 * k)) & 63];
	}
	fp[o] = 0;
	return 0;
}
