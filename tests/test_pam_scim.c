/* test_pam_scim.c - pam_scim.so, loaded as libpam loads it, against small
 * caches published by tests/scim-mkcache (the real writer, in another
 * process, as scim-refreshd would).
 *
 * Most tests call the module's pam_sm_acct_mgmt directly with a handle from
 * pam_start_confdir(), so they see the module's own status (PAM_IGNORE
 * included, which a stack would hide); the stack tests run pam_acct_mgmt()
 * through the documented account line.  pam_syslog() is captured by
 * interposing the __syslog_chk libpam calls.
 *
 * Local accounts are the ones in the real /etc/passwd: root and daemon exist
 * on every system we build on.  The system tests bind-mount their own. */
#include <dlfcn.h>
#include <pthread.h>
#include <pwd.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <security/pam_appl.h>

typedef int (*acct_fn)(pam_handle_t *, int, int, const char **);

static char tmpdir[] = "/tmp/test_pam_scim.XXXXXX";
static char mkcache[4096], module[4096];
static acct_fn acct_mgmt;
static void *nss_module;

/* ------------------------------------------------------------ captured output */

static char logbuf[65536];
static char msgbuf[8192];

#define PUBLIC __attribute__((visibility("default")))

/* libpam's pam_vsyslog() ends in __syslog_chk() (or, built without
 * fortification, syslog()); these definitions in the executable take their
 * place, so tests can read what the module logged. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static void capture(int pri, const char *fmt, va_list ap)
{
	size_t n;

	pthread_mutex_lock(&log_lock);
	n = strlen(logbuf);
	if (n + 16 < sizeof(logbuf)) {
		n += (size_t)snprintf(logbuf + n, sizeof(logbuf) - n, "<%d>", LOG_PRI(pri));
		vsnprintf(logbuf + n, sizeof(logbuf) - n, fmt, ap);
		n = strlen(logbuf);
		if (n + 1 < sizeof(logbuf))
			strcat(logbuf, "\n");
	}
	pthread_mutex_unlock(&log_lock);
}

PUBLIC void __syslog_chk(int pri, int flag, const char *fmt, ...);
PUBLIC void __syslog_chk(int pri, int flag, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	capture(pri, fmt, ap);
	va_end(ap);
}

PUBLIC void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap);
PUBLIC void __vsyslog_chk(int pri, int flag, const char *fmt, va_list ap)
{
	capture(pri, fmt, ap);
}

PUBLIC void syslog(int pri, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	capture(pri, fmt, ap);
	va_end(ap);
}

PUBLIC void vsyslog(int pri, const char *fmt, va_list ap)
{
	capture(pri, fmt, ap);
}

static int conv(int n, const struct pam_message **msg, struct pam_response **resp, void *data)
{
	for (int i = 0; i < n; i++) {
		size_t l = strlen(msgbuf);
		snprintf(msgbuf + l, sizeof(msgbuf) - l, "%s:%s\n",
			 msg[i]->msg_style == PAM_ERROR_MSG ? "error" : "info", msg[i]->msg);
	}
	*resp = calloc((size_t)n, sizeof(**resp));
	return *resp ? PAM_SUCCESS : PAM_BUF_ERR;
}

static void clear_output(void)
{
	logbuf[0] = 0;
	msgbuf[0] = 0;
}

/* ------------------------------------------------------------ fixtures */

static char *tpath(const char *name)
{
	static char buf[4][4096];
	static int i;
	char *p = buf[i++ % 4];
	snprintf(p, 4096, "%s/%s", tmpdir, name);
	return p;
}

static void run_mkcache(const char *args, const char *input)
{
	char cmd[8192];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s %s", mkcache, args);
	p = popen(cmd, "w");
	assert_non_null(p);
	fputs(input, p);
	assert_int_equal(pclose(p), 0);
}

static void publish(const char *name, const char *desc)
{
	run_mkcache(tpath(name), desc);
}

#define USERS                                                                           \
	"user:alice:70001:70001:Alice:/home/alice:/bin/sh:active:id-alice:70100\n"     \
	"user:bob:70002:70002:Bob:/home/bob:/bin/sh:suspended:id-bob:70100\n"          \
	/* A directory user that is also local: the local account must win. */          \
	"user:root:70003:70003:Not root:/home/root:/bin/sh:suspended:id-root:\n"       \
	"group:staff:70100:id-staff:alice,bob\n"

/* The directory has deleted carol (and, long ago, a user called daemon,
 * now a local account), and an old alice whose name the active alice holds
 * again. */
#define REMOVED                                                                 \
	USERS "removed:carol:70004:1700000000:id-carol\n"                        \
	      "removed:daemon:70005:1700000000:id-daemon\n"                      \
	      "removed:alice:70006:1700000000:id-old-alice\n"

/* For allow_groups: dave is in ops only through his primary gid, erin in
 * staff only through a nested group (her flattened gids), frank in no
 * group; "daemon" is a local group (every /etc/group has it) that the
 * directory does not have. */
#define GROUPS                                                                          \
	USERS "user:dave:70007:70200:Dave:/home/dave:/bin/sh:active:id-dave:\n"        \
	      "user:erin:70008:70008:Erin:/home/erin:/bin/sh:active:id-erin:70101,70100\n" \
	      "user:frank:70009:70009:Frank:/home/frank:/bin/sh:active:id-frank:\n"    \
	      "group:ops:70200:id-ops:\n"                                              \
	      "group:devs:70101:id-devs:erin\n"

static char *option(const char *fmt, ...)
{
	static char buf[8][4096];
	static int i;
	char *p = buf[i++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, 4096, fmt, ap);
	va_end(ap);
	return p;
}

/* Runs the module's account check for user with argv; returns its status. */
static int check_flags(const char *user, int flags, int argc, const char **argv)
{
	struct pam_conv c = { conv, NULL };
	pam_handle_t *pamh = NULL;
	int r;

	clear_output();
	assert_int_equal(pam_start_confdir("scim-test", user, &c, tmpdir, &pamh), PAM_SUCCESS);
	r = acct_mgmt(pamh, flags, argc, argv);
	pam_end(pamh, r);
	return r;
}

#define CHECK(user, ...)                                                    \
	({                                                                  \
		const char *argv_[] = { __VA_ARGS__ };                        \
		check_flags(user, 0, (int)(sizeof(argv_) / sizeof(*argv_)), argv_); \
	})

/* The reader keeps at most a handful of cache paths open per process, as a
 * host needs one: the scenarios are republished into one live file, as
 * scim-refreshd would, which also exercises the reopen on every change.
 * "missing" and "nodir" are paths of their own that never exist. */
static const char *current;

static void use(const char *scenario)
{
	char cmd[8192];

	if (current && strcmp(current, scenario) == 0)
		return;
	if (strcmp(scenario, "good") == 0) {
		publish("live.tdb", USERS);
	} else if (strcmp(scenario, "groups") == 0) {
		publish("live.tdb", GROUPS);
	} else if (strcmp(scenario, "removed") == 0) {
		publish("live.tdb", REMOVED);
	} else if (strcmp(scenario, "removed_old") == 0) {
		publish("live.tdb", option("last_sync:%lld\n" REMOVED, (long long)time(NULL) - 100000));
	} else if (strcmp(scenario, "old") == 0) {
		publish("live.tdb", option("last_sync:%lld\n" USERS, (long long)time(NULL) - 100000));
	} else if (strcmp(scenario, "future") == 0) {
		publish("live.tdb", option("last_sync:%lld\n" USERS, (long long)time(NULL) + 100000));
	} else if (strcmp(scenario, "skewed") == 0) {
		publish("live.tdb", option("last_sync:%lld\n" USERS, (long long)time(NULL) + 200));
	} else if (strcmp(scenario, "corrupt") == 0) {
		run_mkcache(option("--raw 0644 %s", tpath("live.tdb")), "this is not a tdb file, not at all\n");
	} else if (strcmp(scenario, "unsafe") == 0) {
		/* A valid cache anyone may write to must not be trusted. */
		snprintf(cmd, sizeof(cmd), "%s --raw 0666 %s < %s", mkcache, tpath("live.tdb"), tpath("src.tdb"));
		assert_int_equal(system(cmd), 0);
	} else {
		fail_msg("unknown scenario %s", scenario);
	}
	current = scenario;
}

static const char *cache(const char *scenario)
{
	if (strcmp(scenario, "missing") == 0)
		return option("cache=%s", tpath("missing.tdb"));
	if (strcmp(scenario, "nodir") == 0)
		return option("cache=%s", tpath("nodir/cache.tdb"));
	if (strcmp(scenario, "live") != 0)
		use(scenario);
	return option("cache=%s", tpath("live.tdb"));
}

/* ------------------------------------------------------------ the table */

static void test_active(void **state)
{
	assert_int_equal(CHECK("alice", cache("good")), PAM_SUCCESS);
	assert_string_equal(msgbuf, "");
}

static void test_suspended(void **state)
{
	assert_int_equal(CHECK("bob", cache("good")), PAM_ACCT_EXPIRED);
	assert_non_null(strstr(msgbuf, "error:Your account has been suspended by the directory"));
	/* LOG_NOTICE is 5 */
	assert_non_null(strstr(logbuf, "<5>"));
	assert_non_null(strstr(logbuf, "bob is suspended"));
}

static void test_suspended_deny_perm(void **state)
{
	assert_int_equal(CHECK("bob", cache("good"), "deny=perm"), PAM_PERM_DENIED);
	assert_int_equal(CHECK("bob", cache("good"), "deny=perm", "deny=expired"), PAM_ACCT_EXPIRED);
	assert_int_equal(CHECK("alice", cache("good"), "deny=perm"), PAM_SUCCESS);
}

static void test_suspended_silent(void **state)
{
	const char *argv[] = { cache("good") };

	assert_int_equal(check_flags("bob", PAM_SILENT, 1, argv), PAM_ACCT_EXPIRED);
	assert_string_equal(msgbuf, "");
	assert_non_null(strstr(logbuf, "bob is suspended"));
	assert_int_equal(CHECK("bob", cache("good"), "silent"), PAM_ACCT_EXPIRED);
	assert_string_equal(msgbuf, "");
	assert_int_equal(CHECK("bob", cache("good"), "no_warn"), PAM_ACCT_EXPIRED);
	assert_string_equal(msgbuf, "");
}

static void test_local_user(void **state)
{
	/* root is local and also a suspended directory user: local wins. */
	assert_int_equal(CHECK("root", cache("good")), PAM_USER_UNKNOWN);
	assert_string_equal(msgbuf, "");
	/* Whatever state the cache is in. */
	assert_int_equal(CHECK("root", cache("missing")), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("root", cache("corrupt")), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("daemon", cache("unsafe")), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("root", cache("old"), "max_age=60"), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("daemon", cache("corrupt"), "ignore_unknown_user"), PAM_IGNORE);
	assert_string_equal(logbuf, "");
}

static void test_unknown_user(void **state)
{
	assert_int_equal(CHECK("carol", cache("good")), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("carol", cache("good"), "ignore_unknown_user"), PAM_IGNORE);
	/* An old cache does not know new users either: unknown, not unavailable. */
	assert_int_equal(CHECK("carol", cache("old"), "max_age=60"), PAM_USER_UNKNOWN);
	assert_string_equal(msgbuf, "");
}

/* A user the directory has just deleted is not "unknown": a process that
 * resolved them before the publish must not get through the stack. */
static void test_removed(void **state)
{
	assert_int_equal(CHECK("carol", cache("removed")), PAM_ACCT_EXPIRED);
	assert_non_null(strstr(msgbuf, "error:Your account has been removed from the directory"));
	assert_non_null(strstr(logbuf, "<5>"));
	assert_non_null(strstr(logbuf, "carol was removed from the directory (since 2023-11-14T22:13:20Z)"));
	assert_int_equal(CHECK("carol", cache("removed"), "deny=perm"), PAM_PERM_DENIED);
	/* Not an unknown user, whatever the options say about those. */
	assert_int_equal(CHECK("carol", cache("removed"), "ignore_unknown_user"), PAM_ACCT_EXPIRED);
	assert_int_equal(CHECK("carol", cache("removed"), "silent"), PAM_ACCT_EXPIRED);
	assert_string_equal(msgbuf, "");
	/* A local account of that name stays local. */
	assert_int_equal(CHECK("daemon", cache("removed")), PAM_USER_UNKNOWN);
	assert_string_equal(logbuf, "");
	/* A name an active user holds again is that user's. */
	assert_int_equal(CHECK("alice", cache("removed")), PAM_SUCCESS);
	assert_int_equal(CHECK("bob", cache("removed")), PAM_ACCT_EXPIRED);
	assert_non_null(strstr(msgbuf, "suspended"));
	/* Names the cache never had are still not pam_scim's business. */
	assert_int_equal(CHECK("dave", cache("removed")), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("carolx", cache("removed")), PAM_USER_UNKNOWN);
	/* Like a suspension, a removal known from an old cache still counts. */
	assert_int_equal(CHECK("carol", cache("removed_old"), "max_age=60"), PAM_ACCT_EXPIRED);
	/* Without the entry, carol is unknown. */
	assert_int_equal(CHECK("carol", cache("good")), PAM_USER_UNKNOWN);
}

/* allow_groups: only members of the listed directory groups pass. */
static void test_allow_groups(void **state)
{
	/* alice is in staff through her supplementary gids. */
	assert_int_equal(CHECK("alice", cache("groups"), "allow_groups=staff"), PAM_SUCCESS);
	assert_string_equal(msgbuf, "");
	/* dave through his primary gid, erin through a nested group. */
	assert_int_equal(CHECK("dave", cache("groups"), "allow_groups=staff,ops"), PAM_SUCCESS);
	assert_int_equal(CHECK("erin", cache("groups"), "allow_groups=staff"), PAM_SUCCESS);
	assert_int_equal(CHECK("erin", cache("groups"), "allow_groups=devs"), PAM_SUCCESS);

	/* In none of them: denied with a message, whatever deny= says. */
	assert_int_equal(CHECK("frank", cache("groups"), "allow_groups=staff,ops"), PAM_PERM_DENIED);
	assert_non_null(strstr(msgbuf, "error:You are not in a directory group allowed to log in on this host"));
	assert_non_null(strstr(logbuf, "<5>"));
	assert_non_null(strstr(logbuf, "frank is in none of the groups allowed on this host"));
	assert_int_equal(CHECK("frank", cache("groups"), "allow_groups=staff", "deny=expired"), PAM_PERM_DENIED);
	assert_int_equal(CHECK("frank", cache("groups"), "allow_groups=staff", "silent"), PAM_PERM_DENIED);
	assert_string_equal(msgbuf, "");
	assert_int_equal(CHECK("dave", cache("groups"), "allow_groups=staff"), PAM_PERM_DENIED);
	assert_int_equal(CHECK("alice", cache("groups"), "allow_groups=ops"), PAM_PERM_DENIED);

	/* A group the cache does not have grants nothing, even when it is a
	 * local group: /etc/group is never read. */
	assert_int_equal(CHECK("alice", cache("groups"), "allow_groups=daemon"), PAM_PERM_DENIED);
	assert_int_equal(CHECK("alice", cache("groups"), "allow_groups=nosuchgroup"), PAM_PERM_DENIED);
	/* Names are exact. */
	assert_int_equal(CHECK("alice", cache("groups"), "allow_groups=Staff,staf, staff"), PAM_PERM_DENIED);

	/* Lists given twice add up; empty items are skipped. */
	assert_int_equal(CHECK("dave", cache("groups"), "allow_groups=staff", "allow_groups=,ops,"), PAM_SUCCESS);

	/* A list that names nothing denies every directory user, never lets
	 * them all in. */
	assert_int_equal(CHECK("alice", cache("groups"), "allow_groups="), PAM_PERM_DENIED);
	assert_non_null(strstr(logbuf, "allow_groups= names no group"));
	assert_int_equal(CHECK("alice", cache("groups"), "allow_groups=,,"), PAM_PERM_DENIED);

	/* The other verdicts come first: suspended, unknown, local, stale,
	 * unavailable. */
	assert_int_equal(CHECK("bob", cache("groups"), "allow_groups=staff"), PAM_ACCT_EXPIRED);
	assert_int_equal(CHECK("carol", cache("groups"), "allow_groups=staff"), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("root", cache("groups"), "allow_groups=staff"), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("daemon", cache("corrupt"), "allow_groups=staff"), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("alice", cache("old"), "allow_groups=staff", "max_age=60"), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(CHECK("alice", cache("missing"), "allow_groups=staff"), PAM_AUTHINFO_UNAVAIL);
}

static void test_cache_unavailable(void **state)
{
	static const char *const names[] = { "missing", "corrupt", "unsafe", "nodir" };

	for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
		assert_int_equal(CHECK("alice", cache(names[i])), PAM_AUTHINFO_UNAVAIL);
		assert_non_null(strstr(msgbuf, "error:Directory logins are refused"));
		assert_non_null(strstr(logbuf, "<3>"));
		assert_int_equal(CHECK("carol", cache(names[i])), PAM_AUTHINFO_UNAVAIL);
		assert_int_equal(CHECK("carol", cache(names[i]), "ignore_unknown_user"), PAM_AUTHINFO_UNAVAIL);
		assert_int_equal(CHECK("alice", cache(names[i]), "ignore_authinfo_unavail"), PAM_IGNORE);
		assert_string_equal(msgbuf, "");
		assert_non_null(strstr(logbuf, "ignore_authinfo_unavail"));
	}
	assert_int_equal(CHECK("alice", cache("missing")), PAM_AUTHINFO_UNAVAIL);
	assert_non_null(strstr(logbuf, "no cache is published"));
	assert_int_equal(CHECK("alice", cache("corrupt")), PAM_AUTHINFO_UNAVAIL);
	assert_non_null(strstr(logbuf, "corrupt"));
	assert_int_equal(CHECK("alice", cache("unsafe")), PAM_AUTHINFO_UNAVAIL);
	assert_non_null(strstr(logbuf, "unsafe owner or mode"));
}

static void test_max_age(void **state)
{
	/* old.tdb was synced 100000 seconds ago. */
	assert_int_equal(CHECK("alice", cache("old")), PAM_SUCCESS);
	assert_int_equal(CHECK("alice", cache("old"), "max_age=200000"), PAM_SUCCESS);
	assert_int_equal(CHECK("alice", cache("old"), "max_age=3600"), PAM_AUTHINFO_UNAVAIL);
	assert_non_null(strstr(msgbuf, "has not been synchronised for"));
	assert_non_null(strstr(msgbuf, "the limit is 3600"));
	assert_non_null(strstr(logbuf, "max_age=3600"));
	/* The offline budget is a denial even with the fail-open option. */
	assert_int_equal(CHECK("alice", cache("old"), "max_age=3600", "ignore_authinfo_unavail"),
			 PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(CHECK("alice", cache("old"), "max_age=3600", "silent"), PAM_AUTHINFO_UNAVAIL);
	assert_string_equal(msgbuf, "");
	/* A suspension stays a suspension in an old cache. */
	assert_int_equal(CHECK("bob", cache("old"), "max_age=3600"), PAM_ACCT_EXPIRED);
	/* A fresh cache passes a small budget. */
	assert_int_equal(CHECK("alice", cache("good"), "max_age=60"), PAM_SUCCESS);
}

/* A last_sync ahead of the clock must not make the cache fresh for as long as
 * it is ahead; a few minutes of skew between hosts is tolerated. */
static void test_max_age_future(void **state)
{
	assert_int_equal(CHECK("alice", cache("future")), PAM_SUCCESS);
	assert_int_equal(CHECK("alice", cache("future"), "max_age=3600"), PAM_AUTHINFO_UNAVAIL);
	assert_non_null(strstr(logbuf, "ahead of this host's clock"));
	assert_non_null(strstr(msgbuf, "in the future"));
	assert_int_equal(CHECK("alice", cache("future"), "max_age=3600", "ignore_authinfo_unavail"),
			 PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(CHECK("bob", cache("future"), "max_age=3600"), PAM_ACCT_EXPIRED);
	assert_int_equal(CHECK("alice", cache("skewed"), "max_age=60"), PAM_SUCCESS);
}

static void test_cache_option_overrides_default(void **state)
{
	/* NSS_SCIM_CACHE (the default here) points at a corrupt cache. */
	assert_int_equal(CHECK("alice"), PAM_AUTHINFO_UNAVAIL);
	assert_non_null(strstr(logbuf, "the default cache"));
	assert_int_equal(CHECK("alice", cache("good")), PAM_SUCCESS);
	/* A relative path is refused, and the default is used. */
	assert_int_equal(CHECK("alice", "cache=good.tdb"), PAM_AUTHINFO_UNAVAIL);
	assert_non_null(strstr(logbuf, "cache= needs an absolute path"));
}

static void test_option_parsing(void **state)
{
	static const char *const bad[] = { "max_age=",      "max_age=abc",   "max_age=-5",   "max_age=+5",
					   "max_age= 5",    "max_age=5s",    "max_age=0",    "max_age=0x10",
					   "max_age=2147483648", "max_age=99999999999999999999999" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		/* Rejected, logged, and the default (no age limit) kept. */
		assert_int_equal(CHECK("alice", cache("old"), bad[i]), PAM_SUCCESS);
		assert_non_null(strstr(logbuf, "bad number supplied for max_age"));
	}
	assert_int_equal(CHECK("alice", cache("old"), "max_age=2147483647"), PAM_SUCCESS);
	assert_string_equal(logbuf, "");
	assert_int_equal(CHECK("alice", cache("old"), "max_age=1"), PAM_AUTHINFO_UNAVAIL);
	/* Unknown options and values are logged, never fatal. */
	assert_int_equal(CHECK("alice", cache("good"), "frobnicate"), PAM_SUCCESS);
	assert_non_null(strstr(logbuf, "unknown option: frobnicate"));
	assert_int_equal(CHECK("bob", cache("good"), "deny=maybe"), PAM_ACCT_EXPIRED);
	assert_non_null(strstr(logbuf, "unknown option: deny=maybe"));
	assert_int_equal(CHECK("bob", cache("good"), "Debug", "SILENT"), PAM_ACCT_EXPIRED);
	assert_non_null(strstr(logbuf, "unknown option: Debug"));
	assert_non_null(strstr(msgbuf, "suspended"));
}

static void test_debug(void **state)
{
	assert_int_equal(CHECK("alice", cache("good")), PAM_SUCCESS);
	assert_string_equal(logbuf, "");
	assert_int_equal(CHECK("alice", cache("good"), "debug"), PAM_SUCCESS);
	assert_non_null(strstr(logbuf, "<7>"));
	assert_non_null(strstr(logbuf, "alice is an active directory user"));
	assert_int_equal(CHECK("root", cache("good"), "debug"), PAM_USER_UNKNOWN);
	assert_non_null(strstr(logbuf, "root is a local account"));
	assert_int_equal(CHECK("carol", cache("good"), "debug"), PAM_USER_UNKNOWN);
	assert_non_null(strstr(logbuf, "carol is not in the directory cache"));
}

static void test_no_user(void **state)
{
	/* An empty name is nobody's account; never PAM_SUCCESS. */
	assert_int_equal(CHECK("", cache("good")), PAM_USER_UNKNOWN);
	/* Names that only look like directory users. */
	assert_int_equal(CHECK("alice ", cache("good")), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("ALICE", cache("good")), PAM_USER_UNKNOWN);
	assert_int_equal(CHECK("alice:x", cache("good")), PAM_USER_UNKNOWN);
}

static void test_errno_preserved(void **state)
{
	const char *argv[] = { cache("corrupt") };
	struct pam_conv c = { conv, NULL };
	pam_handle_t *pamh = NULL;

	assert_int_equal(pam_start_confdir("scim-test", "alice", &c, tmpdir, &pamh), PAM_SUCCESS);
	errno = 4242;
	assert_int_equal(acct_mgmt(pamh, 0, 1, argv), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(errno, 4242);
	argv[0] = cache("good");
	errno = 4243;
	assert_int_equal(acct_mgmt(pamh, 0, 1, argv), PAM_SUCCESS);
	assert_int_equal(errno, 4243);
	pam_end(pamh, PAM_SUCCESS);
}

/* A republish is seen by the very next check in the same process, through
 * the handle the module shares with the NSS module. */
static void test_republish(void **state)
{
	assert_int_equal(CHECK("alice", cache("good")), PAM_SUCCESS);
	publish("live.tdb", "user:alice:70001:70001:Alice:/home/alice:/bin/sh:suspended:id-alice:70100\n");
	current = NULL;
	assert_int_equal(CHECK("alice", cache("live")), PAM_ACCT_EXPIRED);
	assert_int_equal(CHECK("bob", cache("live")), PAM_USER_UNKNOWN);
	use("corrupt");
	assert_int_equal(CHECK("alice", cache("live")), PAM_AUTHINFO_UNAVAIL);
	use("good");
	assert_int_equal(CHECK("alice", cache("live")), PAM_SUCCESS);
}

/* sshd resolves the user through the NSS module, then runs the account stack
 * in the same process.  tdb refuses a second open of one file in a process,
 * so this passes only if pam_scim.so reads through the NSS module's handle. */
static void test_shared_handle(void **state)
{
	typedef int (*getpwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
	getpwnam_fn getpwnam_r = (getpwnam_fn)dlsym(nss_module, "_nss_scim_getpwnam_r");
	struct passwd pw;
	char buf[1024];
	int err = 0;

	assert_non_null(getpwnam_r);
	publish("default.tdb", USERS);
	assert_int_equal(getpwnam_r("alice", &pw, buf, sizeof(buf), &err), 1 /* NSS_STATUS_SUCCESS */);
	assert_int_equal(pw.pw_uid, 70001);
	assert_int_equal(CHECK("alice"), PAM_SUCCESS);
	assert_int_equal(CHECK("bob"), PAM_ACCT_EXPIRED);
	assert_int_equal(getpwnam_r("bob", &pw, buf, sizeof(buf), &err), 1);
	run_mkcache(option("--raw 0644 %s", tpath("default.tdb")), "this is not a tdb file, not at all\n");
	assert_int_equal(CHECK("alice"), PAM_AUTHINFO_UNAVAIL);
}

/* One file under several names in one process (sshd: the NSS module's
 * default, and pam_scim's cache= spelled with "//" or through a symlink):
 * tdb refuses a second open of a file, so every name must share one handle,
 * before and after a republish. */
static void test_one_file_many_names(void **state)
{
	typedef int (*getpwnam_fn)(const char *, struct passwd *, char *, size_t, int *);
	getpwnam_fn getpwnam_r = (getpwnam_fn)dlsym(nss_module, "_nss_scim_getpwnam_r");
	const char *slashes = option("cache=%s//default.tdb", tmpdir);
	const char *link = option("cache=%s", tpath("link.tdb"));
	struct passwd pw;
	char buf[1024];
	int err = 0;

	assert_non_null(getpwnam_r);
	publish("default.tdb", USERS);
	unlink(tpath("link.tdb"));
	assert_int_equal(symlink(tpath("default.tdb"), tpath("link.tdb")), 0);
	assert_int_equal(getpwnam_r("alice", &pw, buf, sizeof(buf), &err), 1 /* NSS_STATUS_SUCCESS */);
	assert_int_equal(CHECK("alice", slashes), PAM_SUCCESS);
	assert_int_equal(CHECK("alice", link), PAM_SUCCESS);
	assert_int_equal(CHECK("bob", slashes), PAM_ACCT_EXPIRED);
	assert_int_equal(CHECK("bob", link), PAM_ACCT_EXPIRED);
	assert_int_equal(getpwnam_r("bob", &pw, buf, sizeof(buf), &err), 1);
	/* Republished (a new inode): every name moves to the new file. */
	publish("default.tdb", "user:alice:70001:70001:Alice:/home/alice:/bin/sh:suspended:id-alice:\n");
	assert_int_equal(CHECK("alice", link), PAM_ACCT_EXPIRED);
	assert_int_equal(getpwnam_r("alice", &pw, buf, sizeof(buf), &err), 1);
	assert_int_equal(CHECK("alice", slashes), PAM_ACCT_EXPIRED);
	assert_int_equal(getpwnam_r("bob", &pw, buf, sizeof(buf), &err), 0 /* NSS_STATUS_NOTFOUND */);
	assert_int_equal(CHECK("bob", slashes), PAM_USER_UNKNOWN);
	/* The first name opened first this time. */
	publish("default.tdb", USERS);
	assert_int_equal(CHECK("alice", slashes), PAM_SUCCESS);
	assert_int_equal(getpwnam_r("alice", &pw, buf, sizeof(buf), &err), 1);
	assert_int_equal(CHECK("alice", link), PAM_SUCCESS);
	run_mkcache(option("--raw 0644 %s", tpath("default.tdb")), "this is not a tdb file, not at all\n");
}

/* A cache truncated in place (cp over it) must not crash a reader that has it
 * mapped: within a second the reader's stat sees it shrink, and it answers
 * UNAVAIL without touching the mapping. */
static void test_truncated_in_place(void **state)
{
	struct timespec pause = { 1, 200000000 };

	assert_int_equal(CHECK("alice", cache("good")), PAM_SUCCESS);
	assert_int_equal(truncate(tpath("live.tdb"), 0), 0);
	nanosleep(&pause, NULL);
	assert_int_equal(CHECK("alice", cache("live")), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(CHECK("alice", cache("live")), PAM_AUTHINFO_UNAVAIL);
	current = NULL;
	assert_int_equal(CHECK("alice", cache("good")), PAM_SUCCESS);
}

/* Threads checking through their own handles while the cache is republished
 * under them: every answer is the right one (the content never changes, the
 * file does). */
#define NTHREADS 4
#define NCHECKS 300

struct worker {
	const char *cache_opt;
	int wrong;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	struct pam_conv c = { conv, NULL };

	for (int i = 0; i < NCHECKS; i++) {
		const char *user = i % 2 ? "bob" : "alice";
		const char *argv[] = { w->cache_opt };
		pam_handle_t *pamh = NULL;
		int r, want = i % 2 ? PAM_ACCT_EXPIRED : PAM_SUCCESS;

		if (pam_start_confdir("scim-test", user, &c, tmpdir, &pamh) != PAM_SUCCESS) {
			w->wrong++;
			continue;
		}
		r = acct_mgmt(pamh, PAM_SILENT, 1, argv);
		pam_end(pamh, r);
		w->wrong += r != want;
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct worker w[NTHREADS];
	pthread_t tid[NTHREADS];
	const char *opt = cache("good");

	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ opt, 0 };
		assert_int_equal(pthread_create(&tid[i], NULL, worker_run, &w[i]), 0);
	}
	for (int i = 0; i < 5; i++)
		publish("live.tdb", USERS);
	for (int i = 0; i < NTHREADS; i++) {
		assert_int_equal(pthread_join(tid[i], NULL), 0);
		assert_int_equal(w[i].wrong, 0);
	}
	clear_output();
}

/* ------------------------------------------------------------ through libpam */

static int stack(const char *user, const char *scenario)
{
	struct pam_conv c = { conv, NULL };
	pam_handle_t *pamh = NULL;
	char path[4096];
	FILE *f;
	int r;

	/* The documented account line, after a module that lets everyone
	 * through (pam_unix's place in a real stack). */
	snprintf(path, sizeof(path), "%s/scim-stack", tmpdir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "account [default=bad success=ok user_unknown=ignore ignore=ignore] %s %s\n"
		   "account required pam_permit.so\n",
		module, cache(scenario));
	fclose(f);
	clear_output();
	assert_int_equal(pam_start_confdir("scim-stack", user, &c, tmpdir, &pamh), PAM_SUCCESS);
	r = pam_acct_mgmt(pamh, 0);
	pam_end(pamh, r);
	return r;
}

static void test_stack(void **state)
{
	assert_int_equal(stack("alice", "good"), PAM_SUCCESS);
	assert_int_equal(stack("bob", "good"), PAM_ACCT_EXPIRED);
	assert_non_null(strstr(msgbuf, "suspended"));
	assert_int_equal(stack("carol", "good"), PAM_SUCCESS);
	assert_int_equal(stack("root", "good"), PAM_SUCCESS);
	/* A broken cache denies directory users and never local ones. */
	assert_int_equal(stack("alice", "corrupt"), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(stack("carol", "missing"), PAM_AUTHINFO_UNAVAIL);
	assert_int_equal(stack("root", "corrupt"), PAM_SUCCESS);
	assert_int_equal(stack("daemon", "missing"), PAM_SUCCESS);
	/* A user the directory just deleted does not fall through to the
	 * module that admits everyone. */
	assert_int_equal(stack("carol", "removed"), PAM_ACCT_EXPIRED);
	assert_non_null(strstr(msgbuf, "removed from the directory"));
	assert_int_equal(stack("daemon", "removed"), PAM_SUCCESS);
	assert_int_equal(stack("alice", "removed"), PAM_SUCCESS);
}

/* ------------------------------------------------------------ setup */

static int setup(void **state)
{
	const char *builddir = getenv("top_builddir");
	const char *libdir = getenv("SCIM_LIBDIR");
	char nss[4096];
	void *h;

	if (!builddir || !libdir) {
		fprintf(stderr, "top_builddir and SCIM_LIBDIR must be set (run through make check)\n");
		return -1;
	}
	if (!mkdtemp(tmpdir))
		return -1;
	snprintf(mkcache, sizeof(mkcache), "%s/tests/scim-mkcache", builddir);
	snprintf(module, sizeof(module), "%s/pam_scim.so", libdir);
	/* The default cache, read once per process by the reader. */
	setenv("NSS_SCIM_CACHE", tpath("default.tdb"), 1);

	/* Loaded first, as glibc's NSS loads it in sshd: pam_scim.so's
	 * DT_NEEDED libnss_scim.so.2 then resolves to this very object (by
	 * soname) without LD_LIBRARY_PATH. */
	snprintf(nss, sizeof(nss), "%s/libnss_scim.so.2", libdir);
	nss_module = dlopen(nss, RTLD_NOW | RTLD_GLOBAL);
	if (!nss_module) {
		fprintf(stderr, "%s\n", dlerror());
		return -1;
	}
	h = dlopen(module, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return -1;
	}
	acct_mgmt = (acct_fn)dlsym(h, "pam_sm_acct_mgmt");
	if (!acct_mgmt)
		return -1;

	/* pam_start_confdir() wants the service to exist; the tests call the
	 * module themselves. */
	{
		FILE *f = fopen(tpath("scim-test"), "w");
		if (!f)
			return -1;
		fputs("account required pam_permit.so\n", f);
		fclose(f);
		f = fopen(tpath("other"), "w");
		if (!f)
			return -1;
		fputs("account required pam_deny.so\n", f);
		fclose(f);
	}
	publish("src.tdb", USERS);
	run_mkcache(tpath("default.tdb"), "");
	run_mkcache(option("--raw 0644 %s", tpath("default.tdb")), "this is not a tdb file, not at all\n");
	return 0;
}

static int teardown(void **state)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
#ifndef HAVE_PAM_START_CONFDIR
	fprintf(stderr, "libpam has no pam_start_confdir: skipped\n");
	return 77;
#endif
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_active),
		cmocka_unit_test(test_suspended),
		cmocka_unit_test(test_suspended_deny_perm),
		cmocka_unit_test(test_suspended_silent),
		cmocka_unit_test(test_local_user),
		cmocka_unit_test(test_unknown_user),
		cmocka_unit_test(test_removed),
		cmocka_unit_test(test_allow_groups),
		cmocka_unit_test(test_cache_unavailable),
		cmocka_unit_test(test_max_age),
		cmocka_unit_test(test_max_age_future),
		cmocka_unit_test(test_cache_option_overrides_default),
		cmocka_unit_test(test_option_parsing),
		cmocka_unit_test(test_debug),
		cmocka_unit_test(test_no_user),
		cmocka_unit_test(test_errno_preserved),
		cmocka_unit_test(test_republish),
		cmocka_unit_test(test_shared_handle),
		cmocka_unit_test(test_one_file_many_names),
		cmocka_unit_test(test_truncated_in_place),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_stack),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
