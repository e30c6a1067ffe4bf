/* fault_check.c - test helper for the fault tests (tests/fault_*.sh).
 *
 *   scim-faultcheck cache CACHE   is CACHE one complete, valid snapshot?
 *   scim-faultcheck idmap DIR     the id map DIR/idmap.tdb, one line an entry
 *
 * "cache" reads the file three ways, as the publisher, scimctl and the NSS
 * module do: enumeration (passwd fields), a plain scan (full records, with
 * the SCIM ids) and the lookups by name and by number.  They must agree with
 * each other and with the header's counts.  It prints
 *   header generation=G users=U groups=N
 *   U <scim id> <uid> <name> <a|s> <gecos>
 *   G <scim id> <gid> <name> <members>
 * and exits 0, or says on stderr what is wrong and exits 1.
 *
 * "idmap" opens the map as scim-refreshd does (a killed transaction is rolled
 * back by that open, so give it a copy) and prints
 *   U|G <scim id> <number> <flags>
 * exiting 1 when the map cannot be opened. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "refreshd/idmap.h"

#define MAX_ENTRIES 100000

struct ent {
	char *id, *name, *gecos;
	uint32_t number, nmembers;
	bool suspended, found;
};

struct tally {
	struct ent users[MAX_ENTRIES], groups[MAX_ENTRIES];
	size_t nusers, ngroups, scanned_users, scanned_groups;
	const char *path;
	int errors;
};

static void bad(struct tally *t, const char *what, const char *name, const char *why)
{
	if (t->errors++ < 10)
		fprintf(stderr, "%s: %s %s: %s\n", t->path, what, name, why);
}

static char *dup_n(const char *s, size_t n)
{
	char *d = malloc(n + 1);
	if (!d) {
		perror("malloc");
		exit(2);
	}
	memcpy(d, s, n);
	d[n] = 0;
	return d;
}

static int on_user(const struct scim_user *u, void *ctx)
{
	struct tally *t = ctx;
	struct ent *e;

	if (t->nusers == MAX_ENTRIES)
		return -E2BIG;
	e = &t->users[t->nusers++];
	e->name = dup_n(u->name, u->name_len ? u->name_len : strlen(u->name));
	e->gecos = dup_n(u->gecos, u->gecos_len ? u->gecos_len : strlen(u->gecos));
	e->number = u->uid;
	e->suspended = u->suspended;
	return 0;
}

static int on_group(const struct scim_group *g, void *ctx)
{
	struct tally *t = ctx;
	struct ent *e;

	if (t->ngroups == MAX_ENTRIES)
		return -E2BIG;
	e = &t->groups[t->ngroups++];
	e->name = strdup(g->name);
	e->number = g->gid;
	e->nmembers = g->nmembers;
	return 0;
}

static struct ent *by_number(struct ent *v, size_t n, uint32_t number)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].number == number)
			return &v[i];
	return NULL;
}

/* The scan sees full records: each must match one enumerated entry. */
static int on_scan_user(const struct scim_user *u, void *ctx)
{
	struct tally *t = ctx;
	struct ent *e = by_number(t->users, t->nusers, u->uid);

	t->scanned_users++;
	if (!e || e->found || !u->scim_id || strcmp(e->name, u->name) != 0) {
		bad(t, "user record", u->name, "does not match the enumeration");
		return 0;
	}
	e->found = true;
	e->id = strdup(u->scim_id);
	return 0;
}

static int on_scan_group(const struct scim_group *g, void *ctx)
{
	struct tally *t = ctx;
	struct ent *e = by_number(t->groups, t->ngroups, g->gid);

	t->scanned_groups++;
	if (!e || e->found || !g->scim_id || strcmp(e->name, g->name) != 0) {
		bad(t, "group record", g->name, "does not match the enumeration");
		return 0;
	}
	e->found = true;
	e->id = strdup(g->scim_id);
	return 0;
}

struct probe {
	const struct ent *want;
	bool match;
};

static int on_probe_user(const struct scim_user *u, void *ctx)
{
	struct probe *p = ctx;
	size_t n = u->name_len ? u->name_len : strlen(u->name);
	p->match = u->uid == p->want->number && strlen(p->want->name) == n && !memcmp(u->name, p->want->name, n);
	return 0;
}

static int on_probe_group(const struct scim_group *g, void *ctx)
{
	struct probe *p = ctx;
	p->match = g->gid == p->want->number && !strcmp(g->name, p->want->name) && g->nmembers == p->want->nmembers;
	return 0;
}

static int check_cache(const char *path)
{
	static struct tally t;
	struct scim_cache_file *f = NULL;
	struct scim_cache_header h, h2;
	int r;

	t.path = path;
	r = scim_cache_file_open(path, &f);
	if (r == 0)
		r = scim_cache_file_header(f, &h);
	if (r == 0)
		r = scim_cache_file_foreach_user(f, on_user, &t);
	if (r == 0)
		r = scim_cache_file_foreach_group(f, on_group, &t);
	if (r < 0) {
		fprintf(stderr, "%s: unreadable: %s\n", path, strerror(-r));
		scim_cache_file_close(f);
		return 1;
	}
	if (h.nusers != t.nusers || h.ngroups != t.ngroups) {
		fprintf(stderr,
			"%s: the header says %u users and %u groups, the enumeration gives "
			"%zu and %zu\n",
			path, h.nusers, h.ngroups, t.nusers, t.ngroups);
		t.errors++;
	}
	r = scim_cache_file_scan(path, &h2, on_scan_user, on_scan_group, &t);
	if (r < 0) {
		fprintf(stderr, "%s: scan: %s\n", path, strerror(-r));
		t.errors++;
	} else if (t.scanned_users != t.nusers || t.scanned_groups != t.ngroups || h2.generation != h.generation) {
		fprintf(stderr,
			"%s: the scan gives %zu users and %zu groups (generation %llu), "
			"the enumeration %zu and %zu (%llu)\n",
			path, t.scanned_users, t.scanned_groups, (unsigned long long)h2.generation, t.nusers, t.ngroups,
			(unsigned long long)h.generation);
		t.errors++;
	}
	for (size_t i = 0; i < t.nusers; i++) {
		struct probe p = { &t.users[i], false };
		if (scim_cache_file_user_by_name(f, t.users[i].name, on_probe_user, &p) < 0 || !p.match)
			bad(&t, "user", t.users[i].name, "the lookup by name disagrees with the enumeration");
	}
	/* The process-wide reader cannot open a file this process has open
	 * already (tdb's rule). */
	scim_cache_file_close(f);
	for (size_t i = 0; i < t.nusers; i++) {
		struct probe p = { &t.users[i], false };
		if (scim_cache_user_by_uid(path, t.users[i].number, on_probe_user, &p) < 0 || !p.match)
			bad(&t, "user", t.users[i].name, "the lookup by uid disagrees with the enumeration");
	}
	for (size_t i = 0; i < t.ngroups; i++) {
		struct probe p = { &t.groups[i], false };
		if (scim_cache_group_by_name(path, t.groups[i].name, on_probe_group, &p) < 0 || !p.match)
			bad(&t, "group", t.groups[i].name, "the lookup by name disagrees with the enumeration");
		p.match = false;
		if (scim_cache_group_by_gid(path, t.groups[i].number, on_probe_group, &p) < 0 || !p.match)
			bad(&t, "group", t.groups[i].name, "the lookup by gid disagrees with the enumeration");
	}
	if (t.errors)
		return 1;
	printf("header generation=%llu users=%zu groups=%zu\n", (unsigned long long)h.generation, t.nusers, t.ngroups);
	for (size_t i = 0; i < t.nusers; i++)
		printf("U %s %u %s %c %s\n", t.users[i].id, t.users[i].number, t.users[i].name,
		       t.users[i].suspended ? 's' : 'a', t.users[i].gecos);
	for (size_t i = 0; i < t.ngroups; i++)
		printf("G %s %u %s %u\n", t.groups[i].id, t.groups[i].number, t.groups[i].name, t.groups[i].nmembers);
	return 0;
}

static int on_idmap(char kind, const char *id, uint32_t number, uint8_t flags, void *ctx)
{
	printf("%c %s %u %u\n", kind, id, number, flags);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "cache"))
		return check_cache(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "idmap")) {
		struct scim_idmap *map;
		int r = scim_idmap_open(argv[2], false, &map);
		if (r < 0) {
			fprintf(stderr, "%s: cannot open the id map: %s\n", argv[2], strerror(-r));
			return 1;
		}
		scim_idmap_foreach(map, on_idmap, NULL);
		scim_idmap_close(map);
		return 0;
	}
	fprintf(stderr, "usage: scim-faultcheck cache CACHE | idmap STATE_DIR\n");
	return 2;
}
