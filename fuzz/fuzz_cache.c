/* fuzz_cache.c - a whole cache file through the reader (cache/cache.h).
 *
 * The input is written to a file (in /dev/shm, so no disk I/O; $TMPDIR or /tmp
 * without it) and read the way the modules and the publisher read it: the
 * header; enumeration of users and groups through cursors; every lookup kind
 * (user and passwd by name and by uid, group by name and by gid) for the
 * names and numbers the enumeration found and for a few fixed ones; and the
 * private reads (scim_cache_file_*, scim_cache_file_scan).  Every entry a
 * lookup hands out is packed the way the NSS module packs it.
 *
 * Invariants: no crash, no read outside the file (the sanitizers), no hang
 * (libFuzzer's -timeout), results that are 0 or a documented -errno, and an
 * entry found by number carries that number.  scim_cache_reset() between
 * inputs closes the handles, so each input is a fresh open. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/cache.h"
#include "fuzz/fuzz.h"
#include "nss_scim/pack.h"

#define MAX_SEEN 32
#define MAX_ENTRIES 4096

static char path[256];

static void remove_file(void)
{
	unlink(path);
}

static void init_path(void)
{
	const char *dir = "/dev/shm";
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK) < 0)
		dir = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	snprintf(path, sizeof(path), "%s/scim-fuzz-cache.%ld.tdb", dir, (long)getpid());
	atexit(remove_file);
}

static void write_file(const uint8_t *data, size_t size)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t off = 0;
	FUZZ_CHECK(fd >= 0);
	while (off < size) {
		ssize_t n = write(fd, data + off, size - off);
		FUZZ_CHECK(n > 0);
		off += (size_t)n;
	}
	/* The reader refuses a cache others could write: the umask must not
	 * decide what is tested. */
	FUZZ_CHECK(fchmod(fd, 0644) == 0);
	close(fd);
}

/* What a reader call may answer (cache.h); anything else is a bug. */
static bool documented(int r)
{
	return r == 0 || r == -ENOENT || r == -ENODATA || r == -EBADMSG || r == -ENOMEM || r == -ERANGE || r == -EIO ||
	       r == -EAGAIN || r == -EBUSY;
}

struct seen {
	char names[MAX_SEEN][256];
	uint32_t nums[MAX_SEEN];
	unsigned n;
};

static struct seen users, groups;

static void remember(struct seen *s, const char *name, size_t len, uint32_t num)
{
	if (s->n == MAX_SEEN || len > 255)
		return;
	memcpy(s->names[s->n], name, len);
	s->names[s->n][len] = 0;
	s->nums[s->n++] = num;
}

/* A lookup by number passes the number as ctx; by name or in a walk, NULL. */
static int user_cb(const struct scim_user *u, void *ctx)
{
	struct passwd pw;
	size_t need = scim_need_passwd(u);
	char *buf = malloc(need ? need : 1);

	FUZZ_CHECK(buf != NULL);
	if (ctx)
		FUZZ_CHECK(u->uid == *(const uint32_t *)ctx);
	FUZZ_CHECK(u->name[u->name_len] == 0 && u->gecos[u->gecos_len] == 0 && u->home[u->home_len] == 0 &&
	           u->shell[u->shell_len] == 0);
	FUZZ_CHECK(scim_pack_passwd(u, &pw, buf, need) == 0);
	FUZZ_CHECK(need == 0 || scim_pack_passwd(u, &pw, buf, need - 1) == -ERANGE);
	if (u->has_ext)
		for (uint32_t i = 0; i < u->ngids; i++)
			(void)scim_rec_gid(u, i);
	free(buf);
	return 0;
}

static int user_remember_cb(const struct scim_user *u, void *ctx)
{
	remember(&users, u->name, u->name_len, u->uid);
	return user_cb(u, ctx);
}

static int group_cb(const struct scim_group *g, void *ctx)
{
	struct group gr;
	char *buf;
	size_t need;
	int r;

	if (ctx)
		FUZZ_CHECK(g->gid == *(const uint32_t *)ctx);
	/* need depends on the buffer's alignment; malloc's is the strictest. */
	need = scim_need_group(g, NULL);
	buf = malloc(need);
	FUZZ_CHECK(buf != NULL);
	r = scim_pack_group(g, &gr, buf, need);
	FUZZ_CHECK(r == 0 || r == -EBADMSG);
	FUZZ_CHECK(scim_pack_group(g, &gr, buf, need - 1) == -ERANGE);
	free(buf);
	return 0;
}

static int group_remember_cb(const struct scim_group *g, void *ctx)
{
	remember(&groups, g->name, strlen(g->name), g->gid);
	return group_cb(g, ctx);
}

static int header_cb(const struct scim_cache_header *h, void *ctx)
{
	FUZZ_CHECK(h->format_version == SCIM_CACHE_FORMAT_VERSION && h->source != NULL);
	(void)strlen(h->source);
	return 0;
}

static void enumerate(void)
{
	struct scim_cursor cur;
	unsigned n = 0;
	int r;

	r = scim_cache_cursor_open(path, &cur);
	FUZZ_CHECK(documented(r));
	if (r == 0) {
		while ((r = scim_cache_user_next(&cur, user_remember_cb, NULL)) == 0)
			FUZZ_CHECK(++n <= MAX_ENTRIES * 64);
		FUZZ_CHECK(documented(r));
		scim_cache_cursor_close(&cur);
	}
	n = 0;
	r = scim_cache_cursor_open(path, &cur);
	FUZZ_CHECK(documented(r));
	if (r == 0) {
		while ((r = scim_cache_group_next(&cur, group_remember_cb, NULL)) == 0)
			FUZZ_CHECK(++n <= MAX_ENTRIES * 64);
		FUZZ_CHECK(documented(r));
		scim_cache_cursor_close(&cur);
	}
}

static void lookups(void)
{
	static const char *const fixed[] = {"alice", "root", "mona.octocat", "x"};
	static const uint32_t fixed_nums[] = {0, 1000, 1879048192u, 1879048193u, 2147483646u};
	int r;

	for (unsigned i = 0; i < users.n + 4; i++) {
		const char *name = i < users.n ? users.names[i] : fixed[i - users.n];
		r = scim_cache_user_by_name(path, name, user_cb, NULL);
		FUZZ_CHECK(documented(r));
		r = scim_cache_passwd_by_name(path, name, user_cb, NULL);
		FUZZ_CHECK(documented(r));
	}
	for (unsigned i = 0; i < groups.n + 4; i++) {
		const char *name = i < groups.n ? groups.names[i] : fixed[i - groups.n];
		r = scim_cache_group_by_name(path, name, group_cb, NULL);
		FUZZ_CHECK(documented(r));
	}
	for (unsigned i = 0; i < users.n + groups.n + 5; i++) {
		uint32_t num = i < users.n              ? users.nums[i]
		               : i < users.n + groups.n ? groups.nums[i - users.n]
		                                        : fixed_nums[i - users.n - groups.n];
		r = scim_cache_user_by_uid(path, num, user_cb, &num);
		FUZZ_CHECK(documented(r));
		r = scim_cache_passwd_by_uid(path, num, user_cb, &num);
		FUZZ_CHECK(documented(r));
		r = scim_cache_group_by_gid(path, num, group_cb, &num);
		FUZZ_CHECK(documented(r));
	}
}

static void private_reads(void)
{
	struct scim_cache_file *f;
	struct scim_cache_header h;
	int r = scim_cache_file_open(path, &f);

	FUZZ_CHECK(documented(r));
	if (r == 0) {
		FUZZ_CHECK(scim_cache_file_header(f, &h) == 0);
		header_cb(&h, NULL);
		r = scim_cache_file_foreach_user(f, user_cb, NULL);
		FUZZ_CHECK(documented(r));
		r = scim_cache_file_foreach_group(f, group_cb, NULL);
		FUZZ_CHECK(documented(r));
		for (unsigned i = 0; i < users.n; i++) {
			r = scim_cache_file_user_by_name(f, users.names[i], user_cb, NULL);
			FUZZ_CHECK(documented(r));
		}
		scim_cache_file_close(f);
	}
	r = scim_cache_file_scan(path, &h, user_cb, group_cb, NULL);
	FUZZ_CHECK(documented(r));
	if (r == 0)
		FUZZ_CHECK(h.format_version == SCIM_CACHE_FORMAT_VERSION && h.source == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int r;

	if (!path[0])
		init_path();
	write_file(data, size);
	users.n = groups.n = 0;
	r = scim_cache_header(path, header_cb, NULL);
	FUZZ_CHECK(documented(r));
	enumerate();
	lookups();
	private_reads();
	scim_cache_reset();
	return 0;
}
