/* test_tdbfile.c - the sequential tdb builder and scanner (cache/tdbfile.c)
 * against libtdb itself: every file the builder writes must pass tdb_check()
 * and answer tdb_fetch() for every key, and the scanner must read back files
 * that tdb_store() wrote, free and dead records included. */
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
#include <sys/stat.h>
#include <tdb.h>
#include <unistd.h>

#include <cmocka.h>

#include "cache/tdbfile.h"

static char dir[] = "/tmp/test_tdbfile.XXXXXX";
static char path[256];

static int setup(void **state)
{
	(void)state;
	snprintf(path, sizeof(path), "%s/t.tdb", dir);
	unlink(path);
	return 0;
}

static void key_of(unsigned i, char *key, size_t len)
{
	snprintf(key, len, "key-%u", i);
}

/* Data of varying length (0 to 600 bytes), so padding takes every value. */
static size_t data_of(unsigned i, unsigned char *data)
{
	size_t len = (i * 37u) % 601u;
	for (size_t k = 0; k < len; k++)
		data[k] = (unsigned char)(i + k);
	return len;
}

static int build(const char *p, uint32_t hash_size, unsigned n)
{
	struct scim_tdb_builder *b;
	unsigned char data[601];
	char key[32];
	int r = scim_tdb_builder_new(p, hash_size, &b);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < n; i++) {
		key_of(i, key, sizeof(key));
		r = scim_tdb_builder_add(b, key, strlen(key), data, data_of(i, data));
		if (r < 0) {
			scim_tdb_builder_free(b);
			return r;
		}
	}
	return scim_tdb_builder_finish(b, 0644);
}

struct seen {
	unsigned count;
	unsigned char *hit;
	unsigned n;
	bool bad;
};

static int check_record(TDB_DATA key, TDB_DATA data, void *priv)
{
	struct seen *s = priv;
	unsigned char want[601];
	char k[32];
	unsigned i;
	if (key.dsize >= sizeof(k))
		return -1;
	memcpy(k, key.dptr, key.dsize);
	k[key.dsize] = 0;
	if (sscanf(k, "key-%u", &i) != 1 || i >= s->n || s->hit[i] ||
	    data.dsize != data_of(i, want) || memcmp(data.dptr, want, data.dsize)) {
		s->bad = true;
		return -1;
	}
	s->hit[i] = 1;
	s->count++;
	return 0;
}

static void assert_tdb_agrees(const char *p, unsigned n)
{
	struct tdb_context *tdb = tdb_open(p, 0, TDB_NOLOCK, O_RDONLY, 0);
	struct seen s = { 0, calloc(n + 1, 1), n, false };
	unsigned char want[601];
	char key[32];
	struct stat st;

	assert_non_null(tdb);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	/* tdb's own consistency check: headers, tailers, hashes, chains. */
	assert_int_equal(tdb_check(tdb, check_record, &s), 0);
	assert_false(s.bad);
	assert_int_equal(s.count, n);
	for (unsigned i = 0; i < n; i++) {
		key_of(i, key, sizeof(key));
		TDB_DATA k = { (unsigned char *)key, strlen(key) };
		TDB_DATA d = tdb_fetch(tdb, k);
		size_t len = data_of(i, want);
		assert_int_equal(d.dsize, len);
		assert_true(len == 0 || (d.dptr && !memcmp(d.dptr, want, len)));
		free(d.dptr);
	}
	TDB_DATA missing = { (unsigned char *)"key-none", 8 };
	assert_int_equal(tdb_exists(tdb, missing), 0);
	tdb_close(tdb);
	free(s.hit);
}

/* What libtdb writes for a new file is the layout the builder assumes. */
static void header_size_matches_libtdb(void **state)
{
	(void)state;
	struct tdb_context *tdb = tdb_open(path, 1009, TDB_INCOMPATIBLE_HASH, O_RDWR | O_CREAT | O_EXCL, 0600);
	struct stat st;
	assert_non_null(tdb);
	tdb_close(tdb);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, SCIM_TDB_HEADER_SIZE + 4 * (1009 + 1));
}

static void built_file_passes_tdb_check(void **state)
{
	(void)state;
	assert_int_equal(build(path, 3001, 2000), 0);
	assert_tdb_agrees(path, 2000);
}

/* One chain holds everything: chain order and collisions get exercised. */
static void one_chain(void **state)
{
	(void)state;
	assert_int_equal(build(path, 1, 300), 0);
	assert_tdb_agrees(path, 300);
}

static void empty_file(void **state)
{
	(void)state;
	assert_int_equal(build(path, 131, 0), 0);
	assert_tdb_agrees(path, 0);
}

/* What was added reads back, buffered or already written. */
static void read_back(void **state)
{
	struct scim_tdb_builder *b;
	static unsigned char big[3u << 20];
	unsigned char got[8];
	(void)state;
	assert_int_equal(scim_tdb_builder_new(path, 1, &b), 0);
	uint64_t first = scim_tdb_builder_tell(b);
	assert_int_equal(scim_tdb_builder_add(b, "a", 1, "12345", 5), 0);
	assert_int_equal(scim_tdb_builder_read(b, first + 24, got, 6), 0);
	assert_memory_equal(got, "a12345", 6);
	big[0] = 'x';
	uint64_t second = scim_tdb_builder_tell(b);
	assert_int_equal(scim_tdb_builder_add(b, "big", 3, big, sizeof(big)), 0);
	/* the first record has gone to the file by now */
	assert_int_equal(scim_tdb_builder_read(b, first + 24, got, 6), 0);
	assert_memory_equal(got, "a12345", 6);
	assert_int_equal(scim_tdb_builder_read(b, second + 24, got, 4), 0);
	assert_memory_equal(got, "bigx", 4);
	assert_int_equal(scim_tdb_builder_read(b, scim_tdb_builder_tell(b) - 2, got, 4), -EINVAL);
	assert_int_equal(scim_tdb_builder_finish(b, 0600), 0);

	struct tdb_context *tdb = tdb_open(path, 0, TDB_NOLOCK, O_RDONLY, 0);
	assert_non_null(tdb);
	assert_int_equal(tdb_check(tdb, NULL, NULL), 0);
	TDB_DATA kb = { (unsigned char *)"big", 3 }, d = tdb_fetch(tdb, kb);
	assert_int_equal(d.dsize, sizeof(big));
	free(d.dptr);
	tdb_close(tdb);
}

static void existing_file_refused(void **state)
{
	struct scim_tdb_builder *b;
	(void)state;
	assert_int_equal(build(path, 131, 1), 0);
	assert_int_equal(scim_tdb_builder_new(path, 131, &b), -EEXIST);
}

struct scan_seen {
	unsigned n, count, with_u;
	unsigned char *hit;
};

static int scan_cb(const unsigned char *key, size_t klen, const unsigned char *data, size_t dlen, void *priv)
{
	struct scan_seen *s = priv;
	unsigned char want[601];
	char k[32];
	unsigned i;
	if (klen >= sizeof(k))
		return -EINVAL;
	memcpy(k, key, klen);
	k[klen] = 0;
	if (sscanf(k, "key-%u", &i) != 1 || i >= s->n || s->hit[i] || dlen != data_of(i, want) ||
	    memcmp(data, want, dlen))
		return -EINVAL;
	s->hit[i] = 1;
	s->count++;
	return 0;
}

static void scan_reads_built_file(void **state)
{
	struct scan_seen s = { 2000, 0, 0, calloc(2000, 1) };
	(void)state;
	assert_int_equal(build(path, 3001, 2000), 0);
	assert_int_equal(scim_tdb_scan(path, NULL, scan_cb, &s), 0);
	assert_int_equal(s.count, 2000);
	free(s.hit);
}

/* A file written by tdb_store(), with deletions: free records are skipped,
 * the live ones all come back, and a tag filter filters. */
static void scan_reads_libtdb_file(void **state)
{
	struct tdb_context *tdb = tdb_open(path, 131, TDB_INCOMPATIBLE_HASH, O_RDWR | O_CREAT | O_EXCL, 0600);
	struct scan_seen s = { 500, 0, 0, calloc(500, 1) };
	unsigned char data[601];
	char key[32];
	(void)state;
	assert_non_null(tdb);
	for (unsigned i = 0; i < 500; i++) {
		key_of(i, key, sizeof(key));
		TDB_DATA k = { (unsigned char *)key, strlen(key) }, d = { data, data_of(i, data) };
		assert_int_equal(tdb_store(tdb, k, d, TDB_INSERT), 0);
	}
	TDB_DATA other = { (unsigned char *)"other", 5 }, od = { (unsigned char *)"x", 1 };
	assert_int_equal(tdb_store(tdb, other, od, TDB_INSERT), 0);
	for (unsigned i = 0; i < 500; i += 3) {
		key_of(i, key, sizeof(key));
		TDB_DATA k = { (unsigned char *)key, strlen(key) };
		assert_int_equal(tdb_delete(tdb, k), 0);
		s.hit[i] = 1; /* must not come back */
	}
	tdb_close(tdb);
	assert_int_equal(scim_tdb_scan(path, "k", scan_cb, &s), 0);
	assert_int_equal(s.count, 500 - 167);
	free(s.hit);
}

static int stop_cb(const unsigned char *key, size_t klen, const unsigned char *data, size_t dlen, void *priv)
{
	(void)key, (void)klen, (void)data, (void)dlen;
	return ++*(int *)priv == 5 ? 42 : 0;
}

static int count_cb(const unsigned char *key, size_t klen, const unsigned char *data, size_t dlen, void *priv)
{
	(void)key, (void)klen, (void)data, (void)dlen;
	++*(int *)priv;
	return 0;
}

static void scan_stops_and_refuses(void **state)
{
	int calls = 0;
	struct stat st;
	(void)state;
	assert_int_equal(build(path, 131, 100), 0);
	assert_int_equal(scim_tdb_scan(path, NULL, stop_cb, &calls), 42);
	assert_int_equal(calls, 5);

	/* Truncated in the middle of a record. */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size - 7), 0);
	calls = 0;
	assert_int_equal(scim_tdb_scan(path, NULL, count_cb, &calls), -EBADMSG);
	assert_int_equal(calls, 99); /* every record before the cut */

	/* Not a tdb file. */
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int i = 0; i < 100; i++)
		fputs("not a tdb file at all\n", f);
	fclose(f);
	assert_int_equal(scim_tdb_scan(path, NULL, count_cb, &calls), -EBADMSG);

	/* A record length that runs past the end. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(build(path, 131, 3), 0);
	int fd = open(path, O_RDWR);
	uint32_t huge = 0x7fffffff;
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &huge, 4, SCIM_TDB_HEADER_SIZE + 4 * 132 + 4), 4);
	close(fd);
	assert_int_equal(scim_tdb_scan(path, NULL, count_cb, &calls), -EBADMSG);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(scim_tdb_scan(path, NULL, count_cb, &calls), -ENODATA);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(header_size_matches_libtdb, setup),
		cmocka_unit_test_setup(built_file_passes_tdb_check, setup),
		cmocka_unit_test_setup(one_chain, setup),
		cmocka_unit_test_setup(empty_file, setup),
		cmocka_unit_test_setup(read_back, setup),
		cmocka_unit_test_setup(existing_file_refused, setup),
		cmocka_unit_test_setup(scan_reads_built_file, setup),
		cmocka_unit_test_setup(scan_reads_libtdb_file, setup),
		cmocka_unit_test_setup(scan_stops_and_refuses, setup),
	};
	if (!mkdtemp(dir))
		return 99;
	int r = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	rmdir(dir);
	return r;
}
