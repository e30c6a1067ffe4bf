/* import.c - offline import of a SCIM export directory.
 *
 * A 100k-user export is a ~40 MB Users.json and a ~70 MB Groups.json.  Parsing
 * either whole with json-c would take several times that in memory, so the
 * file is mapped read-only and read in place by the scanner (scan.h), one
 * resource at a time.  Pages already scanned are dropped from the mapping as
 * we go, so the import's memory is the model plus one resource. */
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "refreshd/import.h"
#include "refreshd/log.h"
#include "refreshd/model.h"
#include "refreshd/scan.h"

int scim_import_document(struct scim_scan *s, const struct scim_scan_sink *sink)
{
	struct scim_page pg;
	size_t n;
	int r;

	r = scim_scan_page(s, &pg);
	if (r == 0)
		r = scim_page_error(s, &pg);
	if (r < 0)
		goto out;
	if (!pg.resources) {
		if (scim_schemas_contain(pg.schemas, ":ListResponse"))
			goto out; /* an empty listing */
		/* A single resource, read exactly as a listed one would be. */
		r = scim_scan_single(s, sink);
		goto out;
	}
	if (*pg.resources == 'n')
		goto out; /* "Resources": null */
	if (*pg.resources != '[') {
		log_error("%s: 'Resources' is not a list", s->what);
		r = -EBADMSG;
		goto out;
	}
	r = scim_scan_resources(s, &pg, sink, &n);
out:
	scim_page_free(&pg);
	return r;
}

struct foreach_ctx {
	int (*cb)(struct json_object *res, void *ctx);
	void *ctx;
};

static int foreach_cb(void *ctx, struct json_object *res)
{
	struct foreach_ctx *c = ctx;
	return c->cb(res, c->ctx);
}

int scim_json_foreach_resource(const char *buf, size_t len, const char *what,
			       int (*cb)(struct json_object *res, void *ctx), void *ctx)
{
	struct foreach_ctx c = { cb, ctx };
	struct scim_scan_sink sink = { .resource = foreach_cb, .ctx = &c };
	struct scim_scan s;
	int r = scim_scan_open(&s, buf, len, what, false);

	if (r == 0)
		r = scim_import_document(&s, &sink);
	scim_scan_close(&s);
	return r;
}

static int import_file(struct scim_model *m, int dirfd, const char *dir, const char *name, bool groups)
{
	struct scim_scan_sink sink;
	struct scim_scan s;
	char what[4096];
	struct stat st;
	void *map;
	int fd, r;

	snprintf(what, sizeof(what), "%s/%s", dir, name);
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		log_error("%s: %s", what, strerror(errno));
		if (fd >= 0)
			close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("%s: not a regular file", what);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		log_error("%s: empty file (not JSON)", what);
		close(fd);
		return -EBADMSG;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED) {
		r = -errno;
		log_error("%s: %s", what, strerror(errno));
		return r;
	}
	madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	size_t before = groups ? scim_model_group_ids(m) : scim_model_user_ids(m);
	scim_model_sink(m, groups, &sink);
	r = scim_scan_open(&s, map, (size_t)st.st_size, what, true);
	if (r == 0)
		r = scim_import_document(&s, &sink);
	scim_scan_close(&s);
	munmap(map, (size_t)st.st_size);
	if (r == 0)
		log_info("%s: %zu %s read", what, (groups ? scim_model_group_ids(m) : scim_model_user_ids(m)) - before,
			 groups ? "groups" : "users");
	return r;
}

static int json_name(const struct dirent *d, const char *pattern)
{
	return fnmatch(pattern, d->d_name, 0) == 0;
}

static int users_filter(const struct dirent *d)
{
	return json_name(d, "Users*.json");
}

static int groups_filter(const struct dirent *d)
{
	return json_name(d, "Groups*.json");
}

int scim_import_dir(const struct scim_config *cfg, const char *dir, bool force, struct scim_sync_stats *stats)
{
	struct dirent **users = NULL, **groups = NULL;
	struct scim_model *m = NULL;
	char *source = NULL;
	int nu = -1, ng = -1, dirfd, r = 0;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		r = -errno;
		log_error("%s: %s", dir, strerror(errno));
		return r;
	}
	nu = scandir(dir, &users, users_filter, alphasort);
	ng = scandir(dir, &groups, groups_filter, alphasort);
	if (nu < 0 || ng < 0) {
		r = -errno;
		log_error("%s: cannot list: %s", dir, strerror(errno));
		goto out;
	}
	if (nu + ng == 0) {
		log_error("%s holds no Users*.json or Groups*.json: nothing to import", dir);
		r = -ENOENT;
		goto out;
	}
	r = scim_model_new(cfg, &m);
	if (r < 0)
		goto out;
	for (int i = 0; i < nu && r == 0; i++)
		r = import_file(m, dirfd, dir, users[i]->d_name, false);
	for (int i = 0; i < ng && r == 0; i++)
		r = import_file(m, dirfd, dir, groups[i]->d_name, true);
	if (r < 0)
		goto out;
	if (asprintf(&source, "import:%s", dir) < 0) {
		source = NULL;
		r = -ENOMEM;
		goto out;
	}
	r = scim_publish(m, source, force, stats);
out:
	for (int i = 0; i < nu; i++)
		free(users[i]);
	for (int i = 0; i < ng; i++)
		free(groups[i]);
	free(users);
	free(groups);
	free(source);
	scim_model_free(m);
	close(dirfd);
	return r;
}
