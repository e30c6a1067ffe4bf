/* nssbench.c - times user and group lookups through glibc's NSS.
 *
 *   nssbench --users users.txt --groups groups.txt [options]
 *
 * It only calls glibc (getpwnam_r & co., getgrouplist, getpwent/getgrent), so
 * it measures whatever /etc/nsswitch.conf names: bench/run.sh sets that up in
 * a private mount namespace, one backend at a time.
 *
 * Method, per operation: keys drawn uniformly at random (fixed seed) from the
 * key list, or made-up keys that cannot exist for misses; 8 untimed warm-up
 * calls (dlopen of the module, buffer growth, caches); then batches timed with
 * CLOCK_MONOTONIC, the batch growing until one takes >= --batch-ns, so the
 * clock's own cost stays small for fast calls and slow calls are timed one by
 * one.  The figure is the median (and p99) of the per-call averages of the
 * batches.  Each op stops after --iters calls or --seconds of timed work.
 * Buffers start at --bufsize (1024, what sysconf suggests) and double on
 * ERANGE, the grown buffer being kept, as glibc's own getpwnam() does.
 * Answers are checked (a hit must carry the asked-for id, a miss must be "not
 * found", getgrouplist must return the generated count) and wrong ones are
 * counted in errors=.
 *
 * Output: one line per op, "key=value" pairs:
 *   op=getpwnam_hit backend=scim median_ns=1510 p99_ns=2900 calls=100000 batch=16 errors=0 ...
 *   op=enum_pw backend=scim median_ms=12.3 passes=5 entries=100000 errors=0 ...
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <gnu/libc-version.h>
#include <grp.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct ukey {
	char *name;
	uid_t uid;
	gid_t gid;
	int ngroups; /* what getgrouplist(name, gid) must count */
};

struct gkey {
	char *name;
	gid_t gid;
};

static struct {
	const char *backend;
	const char *tag;
	const char *ops;
	uint64_t iters;
	double seconds;
	uint64_t batch_ns;
	int enum_passes;
	bool verify;
} opt = { "?", "", NULL, 100000, 2.0, 20000, 5, true };

static struct ukey *users, *miss_users, *heavy;
static struct gkey *groups, *miss_groups;
static size_t nusers, ngroups, nheavy;
#define NMISS 4096

static char *pwbuf, *grbuf;
static size_t pwlen, grlen;
static gid_t *glist;
static int glist_cap = 32;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		perror("nssbench");
		exit(2);
	}
	return p;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: the key order must not depend on libc's rand() */
static uint64_t rng = 0x2545F4914F6CDD1DULL;
static uint64_t next_rand(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

/* ---------------------------------------------------------------- keys */

static FILE *open_list(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		fprintf(stderr, "nssbench: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	return f;
}

static void load_users(const char *path)
{
	FILE *f = open_list(path);
	char name[256];
	unsigned long uid, gid;
	int ng;
	size_t cap = 0;
	while (fscanf(f, "%255s %lu %lu %d", name, &uid, &gid, &ng) == 4) {
		if (nusers == cap)
			users = xrealloc(users, (cap = cap ? 2 * cap : 4096) * sizeof(*users));
		users[nusers++] = (struct ukey){ strdup(name), (uid_t)uid, (gid_t)gid, ng };
	}
	fclose(f);
}

static void load_groups(const char *path)
{
	FILE *f = open_list(path);
	char name[256];
	unsigned long gid, nmem;
	size_t cap = 0;
	while (fscanf(f, "%255s %lu %lu", name, &gid, &nmem) == 3) {
		if (ngroups == cap)
			groups = xrealloc(groups, (cap = cap ? 2 * cap : 1024) * sizeof(*groups));
		groups[ngroups++] = (struct gkey){ strdup(name), (gid_t)gid };
	}
	fclose(f);
}

/* Keys no directory here has: names with a prefix the generator never uses,
 * ids above 1.5e9. */
static void make_misses(void)
{
	char name[64];
	miss_users = xrealloc(NULL, NMISS * sizeof(*miss_users));
	miss_groups = xrealloc(NULL, NMISS * sizeof(*miss_groups));
	for (unsigned i = 0; i < NMISS; i++) {
		snprintf(name, sizeof(name), "zz-nouser-%05u", i);
		miss_users[i] = (struct ukey){ strdup(name), 1500000000u + 7 * i, 1500000000u, 1 };
		snprintf(name, sizeof(name), "zz-nogroup-%05u", i);
		miss_groups[i] = (struct gkey){ strdup(name), 1600000000u + 7 * i };
	}
	heavy = xrealloc(NULL, (nusers ? nusers : 1) * sizeof(*heavy));
	for (size_t i = 0; i < nusers; i++)
		if (users[i].ngroups >= 50)
			heavy[nheavy++] = users[i];
}

/* ---------------------------------------------------------------- operations
 * Each returns 1 for a wrong answer, 0 otherwise. */

static void grow(char **buf, size_t *len)
{
	*len *= 2;
	*buf = xrealloc(*buf, *len);
}

static bool not_found(int r, const void *res)
{
	return res == NULL && (r == 0 || r == ENOENT);
}

static int pwnam(const struct ukey *k, bool hit)
{
	struct passwd pw, *res = NULL;
	int r;
	while ((r = getpwnam_r(k->name, &pw, pwbuf, pwlen, &res)) == ERANGE)
		grow(&pwbuf, &pwlen);
	if (!opt.verify)
		return 0;
	return hit ? !(r == 0 && res && pw.pw_uid == k->uid && strcmp(pw.pw_name, k->name) == 0) : !not_found(r, res);
}

static int pwuid(const struct ukey *k, bool hit)
{
	struct passwd pw, *res = NULL;
	int r;
	while ((r = getpwuid_r(k->uid, &pw, pwbuf, pwlen, &res)) == ERANGE)
		grow(&pwbuf, &pwlen);
	if (!opt.verify)
		return 0;
	return hit ? !(r == 0 && res && pw.pw_uid == k->uid && strcmp(pw.pw_name, k->name) == 0) : !not_found(r, res);
}

static int grnam(const struct gkey *k, bool hit)
{
	struct group gr, *res = NULL;
	int r;
	while ((r = getgrnam_r(k->name, &gr, grbuf, grlen, &res)) == ERANGE)
		grow(&grbuf, &grlen);
	if (!opt.verify)
		return 0;
	return hit ? !(r == 0 && res && gr.gr_gid == k->gid) : !not_found(r, res);
}

static int grgid(const struct gkey *k, bool hit)
{
	struct group gr, *res = NULL;
	int r;
	while ((r = getgrgid_r(k->gid, &gr, grbuf, grlen, &res)) == ERANGE)
		grow(&grbuf, &grlen);
	if (!opt.verify)
		return 0;
	return hit ? !(r == 0 && res && gr.gr_gid == k->gid && strcmp(gr.gr_name, k->name) == 0)
		   : !not_found(r, res);
}

static int grouplist(const struct ukey *k)
{
	int n;
	for (;;) {
		n = glist_cap;
		if (getgrouplist(k->name, k->gid, glist, &n) >= 0)
			break;
		glist_cap = n > 2 * glist_cap ? n : 2 * glist_cap; /* n: how many it needs */
		glist = xrealloc(glist, (size_t)glist_cap * sizeof(*glist));
	}
	return opt.verify && n != k->ngroups;
}

static int op_pwnam_hit(size_t i) { return pwnam(&users[i], true); }
static int op_pwnam_miss(size_t i) { return pwnam(&miss_users[i], false); }
static int op_pwuid_hit(size_t i) { return pwuid(&users[i], true); }
static int op_pwuid_miss(size_t i) { return pwuid(&miss_users[i], false); }
static int op_grnam_hit(size_t i) { return grnam(&groups[i], true); }
static int op_grnam_miss(size_t i) { return grnam(&miss_groups[i], false); }
static int op_grgid_hit(size_t i) { return grgid(&groups[i], true); }
static int op_grgid_miss(size_t i) { return grgid(&miss_groups[i], false); }
static int op_gl_hit(size_t i) { return grouplist(&users[i]); }
static int op_gl_miss(size_t i) { return grouplist(&miss_users[i]); }
static int op_gl_heavy(size_t i) { return grouplist(&heavy[i]); }

struct op {
	const char *name;
	int (*fn)(size_t);
	size_t *nkeys;
	size_t *buflen; /* reported, NULL for none */
};

static size_t nmiss = NMISS;
static const struct op ops[] = {
	{ "getpwnam_hit", op_pwnam_hit, &nusers, &pwlen },
	{ "getpwnam_miss", op_pwnam_miss, &nmiss, &pwlen },
	{ "getpwuid_hit", op_pwuid_hit, &nusers, &pwlen },
	{ "getpwuid_miss", op_pwuid_miss, &nmiss, &pwlen },
	{ "getgrnam_hit", op_grnam_hit, &ngroups, &grlen },
	{ "getgrnam_miss", op_grnam_miss, &nmiss, &grlen },
	{ "getgrgid_hit", op_grgid_hit, &ngroups, &grlen },
	{ "getgrgid_miss", op_grgid_miss, &nmiss, &grlen },
	{ "getgrouplist_hit", op_gl_hit, &nusers, NULL },
	{ "getgrouplist_miss", op_gl_miss, &nmiss, NULL },
	{ "getgrouplist_heavy", op_gl_heavy, &nheavy, NULL },
};

static bool selected(const char *name)
{
	const char *p = opt.ops;
	size_t n;
	if (!p || !*p)
		return true;
	while (*p) {
		n = strcspn(p, ",");
		if (n && strncmp(name, p, n) == 0) /* a prefix selects a family */
			return true;
		p += n + (p[n] == ',');
	}
	return false;
}

#define MAX_BATCH 65536
static size_t keys[MAX_BATCH];

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static void run_op(const struct op *o)
{
	size_t nk = *o->nkeys, nsamples = 0, cap = 1024;
	uint64_t calls = 0, errors = 0, spent = 0, batch = 1, limit = (uint64_t)(opt.seconds * 1e9);
	double *samples;

	if (nk == 0)
		return;
	for (int i = 0; i < 8; i++)
		errors += (uint64_t)o->fn(next_rand() % nk);
	/* Grow the batch until it is long enough to time.  The shortest of three
	 * tries counts, so one page fault or preemption does not decide it. */
	for (;;) {
		uint64_t best = UINT64_MAX;
		for (int t = 0; t < 3; t++) {
			uint64_t t0 = now_ns();
			for (uint64_t b = 0; b < batch; b++)
				errors += (uint64_t)o->fn(next_rand() % nk);
			uint64_t dt = now_ns() - t0;
			best = dt < best ? dt : best;
		}
		if (best >= opt.batch_ns || batch >= MAX_BATCH || best > limit / 16)
			break;
		batch *= 2;
	}
	samples = xrealloc(NULL, cap * sizeof(*samples));
	while (calls < opt.iters && spent < limit) {
		/* the key draw is outside the timed region */
		for (uint64_t b = 0; b < batch; b++)
			keys[b] = next_rand() % nk;
		uint64_t t0 = now_ns();
		for (uint64_t b = 0; b < batch; b++)
			errors += (uint64_t)o->fn(keys[b]);
		uint64_t dt = now_ns() - t0;
		if (nsamples == cap)
			samples = xrealloc(samples, (cap *= 2) * sizeof(*samples));
		samples[nsamples++] = (double)dt / (double)batch;
		calls += batch;
		spent += dt;
	}
	qsort(samples, nsamples, sizeof(*samples), cmp_double);
	printf("op=%s backend=%s median_ns=%.0f p99_ns=%.0f min_ns=%.0f calls=%llu batch=%llu errors=%llu "
	       "secs=%.2f",
	       o->name, opt.backend, samples[nsamples / 2], samples[(size_t)(0.99 * (double)(nsamples - 1))],
	       samples[0], (unsigned long long)calls, (unsigned long long)batch, (unsigned long long)errors,
	       (double)spent / 1e9);
	if (o->buflen)
		printf(" buflen=%zu", *o->buflen);
	else
		printf(" listcap=%d", glist_cap);
	printf("%s%s\n", *opt.tag ? " " : "", opt.tag);
	fflush(stdout);
	free(samples);
}

/* A full pass with the non-reentrant calls, as getent does. */
static void run_enum(bool pw)
{
	double ms[64];
	int passes = 0;
	uint64_t spent = 0, count = 0, errors = 0, limit = (uint64_t)(opt.seconds * 1e9);
	size_t want = pw ? nusers : ngroups;

	while (passes < opt.enum_passes && passes < 64 && (passes == 0 || spent < limit)) {
		uint64_t t0 = now_ns();
		count = 0;
		if (pw) {
			setpwent();
			while (getpwent())
				count++;
			endpwent();
		} else {
			setgrent();
			while (getgrent())
				count++;
			endgrent();
		}
		uint64_t dt = now_ns() - t0;
		ms[passes++] = (double)dt / 1e6;
		spent += dt;
		errors += opt.verify && count != want;
	}
	qsort(ms, (size_t)passes, sizeof(ms[0]), cmp_double);
	printf("op=%s backend=%s median_ms=%.3f min_ms=%.3f max_ms=%.3f passes=%d entries=%llu ns_per_entry=%.0f "
	       "errors=%llu%s%s\n",
	       pw ? "enum_pw" : "enum_gr", opt.backend, ms[passes / 2], ms[0], ms[passes - 1], passes,
	       (unsigned long long)count, count ? ms[passes / 2] * 1e6 / (double)count : 0.0,
	       (unsigned long long)errors, *opt.tag ? " " : "", opt.tag);
	fflush(stdout);
}

/* What the machine charges for the system calls every backend makes: glibc
 * stat()s nsswitch.conf before each lookup. */
static void syscall_costs(void)
{
	struct stat st;
	const int n = 10000;
	uint64_t t0 = now_ns();
	for (int i = 0; i < n; i++)
		stat("/etc/nsswitch.conf", &st);
	uint64_t t1 = now_ns();
	for (int i = 0; i < n; i++)
		close(open("/etc/nsswitch.conf", O_RDONLY | O_CLOEXEC));
	uint64_t t2 = now_ns();
	printf("# costs stat_ns=%.0f open_close_ns=%.0f\n", (double)(t1 - t0) / n, (double)(t2 - t1) / n);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: nssbench --users FILE --groups FILE [--ops a,b,...] [--iters N] [--seconds S]\n"
		"                [--batch-ns NS] [--enum-passes N] [--bufsize N] [--backend NAME] [--tag TEXT]\n"
		"                [--no-verify]\n"
		"ops: getpwnam_hit getpwnam_miss getpwuid_hit getpwuid_miss getgrnam_hit getgrnam_miss\n"
		"     getgrgid_hit getgrgid_miss getgrouplist_hit getgrouplist_miss getgrouplist_heavy\n"
		"     enum_pw enum_gr (a prefix selects several)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "users", required_argument, NULL, 'u' },	{ "groups", required_argument, NULL, 'g' },
		{ "ops", required_argument, NULL, 'o' },	{ "iters", required_argument, NULL, 'i' },
		{ "seconds", required_argument, NULL, 's' },	{ "batch-ns", required_argument, NULL, 'B' },
		{ "enum-passes", required_argument, NULL, 'e' }, { "bufsize", required_argument, NULL, 'b' },
		{ "backend", required_argument, NULL, 'n' },	{ "tag", required_argument, NULL, 't' },
		{ "no-verify", no_argument, NULL, 'V' },	{ NULL, 0, NULL, 0 },
	};
	const char *ufile = NULL, *gfile = NULL;
	size_t bufsize = 1024;
	int c;

	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'u': ufile = optarg; break;
		case 'g': gfile = optarg; break;
		case 'o': opt.ops = optarg; break;
		case 'i': opt.iters = strtoull(optarg, NULL, 10); break;
		case 's': opt.seconds = strtod(optarg, NULL); break;
		case 'B': opt.batch_ns = strtoull(optarg, NULL, 10); break;
		case 'e': opt.enum_passes = (int)strtol(optarg, NULL, 10); break;
		case 'b': bufsize = strtoull(optarg, NULL, 10); break;
		case 'n': opt.backend = optarg; break;
		case 't': opt.tag = optarg; break;
		case 'V': opt.verify = false; break;
		default: usage();
		}
	}
	if (!ufile || !gfile || optind != argc)
		usage();
	if (opt.iters < 1)
		opt.iters = 1;
	if (opt.enum_passes < 1)
		opt.enum_passes = 1;
	if (bufsize < 16)
		bufsize = 16;
	load_users(ufile);
	load_groups(gfile);
	make_misses();
	pwlen = grlen = bufsize;
	pwbuf = xrealloc(NULL, pwlen);
	grbuf = xrealloc(NULL, grlen);
	glist = xrealloc(NULL, (size_t)glist_cap * sizeof(*glist));

	printf("# nssbench backend=%s glibc=%s users=%zu groups=%zu heavy=%zu iters=%llu seconds=%.1f verify=%d\n",
	       opt.backend, gnu_get_libc_version(), nusers, ngroups, nheavy, (unsigned long long)opt.iters,
	       opt.seconds, opt.verify);
	syscall_costs();
	fflush(stdout);
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (selected(ops[i].name))
			run_op(&ops[i]);
	if (selected("enum_pw"))
		run_enum(true);
	if (selected("enum_gr"))
		run_enum(false);
	return 0;
}
