/* map_tool.c - test helper for the mapping tests (tests/map_*.sh).
 *
 *   scim-maptool hash ID LO HI [ATTEMPT]   the number scim-refreshd hashes ID to
 *   scim-maptool dump CACHE                header, users and groups of a cache,
 *                                          one line each, through the cache API
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "refreshd/idmap.h"

static int user_cb(const struct scim_user *u, void *ctx)
{
	printf("user %s %u %u %s %s\n", u->name, u->uid, u->gid, u->suspended ? "suspended" : "active", u->gecos);
	return 0;
}

static int group_cb(const struct scim_group *g, void *ctx)
{
	printf("group %s %u %u\n", g->name, g->gid, g->nmembers);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "hash")) {
		unsigned long lo = strtoul(argv[3], NULL, 10), hi = strtoul(argv[4], NULL, 10);
		unsigned long attempt = argc > 5 ? strtoul(argv[5], NULL, 10) : 0;
		printf("%u\n", scim_idmap_hash(argv[2], (uint32_t)attempt, (uint32_t)lo, (uint32_t)hi));
		return 0;
	}
	if (argc == 3 && !strcmp(argv[1], "dump")) {
		struct scim_cache_file *f;
		struct scim_cache_header h;
		int r = scim_cache_file_open(argv[2], &f);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", argv[2], strerror(-r));
			return 1;
		}
		scim_cache_file_header(f, &h);
		printf("header generation=%llu users=%u groups=%u suspended=%u source=%s\n",
		       (unsigned long long)h.generation, h.nusers, h.ngroups, h.nsuspended, h.source);
		r = scim_cache_file_foreach_user(f, user_cb, NULL);
		if (r == 0)
			r = scim_cache_file_foreach_group(f, group_cb, NULL);
		scim_cache_file_close(f);
		return r < 0;
	}
	fprintf(stderr, "usage: scim-maptool hash ID LO HI [ATTEMPT] | dump CACHE\n");
	return 2;
}
