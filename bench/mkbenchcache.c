/* mkbenchcache.c - the benchmark's data converter: /etc/passwd and /etc/group
 * format files in, our cache out, through the real writer (scim_cache_writer_*).
 *
 *   mkbenchcache PASSWD GROUP CACHE.tdb
 *
 * The group file is inverted into each user's list of supplementary gids, so
 * the cache answers initgroups the way scim-refreshd's would.  SCIM ids are
 * made up ("bench-u-UID", "bench-g-GID"): nothing in the NSS path reads them.
 * Prints one line to stdout: counts, how long parsing and writing took, and
 * the size of the published file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/cache.h"

struct bench_user {
	struct scim_user u;
	uint32_t *gids;
	uint32_t ngids, cap;
	char id[32];
};

struct bench_group {
	struct scim_group g;
	const char **members;
	char id[32];
};

static struct bench_user *users;
static size_t nusers;
static struct bench_group *groups;
static size_t ngroups;
/* name -> index into users, open addressing, size a power of two */
static uint32_t *slots;
static size_t nslots;

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fprintf(stderr, "mkbenchcache: out of memory\n");
		exit(1);
	}
	return p;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The whole file, NUL-terminated, for tokenising in place. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	if (!f) {
		fprintf(stderr, "mkbenchcache: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	do {
		if (cap - len < 65536)
			buf = xrealloc(buf, cap = cap ? 2 * cap : 1 << 20);
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = 0;
	return buf;
}

/* Splits off the next ':'-separated field of a line (NULL when none is left). */
static char *field(char **s)
{
	char *f = *s, *c;
	if (!f)
		return NULL;
	c = strchr(f, ':');
	*s = c ? c + 1 : NULL;
	if (c)
		*c = 0;
	return f;
}

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ULL;
	return h;
}

static void index_users(void)
{
	nslots = 1;
	while (nslots < 2 * nusers + 2)
		nslots *= 2;
	slots = xrealloc(NULL, nslots * sizeof(*slots));
	memset(slots, 0xff, nslots * sizeof(*slots));
	for (size_t i = 0; i < nusers; i++) {
		size_t k = hash(users[i].u.name) & (nslots - 1);
		while (slots[k] != UINT32_MAX)
			k = (k + 1) & (nslots - 1);
		slots[k] = (uint32_t)i;
	}
}

static struct bench_user *find_user(const char *name)
{
	size_t k = hash(name) & (nslots - 1);
	for (; slots[k] != UINT32_MAX; k = (k + 1) & (nslots - 1))
		if (strcmp(users[slots[k]].u.name, name) == 0)
			return &users[slots[k]];
	return NULL;
}

static void read_passwd(char *text)
{
	size_t cap = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *s = line, *name = field(&s), *uid, *gid, *gecos, *home, *shell;
		field(&s); /* password */
		uid = field(&s);
		gid = field(&s);
		gecos = field(&s);
		home = field(&s);
		shell = field(&s);
		if (!name || !*name || !shell) {
			fprintf(stderr, "mkbenchcache: bad passwd line for '%s'\n", name ? name : "");
			exit(1);
		}
		if (nusers == cap)
			users = xrealloc(users, (cap = cap ? 2 * cap : 4096) * sizeof(*users));
		struct bench_user *b = &users[nusers++];
		memset(b, 0, sizeof(*b));
		b->u.name = name;
		b->u.uid = (uint32_t)strtoul(uid, NULL, 10);
		b->u.gid = (uint32_t)strtoul(gid, NULL, 10);
		b->u.gecos = gecos;
		b->u.home = home;
		b->u.shell = shell;
		b->u.has_ext = true;
		snprintf(b->id, sizeof(b->id), "bench-u-%u", b->u.uid);
	}
}

static size_t read_group(char *text)
{
	size_t cap = 0, links = 0;
	/* strtok_r: the member loop below tokenises too */
	char *save = NULL;
	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *s = line, *name = field(&s), *gid, *list;
		size_t mcap = 0;
		field(&s);
		gid = field(&s);
		list = field(&s);
		if (!name || !*name || !list) {
			fprintf(stderr, "mkbenchcache: bad group line for '%s'\n", name ? name : "");
			exit(1);
		}
		if (ngroups == cap)
			groups = xrealloc(groups, (cap = cap ? 2 * cap : 1024) * sizeof(*groups));
		struct bench_group *b = &groups[ngroups++];
		memset(b, 0, sizeof(*b));
		b->g.name = name;
		b->g.gid = (uint32_t)strtoul(gid, NULL, 10);
		snprintf(b->id, sizeof(b->id), "bench-g-%u", b->g.gid);
		char *msave = NULL;
		for (char *m = strtok_r(list, ",", &msave); m; m = strtok_r(NULL, ",", &msave)) {
			struct bench_user *u = find_user(m);
			if (b->g.nmembers == mcap)
				b->members = xrealloc(b->members, (mcap = mcap ? 2 * mcap : 16) * sizeof(char *));
			b->members[b->g.nmembers++] = m;
			links++;
			if (!u)
				continue; /* a member with no passwd entry: listed, no initgroups */
			if (u->ngids == u->cap)
				u->gids = xrealloc(u->gids, (u->cap = u->cap ? 2 * u->cap : 16) * sizeof(uint32_t));
			u->gids[u->ngids++] = b->g.gid;
		}
	}
	return links;
}

int main(int argc, char **argv)
{
	struct scim_cache_writer *w = NULL;
	struct scim_cache_header h = { 0 };
	char source[512];
	struct stat st;
	double t0, t1, t2;
	size_t links;
	int r;

	if (argc != 4) {
		fprintf(stderr, "usage: %s PASSWD GROUP CACHE.tdb\n", argv[0]);
		return 2;
	}
	t0 = now_ms();
	read_passwd(slurp(argv[1]));
	index_users();
	links = read_group(slurp(argv[2]));
	/* Pointers into the arrays only now: they moved while growing. */
	for (size_t i = 0; i < nusers; i++) {
		users[i].u.scim_id = users[i].id;
		users[i].u.gids = users[i].gids;
		users[i].u.ngids = users[i].ngids;
	}
	for (size_t i = 0; i < ngroups; i++) {
		groups[i].g.scim_id = groups[i].id;
		groups[i].g.members = groups[i].members;
	}

	t1 = now_ms();
	r = scim_cache_writer_new(argv[3], nusers, ngroups, &w);
	for (size_t i = 0; r == 0 && i < nusers; i++)
		r = scim_cache_writer_add_user(w, &users[i].u);
	for (size_t i = 0; r == 0 && i < ngroups; i++)
		r = scim_cache_writer_add_group(w, &groups[i].g);
	if (r == 0) {
		snprintf(source, sizeof(source), "bench:%s", argv[1]);
		h.source = source;
		h.last_sync = time(NULL);
		r = scim_cache_writer_commit(w, &h);
		w = NULL; /* commit frees the writer, whatever it returns */
	}
	if (r < 0) {
		if (w)
			scim_cache_writer_abort(w);
		fprintf(stderr, "mkbenchcache: %s: %s\n", argv[3], strerror(-r));
		return 1;
	}
	t2 = now_ms();
	if (stat(argv[3], &st) < 0) {
		fprintf(stderr, "mkbenchcache: %s: %s\n", argv[3], strerror(errno));
		return 1;
	}
	printf("mkbenchcache users=%zu groups=%zu memberships=%zu parse_ms=%.0f write_ms=%.0f bytes=%lld file=%s\n",
	       nusers, ngroups, links, t1 - t0, t2 - t1, (long long)st.st_size, argv[3]);
	return 0;
}
