/* test_index.c - the direct indexes (cache/index.c) through the real writer
 * and reader: every name and number is found, nothing else is, and a damaged
 * index never hands out the wrong entry or reads outside the file. */
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tdb.h>
#include <unistd.h>

#include <cmocka.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "cache/cache.h"
#include "cache/index.h"
#include "cache/record.h"
#include "cache/tdbfile.h"

#define NUSERS 3000
#define NGROUPS 300

static char dir[] = "/tmp/test_index.XXXXXX";
static char path[256];

static void user_name(unsigned i, char *buf, size_t len)
{
	/* Names of many lengths (1 to 31 bytes), so the hash's tail handling runs. */
	snprintf(buf, len, "%.*s%u", (int)(i % 27), "abcdefghijklmnopqrstuvwxyz", i);
}

static void build_cache(void)
{
	struct scim_cache_writer *w;
	struct scim_cache_header h = { .last_sync = 1, .source = "test" };
	char name[64], gname[64];
	uint32_t gids[1] = { 50000 };

	unlink(path);
	assert_int_equal(scim_cache_writer_new(path, NUSERS, NGROUPS, &w), 0);
	for (unsigned i = 0; i < NUSERS; i++) {
		user_name(i, name, sizeof(name));
		struct scim_user u = { .name = name, .uid = 100000 + 7 * i, .gid = 100000 + 7 * i, .gecos = "",
				       .home = "/home/x", .shell = "/bin/sh", .has_ext = true, .scim_id = "id",
				       .ngids = 1, .gids = gids };
		assert_int_equal(scim_cache_writer_add_user(w, &u), 0);
	}
	for (unsigned i = 0; i < NGROUPS; i++) {
		snprintf(gname, sizeof(gname), "grp%u", i);
		const char *members[] = { "a", "b" };
		struct scim_group g = { .name = gname, .gid = 50000 + i, .scim_id = "gid", .nmembers = 2,
					.members = members };
		assert_int_equal(scim_cache_writer_add_group(w, &g), 0);
	}
	assert_int_equal(scim_cache_writer_commit(w, &h), 0);
	scim_cache_reset();
}

static int setup(void **state)
{
	(void)state;
	build_cache();
	return 0;
}

struct got {
	char name[64];
	uint32_t num;
};

static int got_user(const struct scim_user *u, void *ctx)
{
	struct got *g = ctx;
	snprintf(g->name, sizeof(g->name), "%s", u->name);
	g->num = u->uid;
	return 0;
}

static int got_group(const struct scim_group *gr, void *ctx)
{
	struct got *g = ctx;
	snprintf(g->name, sizeof(g->name), "%s", gr->name);
	g->num = gr->gid;
	return 0;
}

static void every_key_found(void **state)
{
	char name[64];
	struct got g;
	(void)state;
	for (unsigned i = 0; i < NUSERS; i++) {
		user_name(i, name, sizeof(name));
		assert_int_equal(scim_cache_user_by_name(path, name, got_user, &g), 0);
		assert_string_equal(g.name, name);
		assert_int_equal(g.num, 100000 + 7 * i);
		assert_int_equal(scim_cache_user_by_uid(path, 100000 + 7 * i, got_user, &g), 0);
		assert_string_equal(g.name, name);
		/* The passwd-only lookups the NSS module makes find the same. */
		memset(&g, 0, sizeof(g));
		assert_int_equal(scim_cache_passwd_by_name(path, name, got_user, &g), 0);
		assert_int_equal(g.num, 100000 + 7 * i);
		assert_int_equal(scim_cache_passwd_by_uid(path, 100000 + 7 * i, got_user, &g), 0);
		assert_string_equal(g.name, name);
		/* Between two uids, and a name that differs in its last byte. */
		assert_int_equal(scim_cache_user_by_uid(path, 100000 + 7 * i + 3, got_user, &g), -ENOENT);
		name[strlen(name) - 1] ^= 0x40;
		assert_int_equal(scim_cache_user_by_name(path, name, got_user, &g), -ENOENT);
	}
	for (unsigned i = 0; i < NGROUPS; i++) {
		snprintf(name, sizeof(name), "grp%u", i);
		assert_int_equal(scim_cache_group_by_name(path, name, got_group, &g), 0);
		assert_int_equal(g.num, 50000 + i);
		assert_int_equal(scim_cache_group_by_gid(path, 50000 + i, got_group, &g), 0);
		assert_string_equal(g.name, name);
	}
	assert_int_equal(scim_cache_group_by_gid(path, 50000 + NGROUPS, got_group, &g), -ENOENT);
	assert_int_equal(scim_cache_user_by_name(path, "grp1", got_user, &g), -ENOENT);
}

/* Where one key's slot is: its file offset, the index it is in (for
 * scim_index_slot_value) and the record it points at. */
struct slot_ref {
	long at;
	long slots_at; /* file offset of slot 0 */
	struct scim_index ix; /* slots points into a mapping that is gone */
	uint32_t record;
	uint32_t check;
};

static void find_slot(int kind, const char *name, uint32_t number, struct slot_ref *ref)
{
	scim_cache_reset(); /* tdb opens a file once per process */
	struct tdb_context *tdb = tdb_open(path, 0, TDB_NOLOCK, O_RDONLY, 0);
	TDB_DATA k = { (unsigned char *)"X", 1 }, loc;
	struct scim_index all[SCIM_INDEX_NKINDS];
	struct stat st;
	uint32_t pos = 0, off;

	assert_non_null(tdb);
	loc = tdb_fetch(tdb, k);
	assert_int_equal(loc.dsize, SCIM_INDEX_LOCATOR_SIZE);
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	unsigned char *map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	close(fd);
	assert_int_equal(scim_index_open(loc.dptr, loc.dsize, map, st.st_size, all), 0);
	free(loc.dptr);
	tdb_close(tdb);

	ref->check = name ? scim_index_name_check(name, strlen(name)) : scim_index_number_check(number);
	ref->at = -1;
	while ((off = scim_index_next(&all[kind], ref->check, &pos)) != 0) {
		const unsigned char *key, *data;
		size_t klen, dlen;
		uint32_t n;
		if (kind == SCIM_INDEX_PASSWD_NAME || kind == SCIM_INDEX_PASSWD_UID) {
			/* a "P" chunk item: le32 length, then a user record */
			memcpy(&n, map + off, 4);
			data = map + off + 4;
			dlen = n;
			assert_int_equal(scim_rec_user_name(data, dlen, &key, &klen), 0);
		} else {
			assert_int_equal(scim_tdb_record_at(map, st.st_size, off, &key, &klen, &data, &dlen), 0);
			key++, klen--; /* the tag */
		}
		memcpy(&n, data + 4, 4); /* little-endian host */
		if (name ? klen == strlen(name) && !memcmp(key, name, klen) : n == number) {
			ref->at = scim_index_probe_slot(&all[kind], ref->check, pos - 1) - map;
			ref->slots_at = all[kind].slots - map;
			ref->record = off;
			break;
		}
	}
	assert_true(ref->at > 0);
	ref->ix = all[kind];
	ref->ix.slots = NULL;
	munmap(map, st.st_size);
}

static void poke(long at, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, p, n, at), (ssize_t)n);
	close(fd);
	scim_cache_reset();
}

static void peek(long at, void *p, size_t n)
{
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, p, n, at), (ssize_t)n);
	close(fd);
}

static void poke_slot(long at, uint32_t value)
{
	unsigned char b[4] = { value, value >> 8, value >> 16, value >> 24 };
	poke(at, b, 4);
}

/* A name slot pointing at another user's record: that user is not handed
 * out under the wrong name. */
static void swapped_name_slot(void **state)
{
	char a[64], b[64];
	struct got g;
	struct slot_ref sa, sb;
	(void)state;
	user_name(10, a, sizeof(a));
	user_name(11, b, sizeof(b));
	for (int kind = SCIM_INDEX_USER_NAME; kind <= SCIM_INDEX_PASSWD_NAME; kind += SCIM_INDEX_PASSWD_NAME) {
		find_slot(kind, a, 0, &sa);
		find_slot(kind, b, 0, &sb);
		poke_slot(sa.at, scim_index_slot_value(&sa.ix, sa.check, sb.record));
	}
	assert_int_equal(scim_cache_user_by_name(path, a, got_user, &g), -ENOENT);
	assert_int_equal(scim_cache_passwd_by_name(path, a, got_user, &g), -ENOENT);
	assert_int_equal(scim_cache_user_by_name(path, b, got_user, &g), 0);
	assert_string_equal(g.name, b);
	assert_int_equal(scim_cache_passwd_by_name(path, b, got_user, &g), 0);
	assert_string_equal(g.name, b);
}

/* A uid slot pointing at another user's record: that user is not handed
 * out for the wrong uid. */
static void swapped_uid_slot(void **state)
{
	struct got g;
	struct slot_ref sa, sb;
	(void)state;
	for (int kind = SCIM_INDEX_USER_UID; kind <= SCIM_INDEX_PASSWD_UID; kind += SCIM_INDEX_PASSWD_NAME) {
		find_slot(kind, NULL, 100000 + 7 * 20, &sa);
		find_slot(kind, NULL, 100000 + 7 * 21, &sb);
		poke_slot(sa.at, scim_index_slot_value(&sa.ix, sa.check, sb.record));
	}
	assert_int_equal(scim_cache_user_by_uid(path, 100000 + 7 * 20, got_user, &g), -ENOENT);
	assert_int_equal(scim_cache_passwd_by_uid(path, 100000 + 7 * 20, got_user, &g), -ENOENT);
	assert_int_equal(scim_cache_user_by_uid(path, 100000 + 7 * 21, got_user, &g), 0);
	assert_int_equal(g.num, 100000 + 7 * 21);
	assert_int_equal(scim_cache_passwd_by_uid(path, 100000 + 7 * 21, got_user, &g), 0);
	assert_int_equal(g.num, 100000 + 7 * 21);
}

/* A fingerprint shared with another key in the same probe run (what a
 * collision looks like): the other key's record is passed over and the
 * probe goes on to the right one. */
static void fingerprint_collision_passed_over(void **state)
{
	struct got g;
	struct slot_ref sa, sb;
	unsigned char v[4];
	(void)state;
	static const int user_kinds[] = { SCIM_INDEX_USER_NAME, SCIM_INDEX_USER_UID, SCIM_INDEX_PASSWD_NAME,
					  SCIM_INDEX_PASSWD_UID };
	for (size_t t = 0; t < sizeof(user_kinds) / sizeof(user_kinds[0]); t++) {
		int kind = user_kinds[t];
		char a[64], b[64];
		build_cache();
		user_name(40, a, sizeof(a));
		user_name(41, b, sizeof(b));
		bool by_name = kind == SCIM_INDEX_USER_NAME || kind == SCIM_INDEX_PASSWD_NAME;
		bool passwd = kind >= SCIM_INDEX_PASSWD_NAME;
		find_slot(kind, by_name ? a : NULL, 100000 + 7 * 40, &sa);
		find_slot(kind, by_name ? b : NULL, 100000 + 7 * 41, &sb);
		/* a's entry moves to the first empty slot after it, and its own
		 * slot proposes b's record under a's fingerprint. */
		long i = (sa.at - sa.slots_at) / 4, at;
		do {
			i = (i + 1) % sa.ix.nslots;
			at = sa.slots_at + 4 * i;
			peek(at, v, 4);
		} while (v[0] | v[1] | v[2] | v[3]);
		poke_slot(at, scim_index_slot_value(&sa.ix, sa.check, sa.record));
		poke_slot(sa.at, scim_index_slot_value(&sa.ix, sa.check, sb.record));
		if (by_name)
			assert_int_equal((passwd ? scim_cache_passwd_by_name : scim_cache_user_by_name)(path, a, got_user, &g), 0);
		else
			assert_int_equal((passwd ? scim_cache_passwd_by_uid : scim_cache_user_by_uid)(path, 100000 + 7 * 40,
												   got_user, &g),
					 0);
		assert_string_equal(g.name, a);
		assert_int_equal(g.num, 100000 + 7 * 40);
	}
}

/* Offsets into the header, past the end of the file, and into the middle
 * of a record. */
static void wild_offsets(void **state)
{
	struct got g;
	struct slot_ref sa;
	(void)state;
	find_slot(SCIM_INDEX_USER_UID, NULL, 100000 + 7 * 30, &sa);
	uint32_t past_end = ((1u << sa.ix.offset_bits) - 1) << sa.ix.offset_shift;
	const uint32_t wild[] = { 4, 100, sa.record + 4, sa.record - 4, past_end };
	for (size_t i = 0; i < sizeof(wild) / sizeof(wild[0]); i++) {
		poke_slot(sa.at, scim_index_slot_value(&sa.ix, sa.check, wild[i]));
		assert_int_equal(scim_cache_user_by_uid(path, 100000 + 7 * 30, got_user, &g), -EBADMSG);
	}
	/* A passwd slot's offsets are bytes: inside the tdb header, inside the
	 * item, just before it, past the end. */
	find_slot(SCIM_INDEX_PASSWD_UID, NULL, 100000 + 7 * 30, &sa);
	past_end = ((1u << sa.ix.offset_bits) - 1) << sa.ix.offset_shift;
	const uint32_t wild_items[] = { 1, 100, sa.record + 1, sa.record + 4, sa.record - 1, past_end };
	for (size_t i = 0; i < sizeof(wild_items) / sizeof(wild_items[0]); i++) {
		poke_slot(sa.at, scim_index_slot_value(&sa.ix, sa.check, wild_items[i]));
		int r = scim_cache_passwd_by_uid(path, 100000 + 7 * 30, got_user, &g);
		assert_true(r == -EBADMSG || r == -ENOENT);
	}
}

/* A table whose size does not add up: the indexes are ignored and libtdb
 * answers instead. */
static void bad_table_falls_back(void **state)
{
	char a[64];
	struct got g;
	uint32_t huge = 1u << 29;
	(void)state;
	struct tdb_context *tdb = tdb_open(path, 0, TDB_NOLOCK, O_RDONLY, 0);
	TDB_DATA k = { (unsigned char *)"X", 1 }, loc = tdb_fetch(tdb, k);
	uint32_t off;
	memcpy(&off, loc.dptr + 8, 4);
	free(loc.dptr);
	tdb_close(tdb);
	poke(off, &huge, 4);
	user_name(5, a, sizeof(a));
	assert_int_equal(scim_cache_user_by_name(path, a, got_user, &g), 0);
	assert_string_equal(g.name, a);
	assert_int_equal(scim_cache_user_by_uid(path, 100000 + 35, got_user, &g), 0);
}

/* Without the passwd tables (a file too big for them, or from before
 * them), getpwnam and getpwuid go through the full records' tables: shown
 * by damaging those, which the passwd lookups then feel. */
static void no_passwd_tables(void **state)
{
	char a[64], b[64];
	struct got g;
	struct slot_ref sa, sb;
	(void)state;
	struct tdb_context *tdb = tdb_open(path, 0, TDB_NOLOCK, O_RDWR, 0);
	TDB_DATA k = { (unsigned char *)"X", 1 }, loc;
	assert_non_null(tdb);
	loc = tdb_fetch(tdb, k);
	assert_int_equal(loc.dsize, SCIM_INDEX_LOCATOR_SIZE);
	memset(loc.dptr + 8 + 8 * SCIM_INDEX_PASSWD_NAME, 0, 16); /* both passwd kinds */
	assert_int_equal(tdb_store(tdb, k, loc, TDB_REPLACE), 0);
	free(loc.dptr);
	tdb_close(tdb);
	scim_cache_reset();

	user_name(12, a, sizeof(a));
	user_name(13, b, sizeof(b));
	assert_int_equal(scim_cache_passwd_by_name(path, a, got_user, &g), 0);
	assert_int_equal(scim_cache_passwd_by_uid(path, 100000 + 7 * 13, got_user, &g), 0);
	assert_string_equal(g.name, b);
	find_slot(SCIM_INDEX_USER_NAME, a, 0, &sa);
	find_slot(SCIM_INDEX_USER_NAME, b, 0, &sb);
	poke_slot(sa.at, scim_index_slot_value(&sa.ix, sa.check, sb.record));
	assert_int_equal(scim_cache_passwd_by_name(path, a, got_user, &g), -ENOENT);
	assert_int_equal(scim_cache_passwd_by_name(path, b, got_user, &g), 0);
}

/* A cache without the locator (as an older writer made them) still answers. */
static void no_locator(void **state)
{
	char a[64];
	struct got g;
	(void)state;
	struct tdb_context *tdb = tdb_open(path, 0, TDB_NOLOCK, O_RDWR, 0);
	TDB_DATA k = { (unsigned char *)"X", 1 };
	assert_non_null(tdb);
	assert_int_equal(tdb_delete(tdb, k), 0);
	tdb_close(tdb);
	scim_cache_reset();
	user_name(7, a, sizeof(a));
	assert_int_equal(scim_cache_user_by_name(path, a, got_user, &g), 0);
	assert_int_equal(scim_cache_user_by_uid(path, 100000 + 49, got_user, &g), 0);
	assert_string_equal(g.name, a);
	assert_int_equal(scim_cache_group_by_gid(path, 50001, got_group, &g), 0);
}

static int commit_users(const char *const *names, const uint32_t *uids, size_t n)
{
	struct scim_cache_writer *w;
	struct scim_cache_header h = { .last_sync = 1, .source = "test" };
	int r;
	unlink(path);
	assert_int_equal(scim_cache_writer_new(path, n, 0, &w), 0);
	for (size_t i = 0; i < n; i++) {
		struct scim_user u = { .name = names[i], .uid = uids[i], .gid = uids[i], .gecos = "",
				       .home = "/", .shell = "/bin/sh" };
		r = scim_cache_writer_add_user(w, &u);
		if (r < 0) {
			scim_cache_writer_abort(w);
			return r;
		}
	}
	r = scim_cache_writer_commit(w, &h);
	scim_cache_reset();
	return r;
}

/* A name or a number given twice fails the publish; nothing is installed. */
static void duplicates_refused(void **state)
{
	static const char *const same_name[] = { "alice", "bob", "alice" };
	static const uint32_t distinct[] = { 1001, 1002, 1003 };
	static const char *const names[] = { "alice", "bob", "carol" };
	static const uint32_t same_uid[] = { 1001, 1002, 1001 };
	(void)state;
	unlink(path);
	scim_cache_reset();
	assert_int_equal(commit_users(same_name, distinct, 3), -EEXIST);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(commit_users(names, same_uid, 3), -EEXIST);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(commit_users(names, distinct, 3), 0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Two different names whose checks collide are both published and found. */
static void check_collision(void **state)
{
	enum { TRIES = 300000 };
	uint64_t *v = malloc(TRIES * sizeof(*v));
	char a[32], b[32];
	struct got g;
	size_t i;
	(void)state;
	assert_non_null(v);
	for (i = 0; i < TRIES; i++) {
		snprintf(a, sizeof(a), "c%zu", i);
		v[i] = (uint64_t)scim_index_name_check(a, strlen(a)) << 32 | i;
	}
	qsort(v, TRIES, sizeof(*v), cmp_u64);
	for (i = 1; i < TRIES && v[i] >> 32 != v[i - 1] >> 32; i++)
		;
	assert_true(i < TRIES); /* 300k draws from 2^32: a pair is all but certain */
	snprintf(a, sizeof(a), "c%u", (unsigned)(v[i - 1] & 0xffffffff));
	snprintf(b, sizeof(b), "c%u", (unsigned)(v[i] & 0xffffffff));
	free(v);
	const char *const names[] = { a, b };
	const uint32_t uids[] = { 2001, 2002 };
	assert_int_equal(commit_users(names, uids, 2), 0);
	assert_int_equal(scim_cache_user_by_name(path, a, got_user, &g), 0);
	assert_int_equal(g.num, 2001);
	assert_int_equal(scim_cache_user_by_name(path, b, got_user, &g), 0);
	assert_int_equal(g.num, 2002);
}

/* Many entries with one check value: each is probed and the bound holds. */
static int never_same(uint32_t a, uint32_t b, void *ctx)
{
	(void)a, (void)b, (void)ctx;
	return 0;
}

static void same_check_probing(void **state)
{
	struct scim_index_entry e[40];
	unsigned char table[16 + 4 * 54]; /* 40 entries, at most 3/4 full */
	struct scim_index ix;
	(void)state;
	for (unsigned i = 0; i < 40; i++)
		e[i] = (struct scim_index_entry){ 12345, 1000 + 4 * i };
	assert_int_equal(scim_index_table_size(40), sizeof(table));
	assert_int_equal(scim_index_build(e, 40, table, never_same, NULL), 0);
	uint32_t offsets[SCIM_INDEX_NKINDS] = { 16 }, lengths[SCIM_INDEX_NKINDS] = { sizeof(table) };
	unsigned char loc[SCIM_INDEX_LOCATOR_SIZE], map[16 + sizeof(table)];
	memcpy(map + 16, table, sizeof(table));
	scim_index_encode_locator(offsets, lengths, loc);
	struct scim_index all[SCIM_INDEX_NKINDS];
	assert_int_equal(scim_index_open(loc, sizeof(loc), map, sizeof(map), all), 0);
	ix = all[0];
	uint32_t pos = 0, n = 0, off;
	while ((off = scim_index_next(&ix, 12345, &pos)) != 0)
		assert_int_equal(off, 1000 + 4 * n++);
	assert_int_equal(n, 40);
	pos = 0;
	assert_int_equal(scim_index_next(&ix, 54321, &pos), 0);
	assert_null(all[1].slots);
	/* A table that claims more slots than it has. */
	assert_int_equal(scim_index_open(loc, sizeof(loc), map, sizeof(map) - 8, all), -EBADMSG);
	/* One offset that is not a multiple of 4: the table keeps bytes. */
	e[3].offset = 1013;
	assert_int_equal(scim_index_build(e, 40, map + 16, never_same, NULL), 0);
	assert_int_equal(scim_index_open(loc, sizeof(loc), map, sizeof(map), all), 0);
	assert_int_equal(all[0].offset_shift, 0);
	pos = 0, n = 0;
	while ((off = scim_index_next(&all[0], 12345, &pos)) != 0) {
		assert_int_equal(off, n == 3 ? 1013 : 1000 + 4 * n);
		n++;
	}
	assert_int_equal(n, 40);
	/* Offsets the slots cannot hold. */
	e[3].offset = 0x80000001u;
	assert_int_equal(scim_index_build(e, 40, table, never_same, NULL), -EFBIG);
	e[3].offset = 0;
	assert_int_equal(scim_index_build(e, 40, table, never_same, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(every_key_found, setup),
		cmocka_unit_test_setup(swapped_name_slot, setup),
		cmocka_unit_test_setup(swapped_uid_slot, setup),
		cmocka_unit_test_setup(wild_offsets, setup),
		cmocka_unit_test(fingerprint_collision_passed_over),
		cmocka_unit_test_setup(bad_table_falls_back, setup),
		cmocka_unit_test_setup(no_locator, setup),
		cmocka_unit_test_setup(no_passwd_tables, setup),
		cmocka_unit_test(same_check_probing),
		cmocka_unit_test(duplicates_refused),
		cmocka_unit_test(check_collision),
	};
	if (!mkdtemp(dir))
		return 99;
	snprintf(path, sizeof(path), "%s/cache.tdb", dir);
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	scim_cache_reset();
	unlink(path);
	char lock[300];
	snprintf(lock, sizeof(lock), "%s.lock", path);
	unlink(lock);
	rmdir(dir);
	return r;
}
