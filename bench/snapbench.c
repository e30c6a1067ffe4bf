/* snapbench.c - sizes and times of the fleet snapshot format.
 *
 *   bench/snapbench [--users N] [--groups G] [--per-user K] [--level19] [--dump FILE]
 *
 * Builds a synthetic directory (default: 100,000 users with UUID ids, 10,000
 * groups, every user in 10 of them (a skewed choice), so about 1M
 * memberships; 1,000 removed users), and reports: the stream's raw size and
 * encode time; compressed size and time per zstd level; the delta size and
 * make/apply times at 0.1% and 1% churn as fleet-notes.md defines it (1%:
 * 1,000 suspensions, 1,000 gecos edits, 500 deletions, 500 creations, 1,000
 * membership moves); signing and verifying; and, in a fresh process,
 * decompress + decode + validate time and peak RSS.
 *
 * Same arguments, same directory: the generator is a fixed xorshift. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "snapshot/snapshot.h"

/* scim-refreshd's default window; numbers are hashed from the SCIM id
 * there, so here they are random in it (and unique). */
#define WIN_MIN 1879048192u
#define WIN_MAX 2147483646u
#define MAXG 16

struct buser {
	char id[37], name[16], gecos[48], home[24];
	uint32_t uid;
	bool suspended, deleted;
	uint32_t ngroups;
	uint32_t groups[MAXG];
};

struct bgroup {
	char id[37], name[16];
	uint32_t gid;
};

struct bremoved {
	char id[37], name[16];
	uint32_t uid;
	int64_t since;
};

struct world {
	struct buser *u;
	size_t nu, capu;
	struct bgroup *g;
	size_t ng;
	struct bremoved *r;
	size_t nr, capr;
	uint64_t rng;
	unsigned char *taken; /* bitmap over the window */
	uint32_t serial;      /* user names */
	size_t per_user;
	size_t nusers0; /* the directory's size before any churn */
};

static uint64_t rnd(struct world *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static void uuid(struct world *w, char out[37])
{
	uint64_t a = rnd(w), b = rnd(w);

	snprintf(out, 37, "%08x-%04x-4%03x-%04x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
		 (unsigned)a & 0xfff, (unsigned)(0x8000 | ((b >> 48) & 0x3fff)),
		 (unsigned long long)(b & 0xffffffffffffULL));
}

static uint32_t number(struct world *w)
{
	for (;;) {
		uint32_t off = (uint32_t)(rnd(w) % (WIN_MAX - WIN_MIN + 1));
		if (!(w->taken[off / 8] & (1u << (off % 8)))) {
			w->taken[off / 8] |= (unsigned char)(1u << (off % 8));
			return WIN_MIN + off;
		}
	}
}

/* A skewed group choice: popularity falls with rank (about 1/rank^0.8). */
static uint32_t pick_group(struct world *w)
{
	double x = (double)(rnd(w) >> 11) / (double)(1ULL << 53);

	return (uint32_t)((double)w->ng * x * x * x * x) % (uint32_t)w->ng;
}

static bool in_groups(const struct buser *u, uint32_t g)
{
	for (uint32_t i = 0; i < u->ngroups; i++)
		if (u->groups[i] == g)
			return true;
	return false;
}

static void add_user(struct world *w)
{
	struct buser *u;

	if (w->nu == w->capu) {
		w->capu = w->capu ? w->capu * 2 : 1024;
		w->u = realloc(w->u, w->capu * sizeof(*w->u));
		if (!w->u)
			abort();
	}
	u = &w->u[w->nu];
	memset(u, 0, sizeof(*u));
	uuid(w, u->id);
	u->uid = number(w);
	snprintf(u->name, sizeof(u->name), "u%07u", w->serial);
	snprintf(u->gecos, sizeof(u->gecos), "User %u Surname-%u", w->serial++, (unsigned)(rnd(w) % 100000));
	snprintf(u->home, sizeof(u->home), "/home/%s", u->name);
	u->suspended = rnd(w) % 50 == 0;
	while (u->ngroups < w->per_user && u->ngroups < MAXG && u->ngroups < w->ng) {
		uint32_t g = pick_group(w);
		if (!in_groups(u, g))
			u->groups[u->ngroups++] = g;
	}
	w->nu++;
}

static void add_removed(struct world *w, const char *id, const char *name, uint32_t uid, int64_t since)
{
	if (w->nr == w->capr) {
		w->capr = w->capr ? w->capr * 2 : 1024;
		w->r = realloc(w->r, w->capr * sizeof(*w->r));
		if (!w->r)
			abort();
	}
	snprintf(w->r[w->nr].id, 37, "%s", id);
	snprintf(w->r[w->nr].name, 16, "%s", name);
	w->r[w->nr].uid = uid;
	w->r[w->nr].since = since;
	w->nr++;
}

static void world_init(struct world *w, size_t nusers, size_t ngroups, size_t per_user)
{
	memset(w, 0, sizeof(*w));
	w->rng = 0x9e3779b97f4a7c15ULL;
	w->taken = calloc((WIN_MAX - WIN_MIN) / 8 + 1, 1);
	if (!w->taken)
		abort();
	w->per_user = per_user;
	w->nusers0 = nusers;
	w->ng = ngroups;
	w->g = calloc(ngroups, sizeof(*w->g));
	for (size_t j = 0; j < ngroups; j++) {
		uuid(w, w->g[j].id);
		snprintf(w->g[j].name, sizeof(w->g[j].name), "g%06u", (unsigned)(j % 1000000));
		w->g[j].gid = number(w);
	}
	for (size_t i = 0; i < nusers; i++)
		add_user(w);
	for (size_t i = 0; i < nusers / 100; i++) {
		char id[37], name[16];
		uuid(w, id);
		snprintf(name, sizeof(name), "gone%06u", (unsigned)(i % 1000000));
		add_removed(w, id, name, number(w), 1700000000 + (int64_t)i);
	}
}

/* A random live user. */
static struct buser *any_user(struct world *w)
{
	for (;;) {
		struct buser *u = &w->u[rnd(w) % w->nu];
		if (!u->deleted)
			return u;
	}
}

/* fleet-notes.md's churn, scaled: at 1% of 100k users, 1,000 suspensions,
 * 1,000 gecos edits, 500 deletions, 500 creations, 1,000 membership moves.
 * Scaled to the directory's size, so that a small one is not deleted whole
 * (any_user would then look for a live user for ever). */
static void churn(struct world *w, double pct, int64_t now)
{
	size_t n = (size_t)((double)w->nusers0 * pct / 100 + 0.5), half = n / 2;

	for (size_t i = 0; i < n; i++) {
		struct buser *u = any_user(w);
		u->suspended = !u->suspended;
	}
	for (size_t i = 0; i < n; i++) {
		struct buser *u = any_user(w);
		snprintf(u->gecos, sizeof(u->gecos), "User %.7s Renamed-%u", u->name + 1, (unsigned)(rnd(w) % 100000));
	}
	for (size_t i = 0; i < half; i++) {
		struct buser *u = any_user(w);
		u->deleted = true;
		add_removed(w, u->id, u->name, u->uid, now);
	}
	for (size_t i = 0; i < half; i++)
		add_user(w);
	for (size_t i = 0; i < n; i++) {
		struct buser *u = any_user(w);
		uint32_t g;
		if (!u->ngroups || u->ngroups >= w->ng)
			continue; /* in no group to move, or in every group already */
		do
			g = pick_group(w);
		while (in_groups(u, g));
		u->groups[rnd(w) % u->ngroups] = g;
	}
}

struct built {
	struct scim_snap_dir d;
	struct scim_snap_user *u;
	struct scim_snap_removed *r;
	struct scim_snap_group *g;
	const char **m;
};

static void build(const struct world *w, struct built *b)
{
	size_t *count = calloc(w->ng, sizeof(*count)), *fill = calloc(w->ng, sizeof(*fill)), nm = 0, nu = 0, off = 0;

	b->u = calloc(w->nu, sizeof(*b->u));
	b->r = calloc(w->nr + 1, sizeof(*b->r));
	b->g = calloc(w->ng, sizeof(*b->g));
	for (size_t i = 0; i < w->nu; i++) {
		const struct buser *x = &w->u[i];
		if (x->deleted)
			continue;
		b->u[nu++] = (struct scim_snap_user){ x->id,       x->name, x->gecos, x->home,
						      "/bin/bash", x->uid,  x->uid,   x->suspended };
		for (uint32_t k = 0; k < x->ngroups; k++)
			count[x->groups[k]]++, nm++;
	}
	for (size_t i = 0; i < w->nr; i++)
		b->r[i] = (struct scim_snap_removed){ w->r[i].id, w->r[i].name, w->r[i].uid, w->r[i].since };
	b->m = calloc(nm + 1, sizeof(*b->m));
	for (size_t j = 0; j < w->ng; j++) {
		b->g[j] =
		    (struct scim_snap_group){ w->g[j].id, w->g[j].name, w->g[j].gid, (uint32_t)count[j], b->m + off };
		fill[j] = off;
		off += count[j];
	}
	for (size_t i = 0; i < w->nu; i++) {
		const struct buser *x = &w->u[i];
		if (x->deleted)
			continue;
		for (uint32_t k = 0; k < x->ngroups; k++)
			b->m[fill[x->groups[k]]++] = x->id;
	}
	b->d = (struct scim_snap_dir){ .source = "https://scim.example/scim/v2",
				       .nusers = nu,
				       .nremoved = w->nr,
				       .ngroups = w->ng,
				       .users = b->u,
				       .removed = b->r,
				       .groups = b->g };
	free(count);
	free(fill);
}

static void built_free(struct built *b)
{
	free(b->u);
	free(b->r);
	free(b->g);
	free(b->m);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const struct scim_snap_limits lim = { .uid_min = WIN_MIN, .uid_max = WIN_MAX };

static void die(const char *what, int r, const char *err)
{
	fprintf(stderr, "snapbench: %s: %s\n", what, err && *err ? err : strerror(-r));
	exit(1);
}

/* The host's side, in a fresh process so that its peak RSS is its own. */
static int decode_child(const char *path, size_t size)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	struct scim_snap_dir d;
	FILE *f = fopen(path, "rb");
	long zlen;
	void *z, *raw;
	double t0, t1, t2;
	int r;

	if (!f || fseek(f, 0, SEEK_END) < 0 || (zlen = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		die(path, -errno, NULL);
	z = malloc((size_t)zlen);
	if (!z || fread(z, 1, (size_t)zlen, f) != (size_t)zlen)
		die(path, -EIO, NULL);
	fclose(f);
	t0 = now_s();
	if ((r = scim_snap_decompress(z, (size_t)zlen, size, &raw, err)) < 0)
		die("decompress", r, err);
	free(z);
	t1 = now_s();
	if ((r = scim_snap_decode(raw, size, &lim, &d, err)) < 0)
		die("decode", r, err);
	t2 = now_s();
	printf("host: decompress %.3f s, decode+validate %.3f s (%zu users, %zu groups, %zu memberships)\n", t1 - t0,
	       t2 - t1, d.nusers, d.ngroups, d.nmemberships);
	scim_snap_dir_free(&d);
	/* VmHWM, not ru_maxrss: the latter still counts the forking parent's
	 * pages from before exec. */
	if ((f = fopen("/proc/self/status", "r"))) {
		char line[256];
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "VmHWM:", 6))
				printf("host: peak RSS%s", line + 6);
		fclose(f);
	}
	return 0;
}

static void report_delta(const char *label, const char *old, size_t oldlen, const char *nw, size_t newlen, int level)
{
	char err[SCIM_SNAP_ERR_MAX] = "";
	void *delta, *back;
	size_t dlen;
	double t0, t1, t2;
	int r;

	t0 = now_s();
	if ((r = scim_snap_delta_make(old, oldlen, nw, newlen, level, &delta, &dlen, err)) < 0)
		die("delta", r, err);
	t1 = now_s();
	if ((r = scim_snap_delta_apply(old, oldlen, delta, dlen, newlen, &back, err)) < 0)
		die("apply", r, err);
	t2 = now_s();
	if (memcmp(back, nw, newlen))
		die("apply", -EBADMSG, "the delta did not give the new stream back");
	printf("delta %-5s level %2d: %8zu bytes, make %.2f s, apply %.3f s\n", label, level, dlen, t1 - t0, t2 - t1);
	free(delta);
	free(back);
}

int main(int argc, char **argv)
{
	char err[SCIM_SNAP_ERR_MAX] = "", tmpl[] = "/tmp/snapbench.XXXXXX", path[64], hex[SCIM_SNAP_SHA256_HEX];
	size_t nusers = 100000, ngroups = 0, per_user = 10, len0, len1, len2, zlen;
	static const int levels[] = { 3, 9, 19 };
	bool level19 = false;
	const char *dump = NULL;
	struct world w;
	struct built b;
	char *s0, *s1, *s2, *sigtext;
	void *z;
	double t0, t1;
	int r;

	if (argc == 4 && !strcmp(argv[1], "--decode"))
		return decode_child(argv[2], strtoull(argv[3], NULL, 10));
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--users") && i + 1 < argc)
			nusers = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--groups") && i + 1 < argc)
			ngroups = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--per-user") && i + 1 < argc)
			per_user = strtoull(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--level19"))
			level19 = true;
		else if (!strcmp(argv[i], "--dump") && i + 1 < argc)
			dump = argv[++i];
		else {
			fprintf(stderr,
				"usage: snapbench [--users N] [--groups G] [--per-user K] [--level19] [--dump FILE]\n");
			return 2;
		}
	}
	if (!ngroups)
		ngroups = nusers / 10 ? nusers / 10 : 1;
	if (per_user > MAXG || per_user > ngroups)
		per_user = MAXG < ngroups ? MAXG : ngroups;

	world_init(&w, nusers, ngroups, per_user);
	build(&w, &b);
	t0 = now_s();
	if ((r = scim_snap_encode(&b.d, &lim, &s0, &len0, err)) < 0)
		die("encode", r, err);
	t1 = now_s();
	scim_snap_sha256_hex(s0, len0, hex);
	printf("directory: %zu users, %zu removed, %zu groups\n", b.d.nusers, b.d.nremoved, b.d.ngroups);
	printf("stream: %zu bytes raw, encode %.2f s, sha256 %.16s...\n", len0, t1 - t0, hex);
	built_free(&b);
	if (dump) {
		FILE *f = fopen(dump, "wb");
		if (!f || fwrite(s0, 1, len0, f) != len0 || fclose(f))
			die(dump, -EIO, NULL);
	}

	for (size_t i = 0; i < sizeof(levels) / sizeof(*levels); i++) {
		if (levels[i] == 19 && !level19)
			continue;
		t0 = now_s();
		if ((r = scim_snap_compress(s0, len0, levels[i], &z, &zlen, err)) < 0)
			die("compress", r, err);
		t1 = now_s();
		printf("snapshot level %2d: %9zu bytes, compress %.2f s\n", levels[i], zlen, t1 - t0);
		if (levels[i] == SCIM_SNAP_ZSTD_LEVEL) {
			FILE *f;
			pid_t pid;
			int status;
			if (!mkdtemp(tmpl))
				die("mkdtemp", -errno, NULL);
			snprintf(path, sizeof(path), "%s/snap.zst", tmpl);
			f = fopen(path, "wb");
			if (!f || fwrite(z, 1, zlen, f) != zlen || fclose(f))
				die(path, -EIO, NULL);
			fflush(stdout);
			pid = fork();
			if (pid == 0) {
				char sz[32];
				snprintf(sz, sizeof(sz), "%zu", len0);
				execl("/proc/self/exe", argv[0], "--decode", path, sz, (char *)NULL);
				_exit(127);
			}
			if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
				die("decode child", -ECHILD, NULL);
		}
		free(z);
	}

	/* Signing: BLAKE2b over the raw stream, then two Ed25519 signatures. */
	{
		struct scim_snap_seckey sk;
		struct scim_snap_pubkey pk;
		struct scim_snap_sig sig;
		char prefix[96];
		snprintf(prefix, sizeof(prefix), "%s/relay", tmpl);
		if ((r = scim_snap_keygen(prefix, err)) < 0)
			die("keygen", r, err);
		snprintf(path, sizeof(path), "%s/relay.key", tmpl);
		if ((r = scim_snap_seckey_load(path, &sk, err)) < 0)
			die("key", r, err);
		snprintf(path, sizeof(path), "%s/relay.pub", tmpl);
		if ((r = scim_snap_pubkey_load(path, &pk, err)) < 0)
			die("key", r, err);
		t0 = now_s();
		if ((r = scim_snap_sign(&sk, s0, len0, "scim-fleet=1 bench", &sigtext, err)) < 0)
			die("sign", r, err);
		t1 = now_s();
		printf("sign: %.3f s; ", t1 - t0);
		t0 = now_s();
		if ((r = scim_snap_sig_parse(sigtext, strlen(sigtext), &sig, err)) < 0 ||
		    (r = scim_snap_sig_verify_comment(&sig, &pk, 1, err)) < 0 ||
		    (r = scim_snap_sig_verify_data(&sig, s0, len0, err)) < 0)
			die("verify", r, err);
		t1 = now_s();
		printf("verify: %.3f s\n", t1 - t0);
		free(sigtext);
		scim_snap_seckey_wipe(&sk);
		unlink(path);
		snprintf(path, sizeof(path), "%s/relay.key", tmpl);
		unlink(path);
		snprintf(path, sizeof(path), "%s/snap.zst", tmpl);
		unlink(path);
		rmdir(tmpl);
	}

	/* Churn from the same base: 0.1% and 1%. */
	churn(&w, 0.1, 1764539000);
	build(&w, &b);
	if ((r = scim_snap_encode(&b.d, &lim, &s1, &len1, err)) < 0)
		die("encode", r, err);
	built_free(&b);
	churn(&w, 0.9, 1764539100);
	build(&w, &b);
	if ((r = scim_snap_encode(&b.d, &lim, &s2, &len2, err)) < 0)
		die("encode", r, err);
	built_free(&b);
	if (dump) {
		char p2[4096];
		FILE *f;
		snprintf(p2, sizeof(p2), "%s.1pct", dump);
		f = fopen(p2, "wb");
		if (!f || fwrite(s2, 1, len2, f) != len2 || fclose(f))
			die(p2, -EIO, NULL);
	}
	for (size_t i = 0; i < 2; i++) {
		int level = i ? 19 : SCIM_SNAP_ZSTD_LEVEL;
		if (level == 19 && !level19)
			continue;
		report_delta("0.1%", s0, len0, s1, len1, level);
		report_delta("1%", s0, len0, s2, len2, level);
	}
	report_delta("1%", s0, len0, s2, len2, 3);
	free(s0);
	free(s1);
	free(s2);
	free(w.u);
	free(w.g);
	free(w.r);
	free(w.taken);
	return 0;
}
