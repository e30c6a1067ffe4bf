/* test_map.c - unit tests of the mapping's pure parts: names, gecos, home
 * templates, hashing and probing, the id map file, the JSON resource scanner
 * and the config parser. */
#include <errno.h>
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cache/cache.h"
#include "refreshd/config.h"
#include "refreshd/idmap.h"
#include "refreshd/model.h"
#include "refreshd/import.h"
#include "refreshd/log.h"
#include "refreshd/names.h"
#include "refreshd/scan.h"
#include "refreshd/table.h"

static void test_name_valid(void **state)
{
	static const char *good[] = { "a", "_", "alice", "a.b-c_d", "x9", "_svc", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" };
	static const char *bad[] = { "", "A", "9a", "-a", ".a", "a b", "a:b", "a,b", "a/b", "a\nb", "a@b", "j\xc3\xbcrgen",
				     "ccccccccccccccccccccccccccccccccc", "a$", "\xff" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		assert_true(scim_name_is_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		assert_false(scim_name_is_valid(bad[i]));
}

static int map(const char *raw, bool lower, bool strip, char *out)
{
	return scim_map_name(raw, strlen(raw), lower, strip, out);
}

static void test_map_name(void **state)
{
	char out[SCIM_POSIX_NAME_MAX + 1];
	assert_int_equal(map("E012345", true, false, out), 0);
	assert_string_equal(out, "e012345");
	assert_int_equal(map("E012345", false, false, out), -EINVAL); /* upper case is not portable */
	assert_int_equal(map("Mona.Octocat@Example.com", true, true, out), 0);
	assert_string_equal(out, "mona.octocat");
	assert_int_equal(map("mona.octocat@example.com", true, false, out), -EINVAL);
	assert_int_equal(map("@example.com", true, true, out), -EINVAL);
	/* The length is checked after stripping and never cut short. */
	assert_int_equal(map("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb@example.com", true, true, out), 0);
	assert_int_equal(map("ccccccccccccccccccccccccccccccccc", true, true, out), -EINVAL);
	/* An embedded NUL does not truncate into a valid name. */
	assert_int_equal(scim_map_name("nul\0x", 5, true, false, out), -EINVAL);
	/* Non-ASCII is never folded into ASCII. */
	assert_int_equal(map("\xc3\x84rger", true, false, out), -EINVAL);
}

/* Every name of one base-passwd master file (name:... lines) is reserved. */
static void check_master(const char *path)
{
	char line[512];
	size_t n = 0;
	FILE *f = fopen(path, "r");
	if (!f) {
		print_message("%s: absent, built-in list only (install base-passwd)\n", path);
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = 0;
		if (!scim_name_is_reserved(line))
			fail_msg("%s: '%s' is not reserved", path, line);
		n++;
	}
	fclose(f);
	assert_true(n > 10);
}

static void test_reserved_names(void **state)
{
	static const char *reserved[] = { "root", "daemon", "nobody", "nogroup", "admin", "sudo", "wheel", "adm",
					  "staff", "docker", "lxd", "libvirt", "kvm", "sshd", "lpadmin", "sambashare",
					  "plugdev", "netdev", "libvirt-qemu", "polkitd", "messagebus", "input",
					  "render", "sgx", "systemd-journal", "systemd-whatever", "_apt", "_anything",
					  "Docker", "SUDO", "debian-tor", "Debian-exim", "www-data", "gnats", "users" };
	static const char *free_names[] = { "alice", "dockers", "sudoer", "systemd", "wheel2", "x.y-z_1", "a", "zz" };
	const char *const *list;
	size_t n = scim_reserved_names(&list);

	for (size_t i = 0; i < sizeof(reserved) / sizeof(*reserved); i++)
		if (!scim_name_is_reserved(reserved[i]))
			fail_msg("'%s' is not reserved", reserved[i]);
	for (size_t i = 0; i < sizeof(free_names) / sizeof(*free_names); i++)
		if (scim_name_is_reserved(free_names[i]))
			fail_msg("'%s' is reserved", free_names[i]);
	/* The lookup is a binary search: every entry must find itself. */
	for (size_t i = 0; i < n; i++) {
		assert_true(scim_name_is_valid(list[i]));
		if (i > 0 && strcmp(list[i - 1], list[i]) >= 0)
			fail_msg("reserved_names not sorted at '%s'", list[i]);
		assert_true(scim_name_is_reserved(list[i]));
	}
	check_master("/usr/share/base-passwd/passwd.master");
	check_master("/usr/share/base-passwd/group.master");
}

static char *tmpdir(void);

/* Where 40 ids land in a fresh string table, as this process hashes them. */
static void strmap_layout(uint32_t *pos)
{
	struct scim_strmap m = { 0 };
	char key[40][16];

	for (uint32_t i = 0; i < 40; i++) {
		uint32_t v = i;
		snprintf(key[i], sizeof(key[i]), "id-%u", i);
		assert_int_equal(scim_strmap_put(&m, 1, key[i], &v), 0);
	}
	for (uint32_t i = 0; i < 40; i++)
		for (size_t j = 0; j <= m.mask; j++)
			if (m.slots[j].key == key[i])
				pos[i] = (uint32_t)j;
	scim_strmap_free(&m);
}

/* fn's 40-word answer in a child process (a process of its own: its seed). */
static void in_child(void (*fn)(uint32_t *), uint32_t *out)
{
	int fd[2], st;
	pid_t pid;

	assert_int_equal(pipe(fd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint32_t a[40] = { 0 };
		fn(a);
		_exit(write(fd[1], a, sizeof(a)) == (ssize_t)sizeof(a) ? 0 : 1);
	}
	close(fd[1]);
	assert_int_equal(read(fd[0], out, 40 * sizeof(*out)), 40 * sizeof(*out));
	close(fd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void fallback_seed(uint32_t *out)
{
	uint64_t s = scim_table_seed_fallback();
	memcpy(out, &s, sizeof(s));
}

/* This test binary run again with --layout: strmap_layout() in a fresh
 * process (a fork would inherit the parent's seed). */
static void layout_of_new_process(uint32_t *out)
{
	char self[4096], cmd[4200];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	FILE *p;

	assert_true(n > 0);
	self[n] = 0;
	snprintf(cmd, sizeof(cmd), "'%s' --layout", self);
	p = popen(cmd, "r");
	assert_non_null(p);
	for (int i = 0; i < 40; i++)
		assert_int_equal(fscanf(p, "%u", &out[i]), 1);
	assert_int_equal(pclose(p), 0);
}

/* The tables' hashes are seeded per process: a server cannot choose ids that
 * collide in every daemon.  Two processes lay the same ids out differently,
 * and the fallback seed (no getrandom) still differs between processes. */
static void test_table_seed(void **state)
{
	uint32_t a[40], b[40], c[40] = { 0 }, d[40] = { 0 };

	layout_of_new_process(a);
	layout_of_new_process(b);
	assert_memory_not_equal(a, b, sizeof(a));
	in_child(fallback_seed, c);
	in_child(fallback_seed, d);
	assert_memory_not_equal(c, d, sizeof(uint64_t));
}

/* Heap bytes in use, mmapped blocks included. */
static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* A listing's totalResults is a promise: a page that claims 4 million users
 * and brings one must not reserve room for 4 million (nor for the ids). */
static void test_expect_reserves_nothing(void **state)
{
	char *dir = tmpdir(), conf[1024], *err = NULL;
	struct scim_config *cfg;
	struct scim_model *m;
	struct json_object *o;
	size_t before, grown;

	snprintf(conf, sizeof(conf), "state_dir = %s\ncache_file = %s/cache.tdb\n", dir, dir);
	assert_int_equal(scim_config_parse("t.conf", conf, &cfg, &err), 0);
	assert_int_equal(scim_model_new(cfg, &m), 0);
	before = heap_in_use();
	scim_model_expect(m, false, 4000000);
	scim_model_expect(m, true, 4000000);
	o = json_tokener_parse("{\"id\":\"only-one\",\"userName\":\"onlyone\"}");
	assert_non_null(o);
	assert_int_equal(scim_model_add_user(m, o), 0);
	json_object_put(o);
	o = json_tokener_parse("{\"id\":\"g-only\",\"displayName\":\"onlygroup\"}");
	assert_non_null(o);
	assert_int_equal(scim_model_add_group(m, o), 0);
	json_object_put(o);
	grown = heap_in_use() - before;
	if (grown > 1024 * 1024)
		fail_msg("one user and one group under totalResults=4000000 took %zu bytes", grown);
	scim_model_free(m);
	scim_config_free(cfg);
	snprintf(conf, sizeof(conf), "rm -rf '%s'", dir);
	assert_int_equal(system(conf), 0);
	free(dir);
}

static void gecos(const char *raw, const char *want)
{
	char out[SCIM_GECOS_MAX + 1];
	scim_clean_gecos(raw, strlen(raw), out);
	assert_string_equal(out, want);
}

static void test_gecos(void **state)
{
	char long_in[600], out[SCIM_GECOS_MAX + 1];
	gecos("Mona Lisa", "Mona Lisa");
	gecos("Ms. Barbara J Jensen, III", "Ms. Barbara J Jensen III");
	gecos("a:b,c\nd\re\tf\x7fg\x01h", "abcdefgh");
	gecos("  padded  ", "padded");
	gecos("J\xc3\xbcrgen", "J\xc3\xbcrgen");
	/* Cut at SCIM_GECOS_MAX bytes, never inside a UTF-8 sequence. */
	memset(long_in, 'x', sizeof(long_in));
	memcpy(long_in + 254, "\xc3\xbc", 2);
	scim_clean_gecos(long_in, sizeof(long_in), out);
	assert_int_equal(strlen(out), 254);
	memcpy(long_in + 253, "\xc3\xbc", 2);
	scim_clean_gecos(long_in, sizeof(long_in), out);
	assert_int_equal(strlen(out), 255);
}

static void test_home(void **state)
{
	char out[64];
	assert_int_equal(scim_expand_home("/home/%u", "alice", 5000, out, sizeof(out)), 0);
	assert_string_equal(out, "/home/alice");
	assert_int_equal(scim_expand_home("/srv/%U/%u/100%%", "bob", 1879048192, out, sizeof(out)), 0);
	assert_string_equal(out, "/srv/1879048192/bob/100%");
	assert_int_equal(scim_expand_home("/home/%u", "alice", 5000, out, 11), -ENAMETOOLONG);
	assert_int_equal(scim_expand_home("/home/%u", "alice", 5000, out, 12), 0);
}

static void test_hash(void **state)
{
	uint32_t lo = 1879048192, hi = 2147483646;
	uint32_t a = scim_idmap_hash("7fce0092-d52e-4f76-b727-3955bd72c939", 0, lo, hi);
	/* Deterministic across runs and hosts: pinned. */
	assert_int_equal(a, scim_idmap_hash("7fce0092-d52e-4f76-b727-3955bd72c939", 0, lo, hi));
	assert_true(a >= lo && a <= hi);
	/* Probing gives other numbers. */
	assert_int_not_equal(a, scim_idmap_hash("7fce0092-d52e-4f76-b727-3955bd72c939", 1, lo, hi));
	/* Tiny and full windows stay inside. */
	for (uint32_t i = 0; i < 1000; i++) {
		char id[32];
		snprintf(id, sizeof(id), "id-%u", i);
		uint32_t n = scim_idmap_hash(id, i % 7, 5000, 5002);
		assert_true(n >= 5000 && n <= 5002);
		n = scim_idmap_hash(id, 0, 2147483647, 2147483647);
		assert_int_equal(n, 2147483647);
	}
	/* Spread: 3000 ids over 3 numbers hit each about 1000 times. */
	unsigned hits[3] = { 0 };
	for (uint32_t i = 0; i < 3000; i++) {
		char id[32];
		snprintf(id, sizeof(id), "spread-%u", i);
		hits[scim_idmap_hash(id, 0, 5000, 5002) - 5000]++;
	}
	for (int i = 0; i < 3; i++)
		assert_true(hits[i] > 800 && hits[i] < 1200);
}

static char *tmpdir(void);

struct seen {
	uint32_t uids[8];
	const char *names[8];
	int n;
};

static int seen_cb(const struct scim_user *u, void *ctx)
{
	struct seen *s = ctx;
	if (s->n < 8) {
		s->uids[s->n] = u->uid;
		s->names[s->n] = strdup(u->name);
	}
	s->n++;
	return 0;
}

/* Probing through the model: ids whose first hashes collide in a window of
 * three numbers get the remaining numbers, the fourth id finds none and is
 * skipped, and a second run gives every id its number again. */
static void test_probing(void **state)
{
	char *dir = tmpdir(), conf[1024], *err = NULL;
	struct scim_config *cfg;
	const char *ids[4] = { NULL };
	char idbuf[4][32];
	int found = 0;

	/* Four ids that all hash to 5000 first. */
	for (unsigned i = 0; found < 4 && i < 100000; i++) {
		snprintf(idbuf[found], sizeof(idbuf[found]), "probe-%u", i);
		if (scim_idmap_hash(idbuf[found], 0, 5000, 5002) == 5000) {
			ids[found] = idbuf[found];
			found++;
		}
	}
	assert_int_equal(found, 4);
	snprintf(conf, sizeof(conf), "uid_min = 5000\nuid_max = 5002\nstate_dir = %s\ncache_file = %s/cache.tdb\n", dir,
		 dir);
	assert_int_equal(scim_config_parse("t.conf", conf, &cfg, &err), 0);

	for (int run = 0; run < 2; run++) {
		struct scim_model *m;
		struct scim_sync_stats st;
		struct scim_cache_file *f;
		struct seen seen = { .n = 0 };
		assert_int_equal(scim_model_new(cfg, &m), 0);
		for (int i = 0; i < 4; i++) {
			char js[256];
			snprintf(js, sizeof(js), "{\"id\":\"%s\",\"userName\":\"user%d\"}", ids[i], i);
			struct json_object *o = json_tokener_parse(js);
			assert_non_null(o);
			assert_int_equal(scim_model_add_user(m, o), 0);
			json_object_put(o);
		}
		assert_int_equal(scim_publish(m, "test", false, &st), 0);
		scim_model_free(m);
		assert_int_equal(st.users, 3);
		assert_int_equal(st.skipped_users[SCIM_SKIP_NO_NUMBER], 1);
		assert_int_equal(st.collisions, run == 0 ? 2 : 0);
		assert_int_equal(st.new_numbers, run == 0 ? 3 : 0);
		assert_int_equal(scim_cache_file_open(cfg->cache_file, &f), 0);
		assert_int_equal(scim_cache_file_foreach_user(f, seen_cb, &seen), 0);
		scim_cache_file_close(f);
		assert_int_equal(seen.n, 3);
		/* New ids are numbered in id order: the smallest keeps its hash,
		 * the others probe. */
		int first = 0;
		char first_name[16];
		for (int i = 1; i < 4; i++)
			if (strcmp(ids[i], ids[first]) < 0)
				first = i;
		snprintf(first_name, sizeof(first_name), "user%d", first);
		uint32_t sum = 0;
		bool saw_first = false;
		for (int i = 0; i < 3; i++) {
			sum += seen.uids[i];
			if (!strcmp(seen.names[i], first_name)) {
				assert_int_equal(seen.uids[i], 5000);
				saw_first = true;
			}
			free((void *)seen.names[i]);
		}
		assert_true(saw_first);
		assert_int_equal(sum, 5000 + 5001 + 5002);
	}
	scim_config_free(cfg);
	char cmd[1100];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(dir);
}

static char *tmpdir(void)
{
	char tmpl[] = "/tmp/test_map.XXXXXX";
	char *d = mkdtemp(tmpl);
	assert_non_null(d);
	return strdup(d);
}

/* ------------------------------------------------------------ removed users */

/* Publishes users given as "id:name" through the model. */
static void publish_users(const struct scim_config *cfg, const char *const *users, struct scim_sync_stats *st)
{
	struct scim_model *m;
	char js[256], line[1024];

	assert_int_equal(scim_model_new(cfg, &m), 0);
	for (; *users; users++) {
		const char *colon = strchr(*users, ':');
		snprintf(js, sizeof(js), "{\"id\":\"%.*s\",\"userName\":\"%s\"}", (int)(colon - *users), *users,
			 colon + 1);
		struct json_object *o = json_tokener_parse(js);
		assert_non_null(o);
		assert_int_equal(scim_model_add_user(m, o), 0);
		json_object_put(o);
	}
	assert_int_equal(scim_publish(m, "test", false, st), 0);
	scim_model_free(m);
	scim_sync_stats_format(st, line, sizeof(line));
	print_message("%s\n", line);
}

struct removed_seen {
	int n;
	char names[8][32];
	uint32_t uids[8];
	int64_t since[8];
	char ids[8][32];
};

static int removed_seen_cb(const struct scim_removed *d, void *ctx)
{
	struct removed_seen *s = ctx;
	if (s->n < 8) {
		snprintf(s->names[s->n], sizeof(s->names[s->n]), "%s", d->name);
		s->uids[s->n] = d->uid;
		s->since[s->n] = d->since;
		snprintf(s->ids[s->n], sizeof(s->ids[s->n]), "%s", d->scim_id);
	}
	s->n++;
	return 0;
}

static int removed_find(const struct removed_seen *s, const char *name)
{
	for (int i = 0; i < s->n && i < 8; i++)
		if (!strcmp(s->names[i], name))
			return i;
	return -1;
}

static int uid_of_cb(const struct scim_user *u, void *ctx)
{
	*(uint32_t *)ctx = u->uid;
	return 0;
}

static uint32_t uid_of(const char *cache, const char *name)
{
	struct scim_cache_file *f;
	uint32_t uid = 0;
	assert_int_equal(scim_cache_file_open(cache, &f), 0);
	assert_int_equal(scim_cache_file_user_by_name(f, name, uid_of_cb, &uid), 0);
	scim_cache_file_close(f);
	return uid;
}

/* Rewrites the live cache with its own users and the given removed users, as
 * earlier syncs would have left them. */
struct rewrite {
	struct scim_cache_writer *w;
};

static int rewrite_user_cb(const struct scim_user *u, void *ctx)
{
	struct rewrite *rw = ctx;
	struct scim_user copy = *u;
	copy.ngids = 0; /* decoded gids are little-endian bytes, not the writer's array */
	copy.gids = NULL;
	return scim_cache_writer_add_user(rw->w, &copy);
}

static void seed_removed(const char *cache, const struct scim_removed *d, size_t n)
{
	struct rewrite rw;
	struct scim_cache_header h = { .last_sync = time(NULL), .source = "test" };

	assert_int_equal(scim_cache_writer_new(cache, 8, 0, &rw.w), 0);
	assert_int_equal(scim_cache_file_scan(cache, &h, rewrite_user_cb, NULL, &rw), 0);
	h.source = "test";
	for (size_t i = 0; i < n; i++)
		assert_int_equal(scim_cache_writer_add_removed(rw.w, &d[i]), 0);
	assert_int_equal(scim_cache_writer_commit(rw.w, &h), 0);
}

static void test_removed_users(void **state)
{
	char *dir = tmpdir(), conf[4096], cache[1024], *err = NULL;
	struct scim_config *cfg;
	struct scim_sync_stats st;
	struct removed_seen seen;
	struct scim_cache_header h;
	int64_t day = 86400, t0 = (int64_t)time(NULL);
	int i;

	snprintf(cache, sizeof(cache), "%s/cache.tdb", dir);
	snprintf(conf, sizeof(conf), "state_dir = %s\ncache_file = %s\nmax_removed_percent = 100\n", dir, cache);
	assert_int_equal(scim_config_parse("t.conf", conf, &cfg, &err), 0);

	/* A first sync removes nobody and keeps nothing. */
	const char *const v1[] = { "id-a:rmalice", "id-b:rmbob", "id-c:rmcarol", NULL };
	publish_users(cfg, v1, &st);
	assert_int_equal(st.removed_kept, 0);
	uint32_t bob = uid_of(cache, "rmbob");

	/* Earlier syncs left four removed users: one past the 30 days, one
	 * not, one whose name rmcarol holds now (the entry must go), and one
	 * stamped by a clock that ran ten years ahead. */
	const struct scim_removed earlier[] = {
		{ .name = "rmexpired", .uid = 1879048001, .since = t0 - 31 * day, .scim_id = "id-x" },
		{ .name = "rmrecent", .uid = 1879048002, .since = t0 - day, .scim_id = "id-r" },
		{ .name = "rmcarol", .uid = 1879048003, .since = t0 - day, .scim_id = "id-old-carol" },
		{ .name = "rmfuture", .uid = 1879048004, .since = t0 + 3650 * day, .scim_id = "id-f" },
	};
	seed_removed(cache, earlier, 4);

	/* rmbob leaves, rmalice is renamed: both old names are kept, with this
	 * sync's time; rmexpired is dropped, rmrecent carried over. */
	const char *const v2[] = { "id-a:rmalice2", "id-c:rmcarol", NULL };
	publish_users(cfg, v2, &st);
	int64_t t1 = (int64_t)time(NULL);
	assert_int_equal(st.removed, 1);
	assert_int_equal(st.renamed, 1);
	assert_int_equal(st.removed_kept, 4);
	char line[1024];
	scim_sync_stats_format(&st, line, sizeof(line));
	assert_non_null(strstr(line, " removed_kept=4"));
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(scim_cache_file_scan_all(cache, &h, NULL, NULL, removed_seen_cb, &seen), 0);
	assert_int_equal(seen.n, 4);
	i = removed_find(&seen, "rmfuture");
	assert_true(i >= 0 && seen.since[i] >= t0 && seen.since[i] <= (int64_t)time(NULL));
	assert_int_equal(h.nusers, 2);
	i = removed_find(&seen, "rmbob");
	assert_true(i >= 0);
	assert_int_equal(seen.uids[i], bob);
	assert_string_equal(seen.ids[i], "id-b");
	assert_true(seen.since[i] >= t0 && seen.since[i] <= t1);
	i = removed_find(&seen, "rmalice");
	assert_true(i >= 0);
	assert_int_equal(seen.uids[i], uid_of(cache, "rmalice2"));
	assert_string_equal(seen.ids[i], "id-a");
	i = removed_find(&seen, "rmrecent");
	assert_true(i >= 0);
	assert_int_equal(seen.since[i], t0 - day);
	assert_string_equal(seen.ids[i], "id-r");
	assert_int_equal(removed_find(&seen, "rmexpired"), -1);
	assert_int_equal(removed_find(&seen, "rmcarol"), -1);

	/* A newcomer takes rmbob's name: the name is theirs now.  The others
	 * are carried with the time they were first missed. */
	const char *const v3[] = { "id-a:rmalice2", "id-c:rmcarol", "id-b2:rmbob", NULL };
	publish_users(cfg, v3, &st);
	assert_int_equal(st.removed, 0);
	assert_int_equal(st.removed_kept, 3);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(scim_cache_file_scan_all(cache, &h, NULL, NULL, removed_seen_cb, &seen), 0);
	assert_int_equal(seen.n, 3);
	assert_int_equal(removed_find(&seen, "rmbob"), -1);
	i = removed_find(&seen, "rmalice");
	assert_true(i >= 0 && seen.since[i] >= t0 && seen.since[i] <= t1);
	scim_config_free(cfg);

	/* removed_retention = 0 keeps none. */
	snprintf(conf, sizeof(conf),
		 "state_dir = %s\ncache_file = %s\nmax_removed_percent = 100\nremoved_retention = 0\n", dir, cache);
	assert_int_equal(scim_config_parse("t.conf", conf, &cfg, &err), 0);
	const char *const v4[] = { "id-a:rmalice2", "id-c:rmcarol", NULL };
	publish_users(cfg, v4, &st);
	assert_int_equal(st.removed, 1);
	assert_int_equal(st.removed_kept, 0);
	memset(&seen, 0, sizeof(seen));
	assert_int_equal(scim_cache_file_scan_all(cache, &h, NULL, NULL, removed_seen_cb, &seen), 0);
	assert_int_equal(seen.n, 0);
	scim_config_free(cfg);

	snprintf(conf, sizeof(conf), "rm -rf '%s'", dir);
	assert_int_equal(system(conf), 0);
	free(dir);
	(void)state;
}

static void test_idmap(void **state)
{
	char *dir = tmpdir(), path[512];
	struct scim_idmap *m;
	uint32_t n;
	uint8_t flags;

	assert_int_equal(scim_idmap_open(dir, false, &m), -ENOENT);
	assert_int_equal(scim_idmap_open(dir, true, &m), 0);
	assert_int_equal(scim_idmap_count(m), 0);
	/* More than one chunk. */
	for (uint32_t i = 0; i < 3 * SCIM_IDMAP_CHUNK + 5; i++) {
		char id[32];
		snprintf(id, sizeof(id), "user-%u", i);
		assert_int_equal(scim_idmap_add(m, SCIM_IDMAP_USER, id, 10000 + i), 0);
	}
	assert_int_equal(scim_idmap_add(m, SCIM_IDMAP_GROUP, "user-1", 9000), 0); /* kinds are separate */
	assert_int_equal(scim_idmap_add(m, SCIM_IDMAP_USER, "user-1", 9001), -EEXIST);
	assert_int_equal(scim_idmap_add(m, SCIM_IDMAP_USER, "other", 10001), -EEXIST); /* number taken */
	assert_int_equal(scim_idmap_commit(m), 0);
	/* A second process is refused while the first holds the map. */
	struct scim_idmap *m2;
	assert_int_equal(scim_idmap_open(dir, true, &m2), -EBUSY);
	assert_int_equal(scim_idmap_set_flags(m, SCIM_IDMAP_USER, "user-7", SCIM_IDMAP_GONE), 0);
	assert_int_equal(scim_idmap_add(m, SCIM_IDMAP_USER, "late", 50000), 0);
	assert_int_equal(scim_idmap_commit(m), 0);
	scim_idmap_close(m);

	assert_int_equal(scim_idmap_open(dir, false, &m), 0);
	assert_int_equal(scim_idmap_count(m), 3 * SCIM_IDMAP_CHUNK + 5 + 2);
	assert_int_equal(scim_idmap_get(m, SCIM_IDMAP_USER, "user-7", &n, &flags), 0);
	assert_int_equal(n, 10007);
	assert_int_equal(flags, SCIM_IDMAP_GONE);
	assert_int_equal(scim_idmap_get(m, SCIM_IDMAP_GROUP, "user-1", &n, &flags), 0);
	assert_int_equal(n, 9000);
	assert_int_equal(scim_idmap_get(m, SCIM_IDMAP_USER, "late", &n, NULL), 0);
	assert_int_equal(n, 50000);
	assert_true(scim_idmap_number_taken(m, 10007)); /* a tombstone still holds its number */
	assert_false(scim_idmap_number_taken(m, 9999));
	assert_int_equal(scim_idmap_get(m, SCIM_IDMAP_USER, "nobody", &n, NULL), -ENOENT);
	/* Sealed after its commit: no number can be handed out again blindly. */
	scim_idmap_seal(m);
	assert_int_equal(scim_idmap_add(m, SCIM_IDMAP_USER, "after-seal", 60000), -EROFS);
	assert_int_equal(scim_idmap_count(m), 3 * SCIM_IDMAP_CHUNK + 5 + 2);
	scim_idmap_close(m);

	/* Garbage is refused, never treated as empty. */
	snprintf(path, sizeof(path), "%s/%s", dir, SCIM_IDMAP_FILE);
	FILE *f = fopen(path, "r+");
	assert_non_null(f);
	fwrite("garbage garbage garbage garbage garbage garbage", 1, 40, f);
	fclose(f);
	assert_int_equal(scim_idmap_open(dir, true, &m), -EBADMSG);
	unlink(path);
	rmdir(dir);
	free(dir);
}

static int count_cb(struct json_object *res, void *ctx)
{
	(*(int *)ctx)++;
	return 0;
}

static int scan(const char *doc)
{
	int n = 0, r = scim_json_foreach_resource(doc, strlen(doc), "test", count_cb, &n);
	return r < 0 ? r : n;
}

static void test_scanner(void **state)
{
	assert_int_equal(scan("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],"
			      "\"totalResults\":2,\"Resources\":[{\"id\":\"a\"},{\"id\":\"b\",\"x\":[1,{\"y\":\"]}\"}]}]}"),
			 2);
	assert_int_equal(scan("{\"resources\":[{\"id\":\"a\"}],\"totalResults\":1}"), 1); /* Google's spelling */
	assert_int_equal(scan("{\"RESOURCES\":[]}"), 0);
	assert_int_equal(scan("{\"\\u0052esources\":[{\"id\":\"a\"}]}"), 1); /* escaped key */
	assert_int_equal(scan("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],\"totalResults\":0}"),
			 0);
	assert_int_equal(scan(" {\"id\":\"single\",\"userName\":\"x\"} \n"), 1); /* a single resource */
	assert_int_equal(scan("{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:Error\"],\"status\":\"400\"}"),
			 -EPROTO);
	assert_int_equal(scan("{\"Resources\":[{\"id\":\"a\"},{\"id\":"), -EBADMSG);    /* truncated */
	assert_int_equal(scan("{\"Resources\":[{\"id\":\"a\" \"b\"}]}"), -EBADMSG);      /* invalid */
	assert_int_equal(scan("{\"Resources\":[{\"id\":\"a\"}]} trailing"), -EBADMSG);   /* trailing junk */
	assert_int_equal(scan("[{\"id\":\"a\"}]"), -EBADMSG);                            /* not an object */
	assert_int_equal(scan("{\"Resources\":[{\"id\":\"a\"}]]}"), -EBADMSG);
	assert_int_equal(scan(""), -EBADMSG);
}

/* What a scanner sink saw, one line per call. */
struct rec {
	char log[4096];
	size_t n;
};

static void rec_add(struct rec *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	r->n += (size_t)vsnprintf(r->log + r->n, sizeof(r->log) - r->n, fmt, ap);
	va_end(ap);
	assert_true(r->n < sizeof(r->log));
}

static int rec_resource(void *ctx, struct json_object *res)
{
	rec_add(ctx, "R%s;", json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN));
	return 0;
}

static int rec_begin(void *ctx, struct json_object *g)
{
	rec_add(ctx, "B%s;", json_object_to_json_string_ext(g, JSON_C_TO_STRING_PLAIN));
	return 0;
}

static int rec_member(void *ctx, struct json_object *m)
{
	rec_add(ctx, "J%s;", json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN));
	return 0;
}

static int rec_member_ref(void *ctx, const char *v, size_t vl, const char *t, size_t tl, const char *r, size_t rl)
{
	rec_add(ctx, "M%.*s|%.*s|%.*s;", v ? (int)vl : 1, v ? v : "-", t ? (int)tl : 1, t ? t : "-", r ? (int)rl : 1,
		r ? r : "-");
	return 0;
}

static int rec_end(void *ctx)
{
	rec_add(ctx, "E;");
	return 0;
}

static void rec_ahead(void *ctx, const char *v, size_t vl, unsigned step)
{
	if (step == 0)
		rec_add(ctx, "A%.*s;", (int)vl, v);
}

/* Scans doc from a buffer of exactly its size (no NUL after it, so ASan
 * sees any over-read) into a recording sink; returns the scan's result. */
static int scan_groups(const char *doc, struct rec *rec, size_t *count)
{
	size_t len = strlen(doc);
	char *buf = malloc(len ? len : 1);
	struct scim_scan_sink sink = { .resource = rec_resource, .begin_group = rec_begin, .member = rec_member,
				       .member_ref = rec_member_ref, .end_group = rec_end, .member_ahead = rec_ahead,
				       .ctx = rec };
	struct scim_scan s;
	struct scim_page pg;
	int r;

	memcpy(buf, doc, len);
	memset(rec, 0, sizeof(*rec));
	*count = 0;
	assert_int_equal(scim_scan_open(&s, buf, len, "test", false), 0);
	r = scim_scan_page(&s, &pg);
	if (r == 0 && pg.resources && *pg.resources == '[')
		r = scim_scan_resources(&s, &pg, &sink, count);
	scim_page_free(&pg);
	scim_scan_close(&s);
	free(buf);
	return r;
}

static void test_scan_members(void **state)
{
	struct rec rec;
	size_t n;

	/* Plain members are read without json-c, keys in any case; anything
	 * that needs decoding, is not a string or comes twice goes to json-c. */
	assert_int_equal(scan_groups("{\"Resources\":[{\"id\":\"g\",\"members\":["
				     "{\"value\":\"a\",\"display\":\"A \\\"x\\\"\",\"primary\":true,\"n\":null,"
				     "\"o\":{\"p\":[1,-2.5e3]}},"
				     "{\"VALUE\":\"b\",\"Type\":\"Group\",\"$Ref\":\"https://h/Groups/b\"},"
				     "{\"value\":\"c\",\"$+ref\":\"https://h/Groups/c\"},"
				     "{\"value\":\"d\",\"$ref\":\"r1\",\"$+ref\":\"r2\"},"
				     "{},"
				     "{\"value\":\"e\\u0041\"},"
				     "{\"value\":7},"
				     "{\"value\":\"f\",\"Value\":\"g\"},"
				     "{\"val\\u0075e\":\"h\"},"
				     "{\"value\":\"i\",\"type\":null},"
				     "\"j\","
				     "{\"value\":\"k\u00e9\",\"display\":\"J\xc3\xbcrgen\"}"
				     "],\"displayName\":\"G\"},{\"id\":\"u\"},[1]]}",
				     &rec, &n),
			 0);
	assert_int_equal(n, 3);
	/* Plain members are announced as they are read and delivered up to
	 * eight members later, always in order. */
	assert_string_equal(rec.log, "B{\"id\":\"g\",\"displayName\":\"G\"};"
				     "Aa;Ab;Ac;Ad;"
				     "Ma|-|-;"
				     "Mb|Group|https://h/Groups/b;"
				     "Mc|-|https://h/Groups/c;"
				     "Md|-|r1;"
				     "M-|-|-;"
				     "J{\"value\":\"eA\"};"
				     "J{\"value\":7};"
				     "J{\"value\":\"f\",\"Value\":\"g\"};"
				     "J{\"value\":\"h\"};"
				     "J{\"value\":\"i\",\"type\":null};"
				     "J\"j\";"
				     "Ak\u00e9;"
				     "Mk\u00e9|-|-;"
				     "E;"
				     "B{\"id\":\"u\"};E;"
				     "R[1];");
	/* More members than the queue holds, one of them through json-c. */
	{
		char doc[2048], want[2048];
		size_t dn = 0, wn = 0;
		dn += (size_t)snprintf(doc + dn, sizeof(doc) - dn, "{\"Resources\":[{\"id\":\"g\",\"members\":[");
		for (int i = 0; i < 20; i++)
			dn += (size_t)snprintf(doc + dn, sizeof(doc) - dn, "%s{\"value\":\"%s%d\"}", i ? "," : "",
					       i == 12 ? "\\u0078" : "", i);
		snprintf(doc + dn, sizeof(doc) - dn, "]}]}");
		assert_int_equal(scan_groups(doc, &rec, &n), 0);
		/* Delivered in order; the one json-c reads waits for the queue. */
		for (int i = 0; i < 20; i++)
			wn += (size_t)snprintf(want + wn, sizeof(want) - wn, i == 12 ? "J{\"value\":\"x%d\"};" : "M%d|-|-;", i);
		char got[2048];
		size_t gn = 0;
		for (const char *t = rec.log; *t; ) {
			const char *semi = strchr(t, ';');
			if (*t == 'M' || *t == 'J') {
				memcpy(got + gn, t, (size_t)(semi - t + 1));
				gn += (size_t)(semi - t + 1);
			}
			t = semi + 1;
		}
		got[gn] = 0;
		assert_string_equal(got, want);
	}
	/* A group without members, and "members": null. */
	assert_int_equal(scan_groups("{\"Resources\":[{\"id\":\"x\",\"members\":[]},{\"id\":\"y\",\"members\":null}]}",
				     &rec, &n),
			 0);
	assert_string_equal(rec.log, "B{\"id\":\"x\"};E;B{\"id\":\"y\",\"members\":null};E;");
}

/* Every prefix of a page is refused, and never read past. */
static void test_scan_truncated(void **state)
{
	static const char doc[] = "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],"
				  "\"totalResults\":12,\"Resources\":[{\"id\":\"g\",\"displayName\":\"d\u00e9v\","
				  "\"members\":[{\"value\":\"a\\u0041\",\"type\":\"User\"},{\"value\":\"b\"}],"
				  "\"x\":[true,false,null,-0.5E+2,\"\\n\"]}],\"nextCursor\":\"c\"}";
	char prefix[sizeof(doc)];
	struct rec rec;
	size_t n;

	assert_int_equal(scan_groups(doc, &rec, &n), 0);
	assert_int_equal(n, 1);
	for (size_t len = 0; len < sizeof(doc) - 1; len++) {
		memcpy(prefix, doc, len);
		prefix[len] = 0;
		assert_int_equal(scan_groups(prefix, &rec, &n), -EBADMSG);
		assert_int_equal(n, 0);
	}
}

static void test_scan_invalid(void **state)
{
	static const char *const bad[] = {
		"{\"a\":\"\xff\"}",          "{\"a\":\"\xc3\"}",     "{\"a\":\"\xe2\x82\"}",  "{\"a\":\"x\ty\"}",
		"{\"a\":[1,]}",              "{\"a\":1,}",           "{'a':1}",               "{\"a\":01}",
		"{\"a\":1.}",                "{\"a\":-}",            "{\"a\":1e}",            "{\"a\":tru}",
		"{\"a\":True}",              "{\"a\":\"\\x\"}",      "{\"a\":\"\\u12g4\"}",   "{\"a\" 1}",
		"{\"a\":1} {}",              "[]",                   "{\"a\":NaN}",           "{\"a\":[1 2]}",
		"{\"Resources\":[{\"id\":\"a\"}]]}",                  "{\"a\":{\"b\":1]}",
	};
	char deep[200];
	struct rec rec;
	size_t n;

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		print_message("%s\n", bad[i]);
		assert_int_equal(scan_groups(bad[i], &rec, &n), -EBADMSG);
	}
	assert_int_equal(scan_groups(" {\"a\":[1,{\"b\":\"\\u00e9\\/\"}],\"c\":-0.5e-3} \r\n", &rec, &n), 0);
	/* Nesting deeper than json-c would take. */
	memset(deep, 0, sizeof(deep));
	strcpy(deep, "{\"a\":");
	for (size_t i = 0; i < 70; i++)
		strcat(deep, "[");
	assert_int_equal(scan_groups(deep, &rec, &n), -EBADMSG);
}

static void test_scan_page(void **state)
{
	static const char doc[] = "{\"TOTALRESULTS\":\"5\",\"nextcursor\":\"abc\",\"schemas\":[\"x\"],"
				  "\"Resources\":null,\"detail\":\"d\",\"status\":400}";
	struct scim_scan s;
	struct scim_page pg;

	assert_int_equal(scim_scan_open(&s, doc, sizeof(doc) - 1, "test", false), 0);
	assert_int_equal(scim_scan_page(&s, &pg), 0);
	assert_string_equal(json_object_get_string(pg.total), "5");
	assert_string_equal(json_object_get_string(pg.next_cursor), "abc");
	assert_int_equal(json_object_get_int(pg.status), 400);
	assert_non_null(pg.resources);
	assert_int_equal(pg.resources[0], 'n');
	assert_int_equal(scim_page_error(&s, &pg), 0);
	scim_page_free(&pg);
	scim_scan_close(&s);
}

/* What the import makes of a Users document and a Groups document, as
 * scim_model_describe() tells it (the scanner's path: pages streamed, single
 * resources through scim_scan_single). */
static char *import_docs(const char *conf, const char *users, const char *groups)
{
	char *dir = tmpdir(), text[1024], *out = NULL, path[600];
	struct scim_config *cfg;
	struct scim_model *m;
	struct scim_scan_sink sink;
	struct scim_scan s;
	size_t olen = 0;
	char *err = NULL;
	FILE *f;

	snprintf(text, sizeof(text), "state_dir = %s\ncache_file = %s/cache.tdb\n%s", dir, dir, conf);
	assert_int_equal(scim_config_parse("test", text, &cfg, &err), 0);
	assert_int_equal(scim_model_new(cfg, &m), 0);
	for (int g = 0; g < 2; g++) {
		const char *doc = g ? groups : users;
		if (!doc)
			continue;
		scim_model_sink(m, g, &sink);
		assert_int_equal(scim_scan_open(&s, doc, strlen(doc), "test", false), 0);
		assert_int_equal(scim_import_document(&s, &sink), 0);
		scim_scan_close(&s);
	}
	f = open_memstream(&out, &olen);
	assert_non_null(f);
	assert_int_equal(scim_model_describe(m, f), 0);
	fclose(f);
	scim_model_free(m);
	scim_config_free(cfg);
	snprintf(path, sizeof(path), "%s/%s", dir, SCIM_IDMAP_FILE);
	unlink(path);
	rmdir(dir);
	free(dir);
	return out;
}

/* The line of describe output d that starts with prefix. */
static void assert_line(const char *d, const char *want)
{
	const char *p = strstr(d, want);
	if (!p || (p != d && p[-1] != '\n') || (p[strlen(want)] != '\n'))
		fail_msg("no line\n  %s\nin\n%s", want, d);
}

#define LIST(x) "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:ListResponse\"],\"Resources\":[" x "]}"

/* Finding 3: "active" is true, false, "true" or "false" in any case; absent
 * is active; anything else, null and "true\u0000x" included, is suspended.
 * The same through the streamed page (the scanner's lean scalars) and as a
 * single resource. */
static void test_active(void **state)
{
	static const char *const cases[][2] = {
		{ "true", "0" },	 { "false", "1" },	      { "\"TRUE\"", "0" }, { "\"False\"", "1" },
		{ "\"true\\u0000x\"", "1" }, { "\"true \"", "1" }, { "1", "1" },	     { "0", "1" },
		{ "null", "1" },	 { "{\"value\":true}", "1" }, { "[true]", "1" },    { "\"yes\"", "1" },
	};
	char doc[256], want[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int single = 0; single < 2; single++) {
			char *d;
			snprintf(doc, sizeof(doc), single ? "%s" : LIST("%s"),
				 "{\"id\":\"a\",\"userName\":\"scimt1\",\"Active\":ACTIVE}");
			char *at = strstr(doc, "ACTIVE");
			memmove(at + strlen(cases[i][0]), at + 6, strlen(at + 6) + 1);
			memcpy(at, cases[i][0], strlen(cases[i][0]));
			print_message("%s\n", doc);
			d = import_docs("", doc, NULL);
			snprintf(want, sizeof(want), "user a skip=- name=scimt1 gecos= attr=0 suspended=%s",
				 cases[i][1]);
			assert_line(d, want);
			free(d);
		}
	}
	char *d = import_docs("", LIST("{\"id\":\"a\",\"userName\":\"scimt1\"}"), NULL);
	assert_line(d, "user a skip=- name=scimt1 gecos= attr=0 suspended=0");
	free(d);
}

/* Finding 2: a key the mapping reads, twice in any case, makes the resource
 * ambiguous, in a page and as a single resource alike. */
static void test_ambiguous(void **state)
{
	static const char *const users[] = {
		"{\"id\":\"a\",\"userName\":\"scimt1\",\"active\":true,\"active\":false}",
		"{\"id\":\"a\",\"userName\":\"scimt1\",\"user\\u004eame\":\"bob\"}",
		"{\"id\":\"a\",\"userName\":\"scimt1\",\"name\":{\"formatted\":\"A\",\"FORMATTED\":\"B\"}}",
		"{\"id\":\"a\",\"userName\":\"scimt1\",\"displayName\":\"A\",\"displayname\":\"B\"}",
		"{\"id\":\"a\",\"userName\":\"scimt1\",\"externalId\":\"A\",\"externalId\":\"B\"}",
		"{\"id\":\"a\",\"userName\":\"scimt1\",\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":"
		"{\"employeeNumber\":\"5000\",\"employeenumber\":\"6000\"}}",
		"{\"id\":\"a\",\"userName\":\"scimt1\",\"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{},"
		"\"URN:ietf:params:scim:schemas:extension:enterprise:2.0:User\":{\"employeeNumber\":\"5000\"}}",
	};
	static const char *const groups[] = {
		"{\"id\":\"g\",\"displayName\":\"scimtg\",\"members\":[{\"value\":\"a\"}],\"members\":null}",
		"{\"id\":\"g\",\"displayName\":\"scimtg\",\"members\":[{\"value\":\"a\"}],\"Members\":[{\"value\":\"b\"}]}",
		"{\"id\":\"g\",\"displayName\":\"scimtg\",\"members\":null,\"members\":[{\"value\":\"a\"}]}",
		"{\"id\":\"g\",\"displayName\":\"scimtg\",\"members\":[{\"value\":\"a\"},{\"value\":\"b\",\"Value\":\"c\"}]}",
		"{\"id\":\"g\",\"displayName\":\"scimtg\",\"members\":[{\"value\":\"a\"},{\"value\":\"b\",\"val\\u0075e\":7}]}",
		"{\"id\":\"g\",\"displayName\":\"scimtg\",\"members\":[{\"value\":\"a\",\"type\":\"User\",\"TYPE\":\"Group\"}]}",
		"{\"id\":\"g\",\"displayName\":\"scimtg\",\"members\":[{\"value\":\"a\",\"$+ref\":\"x\",\"$+ref\":\"y\"}]}",
		"{\"id\":\"g\",\"displayName\":\"scimtg\",\"displayName\":\"other\",\"members\":[{\"value\":\"a\"}]}",
	};
	static const char conf[] =
		"uid_attribute = urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber\n";
	char doc[512];
	char *d;

	for (size_t i = 0; i < sizeof(users) / sizeof(users[0]); i++)
		for (int single = 0; single < 2; single++) {
			snprintf(doc, sizeof(doc), single ? "%s" : LIST("%s"), users[i]);
			print_message("%s\n", doc);
			d = import_docs(conf, doc, NULL);
			assert_line(d, "user a skip=ambiguous name=- gecos=- attr=0 suspended=0");
			free(d);
		}
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++)
		for (int single = 0; single < 2; single++) {
			snprintf(doc, sizeof(doc), single ? "%s" : LIST("%s"), groups[i]);
			print_message("%s\n", doc);
			d = import_docs(conf, LIST("{\"id\":\"a\",\"userName\":\"scimt1\"}"), doc);
			assert_line(d, "group g skip=ambiguous name=- attr=0 members=");
			free(d);
		}
	/* "id" twice: no usable id; counted as ambiguous, not as no_id. */
	for (int single = 0; single < 2; single++) {
		snprintf(doc, sizeof(doc), single ? "%s" : LIST("%s"),
			 "{\"id\":\"a\",\"userName\":\"scimt1\",\"ID\":\"b\"}");
		d = import_docs(conf, doc, NULL);
		assert_line(d, "no_id users=0 groups=0 bad users=0 groups=0 ambiguous users=1 groups=0");
		free(d);
	}
	/* Keys the mapping does not read may come twice; read keys once each,
	 * in whatever case, are fine. */
	d = import_docs(conf,
			LIST("{\"id\":\"a\",\"USERNAME\":\"scimt1\",\"emails\":[],\"emails\":[],\"name\":{\"givenName\":"
			     "\"A\",\"givenname\":\"B\",\"formatted\":\"Alice\"}}"),
			LIST("{\"id\":\"g\",\"displayName\":\"scimtg\",\"meta\":1,\"meta\":2,\"members\":[{\"value\":\"a\","
			     "\"display\":\"x\",\"display\":\"y\"}]}"));
	assert_line(d, "user a skip=- name=scimt1 gecos=Alice attr=0 suspended=0");
	assert_line(d, "group g skip=- name=scimtg attr=0 members=u:a");
	free(d);
	/* With name_attribute = name.givenName, givenName is read: twice is ambiguous. */
	d = import_docs("name_attribute = name.givenName\n",
			LIST("{\"id\":\"a\",\"name\":{\"givenName\":\"scimt1\",\"givenname\":\"bob\"}}"), NULL);
	assert_line(d, "user a skip=ambiguous name=- gecos=- attr=0 suspended=0");
	free(d);
}

static void test_strmap_getn(void **state)
{
	struct scim_strmap m = { 0 };
	char keys[1000][16];
	uint32_t v;

	for (uint32_t i = 0; i < 1000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "key-%08u", i * 7919); /* one length: no key is a prefix of another */
		v = i;
		assert_int_equal(scim_strmap_put(&m, 'u', keys[i], &v), 0);
	}
	for (uint32_t i = 0; i < 1000; i++) {
		char buf[32];
		size_t len = strlen(keys[i]);
		/* A key inside a longer text: only len bytes count. */
		memcpy(buf, keys[i], len);
		memcpy(buf + len, "xyz", 3);
		assert_int_equal(scim_strmap_getn(&m, 'u', buf, len, &v), 0);
		assert_int_equal(v, i);
		assert_int_equal(scim_strmap_getn(&m, 'u', buf, len + 1, &v), -ENOENT);
		assert_int_equal(scim_strmap_getn(&m, 'u', buf, len - 1, &v), -ENOENT);
		assert_int_equal(scim_strmap_getn(&m, 'g', buf, len, &v), -ENOENT);
	}
	scim_strmap_free(&m);
}

static int parse(const char *text, struct scim_config **c, char **err)
{
	int r;
	*c = NULL;
	*err = NULL;
	r = scim_config_parse("t.conf", text, c, err);
	if (r < 0 && *err)
		print_message("config error: %s\n", *err);
	return r;
}

static void config_error(const char *text, const char *want)
{
	struct scim_config *c;
	char *err;
	assert_int_equal(parse(text, &c, &err), -EINVAL);
	assert_null(c);
	assert_non_null(err);
	if (strcmp(err, want))
		fail_msg("config error\n  want: %s\n  got:  %s", want, err);
	free(err);
}

static void test_config(void **state)
{
	struct scim_config *c;
	char *err;

	/* Defaults. */
	assert_int_equal(parse("", &c, &err), 0);
	assert_string_equal(c->name_attribute, "userName");
	assert_true(c->lowercase_names);
	assert_false(c->strip_domain);
	assert_null(c->uid_attribute);
	assert_int_equal(c->uid_min, 1879048192u);
	assert_int_equal(c->uid_max, 2147483646u);
	assert_string_equal(c->home, "/home/%u");
	assert_string_equal(c->shell, "/bin/bash");
	assert_null(c->primary_group);
	assert_int_equal(c->ndeny_names, 0);
	assert_null(c->deny_names[0]);
	assert_int_equal(c->max_removed_percent, 10);
	assert_int_equal(c->removed_retention, 30 * 86400);
	assert_null(c->url);
	assert_int_equal(c->refresh_interval, 300);
	assert_int_equal(c->page_size, 100);
	assert_int_equal(c->timeout, 30);
	assert_int_equal(c->nheaders, 0);
	assert_int_equal(c->max_response_bytes, 64u << 20);
	assert_int_equal(c->max_parallel, 4);
	assert_int_equal(c->max_confirmations, 100);
	assert_int_equal(scim_config_check_network(c, &err), -EINVAL);
	assert_non_null(strstr(err, "'url' is not set"));
	free(err);
	scim_config_free(c);

	/* The benchmark's config, and every key. */
	assert_int_equal(parse("# bench\n"
			       "uid_attribute = urn:example:params:scim:schemas:extension:posix:2.0:User:uidNumber\n"
			       "gid_attribute = urn:example:params:scim:schemas:extension:posix:2.0:Group:gidNumber\n"
			       "uid_min = 100000\n"
			       "uid_max = 2147483647\n"
			       "primary_group = users\n"
			       "state_dir = /tmp/x/state\n"
			       "cache_file = /tmp/x/state/cache.tdb\n"
			       "max_removed_percent = 100\n"
			       "   name_attribute=urn:ietf:params:scim:schemas:core:2.0:User:userName   # trailing comment\n"
			       "lowercase_names = no\r\n"
			       "strip_domain = yes\n"
			       "home = /home/%U\n"
			       "shell = /bin/sh\n"
			       "deny_names = admin, operator\n"
			       "deny_names = backup\n"
			       "url = https://api.github.com/scim/v2/enterprises/octo/\n"
			       "token_file = /etc/scim-refreshd/token\n"
			       "ca_file = /etc/ssl/certs/ca.pem\n"
			       "refresh_interval = 600\n"
			       "page_size = 50\n"
			       "timeout = 10\n"
			       "header = X-GitHub-Api-Version: 2022-11-28\n"
			       "header = X-Trace: a#b\n"
			       "max_response_bytes = 16M\n"
			       "max_parallel = 8\n"
			       "max_confirmations = 0\n",
			       &c, &err),
			 0);
	if (err)
		fail_msg("%s", err);
	assert_int_equal(c->uid_min, 100000);
	assert_int_equal(c->uid_max, 2147483647u);
	assert_string_equal(c->primary_group, "users");
	assert_string_equal(c->name_attribute, "urn:ietf:params:scim:schemas:core:2.0:User:userName");
	assert_false(c->lowercase_names);
	assert_true(c->strip_domain);
	assert_int_equal(c->ndeny_names, 3);
	assert_string_equal(c->deny_names[2], "backup");
	assert_string_equal(c->url, "https://api.github.com/scim/v2/enterprises/octo");
	assert_int_equal(c->nheaders, 2);
	assert_string_equal(c->headers[0], "X-GitHub-Api-Version: 2022-11-28");
	assert_string_equal(c->headers[1], "X-Trace: a#b");
	assert_int_equal(c->max_response_bytes, 16u << 20);
	assert_int_equal(c->max_parallel, 8);
	assert_int_equal(c->max_confirmations, 0);
	assert_int_equal(scim_config_check_network(c, &err), 0);
	scim_config_free(c);

	/* removed_retention: seconds, as refresh_interval and timeout; 0 keeps none. */
	assert_int_equal(parse("removed_retention = 0\n", &c, &err), 0);
	assert_int_equal(c->removed_retention, 0);
	scim_config_free(c);
	assert_int_equal(parse("removed_retention = 315360000\n", &c, &err), 0);
	assert_int_equal(c->removed_retention, 315360000u);
	scim_config_free(c);
	/* Durations take one unit, as admins write them. */
	assert_int_equal(parse("removed_retention = 30d\nrefresh_interval = 5m\ntimeout = 2m\n", &c, &err), 0);
	assert_int_equal(c->removed_retention, 30 * 86400);
	assert_int_equal(c->refresh_interval, 300);
	assert_int_equal(c->timeout, 120);
	scim_config_free(c);
	config_error("removed_retention = 30x\n",
		     "t.conf:1: removed_retention: '30x' is not a duration (seconds, or a number with s, m, h or d)");
	config_error("removed_retention = d\n",
		     "t.conf:1: removed_retention: 'd' is not a duration (seconds, or a number with s, m, h or d)");
	config_error("removed_retention = -1\n",
		     "t.conf:1: removed_retention: '-1' is not a duration (seconds, or a number with s, m, h or d)");
	config_error("removed_retention = 315360001\n",
		     "t.conf:1: removed_retention: 315360001 is out of range (0..315360000 seconds)");
	config_error("removed_retention = 3651d\n",
		     "t.conf:1: removed_retention: 3651d is out of range (0..315360000 seconds)");

	/* primary_group = user is the user-private default. */
	assert_int_equal(parse("primary_group = user\n", &c, &err), 0);
	assert_null(c->primary_group);
	scim_config_free(c);

	/* Errors name the file and line. */
	config_error("\n\nuid_mn = 5\n", "t.conf:3: unknown key 'uid_mn'");
	config_error("uid_min\n", "t.conf:1: expected 'key = value'");
	config_error("uid_min = \n", "t.conf:1: uid_min: missing value");
	config_error("uid_min = -5\n", "t.conf:1: uid_min: '-5' is not a number");
	config_error("uid_min = 999\n", "t.conf:1: uid_min: 999 is out of range (1000..2147483647)");
	config_error("uid_max = 2147483648\n", "t.conf:1: uid_max: 2147483648 is out of range (1000..2147483647)");
	config_error("uid_max = 99999999999999999999999\n",
		     "t.conf:1: uid_max: 99999999999999999999999 is out of range (1000..2147483647)");
	config_error("uid_min = 5000\nuid_max = 4000\n", "t.conf: uid_min (5000) is above uid_max (4000)");
	config_error("uid_min = 5000\n# x\nuid_min = 6000\n", "t.conf:3: uid_min is already set on line 1");
	config_error("lowercase_names = perhaps\n", "t.conf:1: lowercase_names: 'perhaps' is not yes or no");
	config_error("max_removed_percent = 101\n", "t.conf:1: max_removed_percent: 101 is out of range (0..100)");
	config_error("home = home/%u\n", "t.conf:1: home: 'home/%u' is not an absolute path");
	config_error("home = /home/%n\n", "t.conf:1: home: unknown escape '%n' (use %u, %U or %%)");
	config_error("state_dir = relative\n", "t.conf:1: state_dir: 'relative' is not an absolute path");
	config_error("primary_group = Wheel Group\n",
		     "t.conf:1: primary_group: 'Wheel Group' is neither 'user' nor a valid group name");
	config_error("uid_attribute = urn:ietf:params:scim:schemas:extension:enterprise:2.0:User\n",
		     "t.conf:1: uid_attribute: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User' names a "
		     "schema but no attribute (URN:attribute)");
	config_error("uid_attribute = a b\n", "t.conf:1: uid_attribute: 'a b' is not a SCIM attribute path");
	config_error("url = http://example.com/scim\n", "t.conf:1: url: 'http://example.com/scim' is not an https:// URL");
	config_error("header = Authorization: Bearer x\n", "t.conf:1: header: Authorization is set from token_file, not here");
	config_error("header = no colon\n", "t.conf:1: header: 'no colon' is not 'Name: value'");
	config_error("page_size = 0\n", "t.conf:1: page_size: 0 is out of range (1..10000)");
	config_error("refresh_interval = 5\n", "t.conf:1: refresh_interval: 5 is out of range (10..604800 seconds)");
	config_error("max_parallel = 0\n", "t.conf:1: max_parallel: 0 is out of range (1..100)");
	config_error("max_parallel = 101\n", "t.conf:1: max_parallel: 101 is out of range (1..100)");
	config_error("max_confirmations = 100001\n",
		     "t.conf:1: max_confirmations: 100001 is out of range (0..100000)");
	config_error("max_response_bytes = 10X\n",
		     "t.conf:1: max_response_bytes: '10X' is not a size (bytes, or with K, M or G)");
}

static void test_config_file(void **state)
{
	struct scim_config *c;
	char *err = NULL;
	assert_int_equal(scim_config_load("/nonexistent/scim-refreshd.conf", &c, &err), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/scim-refreshd.conf: cannot open"));
	free(err);
}

/* load_file: scim_config_load of a config file with the given mode and owner
 * (and a ca_file line when ca); returns its result, err in *err. */
static int load_file(const char *dir, mode_t mode, uid_t owner, const char *ca, char **err)
{
	char path[512];
	struct scim_config *c = NULL;
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/scim-refreshd.conf", dir);
	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "url = https://scim.example.com/v2\n");
	if (ca)
		fprintf(f, "ca_file = %s\n", ca);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	if (owner != geteuid())
		assert_int_equal(chown(path, owner, (gid_t)-1), 0);
	*err = NULL;
	r = scim_config_load(path, &c, err);
	assert_true(r < 0 ? c == NULL : c != NULL);
	scim_config_free(c);
	return r;
}

/* The config picks the url and the CA: a file group or others may write, or
 * that someone else owns, is refused like a loose token file. */
static void test_config_trust(void **state)
{
	char dir[] = "/tmp/test_map.XXXXXX", ca[600], *err = NULL;
	uid_t me = geteuid();
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	f = fopen(ca, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(ca, 0644), 0);

	assert_int_equal(load_file(dir, 0644, me, NULL, &err), 0);
	assert_int_equal(load_file(dir, 0600, me, ca, &err), 0);
	assert_int_equal(load_file(dir, 0664, me, NULL, &err), -EPERM);
	assert_non_null(strstr(err, "config file"));
	assert_non_null(strstr(err, dir));
	assert_non_null(strstr(err, "chmod 644"));
	free(err);
	assert_int_equal(load_file(dir, 0646, me, NULL, &err), -EPERM);
	free(err);
	assert_int_equal(chmod(ca, 0666), 0);
	assert_int_equal(load_file(dir, 0644, me, ca, &err), -EPERM);
	assert_non_null(strstr(err, "ca_file"));
	assert_non_null(strstr(err, ca));
	free(err);
	assert_int_equal(chmod(ca, 0644), 0);
	/* Owned by neither root nor the daemon: only root can make one. */
	if (me == 0) {
		assert_int_equal(load_file(dir, 0644, 4242, NULL, &err), -EPERM);
		assert_non_null(strstr(err, "owned by uid 4242"));
		free(err);
		assert_int_equal(chown(ca, 4242, (gid_t)-1), 0);
		assert_int_equal(load_file(dir, 0644, me, ca, &err), -EPERM);
		assert_non_null(strstr(err, "ca_file"));
		free(err);
	}
	snprintf(ca, sizeof(ca), "rm -rf %s", dir);
	assert_int_equal(system(ca), 0);
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--layout")) {
		uint32_t pos[40];
		strmap_layout(pos);
		for (int i = 0; i < 40; i++)
			printf("%u\n", pos[i]);
		return 0;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid), cmocka_unit_test(test_map_name), cmocka_unit_test(test_reserved_names),
		cmocka_unit_test(test_gecos),
		cmocka_unit_test(test_home),	   cmocka_unit_test(test_hash),	    cmocka_unit_test(test_probing),
		cmocka_unit_test(test_idmap),	   cmocka_unit_test(test_removed_users),
		cmocka_unit_test(test_scanner),	   cmocka_unit_test(test_scan_members),
		cmocka_unit_test(test_scan_truncated), cmocka_unit_test(test_scan_invalid),
		cmocka_unit_test(test_scan_page),
		cmocka_unit_test(test_active), cmocka_unit_test(test_ambiguous), cmocka_unit_test(test_strmap_getn),
		cmocka_unit_test(test_config), cmocka_unit_test(test_config_file), cmocka_unit_test(test_config_trust),
		cmocka_unit_test(test_table_seed), cmocka_unit_test(test_expect_reserves_nothing),
	};
	scim_log_set_level(LOG_EMERG); /* the scanner's error logs are expected */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
