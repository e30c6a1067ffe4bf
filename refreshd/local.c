/* local.c - local names and numbers from /etc/passwd and /etc/group. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refreshd/local.h"
#include "refreshd/table.h"

struct scim_local {
	struct scim_arena arena;
	struct scim_strmap names;  /* kind 'u' user, 'g' group (value: gid) */
	struct scim_nummap numbers;
};

/* "name:x:NUMBER:..." -> name and number (field 3). */
static int parse_line(char *line, char **name, uint32_t *number)
{
	char *f1 = strchr(line, ':'), *f2, *end;
	unsigned long v;
	if (!f1)
		return -EINVAL;
	*f1 = 0;
	f2 = strchr(f1 + 1, ':');
	if (!f2)
		return -EINVAL;
	errno = 0;
	v = strtoul(f2 + 1, &end, 10);
	if (errno || end == f2 + 1 || *end != ':' || v > UINT32_MAX)
		return -EINVAL;
	*name = line;
	*number = (uint32_t)v;
	return 0;
}

static int load_file(struct scim_local *l, const char *path, uint8_t kind)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	int r = 0;

	if (!f)
		return errno == ENOENT ? 0 : -errno;
	while (getline(&line, &cap, f) > 0) {
		char *name;
		uint32_t number;
		const char *key;
		line[strcspn(line, "\n")] = 0;
		/* NIS compat lines (+, -) and junk carry no name we could shadow. */
		if (!line[0] || line[0] == '#' || line[0] == '+' || line[0] == '-' || parse_line(line, &name, &number) < 0)
			continue;
		key = scim_arena_strdup(&l->arena, name);
		if (!key) {
			r = -ENOMEM;
			break;
		}
		r = scim_strmap_put(&l->names, kind, key, &number);
		if (r == -EEXIST)
			r = 0;
		if (r == 0 && number != 0) {
			r = scim_nummap_put(&l->numbers, number, 0);
			if (r == -EEXIST)
				r = 0;
		}
		if (r < 0)
			break;
	}
	if (r == 0 && ferror(f))
		r = -EIO;
	free(line);
	fclose(f);
	return r;
}

int scim_local_load(const char *passwd, const char *group, struct scim_local **out)
{
	struct scim_local *l = calloc(1, sizeof(*l));
	int r;
	*out = NULL;
	if (!l)
		return -ENOMEM;
	r = load_file(l, passwd ? passwd : "/etc/passwd", 'u');
	if (r == 0)
		r = load_file(l, group ? group : "/etc/group", 'g');
	if (r < 0) {
		scim_local_free(l);
		return r;
	}
	*out = l;
	return 0;
}

void scim_local_free(struct scim_local *l)
{
	if (!l)
		return;
	scim_strmap_free(&l->names);
	scim_nummap_free(&l->numbers);
	scim_arena_free(&l->arena);
	free(l);
}

bool scim_local_has_name(const struct scim_local *l, const char *name)
{
	uint32_t v;
	return scim_strmap_get(&l->names, 'u', name, &v) == 0 || scim_strmap_get(&l->names, 'g', name, &v) == 0;
}

bool scim_local_has_number(const struct scim_local *l, uint32_t number)
{
	return number == 0 || scim_nummap_get(&l->numbers, number, NULL) == 0;
}

int scim_local_group_gid(const struct scim_local *l, const char *name, uint32_t *gid)
{
	return scim_strmap_get(&l->names, 'g', name, gid);
}
