/* mkcache.c - test tool: builds and publishes a cache from a plain text
 * description, through the real writer.  Used by the NSS and PAM tests and
 * by anything that needs a cache without going through SCIM JSON.
 *
 *   scim-mkcache OUTPUT.tdb < description
 *
 * Description, one item a line, fields separated by ':' ('#' comments):
 *   user:NAME:UID:GID:GECOS:HOME:SHELL:active|suspended:SCIMID:GID,GID,...
 *   group:NAME:GID:SCIMID:MEMBER,MEMBER,...
 *   biggroup:NAME:GID:PREFIX:COUNT      (COUNT members PREFIX0..PREFIXn-1)
 *   removed:NAME:UID:SINCE:SCIMID       (a removed user; SINCE in unix seconds)
 *   source:TEXT
 *   last_sync:UNIX_SECONDS              (default: now)
 *
 *   scim-mkcache --raw MODE [UID] OUTPUT.tdb < bytes
 * publishes arbitrary bytes (a damaged cache, a file with unsafe mode or
 * owner) the way the writer publishes, so readers in other processes see it
 * on their next lookup.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/cache.h"

static char *field(char **s)
{
	char *f = *s, *c;
	if (!f)
		return (char *)"";
	c = strchr(f, ':');
	if (c) {
		*c = 0;
		*s = c + 1;
	} else {
		*s = NULL;
	}
	return f;
}

static size_t split_list(char *s, char ***out)
{
	size_t n = 0, cap = 16;
	char **v = malloc(cap * sizeof(*v)), *save = NULL;
	for (char *t = strtok_r(s, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (n == cap)
			v = realloc(v, (cap *= 2) * sizeof(*v));
		v[n++] = t;
	}
	*out = v;
	return n;
}

static int publish_raw(int argc, char **argv)
{
	char tmp[4096], buf[65536];
	mode_t mode;
	ssize_t n;
	int fd;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: scim-mkcache --raw MODE [UID] OUTPUT.tdb < bytes\n");
		return 2;
	}
	mode = (mode_t)strtoul(argv[2], NULL, 8);
	snprintf(tmp, sizeof(tmp), "%s.new", argv[argc - 1]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 1;
	while ((n = read(0, buf, sizeof(buf))) > 0)
		if (write(fd, buf, (size_t)n) != n)
			return 1;
	if (fchmod(fd, mode) < 0 || (argc == 5 && fchown(fd, (uid_t)atoi(argv[3]), (gid_t)-1) < 0) || fsync(fd) < 0)
		return 1;
	close(fd);
	int r = scim_cache_install(tmp, argv[argc - 1]);
	if (r < 0) {
		fprintf(stderr, "scim-mkcache: %s: %s\n", argv[argc - 1], strerror(-r));
		return 1;
	}
	return 0;
}

/* One description line: adds it to w, or sets a header field. */
static int handle(const char *text, struct scim_cache_writer *w, struct scim_cache_header *h, char **source)
{
	char *line = strdup(text), *s = line, *kind;
	int r = 0;

	line[strcspn(line, "\n")] = 0;
	if (!*line || *line == '#') {
		free(line);
		return 0;
	}
	kind = field(&s);
	if (!strcmp(kind, "user")) {
		struct scim_user u = { 0 };
		char **gidv;
		u.name = field(&s);
		u.uid = strtoul(field(&s), NULL, 10);
		u.gid = strtoul(field(&s), NULL, 10);
		u.gecos = field(&s);
		u.home = field(&s);
		u.shell = field(&s);
		u.suspended = !strcmp(field(&s), "suspended");
		u.scim_id = field(&s);
		u.has_ext = true;
		u.ngids = (uint32_t)split_list(field(&s), &gidv);
		uint32_t *gids = calloc(u.ngids + 1, sizeof(*gids));
		for (uint32_t i = 0; i < u.ngids; i++)
			gids[i] = strtoul(gidv[i], NULL, 10);
		u.gids = gids;
		r = scim_cache_writer_add_user(w, &u);
		free(gids);
		free(gidv);
	} else if (!strcmp(kind, "group")) {
		struct scim_group g = { 0 };
		char **mem;
		g.name = field(&s);
		g.gid = strtoul(field(&s), NULL, 10);
		g.scim_id = field(&s);
		g.nmembers = (uint32_t)split_list(field(&s), &mem);
		g.members = (const char *const *)mem;
		r = scim_cache_writer_add_group(w, &g);
		free(mem);
	} else if (!strcmp(kind, "biggroup")) {
		struct scim_group g = { 0 };
		g.name = field(&s);
		g.gid = strtoul(field(&s), NULL, 10);
		g.scim_id = "big";
		const char *prefix = field(&s);
		g.nmembers = strtoul(field(&s), NULL, 10);
		char **mem = calloc(g.nmembers + 1, sizeof(*mem));
		for (uint32_t i = 0; i < g.nmembers; i++) {
			size_t n = strlen(prefix) + 12;
			mem[i] = malloc(n);
			snprintf(mem[i], n, "%s%u", prefix, i);
		}
		g.members = (const char *const *)mem;
		r = scim_cache_writer_add_group(w, &g);
		for (uint32_t i = 0; i < g.nmembers; i++)
			free(mem[i]);
		free(mem);
	} else if (!strcmp(kind, "removed")) {
		struct scim_removed d = { 0 };
		d.name = field(&s);
		d.uid = strtoul(field(&s), NULL, 10);
		d.since = strtoll(field(&s), NULL, 10);
		d.scim_id = field(&s);
		r = scim_cache_writer_add_removed(w, &d);
	} else if (!strcmp(kind, "source")) {
		free(*source);
		*source = strdup(s ? s : "");
		h->source = *source;
		r = 0;
	} else if (!strcmp(kind, "last_sync")) {
		h->last_sync = strtoll(field(&s), NULL, 10);
		r = 0;
	} else {
		r = -EINVAL;
	}
	free(line);
	return r;
}

int main(int argc, char **argv)
{
	struct scim_cache_writer *w = NULL;
	struct scim_cache_header h = { .last_sync = time(NULL), .source = "scim-mkcache" };
	char *line = NULL, *source = NULL;
	size_t cap = 0, nusers = 0, ngroups = 0, nlines = 0, lcap = 1024;
	int r;

	if (argc > 1 && !strcmp(argv[1], "--raw"))
		return publish_raw(argc, argv);
	if (argc != 2) {
		fprintf(stderr, "usage: %s OUTPUT.tdb < description\n", argv[0]);
		return 2;
	}
	/* Read everything first: the writer sizes its hash table from the
	 * counts. */
	char **lines = malloc(lcap * sizeof(*lines));
	while (getline(&line, &cap, stdin) > 0) {
		if (nlines == lcap)
			lines = realloc(lines, (lcap *= 2) * sizeof(*lines));
		lines[nlines++] = strdup(line);
		nusers += !strncmp(line, "user:", 5);
		ngroups += !strncmp(line, "group:", 6) || !strncmp(line, "biggroup:", 9);
	}
	r = scim_cache_writer_new(argv[1], nusers, ngroups, &w);
	if (r < 0) {
		fprintf(stderr, "scim-mkcache: %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	for (size_t i = 0; i < nlines; i++) {
		r = handle(lines[i], w, &h, &source);
		if (r < 0) {
			fprintf(stderr, "scim-mkcache: line %zu: %s\n", i + 1, strerror(-r));
			scim_cache_writer_abort(w);
			return 1;
		}
	}
	r = scim_cache_writer_commit(w, &h);
	for (size_t i = 0; i < nlines; i++)
		free(lines[i]);
	free(lines);
	free(line);
	free(source);
	if (r < 0) {
		fprintf(stderr, "scim-mkcache: publish %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	return 0;
}
