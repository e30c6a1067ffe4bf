/* fuzz_records.c - the cache record decoders (cache/record.c) and the NSS
 * packer (nss_scim/pack.c over buf.c's checked allocator).
 *
 * Input: one byte of buffer misalignment, two bytes of a buffer size, then
 * the record.  Every decoder reads the record; whatever decodes is
 *   - packed into buffers of the needed size minus one, the needed size and
 *     a fuzzed size up to 16 bytes more, at the fuzzed misalignment, with canaries on both
 *     sides: -ERANGE exactly when the buffer is smaller than needed (for a
 *     group whose member list is short of nmembers, -EBADMSG otherwise),
 *     nothing written outside the buffer, and a packed entry equal to the
 *     record;
 *   - encoded again, when it is in the encoder's canonical form: the same
 *     bytes must come out, and a buffer one byte short gives -ENOBUFS with no
 *     write past it.
 * The chunk walker must advance on every item and stay inside the chunk, and
 * so must the walk over a user's SSH keys; a removed user's record decodes to
 * strings inside it. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>

#include "cache/cache.h"
#include "cache/record.h"
#include "fuzz/fuzz.h"
#include "nss_scim/pack.h"

#define GUARD 32
#define CANARY 0xA5

/* A buffer of len bytes at misalignment mis, canaries before and after. */
struct guarded {
	unsigned char *mem;
	size_t mis, len;
	char *buf;
};

static void guarded_new(struct guarded *g, size_t mis, size_t len)
{
	g->mis = mis;
	g->len = len;
	g->mem = malloc(GUARD + mis + len + GUARD);
	FUZZ_CHECK(g->mem != NULL);
	memset(g->mem, CANARY, GUARD + mis + len + GUARD);
	g->buf = (char *)g->mem + GUARD + mis;
}

static void guarded_check_free(struct guarded *g)
{
	for (size_t i = 0; i < GUARD + g->mis; i++)
		FUZZ_CHECK(g->mem[i] == CANARY);
	for (size_t i = 0; i < GUARD; i++)
		FUZZ_CHECK((unsigned char)g->buf[g->len + i] == CANARY);
	free(g->mem);
}

/* s is a NUL-terminated copy of want[0..n) inside the buffer.  The record
 * may hold a NUL inside a string: the packer copies n bytes either way. */
static void check_copy(const struct guarded *g, const char *s, const char *want, size_t n)
{
	FUZZ_CHECK(s >= g->buf && n < g->len && (size_t)(s - g->buf) <= g->len - n - 1);
	FUZZ_CHECK(memcmp(s, want, n) == 0 && s[n] == 0);
}

static void pack_user(const struct scim_user *u, size_t mis, size_t len)
{
	struct guarded g;
	struct passwd pw;
	size_t need = scim_need_passwd(u);
	int r;

	guarded_new(&g, mis, len);
	r = scim_pack_passwd(u, &pw, g.buf, len);
	FUZZ_CHECK(r == (len < need ? -ERANGE : 0));
	if (r == 0) {
		check_copy(&g, pw.pw_name, u->name, u->name_len);
		check_copy(&g, pw.pw_passwd, SCIM_NO_PASSWORD, strlen(SCIM_NO_PASSWORD));
		check_copy(&g, pw.pw_gecos, u->gecos, u->gecos_len);
		check_copy(&g, pw.pw_dir, u->home, u->home_len);
		check_copy(&g, pw.pw_shell, u->shell, u->shell_len);
		FUZZ_CHECK(pw.pw_uid == u->uid && pw.pw_gid == u->gid);
	}
	guarded_check_free(&g);
}

/* What the packer must make of g: 0 when nmembers members can be read. */
static int members_ok(const struct scim_group *g)
{
	size_t pos = 0, n;
	const char *name;
	for (uint32_t i = 0; i < g->nmembers; i++)
		if (scim_rec_next_member(g, &pos, &name, &n) < 0)
			return -EBADMSG;
	return 0;
}

static void pack_group(const struct scim_group *g, size_t mis, size_t len)
{
	struct guarded b;
	struct group gr;
	size_t need, pos = 0, n;
	const char *name;
	int r;

	guarded_new(&b, mis, len);
	need = scim_need_group(g, b.buf);
	r = scim_pack_group(g, &gr, b.buf, len);
	FUZZ_CHECK(r == (len < need ? -ERANGE : members_ok(g)));
	if (r == 0) {
		check_copy(&b, gr.gr_name, g->name, strlen(g->name));
		check_copy(&b, gr.gr_passwd, SCIM_NO_PASSWORD, strlen(SCIM_NO_PASSWORD));
		FUZZ_CHECK(gr.gr_gid == g->gid && gr.gr_mem != NULL);
		FUZZ_CHECK((uintptr_t)gr.gr_mem % _Alignof(char *) == 0);
		FUZZ_CHECK((char *)gr.gr_mem >= b.buf && (char *)(gr.gr_mem + g->nmembers + 1) <= b.buf + len);
		for (uint32_t i = 0; i < g->nmembers; i++) {
			FUZZ_CHECK(scim_rec_next_member(g, &pos, &name, &n) == 0);
			check_copy(&b, gr.gr_mem[i], name, n);
		}
		FUZZ_CHECK(gr.gr_mem[g->nmembers] == NULL);
	}
	guarded_check_free(&b);
}

/* The sizes every packer is tried with: one short, exact, and a fuzzed one
 * near the edge (below it, or up to 16 bytes of slack). */
static void pack_sizes(size_t need, size_t fuzzed, size_t sizes[3])
{
	sizes[0] = need ? need - 1 : 0;
	sizes[1] = need;
	sizes[2] = fuzzed % (need + 17);
}

/* The encoder writes flags it knows and a zero reserved byte: only records
 * like that can come back byte for byte. */
static bool canonical_prefix(const uint8_t *rec, size_t len, uint8_t known_flags)
{
	return len >= 4 && (rec[2] & ~known_flags) == 0 && rec[3] == 0;
}

static bool no_inner_nul(const char *s, size_t n)
{
	return strlen(s) == n;
}

/* Encodes with enc into an exact buffer (must give want back) and into one
 * a byte short (-ENOBUFS and the size needed, nothing past it written). */
typedef int (*encode_fn)(const void *obj, unsigned char *buf, size_t *len);

static void check_reencode(encode_fn enc, const void *obj, const uint8_t *want, size_t want_len)
{
	size_t len = 0;
	unsigned char *buf;

	FUZZ_CHECK(enc(obj, NULL, &len) == (want_len ? -ENOBUFS : 0) && len == want_len);
	buf = malloc(want_len + GUARD);
	FUZZ_CHECK(buf != NULL);
	memset(buf, CANARY, want_len + GUARD);
	FUZZ_CHECK(enc(obj, buf, &len) == 0 && len == want_len && memcmp(buf, want, want_len) == 0);
	for (size_t i = want_len; i < want_len + GUARD; i++)
		FUZZ_CHECK(buf[i] == CANARY);
	memset(buf, CANARY, want_len + GUARD);
	len = want_len - 1;
	FUZZ_CHECK(enc(obj, buf, &len) == -ENOBUFS && len == want_len);
	for (size_t i = want_len - 1; i < want_len + GUARD; i++)
		FUZZ_CHECK(buf[i] == CANARY);
	free(buf);
}

static int encode_user(const void *u, unsigned char *buf, size_t *len)
{
	return scim_rec_encode_user(u, ((const struct scim_user *)u)->has_ext, buf, len);
}

static void fuzz_user(const uint8_t *rec, size_t len, size_t mis, size_t fuzzed)
{
	struct scim_user u, h;
	size_t sizes[3];
	const unsigned char *name;
	size_t name_len;
	uint32_t number;
	int r = scim_rec_decode_user(rec, len, &u), rh = scim_rec_decode_user_head(rec, len, &h);

	/* The head is a prefix of the record: whatever decodes whole decodes
	 * in part, to the same fields. */
	if (r == 0) {
		FUZZ_CHECK(rh == 0);
		FUZZ_CHECK(h.uid == u.uid && h.gid == u.gid && h.suspended == u.suspended && !h.has_ext);
		FUZZ_CHECK(h.name == u.name && h.gecos == u.gecos && h.home == u.home && h.shell == u.shell);
		FUZZ_CHECK(h.name_len == u.name_len && h.gecos_len == u.gecos_len && h.home_len == u.home_len &&
		           h.shell_len == u.shell_len);
		if (u.has_ext)
			FUZZ_CHECK(u.gids_le + 4 * (size_t)u.ngids == rec + len && u.scim_id != NULL);
	}
	if (rh != 0)
		return;
	/* The shortcuts the index lookups take agree with the decoder. */
	FUZZ_CHECK(scim_rec_user_name(rec, len, &name, &name_len) == 0);
	FUZZ_CHECK((const char *)name == h.name && name_len == h.name_len);
	FUZZ_CHECK(scim_rec_number(rec, len, &number) == 0 && number == h.uid);
	for (const char *s[] = {h.name, h.gecos, h.home, h.shell}, **p = s; p < s + 4; p++)
		FUZZ_CHECK(*p >= (const char *)rec && *p < (const char *)rec + len);
	FUZZ_CHECK(h.name[h.name_len] == 0 && h.gecos[h.gecos_len] == 0 && h.home[h.home_len] == 0 &&
	           h.shell[h.shell_len] == 0);

	pack_sizes(scim_need_passwd(&h), fuzzed, sizes);
	for (int i = 0; i < 3; i++)
		pack_user(&h, mis, sizes[i]);

	if (r == 0 && canonical_prefix(rec, len, SCIM_REC_F_SUSPENDED | SCIM_REC_F_EXT) &&
	    no_inner_nul(u.name, u.name_len) && no_inner_nul(u.gecos, u.gecos_len) &&
	    no_inner_nul(u.home, u.home_len) && no_inner_nul(u.shell, u.shell_len) &&
	    (!u.has_ext || strlen(u.scim_id) == (size_t)(u.gids_le - 5 - (const unsigned char *)u.scim_id))) {
		uint32_t *gids = calloc(u.ngids + 1, sizeof(*gids));
		FUZZ_CHECK(gids != NULL);
		for (uint32_t i = 0; i < u.ngids; i++)
			gids[i] = scim_rec_gid(&u, i);
		u.gids = gids;
		check_reencode(encode_user, &u, rec, len);
		free(gids);
	}
}

static int encode_group(const void *g, unsigned char *buf, size_t *len)
{
	return scim_rec_encode_group(g, buf, len);
}

static void fuzz_group(const uint8_t *rec, size_t len, size_t mis, size_t fuzzed)
{
	struct scim_group g;
	size_t sizes[3], pos = 0, n, count = 0, last = 0;
	const char *name;
	const char **members;
	uint32_t number;
	struct guarded probe;
	int r;

	if (scim_rec_decode_group(rec, len, &g) != 0)
		return;
	FUZZ_CHECK(scim_rec_number(rec, len, &number) == 0 && number == g.gid);
	FUZZ_CHECK(g.members_raw + g.members_raw_len == rec + len && g.members_raw_len == g.member_bytes);
	/* The member walk moves forward and stays inside the record. */
	while ((r = scim_rec_next_member(&g, &pos, &name, &n)) == 0) {
		FUZZ_CHECK(pos > last && pos <= g.members_raw_len && n >= 1 && n <= 255);
		FUZZ_CHECK(name + n == (const char *)g.members_raw + pos);
		last = pos;
		count++;
	}
	FUZZ_CHECK(r == -ENOENT || r == -EBADMSG);

	/* The needed size depends on the buffer's alignment: ask at the
	 * misalignment the buffers will have. */
	guarded_new(&probe, mis, 0);
	pack_sizes(scim_need_group(&g, probe.buf), fuzzed, sizes);
	guarded_check_free(&probe);
	for (int i = 0; i < 3; i++)
		pack_group(&g, mis, sizes[i]);

	/* Canonical: nmembers members exactly, no NUL inside a string. */
	size_t name_field = (size_t)(g.scim_id - 3 - g.name);
	size_t id_field = (size_t)((const char *)g.members_raw - 1 - g.scim_id);
	if (r != -ENOENT || count != g.nmembers || !canonical_prefix(rec, len, 0) || strlen(g.name) != name_field ||
	    strlen(g.scim_id) != id_field)
		return;
	members = calloc(count + 1, sizeof(*members));
	FUZZ_CHECK(members != NULL);
	bool clean = true;
	pos = 0;
	for (size_t i = 0; i < count; i++) {
		FUZZ_CHECK(scim_rec_next_member(&g, &pos, &name, &n) == 0);
		members[i] = strndup(name, n);
		FUZZ_CHECK(members[i] != NULL);
		clean = clean && strlen(members[i]) == n;
	}
	if (clean) {
		struct scim_group e = g;
		e.members = members;
		check_reencode(encode_group, &e, rec, len);
	}
	for (size_t i = 0; i < count; i++)
		free((char *)members[i]);
	free(members);
}

static int encode_header(const void *h, unsigned char *buf, size_t *len)
{
	return scim_rec_encode_header(h, buf, len);
}

static void fuzz_header(const uint8_t *rec, size_t len)
{
	struct scim_cache_header h;
	if (scim_rec_decode_header(rec, len, &h) != 0)
		return;
	FUZZ_CHECK(h.format_version == SCIM_CACHE_FORMAT_VERSION);
	FUZZ_CHECK(h.source >= (const char *)rec && h.source < (const char *)rec + len);
	if (canonical_prefix(rec, len, 0) && strlen(h.source) + 1 + (size_t)(h.source - (const char *)rec) == len) {
		check_reencode(encode_header, &h, rec, len);
	}
}

static void fuzz_chunk(const uint8_t *chunk, size_t len)
{
	size_t pos = 0, prev = 0, rlen;
	const unsigned char *rec;
	int r;

	while ((r = scim_chunk_next(chunk, len, &pos, &rec, &rlen)) == 0) {
		FUZZ_CHECK(pos >= prev + 4 && pos <= len);
		FUZZ_CHECK(rec == chunk + prev + 4 && rec + rlen == chunk + pos);
		prev = pos;
	}
	FUZZ_CHECK(r == -ENOENT ? pos == len : r == -EBADMSG);
}

/* A removed user's record ("D"): what decodes lies inside the record, and
 * the name is as long as it says. */
static void fuzz_removed(const uint8_t *rec, size_t len)
{
	struct scim_removed d;

	if (scim_rec_decode_removed(rec, len, &d) != 0)
		return;
	FUZZ_CHECK(d.name >= (const char *)rec && d.name + d.name_len < (const char *)rec + len);
	FUZZ_CHECK(d.name[d.name_len] == 0 && d.name_len >= 1);
	FUZZ_CHECK(d.scim_id >= (const char *)rec && d.scim_id < (const char *)rec + len);
	FUZZ_CHECK(memchr(d.scim_id, 0, (size_t)((const char *)rec + len - d.scim_id)) != NULL);
}

/* A user's SSH keys ("K"): the line walk moves forward, stays inside the
 * record and yields at most the declared number of lines. */
static void fuzz_keys(const uint8_t *rec, size_t len)
{
	struct scim_ssh_keys k;
	size_t pos = 0, last = 0, n;
	const char *line;
	uint32_t count = 0;
	int r;

	if (scim_rec_decode_keys(rec, len, &k) != 0)
		return;
	FUZZ_CHECK(k.raw >= rec && k.raw + k.raw_len <= rec + len);
	FUZZ_CHECK(k.name >= (const char *)rec && k.name + k.name_len <= (const char *)rec + len);
	while ((r = scim_rec_next_key(&k, &pos, &line, &n)) == 0) {
		FUZZ_CHECK(pos > last && pos <= k.raw_len);
		FUZZ_CHECK(line >= (const char *)k.raw && line + n <= (const char *)k.raw + k.raw_len);
		last = pos;
		FUZZ_CHECK(++count <= SCIM_SSH_KEYS_MAX);
	}
	FUZZ_CHECK(r == -ENOENT || r == -EBADMSG);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = {data, size};
	size_t mis = fuzz_u32(&in, 1) & 7, fuzzed = fuzz_u32(&in, 2);
	/* A private copy of exactly the record's size: a read past its end is
	 * a sanitizer error, not a read of the next input byte. */
	uint8_t *rec = malloc(in.left ? in.left : 1);

	FUZZ_CHECK(rec != NULL);
	memcpy(rec, in.p, in.left);
	fuzz_user(rec, in.left, mis, fuzzed);
	fuzz_group(rec, in.left, mis, fuzzed);
	fuzz_header(rec, in.left);
	fuzz_chunk(rec, in.left);
	fuzz_removed(rec, in.left);
	fuzz_keys(rec, in.left);
	free(rec);
	return 0;
}
