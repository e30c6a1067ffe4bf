/* test_cache_codec.c - the record codec: round trips, and every truncation or
 * corruption is -EBADMSG without reading past the record (run under
 * --enable-sanitizers to have ASan check the "without reading past"). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <tdb.h>
#include <unistd.h>

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

static const struct scim_removed gone = {
	.name = "mallory", .uid = 1879048222, .since = 1700000000, .scim_id = "0c1f-gone",
};

static unsigned char *encode_removed(const struct scim_removed *d, size_t *len)
{
	*len = 0;
	assert_int_equal(scim_rec_encode_removed(d, NULL, len), -ENOBUFS);
	unsigned char *buf = malloc(*len);
	size_t got = *len;
	assert_int_equal(scim_rec_encode_removed(d, buf, &got), 0);
	assert_int_equal(got, *len);
	return buf;
}

static void removed_round_trip_and_damage(void **state)
{
	size_t len;
	unsigned char *rec = encode_removed(&gone, &len);
	struct scim_removed d;

	assert_int_equal(scim_rec_decode_removed(rec, len, &d), 0);
	assert_string_equal(d.name, "mallory");
	assert_int_equal(d.name_len, 7);
	assert_int_equal(d.uid, 1879048222);
	assert_int_equal(d.since, 1700000000);
	assert_string_equal(d.scim_id, "0c1f-gone");
	/* Every prefix is a truncated record. */
	for (size_t cut = 0; cut < len; cut++) {
		unsigned char *t = malloc(cut ? cut : 1);
		memcpy(t, rec, cut);
		assert_int_equal(scim_rec_decode_removed(t, cut, &d), -EBADMSG);
		free(t);
	}
	/* Any byte changed: a clean decode inside the record, or -EBADMSG. */
	for (size_t i = 0; i < len; i++)
		for (int v = 0; v < 256; v += 17) {
			unsigned char *t = malloc(len);
			memcpy(t, rec, len);
			t[i] = (unsigned char)v;
			int r = scim_rec_decode_removed(t, len, &d);
			assert_true(r == 0 || r == -EBADMSG);
			if (r == 0) {
				assert_true((const unsigned char *)d.name >= t &&
					    (const unsigned char *)d.name + d.name_len < t + len);
				assert_true(d.name_len > 0 && strlen(d.name) == d.name_len);
			}
			free(t);
		}
	/* Trailing bytes, another kind, and a user record are refused. */
	unsigned char *longer = malloc(len + 1);
	memcpy(longer, rec, len);
	longer[len] = 0;
	assert_int_equal(scim_rec_decode_removed(longer, len + 1, &d), -EBADMSG);
	free(longer);
	rec[0] = SCIM_REC_USER;
	assert_int_equal(scim_rec_decode_removed(rec, len, &d), -EBADMSG);
	free(rec);
	size_t ulen;
	unsigned char *urec = encode_user(&alice, true, &ulen);
	assert_int_equal(scim_rec_decode_removed(urec, ulen, &d), -EBADMSG);
	free(urec);
	/* An empty name is refused both ways. */
	struct scim_removed empty = gone;
	empty.name = "";
	len = 0;
	assert_int_equal(scim_rec_encode_removed(&empty, NULL, &len), -EINVAL);
	unsigned char raw[] = { SCIM_REC_REMOVED, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 };
	assert_int_equal(scim_rec_decode_removed(raw, sizeof(raw), &d), -EBADMSG);
	(void)state;
}

/* SSH key records ("K" name). */
static void keys_round_trip_and_damage(void **state)
{
	static const char *const lines[] = { "ssh-ed25519 AAAA one", "ssh-rsa BBBB" };
	const struct scim_ssh_keys k = { .name = "alice", .nkeys = 2, .keys = lines };
	struct scim_ssh_keys d;
	const char *line;
	size_t len = 0, got, pos = 0, ll;
	unsigned char *rec;

	assert_int_equal(scim_rec_encode_keys(&k, NULL, &len), -ENOBUFS);
	rec = malloc(len);
	got = len;
	assert_int_equal(scim_rec_encode_keys(&k, rec, &got), 0);
	assert_int_equal(scim_rec_decode_keys(rec, len, &d), 0);
	assert_int_equal(d.name_len, 5);
	assert_int_equal(d.nkeys, 2);
	assert_int_equal(scim_rec_next_key(&d, &pos, &line, &ll), 0);
	assert_int_equal(ll, strlen(lines[0]));
	assert_memory_equal(line, lines[0], ll);
	assert_int_equal(scim_rec_next_key(&d, &pos, &line, &ll), 0);
	assert_memory_equal(line, lines[1], ll);
	assert_int_equal(scim_rec_next_key(&d, &pos, &line, &ll), -ENOENT);
	/* Every prefix is a truncated record; so is one byte more. */
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(scim_rec_decode_keys(rec, cut, &d), -EBADMSG);
	unsigned char *longer = calloc(1, len + 1);
	memcpy(longer, rec, len);
	assert_int_equal(scim_rec_decode_keys(longer, len + 1, &d), -EBADMSG);
	free(longer);
	/* Any byte changed: a clean decode whose lines stay inside, or -EBADMSG. */
	for (size_t i = 0; i < len; i++)
		for (int v = 0; v < 256; v += 17) {
			unsigned char *t = malloc(len);
			memcpy(t, rec, len);
			t[i] = (unsigned char)v;
			int r = scim_rec_decode_keys(t, len, &d);
			assert_true(r == 0 || r == -EBADMSG);
			for (size_t p = 0; r == 0 && scim_rec_next_key(&d, &p, &line, &ll) == 0;)
				assert_true((const unsigned char *)line >= t && (const unsigned char *)line + ll < t + len &&
					    !memchr(line, '\n', ll));
			free(t);
		}
	free(rec);
	/* No name, no key, too many keys: refused. */
	struct scim_ssh_keys bad = k;
	bad.name = "";
	assert_int_equal(scim_rec_encode_keys(&bad, NULL, &len), -EINVAL);
	bad = k;
	bad.nkeys = 0;
	assert_int_equal(scim_rec_encode_keys(&bad, NULL, &len), -EINVAL);
	bad.nkeys = SCIM_SSH_KEYS_MAX + 1;
	assert_int_equal(scim_rec_encode_keys(&bad, NULL, &len), -EINVAL);
	(void)state;
}

/* ---------------------------------------------------- removed users in a file */

static char dir[] = "/tmp/test_cache_codec.XXXXXX";
static char live[256];

struct found {
	int n;
	char name[64];
	uint32_t uid;
	int64_t since;
	char scim_id[64];
};

static int found_removed(const struct scim_removed *d, void *ctx)
{
	struct found *f = ctx;
	f->n++;
	snprintf(f->name, sizeof(f->name), "%s", d->name);
	snprintf(f->scim_id, sizeof(f->scim_id), "%s", d->scim_id);
	f->uid = d->uid;
	f->since = d->since;
	return 0;
}

static int count_user(const struct scim_user *u, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static int count_group(const struct scim_group *g, void *ctx)
{
	return 0;
}

static void publish_with_removed(const struct scim_removed *extra, int want)
{
	struct scim_cache_writer *w;
	struct scim_cache_header h = { .last_sync = 1700000000, .source = "test" };
	struct scim_removed d2 = { .name = "trudy", .uid = 1879048223, .since = 1700000100, .scim_id = "" };

	assert_int_equal(scim_cache_writer_new(live, 1, 0, &w), 0);
	assert_int_equal(scim_cache_writer_add_user(w, &alice), 0);
	assert_int_equal(scim_cache_writer_add_removed(w, &gone), 0);
	assert_int_equal(scim_cache_writer_add_removed(w, &d2), 0);
	if (extra)
		assert_int_equal(scim_cache_writer_add_removed(w, extra), 0);
	assert_int_equal(scim_cache_writer_commit(w, &h), want);
}

/* Removed users are written, found by name through the process-wide
 * reader and the private handle, delivered by the scan, and seen by nothing
 * else: no lookup, no enumeration, no count. */
static void removed_in_a_cache(void **state)
{
	struct scim_cache_header h;
	struct scim_cache_file *f;
	struct scim_cursor cur;
	struct found fd = { 0 };
	int users = 0;

	assert_non_null(mkdtemp(dir));
	snprintf(live, sizeof(live), "%s/cache.tdb", dir);
	scim_cache_reset();
	publish_with_removed(NULL, 0);

	assert_int_equal(scim_cache_removed_by_name(live, "mallory", found_removed, &fd), 0);
	assert_int_equal(fd.n, 1);
	assert_string_equal(fd.name, "mallory");
	assert_int_equal(fd.uid, 1879048222);
	assert_int_equal(fd.since, 1700000000);
	assert_string_equal(fd.scim_id, "0c1f-gone");
	assert_int_equal(scim_cache_removed_by_name(live, "alice", found_removed, &fd), -ENOENT);
	assert_int_equal(scim_cache_removed_by_name(live, "mallor", found_removed, &fd), -ENOENT);
	assert_int_equal(scim_cache_removed_by_name(live, "", found_removed, &fd), -ENOENT);
	/* Invisible to every user lookup and to enumeration. */
	assert_int_equal(scim_cache_user_by_name(live, "mallory", count_user, &users), -ENOENT);
	assert_int_equal(scim_cache_passwd_by_name(live, "mallory", count_user, &users), -ENOENT);
	assert_int_equal(scim_cache_user_by_uid(live, 1879048222, count_user, &users), -ENOENT);
	assert_int_equal(scim_cache_passwd_by_uid(live, 1879048222, count_user, &users), -ENOENT);
	assert_int_equal(scim_cache_group_by_name(live, "mallory", count_group, NULL), -ENOENT);
	assert_int_equal(scim_cache_cursor_open(live, &cur), 0);
	while (scim_cache_user_next(&cur, count_user, &users) == 0)
		;
	scim_cache_cursor_close(&cur);
	assert_int_equal(users, 1);
	scim_cache_reset();

	/* The private handle and the scan. */
	assert_int_equal(scim_cache_file_open(live, &f), 0);
	assert_int_equal(scim_cache_file_header(f, &h), 0);
	assert_int_equal(h.nusers, 1);
	fd.n = 0;
	assert_int_equal(scim_cache_file_removed_by_name(f, "trudy", found_removed, &fd), 0);
	assert_int_equal(fd.uid, 1879048223);
	assert_string_equal(fd.scim_id, "");
	assert_int_equal(scim_cache_file_removed_by_name(f, "alice", found_removed, &fd), -ENOENT);
	users = 0;
	assert_int_equal(scim_cache_file_foreach_user(f, count_user, &users), 0);
	assert_int_equal(users, 1);
	scim_cache_file_close(f);
	fd.n = 0;
	users = 0;
	assert_int_equal(scim_cache_file_scan_all(live, &h, NULL, NULL, found_removed, &fd), 0);
	assert_int_equal(fd.n, 2);
	assert_int_equal(h.nusers, 1);
	/* The old scan (and so an old publisher) passes over them. */
	assert_int_equal(scim_cache_file_scan(live, &h, count_user, count_group, &users), 0);
	assert_int_equal(users, 1);

	/* One name twice is refused, and the live file stays as it was. */
	struct scim_removed again = gone;
	again.uid = 1879048299;
	publish_with_removed(&again, -EEXIST);
	fd.n = 0;
	assert_int_equal(scim_cache_removed_by_name(live, "mallory", found_removed, &fd), 0);
	assert_int_equal(fd.uid, 1879048222);
	scim_cache_reset();
	(void)state;
}

/* What a scan saw, as sums that differ if any user or group is missing,
 * doubled or read wrong. */
struct scan_sums {
	unsigned users, suspended, groups, removed;
	uint64_t uids, gids, name_bytes;
};

static int sum_user(const struct scim_user *u, void *ctx)
{
	struct scan_sums *s = ctx;
	s->users++;
	s->suspended += u->suspended;
	s->uids += u->uid;
	s->name_bytes += strlen(u->name);
	assert_int_equal(strlen(u->name), u->name_len);
	return 0;
}

static int sum_group(const struct scim_group *g, void *ctx)
{
	struct scan_sums *s = ctx;
	s->groups++;
	s->gids += g->gid;
	return 0;
}

static int sum_removed(const struct scim_removed *d, void *ctx)
{
	struct scan_sums *s = ctx;
	s->removed++;
	s->uids += d->uid;
	return 0;
}

/* The brief scan (what a publisher compares with) sees every user, with
 * name, uid and suspension, and every group's gid, as the full scan does:
 * over several enumeration chunks, with removed users too. */
static void brief_scan_sees_what_the_full_scan_sees(void **state)
{
	struct scim_cache_writer *w;
	struct scim_cache_header h = { .last_sync = 1700000000, .source = "test" }, h2;
	struct scan_sums full = { 0 }, brief = { 0 };
	char tmp[] = "/tmp/test_cache_codec.XXXXXX", path[300];
	const unsigned n = 3 * SCIM_CHUNK_USERS + 17;
	const char *devs_members[2] = { "u0", "u1" };
	char name[32];

	assert_non_null(mkdtemp(tmp));
	snprintf(path, sizeof(path), "%s/cache.tdb", tmp);
	assert_int_equal(scim_cache_writer_new(path, n, n + 1, &w), 0);
	for (unsigned i = 0; i < n; i++) {
		uint32_t devs_gid[1] = { 1879040000u };
		snprintf(name, sizeof(name), "u%u", i);
		struct scim_user u = { .name = name, .uid = 1879048192u + i, .gid = 1879048192u + i,
				       .gecos = "", .home = "/home/x", .shell = "/bin/sh",
				       .suspended = i % 7 == 0, .has_ext = true, .scim_id = name,
				       .ngids = 1, .gids = devs_gid };
		assert_int_equal(scim_cache_writer_add_user(w, &u), 0);
		struct scim_group pg = { .name = name, .gid = 1879048192u + i, .scim_id = name };
		assert_int_equal(scim_cache_writer_add_group(w, &pg), 0);
	}
	struct scim_group g = { .name = "devs", .gid = 1879040000u, .scim_id = "g", .nmembers = 2,
				.members = devs_members };
	assert_int_equal(scim_cache_writer_add_group(w, &g), 0);
	assert_int_equal(scim_cache_writer_add_removed(w, &gone), 0);
	assert_int_equal(scim_cache_writer_commit(w, &h), 0);

	assert_int_equal(scim_cache_file_scan_all(path, &h2, sum_user, sum_group, sum_removed, &full), 0);
	assert_int_equal(scim_cache_file_scan_brief(path, &h2, sum_user, sum_group, sum_removed, &brief), 0);
	assert_int_equal(h2.nusers, n);
	assert_int_equal(brief.users, n);
	assert_int_equal(brief.groups, n + 1);
	assert_int_equal(brief.removed, 1);
	assert_int_equal(brief.suspended, (n + 6) / 7);
	assert_memory_equal(&brief, &full, sizeof(brief));
	/* A damaged file is an error, not a short answer. */
	assert_true(scim_cache_file_scan_brief(tmp, &h2, sum_user, sum_group, NULL, &brief) < 0);
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
	assert_int_equal(system(cmd), 0);
	(void)state;
}

/* A "D" record that is not for the name it is filed under is damage. */
static void removed_under_another_name(void **state)
{
	struct tdb_context *tdb;
	struct found fd = { 0 };
	struct scim_cache_file *f;
	size_t len;
	unsigned char *rec = encode_removed(&gone, &len);
	unsigned char key[] = "Dmallorz";

	publish_with_removed(NULL, 0);
	tdb = tdb_open(live, 0, 0, O_RDWR, 0);
	assert_non_null(tdb);
	assert_int_equal(tdb_store(tdb, (TDB_DATA){ key, sizeof(key) - 1 }, (TDB_DATA){ rec, len }, TDB_INSERT), 0);
	tdb_close(tdb);
	scim_cache_reset();
	assert_int_equal(scim_cache_removed_by_name(live, "mallorz", found_removed, &fd), -EBADMSG);
	assert_int_equal(scim_cache_removed_by_name(live, "mallory", found_removed, &fd), 0);
	scim_cache_reset();
	assert_int_equal(scim_cache_file_open(live, &f), 0);
	assert_int_equal(scim_cache_file_removed_by_name(f, "mallorz", found_removed, &fd), -EBADMSG);
	scim_cache_file_close(f);
	struct scim_cache_header h;
	assert_int_equal(scim_cache_file_scan_all(live, &h, NULL, NULL, found_removed, &fd), -EBADMSG);
	free(rec);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	(void)state;
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
		cmocka_unit_test(removed_round_trip_and_damage),
		cmocka_unit_test(keys_round_trip_and_damage),
		cmocka_unit_test(removed_in_a_cache),
		cmocka_unit_test(removed_under_another_name),
		cmocka_unit_test(brief_scan_sees_what_the_full_scan_sees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
