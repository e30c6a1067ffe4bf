/* net_cachecheck.c - is this cache one complete snapshot?
 *
 *   net_cachecheck CACHE
 *
 * Opens the file as a reader would, enumerates every user and group, and
 * checks the counts against the header.  Prints
 *   "generation=G users=U groups=N gecos=<first word of every gecos, if all equal, else MIXED>"
 * and exits 0 when consistent, 1 otherwise (or when it cannot be read). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cache/cache.h"

struct tally {
	unsigned users, groups;
	char word[32];
	bool mixed;
};

static int on_user(const struct scim_user *u, void *ctx)
{
	struct tally *t = ctx;
	char w[32];
	size_t n = strcspn(u->gecos, " ");

	snprintf(w, sizeof(w), "%.*s", (int)(n < sizeof(w) - 1 ? n : sizeof(w) - 1), u->gecos);
	if (t->users++ == 0)
		memcpy(t->word, w, sizeof(w));
	else if (strcmp(t->word, w) != 0)
		t->mixed = true;
	return 0;
}

static int on_group(const struct scim_group *g, void *ctx)
{
	((struct tally *)ctx)->groups++;
	return 0;
}

int main(int argc, char **argv)
{
	struct scim_cache_file *f = NULL;
	struct scim_cache_header h;
	struct tally t = { 0 };
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: net_cachecheck CACHE\n");
		return 2;
	}
	r = scim_cache_file_open(argv[1], &f);
	if (r == 0)
		r = scim_cache_file_header(f, &h);
	if (r == 0)
		r = scim_cache_file_foreach_user(f, on_user, &t);
	if (r == 0)
		r = scim_cache_file_foreach_group(f, on_group, &t);
	if (r < 0) {
		printf("unreadable: %s\n", strerror(-r));
		scim_cache_file_close(f);
		return 1;
	}
	printf("generation=%llu users=%u groups=%u gecos=%s\n", (unsigned long long)h.generation, t.users, t.groups,
	       t.mixed ? "MIXED" : t.word);
	scim_cache_file_close(f);
	return t.users == h.nusers && t.groups == h.ngroups && !t.mixed ? 0 : 1;
}
