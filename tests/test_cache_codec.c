/* test_cache_codec.c - the record codec: round trips, and every truncation or
 * corruption is -EBADMSG without reading past the record (run under
 * --enable-sanitizers to have ASan check the "without reading past"). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cache/cache.h"
#include "cache/record.h"

static const uint32_t gids[] = { 5000, 5001, 4294967294u };
static const struct scim_user alice = {
	.name = "alice", .uid = 1879048200, .gid = 1879048200, .gecos = "Alice Liddell",
	.home = "/home/alice", .shell = "/bin/bash", .suspended = true, .has_ext = true,
	.scim_id = "7fce0092-d52e-4f76-b727-3955bd72c939", .ngids = 3, .gids = gids,
};
static const char *const members[] = { "alice", "bob", "c" };
static const struct scim_group devs = {
	.name = "devs", .gid = 1879048300, .scim_id = "g-1", .nmembers = 3, .members = members,
};

/* Encodes into an exactly sized heap buffer (so ASan sees any over-read). */
static unsigned char *encode_user(const struct scim_user *u, bool full, size_t *len)
{
	*len = 0;
	assert_int_equal(scim_rec_encode_user(u, full, NULL, len), -ENOBUFS);
	unsigned char *buf = malloc(*len);
	size_t got = *len;
	assert_int_equal(scim_rec_encode_user(u, full, buf, &got), 0);
	assert_int_equal(got, *len);
	return buf;
}

static void user_round_trip(void **state)
{
	size_t len;
	unsigned char *rec = encode_user(&alice, true, &len);
	struct scim_user u;
	assert_int_equal(scim_rec_decode_user(rec, len, &u), 0);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.uid, 1879048200);
	assert_int_equal(u.gid, 1879048200);
	assert_string_equal(u.gecos, "Alice Liddell");
	assert_string_equal(u.home, "/home/alice");
	assert_string_equal(u.shell, "/bin/bash");
	assert_true(u.suspended);
	assert_true(u.has_ext);
	assert_string_equal(u.scim_id, alice.scim_id);
	assert_int_equal(u.ngids, 3);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(scim_rec_gid(&u, i), gids[i]);
	free(rec);

	rec = encode_user(&alice, false, &len);
	assert_int_equal(scim_rec_decode_user(rec, len, &u), 0);
	assert_false(u.has_ext);
	assert_null(u.scim_id);
	assert_int_equal(u.ngids, 0);
	assert_string_equal(u.shell, "/bin/bash");
	assert_int_equal(u.name_len, 5);
	assert_int_equal(u.shell_len, 9);
	free(rec);
}

/* The head decoder gives the passwd fields and their lengths, reads no
 * further, and still refuses a record cut inside them. */
static void user_head(void **state)
{
	size_t len, head_end;
	unsigned char *rec = encode_user(&alice, true, &len);
	struct scim_user u;
	assert_int_equal(scim_rec_decode_user_head(rec, len, &u), 0);
	assert_string_equal(u.name, "alice");
	assert_int_equal(u.name_len, 5);
	assert_string_equal(u.gecos, "Alice Liddell");
	assert_int_equal(u.gecos_len, 13);
	assert_int_equal(u.home_len, strlen("/home/alice"));
	assert_string_equal(u.shell, "/bin/bash");
	assert_int_equal(u.shell_len, 9);
	assert_int_equal(u.uid, 1879048200);
	assert_true(u.suspended);
	assert_false(u.has_ext);
	assert_null(u.scim_id);
	assert_int_equal(u.ngids, 0);
	head_end = (size_t)((const unsigned char *)u.shell + u.shell_len + 1 - rec);
	/* A tail the head decoder does not read: damaging it changes nothing. */
	memset(rec + head_end, 0xff, len - head_end);
	assert_int_equal(scim_rec_decode_user_head(rec, len, &u), 0);
	assert_int_equal(scim_rec_decode_user(rec, len, &u), -EBADMSG);
	for (size_t cut = 0; cut < head_end; cut++)
		assert_int_equal(scim_rec_decode_user_head(rec, cut, &u), -EBADMSG);
	assert_int_equal(scim_rec_decode_user_head(rec, head_end, &u), 0);
	free(rec);
	(void)state;
}

static void user_short_buffer(void **state)
{
	size_t need = 0, len;
	(void)scim_rec_encode_user(&alice, true, NULL, &need);
	unsigned char *buf = malloc(need);
	for (size_t cap = 0; cap < need; cap++) {
		memset(buf, 0xAA, need);
		len = cap;
		assert_int_equal(scim_rec_encode_user(&alice, true, buf, &len), -ENOBUFS);
		assert_int_equal(len, need);
		for (size_t i = cap; i < need; i++)
			assert_int_equal(buf[i], 0xAA); /* nothing written past cap */
	}
	free(buf);
}

/* Every prefix of a valid record is a truncated record. */
static void user_truncated(void **state)
{
	size_t len;
	unsigned char *rec = encode_user(&alice, true, &len);
	for (size_t cut = 0; cut < len; cut++) {
		unsigned char *t = malloc(cut ? cut : 1);
		memcpy(t, rec, cut);
		struct scim_user u;
		assert_int_equal(scim_rec_decode_user(t, cut, &u), -EBADMSG);
		free(t);
	}
	free(rec);
}

/* Flipping any byte must give either a clean decode or -EBADMSG: no crash,
 * no read outside the record. */
static void user_corrupt(void **state)
{
	size_t len;
	unsigned char *rec = encode_user(&alice, true, &len);
	for (size_t i = 0; i < len; i++) {
		for (int v = 0; v < 256; v += 51) {
			unsigned char *t = malloc(len);
			memcpy(t, rec, len);
			t[i] = (unsigned char)v;
			struct scim_user u;
			int r = scim_rec_decode_user(t, len, &u);
			assert_true(r == 0 || r == -EBADMSG);
			if (r == 0) {
				/* whatever decoded lies inside the record */
				assert_true((const unsigned char *)u.name >= t && (const unsigned char *)u.name < t + len);
				assert_true((const unsigned char *)u.shell >= t && (const unsigned char *)u.shell < t + len);
			}
			free(t);
		}
	}
	/* trailing garbage is corruption too */
	unsigned char *longer = malloc(len + 1);
	memcpy(longer, rec, len);
	longer[len] = 0;
	struct scim_user u;
	assert_int_equal(scim_rec_decode_user(longer, len + 1, &u), -EBADMSG);
	free(longer);
	free(rec);
}

static void group_round_trip_and_truncation(void **state)
{
	size_t len = 0;
	assert_int_equal(scim_rec_encode_group(&devs, NULL, &len), -ENOBUFS);
	unsigned char *rec = malloc(len);
	assert_int_equal(scim_rec_encode_group(&devs, rec, &len), 0);

	struct scim_group g;
	assert_int_equal(scim_rec_decode_group(rec, len, &g), 0);
	assert_string_equal(g.name, "devs");
	assert_int_equal(g.gid, 1879048300);
	assert_string_equal(g.scim_id, "g-1");
	assert_int_equal(g.nmembers, 3);
	assert_int_equal(g.member_bytes, strlen("alice") + strlen("bob") + strlen("c") + 3);
	size_t pos = 0, nlen;
	const char *name;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(scim_rec_next_member(&g, &pos, &name, &nlen), 0);
		assert_memory_equal(name, members[i], nlen);
		assert_int_equal(nlen, strlen(members[i]));
	}
	assert_int_equal(scim_rec_next_member(&g, &pos, &name, &nlen), -ENOENT);

	for (size_t cut = 0; cut < len; cut++) {
		unsigned char *t = malloc(cut ? cut : 1);
		memcpy(t, rec, cut);
		assert_int_equal(scim_rec_decode_group(t, cut, &g), -EBADMSG);
		free(t);
	}
	/* a member count that does not match the bytes is refused up front */
	unsigned char *t = malloc(len);
	memcpy(t, rec, len);
	t[8] = 200; /* nmembers low byte */
	assert_int_equal(scim_rec_decode_group(t, len, &g), -EBADMSG);
	free(t);
	free(rec);
}

static void header_round_trip(void **state)
{
	struct scim_cache_header h = { .generation = 42, .last_sync = 1700000000, .nusers = 3, .ngroups = 2,
				       .nsuspended = 1, .user_chunks = 1, .group_chunks = 1,
				       .source = "https://api.github.com/scim/v2/enterprises/acme" };
	size_t len = 0;
	assert_int_equal(scim_rec_encode_header(&h, NULL, &len), -ENOBUFS);
	unsigned char *rec = malloc(len);
	assert_int_equal(scim_rec_encode_header(&h, rec, &len), 0);
	struct scim_cache_header d;
	assert_int_equal(scim_rec_decode_header(rec, len, &d), 0);
	assert_int_equal(d.format_version, SCIM_CACHE_FORMAT_VERSION);
	assert_int_equal(d.generation, 42);
	assert_int_equal(d.last_sync, 1700000000);
	assert_int_equal(d.nusers, 3);
	assert_int_equal(d.nsuspended, 1);
	assert_string_equal(d.source, h.source);
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(scim_rec_decode_header(rec, cut, &d), -EBADMSG);
	/* a future format version is not ours to read */
	rec[4] = SCIM_CACHE_FORMAT_VERSION + 1;
	assert_int_equal(scim_rec_decode_header(rec, len, &d), -EBADMSG);
	/* and neither is a record of another kind */
	rec[4] = SCIM_CACHE_FORMAT_VERSION;
	rec[0] = SCIM_REC_USER;
	assert_int_equal(scim_rec_decode_header(rec, len, &d), -EBADMSG);
	free(rec);
}

static void chunk_walk(void **state)
{
	unsigned char chunk[] = { 2, 0, 0, 0, 'a', 'b', 1, 0, 0, 0, 'c', 9, 0, 0, 0, 'x' };
	size_t pos = 0, len;
	const unsigned char *item;
	assert_int_equal(scim_chunk_next(chunk, sizeof(chunk), &pos, &item, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(item, "ab", 2);
	assert_int_equal(scim_chunk_next(chunk, sizeof(chunk), &pos, &item, &len), 0);
	assert_int_equal(len, 1);
	/* the third item claims 9 bytes but only 1 is left */
	assert_int_equal(scim_chunk_next(chunk, sizeof(chunk), &pos, &item, &len), -EBADMSG);
	pos = 6;
	assert_int_equal(scim_chunk_next(chunk, 10 + 1, &pos, &item, &len), 0);
	assert_int_equal(scim_chunk_next(chunk, 11, &pos, &item, &len), -ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(user_round_trip),
		cmocka_unit_test(user_head),
		cmocka_unit_test(user_short_buffer),
		cmocka_unit_test(user_truncated),
		cmocka_unit_test(user_corrupt),
		cmocka_unit_test(group_round_trip_and_truncation),
		cmocka_unit_test(header_round_trip),
		cmocka_unit_test(chunk_walk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
