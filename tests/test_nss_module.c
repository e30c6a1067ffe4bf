/* test_nss_module.c - libnss_scim.so.2 against glibc's contract, called the
 * way glibc calls it: dlopen(RTLD_NOW), then the _nss_scim_* entry points
 * with caller buffers of every size. */
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
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tests/nss_testlib.h"

static struct nss_module m;
static const char *cache;

static const char base_desc[] =
	"source:https://scim.example.com/scim/v2\n"
	"user:alice:1879048200:1879048200:Alice Liddell:/home/alice:/bin/bash:active:id-a:1879048300,1879048301,1879048302\n"
	"user:bob:1879048201:1879048201:Bob:/home/bob:/bin/sh:suspended:id-b:1879048300\n"
	"user:carol:1879048202:1879048300:Carol:/home/carol:/bin/bash:active:id-c:\n"
	"group:devs:1879048300:g-1:alice,bob\n"
	"group:ops:1879048301:g-2:alice\n"
	"group:empty:1879048302:g-3:\n"
	"biggroup:huge:1879048303:member:20000\n"
	/* A user the directory removed: kept for pam_scim, invisible to NSS. */
	"removed:dave:1879048210:1700000000:id-d\n";

static int setup(void **state)
{
	cache = nss_test_setup(&m);
	assert_int_equal(nss_test_publish(cache, base_desc), 0);
	return 0;
}

static void republish(const char *desc)
{
	assert_int_equal(nss_test_publish(cache, desc), 0);
}

/* ------------------------------------------------------------ lookups */

static void passwd_lookups(void **state)
{
	struct passwd pw;
	char buf[1024];
	int err = 0;

	republish(base_desc);
	errno = 4321;
	assert_int_equal(m.getpwnam_r("alice", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_int_equal(errno, 4321);
	assert_string_equal(pw.pw_name, "alice");
	assert_string_equal(pw.pw_passwd, "*");
	assert_int_equal(pw.pw_uid, 1879048200);
	assert_int_equal(pw.pw_gid, 1879048200);
	assert_string_equal(pw.pw_gecos, "Alice Liddell");
	assert_string_equal(pw.pw_dir, "/home/alice");
	assert_string_equal(pw.pw_shell, "/bin/bash");

	/* suspended users resolve like active ones: their files keep a name */
	assert_int_equal(m.getpwuid_r(1879048201, &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_name, "bob");

	err = 777;
	assert_int_equal(m.getpwnam_r("nobody-here", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(m.getpwuid_r(42, &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(m.getpwnam_r("", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	/* a removed user is not a user, by name or by number */
	assert_int_equal(m.getpwnam_r("dave", &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(m.getpwuid_r(1879048210, &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	/* an absurdly long name is simply not found */
	char longname[1000];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_int_equal(m.getpwnam_r(longname, &pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(err, 777);
	assert_int_equal(errno, 4321);
}

static void group_lookups(void **state)
{
	struct group gr;
	char buf[1024];
	int err = 0;

	assert_int_equal(m.getgrnam_r("devs", &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_int_equal(gr.gr_gid, 1879048300);
	assert_string_equal(gr.gr_mem[0], "alice");
	assert_string_equal(gr.gr_mem[1], "bob");
	assert_null(gr.gr_mem[2]);
	assert_int_equal(m.getgrgid_r(1879048302, &gr, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_string_equal(gr.gr_name, "empty");
	assert_null(gr.gr_mem[0]);
	assert_int_equal(m.getgrgid_r(4242, &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(m.getgrnam_r("nogroup-here", &gr, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
}

/* glibc grows the buffer on TRYAGAIN+ERANGE: every size below the one needed
 * must say exactly that. */
static void small_buffers(void **state)
{
	struct passwd pw;
	struct group gr;
	int err;
	size_t ok_at = 0;

	for (size_t len = 0; len < 512; len++) {
		char *buf = malloc(len ? len : 1);
		err = 0;
		enum nss_status s = m.getpwnam_r("alice", &pw, buf, len, &err);
		if (s == NSS_STATUS_SUCCESS) {
			assert_string_equal(pw.pw_dir, "/home/alice");
			ok_at = len;
			free(buf);
			break;
		}
		assert_int_equal(s, NSS_STATUS_TRYAGAIN);
		assert_int_equal(err, ERANGE);
		free(buf);
	}
	assert_true(ok_at > 0);

	/* the 20,000-member group: ERANGE until the buffer holds it all */
	size_t len = 1024;
	char *buf = malloc(len);
	for (;;) {
		err = 0;
		enum nss_status s = m.getgrnam_r("huge", &gr, buf, len, &err);
		if (s == NSS_STATUS_SUCCESS)
			break;
		assert_int_equal(s, NSS_STATUS_TRYAGAIN);
		assert_int_equal(err, ERANGE);
		len *= 2;
		buf = realloc(buf, len);
	}
	size_t n = 0;
	for (char **mem = gr.gr_mem; *mem; mem++)
		n++;
	assert_int_equal(n, 20000);
	assert_string_equal(gr.gr_mem[19999], "member19999");
	free(buf);
}

/* ------------------------------------------------------------ enumeration */

static void enumeration_and_erange_retry(void **state)
{
	struct passwd pw;
	char buf[1024], tiny[8];
	int err;
	const char *expect[] = { "alice", "bob", "carol" };

	assert_int_equal(m.setpwent(0), NSS_STATUS_SUCCESS);
	for (int i = 0; i < 3; i++) {
		/* a too-small buffer first: the same entry must come again */
		err = 0;
		assert_int_equal(m.getpwent_r(&pw, tiny, sizeof(tiny), &err), NSS_STATUS_TRYAGAIN);
		assert_int_equal(err, ERANGE);
		/* a by-key lookup in between must not move the enumeration */
		assert_int_equal(m.getpwnam_r("carol", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
		assert_int_equal(m.getpwent_r(&pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
		assert_string_equal(pw.pw_name, expect[i]);
	}
	assert_int_equal(m.getpwent_r(&pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(m.endpwent(), NSS_STATUS_SUCCESS);

	/* groups, and getgrent without setgrent starts at the beginning */
	struct group gr;
	char *gbuf = malloc(1 << 20);
	int n = 0;
	while (m.getgrent_r(&gr, gbuf, 1 << 20, &err) == NSS_STATUS_SUCCESS)
		n++;
	assert_int_equal(n, 4);
	assert_int_equal(m.endgrent(), NSS_STATUS_SUCCESS);
	free(gbuf);
}

/* ------------------------------------------------------------ initgroups */

static void initgroups_dyn(void **state)
{
	long int start = 1, size = 1;
	gid_t *groups = malloc(sizeof(gid_t));
	int err = 0;

	groups[0] = 1879048200; /* the primary gid, as glibc puts it first */
	assert_int_equal(m.initgroups_dyn("alice", 1879048200, &start, &size, &groups, 0, &err),
			 NSS_STATUS_SUCCESS);
	assert_int_equal(start, 4);
	assert_true(size >= 4);
	assert_int_equal(groups[1], 1879048300);
	assert_int_equal(groups[2], 1879048301);
	assert_int_equal(groups[3], 1879048302);

	/* the group passed in (the primary) is skipped */
	start = 0;
	assert_int_equal(m.initgroups_dyn("alice", 1879048301, &start, &size, &groups, 0, &err),
			 NSS_STATUS_SUCCESS);
	assert_int_equal(start, 2);

	/* limit: never more than asked for */
	free(groups);
	groups = malloc(sizeof(gid_t));
	start = 0;
	size = 1;
	assert_int_equal(m.initgroups_dyn("alice", 0, &start, &size, &groups, 2, &err), NSS_STATUS_SUCCESS);
	assert_int_equal(start, 2);
	assert_true(size <= 2);

	start = 0;
	assert_int_equal(m.initgroups_dyn("nosuchuser", 0, &start, &size, &groups, 0, &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(m.initgroups_dyn("dave", 0, &start, &size, &groups, 0, &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(start, 0);
	free(groups);
}

/* ------------------------------------------------------------ republish */

static void sees_republish_on_next_lookup(void **state)
{
	struct passwd pw;
	char buf[1024];
	int err;

	republish("user:alice:1879048200:1879048200:one:/home/alice:/bin/bash:active:id-a:\n");
	assert_int_equal(m.getpwnam_r("alice", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_gecos, "one");
	/* start an enumeration on this snapshot */
	assert_int_equal(m.setpwent(0), NSS_STATUS_SUCCESS);

	republish("user:alice:1879048200:1879048200:two:/home/alice:/bin/bash:active:id-a:\n"
		  "user:dave:1879048210:1879048210:two:/home/dave:/bin/bash:active:id-d:\n");
	/* no sleep: the very next lookup sees the new file */
	assert_int_equal(m.getpwnam_r("alice", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_gecos, "two");
	assert_int_equal(m.getpwnam_r("dave", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);

	/* the enumeration started before stays on its snapshot */
	assert_int_equal(m.getpwent_r(&pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	assert_string_equal(pw.pw_gecos, "one");
	assert_int_equal(m.getpwent_r(&pw, buf, sizeof(buf), &err), NSS_STATUS_NOTFOUND);
	assert_int_equal(m.endpwent(), NSS_STATUS_SUCCESS);
	/* and a new one sees the new snapshot */
	int n = 0;
	assert_int_equal(m.setpwent(0), NSS_STATUS_SUCCESS);
	while (m.getpwent_r(&pw, buf, sizeof(buf), &err) == NSS_STATUS_SUCCESS) {
		assert_string_equal(pw.pw_gecos, "two");
		n++;
	}
	assert_int_equal(n, 2);
	m.endpwent();
}

/* ------------------------------------------------------------ broken caches */

static void expect_unavail(const char *why, int want_errno)
{
	struct passwd pw;
	struct group gr;
	char buf[1024];
	int err = 0;
	long int start = 0, size = 1;
	gid_t *groups = malloc(sizeof(gid_t));

	errno = 5555;
	assert_int_equal(m.getpwnam_r("alice", &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
	assert_int_equal(err, want_errno);
	assert_int_equal(m.getpwuid_r(1879048200, &pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
	assert_int_equal(m.getgrnam_r("devs", &gr, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
	assert_int_equal(m.getgrgid_r(1879048300, &gr, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
	assert_int_equal(m.initgroups_dyn("alice", 0, &start, &size, &groups, 0, &err), NSS_STATUS_UNAVAIL);
	assert_int_equal(m.setpwent(0), NSS_STATUS_UNAVAIL);
	assert_int_equal(m.getpwent_r(&pw, buf, sizeof(buf), &err), NSS_STATUS_UNAVAIL);
	m.endpwent();
	assert_int_equal(errno, 5555);
	free(groups);
	(void)why;
}

static void write_file(const char *path, const void *data, size_t len, mode_t mode)
{
	assert_int_equal(nss_test_publish_raw(path, data, len, mode, -1), 0);
}

static void broken_caches(void **state)
{
	struct stat st;
	char *good;
	size_t len;
	FILE *f;

	/* Nobody marks a file an admin deletes: readers notice within a second,
	 * through their periodic stat(). */
	unlink(cache);
	usleep(1100 * 1000);
	expect_unavail("missing", ENOENT);

	write_file(cache, "this is not a tdb file at all\n", 30, 0644);
	expect_unavail("garbage", EBADMSG);

	/* a real cache cut in half: whatever is read must be refused, not crash */
	republish(base_desc);
	assert_int_equal(stat(cache, &st), 0);
	len = (size_t)st.st_size;
	good = malloc(len);
	f = fopen(cache, "r");
	assert_int_equal(fread(good, 1, len, f), len);
	fclose(f);
	for (size_t cut = 0; cut < len; cut += len / 7 + 1) {
		struct passwd pw;
		char buf[1024];
		int err = 0;
		write_file(cache, good, cut, 0644);
		enum nss_status s = m.getpwnam_r("alice", &pw, buf, sizeof(buf), &err);
		assert_true(s == NSS_STATUS_UNAVAIL || s == NSS_STATUS_SUCCESS || s == NSS_STATUS_NOTFOUND);
		if (cut < 1024)
			assert_int_equal(s, NSS_STATUS_UNAVAIL);
	}

	/* bytes smashed in the middle of the records */
	for (size_t at = 4096; at + 64 < len; at += 997) {
		char *bad = malloc(len);
		memcpy(bad, good, len);
		memset(bad + at, 0xFF, 64);
		write_file(cache, bad, len, 0644);
		free(bad);
		struct passwd pw;
		struct group gr;
		char buf[4096];
		int err = 0;
		enum nss_status s = m.getpwnam_r("alice", &pw, buf, sizeof(buf), &err);
		assert_true(s == NSS_STATUS_UNAVAIL || s == NSS_STATUS_SUCCESS || s == NSS_STATUS_NOTFOUND);
		s = m.getgrnam_r("devs", &gr, buf, sizeof(buf), &err);
		assert_true(s == NSS_STATUS_UNAVAIL || s == NSS_STATUS_SUCCESS || s == NSS_STATUS_NOTFOUND);
	}

	/* a file others can write is not trusted */
	write_file(cache, good, len, 0666);
	expect_unavail("world-writable", EPERM);
	write_file(cache, good, len, 0664);
	expect_unavail("group-writable", EPERM);
	if (geteuid() == 0) {
		assert_int_equal(nss_test_publish_raw(cache, good, len, 0644, 65534), 0);
		expect_unavail("owned by nobody", EPERM);
	}
	free(good);
	republish(base_desc);
}

/* ------------------------------------------------------------ processes */

static void fork_and_exec_safety(void **state)
{
	struct passwd pw;
	char buf[1024];
	int err, status;
	pid_t pid;

	republish(base_desc);
	assert_int_equal(m.getpwnam_r("alice", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);

	/* every descriptor the module holds (on the cache) is close-on-exec */
	int held = 0;
	for (int fd = 3; fd < 1024; fd++) {
		char link[64], target[4096];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ssize_t n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (strstr(target, "cache.tdb")) {
			held++;
			assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		}
	}
	assert_int_equal(held, 1);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct passwd cpw;
		char cbuf[1024];
		int cerr;
		_exit(m.getpwnam_r("bob", &cpw, cbuf, sizeof(cbuf), &cerr) == NSS_STATUS_SUCCESS &&
				      strcmp(cpw.pw_name, "bob") == 0
			      ? 0
			      : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* descriptors do not pile up across republishes */
	int before = nss_test_count_fds();
	for (int i = 0; i < 20; i++) {
		republish(base_desc);
		assert_int_equal(m.getpwnam_r("alice", &pw, buf, sizeof(buf), &err), NSS_STATUS_SUCCESS);
	}
	assert_int_equal(nss_test_count_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(passwd_lookups),
		cmocka_unit_test(group_lookups),
		cmocka_unit_test(small_buffers),
		cmocka_unit_test(enumeration_and_erange_retry),
		cmocka_unit_test(initgroups_dyn),
		cmocka_unit_test(sees_republish_on_next_lookup),
		cmocka_unit_test(broken_caches),
		cmocka_unit_test(fork_and_exec_safety),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
