/* test_snapshot.c - unit tests of the fleet snapshot format: the stream and
 * every refusal of its decoder, zstd blobs and deltas, the manifest and its
 * freshness rules, minisign keys and signatures. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>
#include <zstd.h>

#include "snapshot/snapshot.h"

#define UMIN 200000
#define UMAX 299999

static const struct scim_snap_limits lim = { .uid_min = UMIN, .uid_max = UMAX, .primary_gid = 100 };

/* A small directory, deliberately out of order. */
static const char *const g1_members[] = { "u-carol", "u-alice" };
static const char *const g2_members[] = { "u-bob\tx" };
static const struct scim_snap_user fx_users[] = {
	{ "u-carol", "carol", "Carol C", "/home/carol", "/bin/bash", 200003, 200003, false },
	{ "u-alice", "alice", "Alice A", "/home/alice", "/bin/bash", 200001, 100, false },
	{ "u-bob\tx", "bob", "Bob\\B", "/home/bob", "/bin/sh", 200002, 200002, true },
	{ "u-dave\n\x01\x7f\xc3\xa9", "dave", "", "/home/dave", "/bin/bash", 200004, 200004, false },
};
static const struct scim_snap_removed fx_removed[] = {
	{ "u-eve", "eve", 200005, 1700000000 },
};
static const struct scim_snap_group fx_groups[] = {
	{ "g-2", "admins", 200011, 1, g2_members },
	{ "g-1", "devs", 200010, 2, g1_members },
	{ "g-3", "empty", 200012, 0, NULL },
};
static const struct scim_snap_dir fx = {
	.source = "https://scim.example/\tv2\\",
	.nusers = 4,
	.nremoved = 1,
	.ngroups = 3,
	.users = fx_users,
	.removed = fx_removed,
	.groups = fx_groups,
};

static char *encode_fx(size_t *len)
{
	char err[SCIM_SNAP_ERR_MAX] = "", *buf = NULL;

	assert_int_equal(scim_snap_encode(&fx, &lim, &buf, len, err), 0);
	return buf;
}

/* decode a NUL-terminated text copy; returns r and the error in err. */
static int decode_text(const char *text, const struct scim_snap_limits *l, char *err)
{
	struct scim_snap_dir d;
	size_t n = strlen(text);
	char *buf = malloc(n + 1);
	int r;

	assert_non_null(buf);
	memcpy(buf, text, n);
	r = scim_snap_decode(buf, n, l, &d, err);
	if (r == 0)
		scim_snap_dir_free(&d);
	return r;
}

/* text with the first occurrence of from replaced by to (malloc'd). */
static char *replace(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	size_t n = strlen(text) - strlen(from) + strlen(to);
	char *out;

	if (!at)
		fail_msg("'%s' not in the stream", from);
	out = malloc(n + 1);
	assert_non_null(out);
	memcpy(out, text, (size_t)(at - text));
	strcpy(out + (at - text), to);
	strcat(out, at + strlen(from));
	return out;
}

static void expect_refusal(const char *text, const struct scim_snap_limits *l, const char *msg)
{
	char err[SCIM_SNAP_ERR_MAX] = "";

	assert_int_equal(decode_text(text, l, err), -EBADMSG);
	if (!strstr(err, msg))
		fail_msg("error '%s' does not say '%s'", err, msg);
}

static void expect_edit_refused(const char *from, const char *to, const char *msg)
{
	size_t len;
	char *text = encode_fx(&len), *bad;

	bad = replace(text, from, to);
	expect_refusal(bad, &lim, msg);
	free(bad);
	free(text);
}

/* ---- stream ------------------------------------------------------------ */

static void test_stream_layout(void **state)
{
	size_t len;
	char *text = encode_fx(&len);

	/* The exact bytes are the format: a change here is a format change. */
	assert_string_equal(text,
			    "scim-snapshot\t1\n"
			    "source\thttps://scim.example/\\tv2\\\\\n"
			    "counts\t4\t1\t1\t3\t3\n"
			    "U\tu-alice\talice\t200001\t100\tAlice A\t/home/alice\t/bin/bash\tactive\n"
			    "U\tu-bob\\tx\tbob\t200002\t200002\tBob\\\\B\t/home/bob\t/bin/sh\tsuspended\n"
			    "U\tu-carol\tcarol\t200003\t200003\tCarol C\t/home/carol\t/bin/bash\tactive\n"
			    "U\tu-dave\\n\\x01\\x7f\xc3\xa9\tdave\t200004\t200004\t\t/home/dave\t/bin/bash\tactive\n"
			    "R\tu-eve\teve\t200005\t1700000000\n"
			    "G\tg-1\tdevs\t200010\t200001\t200003\n"
			    "G\tg-2\tadmins\t200011\t200002\n"
			    "G\tg-3\tempty\t200012\n"
			    "end\n");
	assert_int_equal(len, strlen(text));
	free(text);
}

static void test_stream_round_trip(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	struct scim_snap_counts c = { .users = 4, .suspended = 1, .removed = 1, .groups = 3, .members = 3 };
	struct scim_snap_limits l = lim;
	struct scim_snap_dir d;
	size_t len, len2;
	char *text = encode_fx(&len), *copy = malloc(len), *again;

	l.expect = &c;
	memcpy(copy, text, len);
	assert_int_equal(scim_snap_decode(copy, len, &l, &d, err), 0);
	assert_string_equal(d.source, fx.source);
	assert_int_equal(d.nusers, 4);
	assert_int_equal(d.nsuspended, 1);
	assert_int_equal(d.nmemberships, 3);
	assert_string_equal(d.users[1].id, "u-bob\tx");
	assert_string_equal(d.users[1].gecos, "Bob\\B");
	assert_true(d.users[1].suspended);
	assert_string_equal(d.users[3].id, "u-dave\n\x01\x7f\xc3\xa9");
	assert_string_equal(d.users[3].gecos, "");
	assert_int_equal(d.users[0].gid, 100);
	assert_int_equal(d.removed[0].since, 1700000000);
	assert_string_equal(d.groups[0].name, "devs");
	assert_int_equal(d.groups[0].nmembers, 2);
	assert_null(d.groups[0].members);
	assert_string_equal(d.users[d.groups[0].member_users[0]].id, "u-alice");
	assert_string_equal(d.users[d.groups[0].member_users[1]].id, "u-carol");
	assert_string_equal(d.users[d.groups[1].member_users[0]].id, "u-bob\tx");
	assert_int_equal(d.groups[2].nmembers, 0);
	/* Decoding then encoding gives the same bytes. */
	assert_int_equal(scim_snap_encode(&d, &lim, &again, &len2, err), 0);
	assert_int_equal(len2, len);
	assert_memory_equal(again, text, len);
	scim_snap_dir_free(&d);
	free(again);
	free(text);
}

static void test_stream_stable(void **state)
{
	/* The same directory in another order gives the same bytes. */
	struct scim_snap_user u[4];
	struct scim_snap_group g[3];
	const char *m1[] = { "u-alice", "u-carol" };
	struct scim_snap_dir d = fx;
	char err[SCIM_SNAP_ERR_MAX] = "", *a, *b;
	size_t alen, blen;

	for (int i = 0; i < 4; i++)
		u[i] = fx_users[3 - i];
	for (int i = 0; i < 3; i++)
		g[i] = fx_groups[2 - i];
	g[1].members = m1;
	d.users = u;
	d.groups = g;
	a = encode_fx(&alen);
	assert_int_equal(scim_snap_encode(&d, &lim, &b, &blen, err), 0);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	/* and the caller's arrays were not reordered */
	assert_string_equal(u[0].id, fx_users[3].id);
	assert_string_equal(m1[0], "u-alice");
	free(a);
	free(b);
}

static void test_refuse_unsorted(void **state)
{
	size_t len;
	char *text = encode_fx(&len), *bad, *bad2;

	/* swap carol and alice: same bytes, wrong order */
	bad = replace(text, "U\tu-alice\talice\t200001\t100\tAlice A\t/home/alice\t/bin/bash\tactive\n", "");
	bad2 = replace(bad, "U\tu-dave",
		       "U\tu-alice\talice\t200001\t100\tAlice A\t/home/alice\t/bin/bash\tactive\nU\tu-dave");
	expect_refusal(bad2, &lim, "users are not sorted by id");
	free(bad);
	free(bad2);
	free(text);
	expect_edit_refused("200010\t200001\t200003", "200010\t200003\t200001", "members are not sorted by uid");
	expect_edit_refused("G\tg-1", "G\tg-9", "groups are not sorted by id");
	expect_edit_refused("R\tu-eve\teve\t200005\t1700000000\nG",
			    "R\tu-eve\teve\t200005\t1700000000\nU\tu-zz\tzz\t200020\t200020\t\t/h\t/s\tactive\nG",
			    "a user after removed users");
}

static void test_refuse_duplicates(void **state)
{
	expect_edit_refused("U\tu-carol\tcarol", "U\tu-carol\talice", "user name 'alice' is used twice");
	expect_edit_refused("G\tg-2\tadmins", "G\tg-2\tdevs", "group name 'devs' is used twice");
	expect_edit_refused("dave\t200004\t200004", "dave\t200001\t200004", "number 200001 is used twice");
	expect_edit_refused("devs\t200010", "devs\t200003", "number 200003 is used twice");
	expect_edit_refused("eve\t200005", "eve\t200004", "number 200004 is used twice");
	expect_edit_refused("U\tu-carol\tcarol", "U\tu-bob\\tx\tcarol", "user id is used twice");
	expect_edit_refused("200001\t200003\n", "200001\t200001\n", "listed twice");
	expect_edit_refused("R\tu-eve", "R\tu-carol", "is also a user");
}

static void test_refuse_numbers(void **state)
{
	expect_edit_refused("dave\t200004\t200004", "dave\t0\t200004", "uid 0 is outside");
	expect_edit_refused("dave\t200004\t200004", "dave\t300000\t200004", "uid 300000 is outside");
	expect_edit_refused("dave\t200004\t200004", "dave\t199999\t200004", "uid 199999 is outside");
	expect_edit_refused("dave\t200004\t200004", "dave\t200004\t0", "gid 0 is 0");
	expect_edit_refused("dave\t200004\t200004", "dave\t200004\t27", "gid 27 is 0, or outside");
	expect_edit_refused("devs\t200010", "devs\t0", "gid 0 is outside");
	expect_edit_refused("eve\t200005", "eve\t5", "uid 5 is outside");
	expect_edit_refused("dave\t200004", "dave\t0200004", "not a canonical decimal");
	expect_edit_refused("dave\t200004", "dave\t+200004", "not a canonical decimal");
	expect_edit_refused("dave\t200004", "dave\t4294967296", "not a canonical decimal");
	expect_edit_refused("dave\t200004", "dave\t", "not a canonical decimal");
	expect_edit_refused("1700000000", "-1", "not a canonical decimal");
}

static void test_refuse_fields(void **state)
{
	expect_edit_refused("\tcarol\t", "\tCarol\t", "invalid name");
	expect_edit_refused("\tcarol\t", "\tro:ot\t", "invalid name");
	expect_edit_refused("\teve\t", "\t\t", "invalid name");
	expect_edit_refused("\tadmins\t", "\t9admins\t", "invalid name");
	expect_edit_refused("Carol C", "Carol:C", "gecos has");
	expect_edit_refused("Carol C", "Carol,C", "gecos has");
	expect_edit_refused("Carol C", "Carol\\nC", "gecos has");
	expect_edit_refused("/home/carol", "home/carol", "not an absolute path");
	expect_edit_refused("/bin/sh", "/bin/sh:x", "not an absolute path");
	expect_edit_refused("U\tu-carol", "U\t", "empty id");
	expect_edit_refused("\tsuspended\n", "\tlocked\n", "neither active nor suspended");
	expect_edit_refused("\tsuspended\n", "\tsuspended\textra\n", "too many fields");
	expect_edit_refused("/bin/sh\tsuspended\n", "suspended\n", "state is missing");
	expect_edit_refused("200001\t200003\n", "200001\t200099\n", "member uid 200099 is not a user");
	expect_edit_refused("200001\t200003\n", "200003\t200005\n",
			    "member uid 200005 is not a user"); /* eve: removed */
	expect_edit_refused("200001\t200003\n", "200001\t\t200003\n", "member uid is not a canonical decimal");
	expect_edit_refused("200001\t200003\n", "200001\tu-carol\n", "member uid is not a canonical decimal");
	expect_edit_refused("R\tu-eve", "X\tu-eve", "unknown record type");
	expect_edit_refused("Carol C", "Carol\x01C", "raw control character");
}

static void test_refuse_escapes(void **state)
{
	expect_edit_refused("Carol C", "Carol\\qC", "unknown escape \\q");
	expect_edit_refused("Carol C", "Carol\\x41", "bad \\x escape"); /* 'A' has a plain form */
	expect_edit_refused("Carol C", "Carol\\x09", "bad \\x escape"); /* TAB has \t */
	expect_edit_refused("Carol C", "Carol\\x00", "bad \\x escape"); /* never NUL */
	expect_edit_refused("Carol C", "Carol\\x1F", "bad \\x escape"); /* lowercase only */
	expect_edit_refused("Carol C", "Carol\\x1", "bad \\x escape");
	expect_edit_refused("/bin/bash\tactive\nR", "/bin/bash\tactive\\\nR", "lone backslash");
	expect_edit_refused("Carol C", "Carol\\", "unknown escape"); /* a backslash before TAB */
}

static void test_refuse_header(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	struct scim_snap_counts c = { .users = 4, .suspended = 1, .removed = 1, .groups = 3, .members = 3 };
	struct scim_snap_limits l = lim;
	size_t len;
	char *text;

	expect_edit_refused("scim-snapshot\t1\n", "scim-snapshot\t2\n", "format version 2 is not supported");
	expect_edit_refused("scim-snapshot\t1\n", "scim-snapshots\t1\n", "not a snapshot stream");
	expect_edit_refused("counts\t4\t1", "counts\t5\t1", "fewer records than the header counts");
	expect_edit_refused("counts\t4\t1", "counts\t3\t1", "more users than the header counts");
	expect_edit_refused("counts\t4\t1", "counts\t4\t0", "users are suspended, the header counts 0");
	expect_edit_refused("\t3\t3\n", "\t3\t2\n", "more members than the header counts");
	expect_edit_refused("\t3\t3\n", "\t3\t99999\n", "cannot fit");
	expect_edit_refused("\t3\t3\n", "\t3\t3\t1\n", "too many fields");
	expect_edit_refused("end\n", "end\nU\n", "data after the end record");
	expect_edit_refused("source\t", "origin\t", "expected the source");

	/* Counts the manifest signed: the header, and then the records. */
	text = encode_fx(&len);
	l.expect = &c;
	c.members = 4;
	assert_int_equal(decode_text(text, &l, err), -EBADMSG);
	assert_non_null(strstr(err, "differ from the signed counts"));
	c.members = 3;
	assert_int_equal(decode_text(text, &l, err), 0);
	free(text);
}

static void test_refuse_truncated(void **state)
{
	char err[SCIM_SNAP_ERR_MAX];
	size_t len;
	char *text = encode_fx(&len);

	/* Every proper prefix is refused, whatever line it ends in. */
	for (size_t n = 0; n < len; n++) {
		char *buf = malloc(n + 1);
		struct scim_snap_dir d;
		memcpy(buf, text, n);
		err[0] = '\0';
		if (scim_snap_decode(buf, n, &lim, &d, err) != -EBADMSG)
			fail_msg("a stream cut at %zu of %zu bytes was accepted", n, len);
		assert_true(err[0] != '\0');
	}
	free(text);
}

/* Random damage: every mutated stream is either refused with a message, or
 * accepted and then canonical (encoding it again gives the same bytes). */
static void test_mutations(void **state)
{
	char err[SCIM_SNAP_ERR_MAX];
	static const char alphabet[] = "\t\n\\x0123456789abcdefUGRu-:,/ \x01\x7f\xc3";
	uint64_t rng = 0x2545f4914f6cdd1dULL;
	size_t len, accepted = 0;
	char *text = encode_fx(&len), *copy = malloc(len);

	for (int i = 0; i < 20000; i++) {
		struct scim_snap_dir d;
		char *buf = malloc(len + 1), *again;
		size_t n = len, alen;
		int edits = 1 + i % 3;
		memcpy(buf, text, len);
		while (edits--) {
			size_t at;
			rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
			at = (size_t)(rng % n);
			switch ((rng >> 32) % 3) {
			case 0: buf[at] = alphabet[(rng >> 40) % (sizeof(alphabet) - 1)]; break;
			case 1: memmove(buf + at, buf + at + 1, n - at - 1), n--; break;
			default: buf[at] ^= (char)(1u << ((rng >> 40) % 8));
			}
		}
		memcpy(copy, buf, n);
		err[0] = '\0';
		if (scim_snap_decode(buf, n, &lim, &d, err) < 0) {
			assert_true(err[0] != '\0');
			continue;
		}
		accepted++;
		assert_int_equal(scim_snap_encode(&d, &lim, &again, &alen, err), 0);
		assert_int_equal(alen, n);
		assert_memory_equal(again, copy, n);
		free(again);
		scim_snap_dir_free(&d);
	}
	print_message("%zu of 20000 damaged streams decoded (and were canonical)\n", accepted);
	free(copy);
	free(text);
}

static void test_primary_gid_window(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	struct scim_snap_limits l = lim;
	size_t len;
	char *text = encode_fx(&len);

	/* alice's gid 100 is fine only as the configured primary group */
	l.primary_gid = 0;
	assert_int_equal(decode_text(text, &l, err), -EBADMSG);
	assert_non_null(strstr(err, "user id=u-alice: gid 100"));
	l.primary_gid = 100;
	assert_int_equal(decode_text(text, &l, err), 0);
	free(text);
}

static void test_encode_refuses(void **state)
{
	struct scim_snap_user u[4];
	struct scim_snap_dir d = fx;
	char err[SCIM_SNAP_ERR_MAX] = "", *buf = NULL;
	size_t len;

	memcpy(u, fx_users, sizeof(u));
	d.users = u;
	u[2].uid = 0;
	assert_int_equal(scim_snap_encode(&d, &lim, &buf, &len, err), -EINVAL);
	assert_non_null(strstr(err, "uid 0 is outside"));
	u[2].uid = 200002;
	u[2].name = "carol";
	assert_int_equal(scim_snap_encode(&d, &lim, &buf, &len, err), -EINVAL);
	assert_non_null(strstr(err, "used twice"));
	u[2].name = "bob";
	u[2].id = "u-bob-renumbered"; /* g-2's member is no user now */
	assert_int_equal(scim_snap_encode(&d, &lim, &buf, &len, err), -EINVAL);
	assert_non_null(strstr(err, "member u-bob\tx is not a user"));
	u[2].id = "u-bob\tx";
	/* a member listed twice, and a removed user as a member */
	{
		struct scim_snap_group g[3];
		const char *twice[] = { "u-alice", "u-carol", "u-alice" }, *gone[] = { "u-eve" };
		memcpy(g, fx_groups, sizeof(g));
		d.groups = g;
		g[1].members = twice;
		g[1].nmembers = 3;
		assert_int_equal(scim_snap_encode(&d, &lim, &buf, &len, err), -EINVAL);
		assert_non_null(strstr(err, "group id=g-1: a member is listed twice"));
		g[1].members = gone;
		g[1].nmembers = 1;
		assert_int_equal(scim_snap_encode(&d, &lim, &buf, &len, err), -EINVAL);
		assert_non_null(strstr(err, "member u-eve is not a user"));
		d.groups = fx_groups;
	}
	u[2].id = NULL;
	assert_int_equal(scim_snap_encode(&d, &lim, &buf, &len, err), -EINVAL);
	assert_null(buf);
}

/* ---- zstd and deltas --------------------------------------------------- */

static void test_zstd_round_trip(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	size_t len, zlen;
	char *text = encode_fx(&len);
	void *z, *back;

	assert_int_equal(scim_snap_compress(text, len, SCIM_SNAP_ZSTD_LEVEL, &z, &zlen, err), 0);
	assert_int_equal(scim_snap_decompress(z, zlen, len, &back, err), 0);
	assert_memory_equal(back, text, len);
	free(back);
	/* a damaged frame fails its checksum */
	((unsigned char *)z)[zlen - 6] ^= 0x10;
	assert_int_equal(scim_snap_decompress(z, zlen, len, &back, err), -EBADMSG);
	free(z);
	free(text);
}

static void test_zstd_bomb(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	size_t big = 64u << 20, zlen, zlen2;
	char *zeros = calloc(1, big);
	unsigned char *z, *two;
	void *out = NULL;
	ZSTD_CCtx *cctx;
	size_t rc;

	assert_non_null(zeros);
	assert_int_equal(scim_snap_compress(zeros, big, 1, (void **)&z, &zlen, err), 0);
	assert_true(zlen < 64 * 1024);
	/* 64 MiB in a few KB, signed as 1000 bytes: refused before allocating */
	assert_int_equal(scim_snap_decompress(z, zlen, 1000, &out, err), -E2BIG);
	assert_non_null(strstr(err, "declares 67108864 bytes, the manifest signed 1000"));
	assert_null(out);
	/* smaller than signed: refused too */
	assert_int_equal(scim_snap_decompress(z, zlen, big + 1, &out, err), -EBADMSG);
	/* a signed size over the cap */
	assert_int_equal(scim_snap_decompress(z, zlen, SCIM_SNAP_RAW_MAX + 1, &out, err), -E2BIG);
	/* a second frame after the first */
	two = malloc(2 * zlen);
	memcpy(two, z, zlen);
	memcpy(two + zlen, z, zlen);
	assert_int_equal(scim_snap_decompress(two, 2 * zlen, big, &out, err), -EBADMSG);
	assert_non_null(strstr(err, "not exactly one zstd frame"));
	free(two);
	free(z);
	/* a frame that does not declare its size (streamed) */
	cctx = ZSTD_createCCtx();
	z = malloc(ZSTD_compressBound(big));
	{
		ZSTD_inBuffer in = { zeros, big, 0 };
		ZSTD_outBuffer o = { z, ZSTD_compressBound(big), 0 };
		ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0);
		rc = ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_end);
		assert_int_equal(rc, 0);
		zlen2 = o.pos;
	}
	assert_int_equal(scim_snap_decompress(z, zlen2, big, &out, err), -EBADMSG);
	assert_non_null(strstr(err, "does not declare its size"));
	assert_int_equal(scim_snap_decompress("garbage!", 8, 8, &out, err), -EBADMSG);
	ZSTD_freeCCtx(cctx);
	free(z);
	free(zeros);
}

/* A synthetic directory of n users, for delta sizes. */
struct synth {
	struct scim_snap_user *u;
	struct scim_snap_group *g;
	const char **members;
	char *strings;
	struct scim_snap_dir d;
};

static void synth_make(struct synth *s, size_t n, size_t ngroups, unsigned churn_seed)
{
	size_t per = 4, k = 0;
	char *p;

	s->u = calloc(n, sizeof(*s->u));
	s->g = calloc(ngroups, sizeof(*s->g));
	s->members = calloc(n * per, sizeof(*s->members));
	s->strings = p = malloc(n * 128 + ngroups * 64);
	for (size_t i = 0; i < n; i++) {
		struct scim_snap_user *u = &s->u[i];
		u->id = p;
		p += sprintf(p, "%08zx-%04zx-4bcd-9e0f-%012zx", i * 2654435761u % 4294967291u, i, i * 7919) + 1;
		u->name = p;
		p += sprintf(p, "user%zu", i) + 1;
		u->gecos = p;
		p += sprintf(p, "User Number %zu%s", i, churn_seed && i % 100 == churn_seed ? " (edited)" : "") + 1;
		u->home = p;
		p += sprintf(p, "/home/user%zu", i) + 1;
		u->shell = "/bin/bash";
		u->uid = u->gid = (uint32_t)(UMIN + i);
		u->suspended = churn_seed && i % 100 == churn_seed + 1;
	}
	for (size_t j = 0; j < ngroups; j++) {
		struct scim_snap_group *g = &s->g[j];
		g->id = p;
		p += sprintf(p, "grp-%06zx", j * 40503) + 1;
		g->name = p;
		p += sprintf(p, "group%zu", j) + 1;
		g->gid = (uint32_t)(UMIN + n + j);
		g->members = s->members + k;
		for (size_t i = j; i < n; i += ngroups / per)
			s->members[k++] = s->u[i].id, g->nmembers++;
	}
	s->d = (struct scim_snap_dir){
		.source = "synthetic", .nusers = n, .ngroups = ngroups, .users = s->u, .groups = s->g
	};
}

static void synth_free(struct synth *s)
{
	free(s->u);
	free(s->g);
	free(s->members);
	free(s->strings);
}

static void test_delta(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	struct synth a, b;
	char *ta, *tb;
	size_t la, lb, zlen, dlen;
	void *z, *delta, *back;

	synth_make(&a, 20000, 400, 0);
	synth_make(&b, 20000, 400, 7); /* 1% gecos edits, 1% suspensions */
	assert_int_equal(scim_snap_encode(&a.d, &lim, &ta, &la, err), 0);
	assert_int_equal(scim_snap_encode(&b.d, &lim, &tb, &lb, err), 0);
	assert_int_equal(scim_snap_compress(tb, lb, SCIM_SNAP_ZSTD_LEVEL, &z, &zlen, err), 0);
	assert_int_equal(scim_snap_delta_make(ta, la, tb, lb, SCIM_SNAP_ZSTD_LEVEL, &delta, &dlen, err), 0);
	print_message("stream %zu bytes, compressed %zu, delta at 2%% churn %zu\n", lb, zlen, dlen);
	assert_true(dlen * 10 < zlen);
	assert_int_equal(scim_snap_delta_apply(ta, la, delta, dlen, lb, &back, err), 0);
	assert_memory_equal(back, tb, lb);
	free(back);
	/* the wrong base: the checksum (or the format) catches it */
	assert_int_not_equal(scim_snap_delta_apply(tb, lb, delta, dlen, lb, &back, err), 0);
	/* the wrong signed size */
	assert_int_equal(scim_snap_delta_apply(ta, la, delta, dlen, lb - 1, &back, err), -E2BIG);
	/* no delta */
	assert_int_equal(scim_snap_delta_make(ta, la, ta, la, SCIM_SNAP_ZSTD_LEVEL, &back, &dlen, err), 0);
	print_message("delta of an unchanged stream: %zu bytes\n", dlen);
	assert_true(dlen < la / 1000);
	free(back);
	free(delta);
	free(z);
	free(ta);
	free(tb);
	synth_free(&a);
	synth_free(&b);
}

static void test_sha256(void **state)
{
	char hex[SCIM_SNAP_SHA256_HEX];

	scim_snap_sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

/* ---- manifest ---------------------------------------------------------- */

static const char good_comment[] =
    "scim-fleet=1 fleet=prod serial=1764539000123 issued=1764539000 expires=1764625400 synced=1764538990 "
    "generation=42 users=4 suspended=1 removed=1 groups=3 members=3 size=512 "
    "sha256=ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad zsize=300 "
    "deltas=0000000000000000000000000000000000000000000000000000000000000001:120,"
    "0000000000000000000000000000000000000000000000000000000000000002:130";

static void test_manifest_round_trip(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "", out[SCIM_SNAP_COMMENT_MAX + 1];
	struct scim_snap_manifest m;

	assert_int_equal(scim_snap_manifest_parse(good_comment, &m, err), 0);
	assert_string_equal(m.fleet, "prod");
	assert_int_equal(m.serial, 1764539000123ULL);
	assert_int_equal(m.counts.members, 3);
	assert_int_equal(m.ndeltas, 2);
	assert_int_equal(m.deltas[1].zsize, 130);
	assert_int_equal(scim_snap_manifest_format(&m, out, sizeof(out), err), 0);
	assert_string_equal(out, good_comment);
	m.ndeltas = 0;
	assert_int_equal(scim_snap_manifest_format(&m, out, sizeof(out), err), 0);
	assert_non_null(strstr(out, " deltas=-"));
	assert_int_equal(scim_snap_manifest_parse(out, &m, err), 0);
	assert_int_equal(m.ndeltas, 0);
	/* too small a buffer */
	assert_int_equal(scim_snap_manifest_format(&m, out, 100, err), -E2BIG);
}

static void expect_manifest_refused(const char *from, const char *to, const char *msg)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	struct scim_snap_manifest m;
	char *bad = replace(good_comment, from, to);
	int r = scim_snap_manifest_parse(bad, &m, err);

	if (r >= 0)
		fail_msg("manifest accepted after '%s' -> '%s'", from, to);
	if (!strstr(err, msg))
		fail_msg("error '%s' does not say '%s'", err, msg);
	free(bad);
}

static void test_manifest_refusals(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "", many[8192];
	struct scim_snap_manifest m;
	size_t n;

	expect_manifest_refused("scim-fleet=1", "scim-fleet=2", "version '2' is not supported");
	expect_manifest_refused("scim-fleet=1 ", "", "not a fleet manifest");
	expect_manifest_refused(" synced=1764538990", "",
				"field 'generation' is repeated or out of place (expected 'synced')");
	expect_manifest_refused(" zsize=300", " zsize=300 zsize=300", "repeated or out of place");
	expect_manifest_refused(" generation=42", " colour=blue generation=42", "unknown field 'colour'");
	expect_manifest_refused(" deltas=", " extra=1 deltas=", "unknown field 'extra'");
	expect_manifest_refused("generation=42", "generation=042", "not a canonical decimal");
	expect_manifest_refused("generation=42", "generation=-1", "not a canonical decimal");
	expect_manifest_refused("generation=42", "generation=", "not a canonical decimal");
	expect_manifest_refused("generation=42", "generation=18446744073709551616", "not a canonical decimal");
	expect_manifest_refused("expires=1764625400", "expires=9223372036854775808", "not a canonical decimal");
	expect_manifest_refused("issued=1764539000", "issued=1764539001", "issued is not the serial");
	expect_manifest_refused("expires=1764625400", "expires=1764539000", "expires must follow issued");
	expect_manifest_refused("synced=1764538990", "synced=1764539999", "synced precede");
	expect_manifest_refused("fleet=prod", "fleet=pr/od", "fleet name");
	expect_manifest_refused("fleet=prod", "fleet=", "fleet name");
	expect_manifest_refused("sha256=ba78", "sha256=BA78", "sha256 is not");
	expect_manifest_refused("f20015ad zsize", "f20015 zsize", "sha256 is not");
	expect_manifest_refused("suspended=1", "suspended=5", "more suspended users");
	expect_manifest_refused("zsize=300", "zsize=0", "sizes out of range");
	expect_manifest_refused(":130", ":", "not FROMSHA256:SIZE");
	expect_manifest_refused(":130", ":130,", "trailing comma");
	expect_manifest_refused("0001:120", "0001:120x", "not FROMSHA256:SIZE");
	expect_manifest_refused("0001:120,", "0001:120,,", "not FROMSHA256:SIZE");
	expect_manifest_refused("0002:130", "0001:130", "listed twice");
	expect_manifest_refused(":130", ":130 ", "ends with a space");
	expect_manifest_refused("members=3 ", "members=3  ", "is not key=value");

	/* more deltas than allowed */
	n = (size_t)snprintf(many, sizeof(many), "%.*s", (int)(strstr(good_comment, "deltas=") - good_comment),
			     good_comment);
	n += (size_t)snprintf(many + n, sizeof(many) - n, "deltas=");
	for (int i = 0; i <= SCIM_SNAP_DELTAS_MAX; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%s%064x:1", i ? "," : "", i + 1);
	assert_int_equal(scim_snap_manifest_parse(many, &m, err), -E2BIG);
}

static void test_manifest_check(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	struct scim_snap_manifest m;
	struct scim_snap_accepted last = { 0 };
	uint64_t now = 1764539000123ULL + 1000;
	bool same;

	assert_int_equal(scim_snap_manifest_parse(good_comment, &m, err), 0);
	/* a fresh host takes any valid, unexpired manifest */
	assert_int_equal(scim_snap_manifest_check(&m, good_comment, &last, now, &same, err), 0);
	assert_false(same);
	/* the same manifest again */
	last.serial = m.serial;
	scim_snap_sha256_hex(good_comment, strlen(good_comment), last.comment_sha256);
	assert_int_equal(scim_snap_manifest_check(&m, good_comment, &last, now, &same, err), 0);
	assert_true(same);
	/* same serial, other content */
	assert_int_equal(scim_snap_manifest_check(&m, "other", &last, now, &same, err), -EBADMSG);
	assert_non_null(strstr(err, "accepted before with other content"));
	/* rollback */
	last.serial = m.serial + 1;
	assert_int_equal(scim_snap_manifest_check(&m, good_comment, &last, now, &same, err), -EBADMSG);
	assert_non_null(strstr(err, "rollback"));
	last.serial = 0;
	/* expired (freeze) */
	assert_int_equal(scim_snap_manifest_check(&m, good_comment, &last, (uint64_t)m.expires * 1000, &same, err),
			 -EBADMSG);
	assert_non_null(strstr(err, "expired"));
	assert_int_equal(scim_snap_manifest_check(&m, good_comment, &last, (uint64_t)m.expires * 1000 - 1, &same, err),
			 0);
	/* issued in the future (fast-forward): 300 s is the limit */
	assert_int_equal(scim_snap_manifest_check(&m, good_comment, &last, m.serial - 300000, &same, err), 0);
	assert_int_equal(scim_snap_manifest_check(&m, good_comment, &last, m.serial - 300001, &same, err), -EBADMSG);
	assert_non_null(strstr(err, "in the future"));
}

/* ---- minisign ---------------------------------------------------------- */

static char tmpdir[] = "/tmp/test_snapshot.XXXXXX";

static int setup_dir(void **state)
{
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_dir(void **state)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void keys(const char *name, struct scim_snap_seckey *sk, struct scim_snap_pubkey *pk)
{
	char err[SCIM_SNAP_ERR_MAX] = "", prefix[512], path[600];

	snprintf(prefix, sizeof(prefix), "%s/%s", tmpdir, name);
	assert_int_equal(scim_snap_keygen(prefix, err), 0);
	snprintf(path, sizeof(path), "%s.key", prefix);
	assert_int_equal(scim_snap_seckey_load(path, sk, err), 0);
	snprintf(path, sizeof(path), "%s.pub", prefix);
	assert_int_equal(scim_snap_pubkey_load(path, pk, err), 0);
}

static int verify(const char *text, size_t len, const struct scim_snap_pubkey *pks, size_t npk, const void *data,
		  size_t dlen, char *err)
{
	struct scim_snap_sig sig;
	int r;

	if ((r = scim_snap_sig_parse(text, len, &sig, err)) < 0 ||
	    (r = scim_snap_sig_verify_comment(&sig, pks, npk, err)) < 0)
		return r;
	return scim_snap_sig_verify_data(&sig, data, dlen, err);
}

static void test_sign_verify(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "", path[600];
	struct scim_snap_seckey sk, sk2;
	struct scim_snap_pubkey pk, pk2, both[2];
	struct scim_snap_sig sig;
	const char data[] = "the snapshot stream";
	char *text;
	size_t len;
	struct stat st;

	keys("relay", &sk, &pk);
	keys("other", &sk2, &pk2);
	snprintf(path, sizeof(path), "%s/relay.key", tmpdir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* never overwrites */
	snprintf(path, sizeof(path), "%s/relay", tmpdir);
	assert_int_equal(scim_snap_keygen(path, err), -EEXIST);

	assert_int_equal(scim_snap_sign(&sk, data, sizeof(data), good_comment, &text, err), 0);
	len = strlen(text);
	assert_int_equal(verify(text, len, &pk, 1, data, sizeof(data), err), 0);
	assert_int_equal(scim_snap_sig_parse(text, len, &sig, err), 0);
	assert_string_equal(sig.comment, good_comment);

	/* the wrong key, then the second of two pinned keys */
	assert_int_equal(verify(text, len, &pk2, 1, data, sizeof(data), err), -EPERM);
	assert_non_null(strstr(err, "not pinned"));
	both[0] = pk2;
	both[1] = pk;
	assert_int_equal(verify(text, len, both, 2, data, sizeof(data), err), 0);
	{
		struct scim_snap_pubkey three[3] = { pk2, pk2, pk };
		assert_int_equal(verify(text, len, three, 3, data, sizeof(data), err), -EINVAL);
	}
	/* a key that claims the right id */
	memcpy(pk2.keyid, pk.keyid, sizeof(pk.keyid));
	assert_int_equal(verify(text, len, &pk2, 1, data, sizeof(data), err), -EPERM);
	assert_non_null(strstr(err, "trusted comment's signature does not verify"));
	/* other data */
	assert_int_equal(verify(text, len, &pk, 1, "the snapshot streaM", sizeof(data), err), -EPERM);
	assert_non_null(strstr(err, "snapshot's signature does not verify"));
	/* the data signature is not checked before the comment's */
	assert_int_equal(scim_snap_sig_parse(text, len, &sig, err), 0);
	assert_int_equal(scim_snap_sig_verify_data(&sig, data, sizeof(data), err), -EPERM);
	/* comments we will not sign */
	assert_int_equal(scim_snap_sign(&sk, data, 1, "two\nlines", &text, err), -EINVAL);
	assert_int_equal(scim_snap_sign(&sk, data, 1, "", &text, err), -EINVAL);
	free(text);
	scim_snap_seckey_wipe(&sk);
	scim_snap_seckey_wipe(&sk2);
}

static void test_bit_flips(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	struct scim_snap_seckey sk;
	struct scim_snap_pubkey pk;
	const char data[] = "data";
	char *text, *line2;
	size_t len, accepted = 0;

	keys("flips", &sk, &pk);
	assert_int_equal(scim_snap_sign(&sk, data, sizeof(data), good_comment, &text, err), 0);
	len = strlen(text);
	line2 = strchr(text, '\n') + 1;
	/* Every bit of the signature, the trusted comment and the global
	 * signature matters. */
	for (size_t i = (size_t)(line2 - text); i < len; i++)
		for (int bit = 0; bit < 8; bit++) {
			text[i] ^= (char)(1 << bit);
			if (verify(text, len, &pk, 1, data, sizeof(data), err) == 0)
				fail_msg("accepted with bit %d of byte %zu flipped", bit, i);
			text[i] ^= (char)(1 << bit);
		}
	/* The untrusted comment is not signed (minisign's format): flipping a
	 * letter of its free text changes nothing. */
	for (size_t i = strlen("untrusted comment: "); i < (size_t)(line2 - text) - 1; i++) {
		text[i] ^= 0x20;
		accepted += verify(text, len, &pk, 1, data, sizeof(data), err) == 0;
		text[i] ^= 0x20;
	}
	assert_true(accepted > 0);
	assert_int_equal(verify(text, len, &pk, 1, data, sizeof(data), err), 0);
	/* a truncated file */
	assert_int_equal(verify(text, len - 1, &pk, 1, data, sizeof(data), err), -EBADMSG);
	free(text);
	scim_snap_seckey_wipe(&sk);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
}

static void test_key_files(void **state)
{
	char err[SCIM_SNAP_ERR_MAX] = "", path[600], b64[400];
	struct scim_snap_seckey sk;
	struct scim_snap_pubkey pk;
	unsigned char raw[158];
	size_t rawlen;
	char text[600], *nl;
	FILE *f;

	keys("files", &sk, &pk);
	snprintf(path, sizeof(path), "%s/files.key", tmpdir);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(text, sizeof(text), f));
	assert_non_null(fgets(text, sizeof(text), f));
	fclose(f);
	nl = strchr(text, '\n');
	*nl = '\0';
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), text, strlen(text), NULL, &rawlen, NULL,
					   sodium_base64_VARIANT_ORIGINAL),
			 0);
	assert_int_equal(rawlen, 158);

	/* readable by others */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(scim_snap_seckey_load(path, &sk, err), -EPERM);
	assert_int_equal(chmod(path, 0600), 0);

	/* an encrypted key */
	snprintf(path, sizeof(path), "%s/enc.key", tmpdir);
	memcpy(raw + 2, "Sc", 2);
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), "untrusted comment: x\n%s\n", b64);
	write_file(path, text, 0600);
	assert_int_equal(scim_snap_seckey_load(path, &sk, err), -EBADMSG);
	assert_non_null(strstr(err, "encrypted with a password"));
	/* a damaged secret key: the checksum */
	memcpy(raw + 2, "\0\0", 2);
	raw[100] ^= 1; /* in the public half of the secret key */
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), "untrusted comment: x\n%s\n", b64);
	write_file(path, text, 0600);
	assert_int_equal(scim_snap_seckey_load(path, &sk, err), -EBADMSG);
	assert_non_null(strstr(err, "checksum"));
	/* damaged, and no checksum (as minisign -W writes it) */
	memset(raw + 158 - 32, 0, 32);
	sodium_bin2base64(b64, sizeof(b64), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	snprintf(text, sizeof(text), "untrusted comment: x\n%s\n", b64);
	write_file(path, text, 0600);
	assert_int_equal(scim_snap_seckey_load(path, &sk, err), -EBADMSG);
	assert_non_null(strstr(err, "inconsistent"));

	/* public keys */
	assert_int_equal(
	    scim_snap_pubkey_parse("  RWRlmAjaKbJ3zDuh5vzJKE1FJeLgduGM1WoHE87mDDUDBTPyHRNipzv0 \n", &pk, err), 0);
	assert_int_equal(pk.keyid[0], 0x65);
	assert_int_equal(scim_snap_pubkey_parse("RWRlmAjaKbJ3zDuh5vzJKE1FJeLgduGM1WoHE87mDDUDBTPyHRNipzv", &pk, err),
			 -EBADMSG);
	assert_int_equal(scim_snap_pubkey_parse("RWRlmAjaKbJ3zDuh5vzJKE1FJeLgduGM1WoHE87mDDUDBTPyHRNipzv0A", &pk, err),
			 -EBADMSG);
	snprintf(path, sizeof(path), "%s/bad.pub", tmpdir);
	write_file(path, "RWRlmAjaKbJ3zDuh5vzJKE1FJeLgduGM1WoHE87mDDUDBTPyHRNipzv0\n", 0644);
	assert_int_equal(scim_snap_pubkey_load(path, &pk, err), -EBADMSG);
	assert_non_null(strstr(err, "no untrusted comment line"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_layout),
		cmocka_unit_test(test_stream_round_trip),
		cmocka_unit_test(test_stream_stable),
		cmocka_unit_test(test_refuse_unsorted),
		cmocka_unit_test(test_refuse_duplicates),
		cmocka_unit_test(test_refuse_numbers),
		cmocka_unit_test(test_refuse_fields),
		cmocka_unit_test(test_refuse_escapes),
		cmocka_unit_test(test_refuse_header),
		cmocka_unit_test(test_refuse_truncated),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_primary_gid_window),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_zstd_round_trip),
		cmocka_unit_test(test_zstd_bomb),
		cmocka_unit_test(test_delta),
		cmocka_unit_test(test_sha256),
		cmocka_unit_test(test_manifest_round_trip),
		cmocka_unit_test(test_manifest_refusals),
		cmocka_unit_test(test_manifest_check),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_bit_flips),
		cmocka_unit_test(test_key_files),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
