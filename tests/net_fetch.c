/* net_fetch.c - test driver: one listing through http.c and fetch.c into a
 * sink that only counts ids, so paging can be checked without the mapping.
 *
 *   net_fetch URL TOKEN_FILE CA_FILE TYPE PAGE_SIZE [TIMEOUT [MAX_BYTES [MAX_PARALLEL]]]
 *
 * Prints "rc=R resources=N duplicates=D pages=P total=T cursor=C requests=Q"
 * and exits 0 when the listing was complete. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refreshd/fetch.h"
#include "refreshd/http.h"

static int add(void *ctx, json_object *r)
{
	json_object *id = scim_json_get(r, "id");

	if (id && json_object_is_type(id, json_type_string))
		json_object_object_add(ctx, json_object_get_string(id), NULL);
	return 0;
}

static size_t ids(void *ctx)
{
	return (size_t)json_object_object_length(ctx);
}

int main(int argc, char **argv)
{
	struct scim_http_opts o = { 0 };
	struct scim_listing l;
	struct scim_http *h;
	json_object *set;
	int r;

	if (argc < 6) {
		fprintf(stderr, "usage: net_fetch URL TOKEN_FILE CA_FILE TYPE PAGE_SIZE [TIMEOUT [MAX_BYTES [MAX_PARALLEL]]]\n");
		return 2;
	}
	o.token_file = argv[2];
	o.ca_file = argv[3];
	o.timeout = argc > 6 ? atol(argv[6]) : 10;
	o.max_response_bytes = argc > 7 ? (size_t)atoll(argv[7]) : (size_t)64 << 20;
	o.retries = 2;
	o.backoff_ms = 100;
	o.backoff_max_ms = 400;
	o.max_wait = 5;
	o.max_parallel = argc > 8 ? (unsigned)atoi(argv[8]) : 1;
	if (scim_http_global_init() < 0 || scim_http_new(&o, &h) < 0)
		return 1;
	set = json_object_new_object();
	struct scim_sink sink = { .put = { .resource = add, .ctx = set }, .ids = ids };
	r = scim_fetch_listing(h, argv[1], argv[4], (unsigned)atoi(argv[5]), &sink, &l);
	printf("rc=%d resources=%zu duplicates=%zu pages=%zu total=%ld cursor=%d requests=%lu\n", r, l.resources,
	       l.duplicates, l.pages, l.total, l.cursor, scim_http_get_stats(h)->requests);
	json_object_put(set);
	scim_http_free(h);
	return r == 0 ? 0 : 1;
}
