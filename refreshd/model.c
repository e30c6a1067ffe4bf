/* model.c - SCIM resources -> a mapped directory (POSIX users and groups).
 *
 * Resources are reduced to a few interned strings and numbers as they arrive
 * (the caller frees the JSON right after), so a sync of 100k users holds
 * megabytes, not the listing.  Everything that needs the whole picture (name
 * clashes, numbers, nesting, host_groups) happens in scim_publish(), which
 * then hands the mapped directory to publish.c: the comparison with the live
 * cache, the guards and the write live there, shared with a fleet host. */
#include <sys/types.h>

#include <errno.h>
#include <json-c/json.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/cache.h"
#include "cache/sshkey.h"
#include "refreshd/hook.h"
#include "refreshd/idmap.h"
#include "refreshd/local.h"
#include "refreshd/log.h"
#include "refreshd/model.h"
#include "refreshd/names.h"
#include "refreshd/publish.h"
#include "refreshd/table.h"

#define CORE_USER "urn:ietf:params:scim:schemas:core:2.0:User"
#define CORE_GROUP "urn:ietf:params:scim:schemas:core:2.0:Group"
/* A SCIM id is an opaque server string; anything longer is not one. */
#define SCIM_ID_MAX 1024

enum { KIND_USER = SCIM_IDMAP_USER, KIND_GROUP = SCIM_IDMAP_GROUP };

struct user {
	const char *id, *name, *gecos;
	uint32_t attr;   /* number from uid_attribute, 0 if none or unusable */
	uint32_t number; /* assigned uid, 0 until then */
	uint32_t gid_off, ngids;
	uint8_t skip;    /* 0, or 1 + enum scim_skip_reason */
	bool suspended;
	bool off_host;   /* numbered, but in none of host_groups: not published */
	uint8_t nkeys;    /* SSH public keys (ssh_keys_attribute) */
	const char *keys; /* nkeys checked lines, each ended by '\n' */
};

struct ref {
	const char *value;
	bool group_hint; /* type "Group", or a $ref to /Groups/ */
};

struct group {
	const char *id, *name;
	uint32_t attr, number;
	uint8_t skip;
	uint32_t *users; /* direct members resolved to user indices */
	uint32_t nusers, ucap;
	struct ref *refs; /* members not (yet) known as users */
	uint32_t nrefs, rcap;
	uint32_t *subgroups; /* refs resolved to group indices at publish time */
	uint32_t nsub;
	uint32_t flat_off, nflat;
	bool off_host; /* no member on this host (host_groups): not published */
};

struct scim_model {
	const struct scim_config *cfg;
	struct scim_idmap *idmap;
	struct scim_local *local;
	struct scim_arena arena;
	struct user *users;
	size_t nusers, ucap;
	struct group *groups;
	size_t ngroups, gcap;
	size_t expect_users, expect_groups; /* totalResults: a promise, never reserved for */
	struct scim_strmap ids; /* (kind, SCIM id) -> index */
	uint32_t noid_users, noid_groups, bad_users, bad_groups;
	uint32_t amb_users, amb_groups; /* ambiguous and without a usable id */
	uint32_t cur_group, cur_dropped; /* scim_model_begin_group() .. end */
	bool in_group, cur_noid;
	bool used;
	/* Every key a user (group) resource is read for. */
	struct scim_keys user_keys, group_keys;
	/* scim_model_ambiguous() for the next resource: the key's path. */
	char ambiguous[256];
};

/* ------------------------------------------------------------------ JSON */

/* Attribute names are case-insensitive (RFC 7643 section 2.1).  Whether
 * obj holds key, and its value in *out (NULL for a JSON null).  A resource
 * holding a key twice never gets here (see scim_model_ambiguous), so which
 * spelling is found first does not matter. */
static bool find_ci(struct json_object *obj, const char *key, struct json_object **out)
{
	*out = NULL;
	if (!obj || !json_object_is_type(obj, json_type_object))
		return false;
	if (json_object_object_get_ex(obj, key, out))
		return true;
	json_object_object_foreach(obj, k, val)
	{
		if (!strcasecmp(k, key)) {
			*out = val;
			return true;
		}
	}
	return false;
}

static struct json_object *get_ci(struct json_object *obj, const char *key)
{
	struct json_object *v;
	find_ci(obj, key, &v);
	return v;
}

/* A path split the way RFC 7644 section 3.10 reads it: buf (512 bytes) gets
 * a copy, *ext the key of the extension object it lives in (NULL for the
 * core schema) and *attr the dotted attribute path.  -1 if it is too long. */
static int split_path(const char *path, char *buf, size_t buflen, char **ext, char **attr)
{
	if (!path || strlen(path) >= buflen)
		return -1;
	strcpy(buf, path);
	*ext = NULL;
	*attr = buf;
	if (!strncasecmp(buf, "urn:", 4)) {
		char *colon = strrchr(buf, ':');
		*colon = 0;
		*attr = colon + 1;
		if (strcasecmp(buf, CORE_USER) && strcasecmp(buf, CORE_GROUP))
			*ext = buf;
	}
	return 0;
}

/* "userName", "name.formatted", "urn:...:User:employeeNumber",
 * "urn:...:User:manager.value" (RFC 7644 section 3.10). */
static struct json_object *get_path(struct json_object *res, const char *path)
{
	char buf[512], *ext, *attr, *save = NULL;
	struct json_object *o = res;

	if (split_path(path, buf, sizeof(buf), &ext, &attr) < 0)
		return NULL;
	if (ext)
		o = get_ci(res, ext);
	for (char *seg = strtok_r(attr, ".", &save); seg && o; seg = strtok_r(NULL, ".", &save))
		o = get_ci(o, seg);
	return o;
}

/* Adds to k the keys get_path(res, path) looks up, the way it splits path. */
static int keys_add_path(struct scim_keys *k, const char *path)
{
	char buf[512], *ext, *attr, *save = NULL;
	int node = 0;

	if (!path || split_path(path, buf, sizeof(buf), &ext, &attr) < 0)
		return 0; /* get_path() reads nothing */
	if (ext && (node = scim_keys_add(k, 0, ext, strlen(ext), false)) < 0)
		return node;
	for (char *seg = strtok_r(attr, ".", &save); seg; seg = strtok_r(NULL, ".", &save))
		if ((node = scim_keys_add(k, (unsigned)node, seg, strlen(seg), false)) < 0)
			return node;
	return 0;
}

/* Every key scim_model_add_user() / scim_model_begin_group() read, for the
 * scanner to refuse a resource that holds one of them twice. */
static int build_keys(struct scim_model *m)
{
	static const char *const common[] = { "id", "externalId", "userName", "displayName" };
	static const char *const member[] = { "value", "type", "$ref", "$+ref" };
	const struct scim_config *cfg = m->cfg;
	int r = 0, mem;

	scim_keys_init(&m->user_keys);
	scim_keys_init(&m->group_keys);
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]) && r == 0; i++)
		if ((r = keys_add_path(&m->user_keys, common[i])) == 0)
			r = keys_add_path(&m->group_keys, common[i]);
	if (r == 0)
		r = keys_add_path(&m->user_keys, "name.formatted");
	if (r == 0)
		r = keys_add_path(&m->user_keys, "active");
	if (r == 0 && (r = keys_add_path(&m->user_keys, cfg->name_attribute)) < 0)
		log_error("name_attribute %s has too many parts", cfg->name_attribute);
	if (r == 0 && (r = keys_add_path(&m->user_keys, cfg->uid_attribute)) < 0)
		log_error("uid_attribute %s has too many parts", cfg->uid_attribute);
	if (r == 0 && (r = keys_add_path(&m->user_keys, cfg->ssh_keys_attribute)) < 0)
		log_error("ssh_keys_attribute %s has too many parts", cfg->ssh_keys_attribute);
	if (r == 0 && (r = keys_add_path(&m->group_keys, cfg->gid_attribute)) < 0)
		log_error("gid_attribute %s has too many parts", cfg->gid_attribute);
	if (r < 0)
		return r;
	mem = scim_keys_add(&m->group_keys, 0, "members", 7, true);
	for (size_t i = 0; i < sizeof(member) / sizeof(member[0]) && mem > 0; i++)
		r = scim_keys_add(&m->group_keys, (unsigned)mem, member[i], strlen(member[i]), false);
	return mem < 0 ? mem : r < 0 ? r : 0;
}

/* A string without embedded NULs, or NULL. */
static const char *get_str(struct json_object *o, size_t *len)
{
	const char *s;
	if (!o || !json_object_is_type(o, json_type_string))
		return NULL;
	s = json_object_get_string(o);
	*len = (size_t)json_object_get_string_len(o);
	return strlen(s) == *len ? s : NULL;
}

/* An integer, or a string of decimal digits (employeeNumber is a string). */
static bool get_number(struct json_object *o, uint32_t *out)
{
	if (!o)
		return false;
	if (json_object_is_type(o, json_type_int)) {
		int64_t v = json_object_get_int64(o);
		if (v < 0 || v > UINT32_MAX)
			return false;
		*out = (uint32_t)v;
		return true;
	}
	if (json_object_is_type(o, json_type_string)) {
		const char *s = json_object_get_string(o);
		uint64_t v = 0;
		if (!*s || strlen(s) > 10)
			return false;
		for (; *s; s++) {
			if (*s < '0' || *s > '9')
				return false;
			v = v * 10 + (uint64_t)(*s - '0');
		}
		if (v > UINT32_MAX)
			return false;
		*out = (uint32_t)v;
		return true;
	}
	return false;
}

/* ------------------------------------------------------------------ model */

/* --recover-idmap: the published cache holds the SCIM id and number of every
 * user and group it publishes, so a lost map can be rebuilt from it.  What it
 * cannot hold are tombstones: numbers of ids that had already left. */
struct recover_ctx {
	struct scim_cache_file *f;
	struct scim_idmap *map;
	struct scim_arena names;
	const char **list;
	size_t n, cap;
	uint32_t users, groups, failed;
};

static int recover_name_cb(const struct scim_user *u, void *ctx)
{
	struct recover_ctx *c = ctx;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 1024;
		const char **l = realloc(c->list, cap * sizeof(*l));
		if (!l)
			return -ENOMEM;
		c->list = l;
		c->cap = cap;
	}
	c->list[c->n] = scim_arena_strdup(&c->names, u->name);
	return c->list[c->n++] ? 0 : -ENOMEM;
}

static int recover_user_cb(const struct scim_user *u, void *ctx)
{
	struct recover_ctx *c = ctx;
	if (!u->has_ext || !u->scim_id || !*u->scim_id ||
	    scim_idmap_add(c->map, SCIM_IDMAP_USER, u->scim_id, u->uid) < 0) {
		log_warning("cannot recover the number of user %s (uid %u)", u->name, u->uid);
		c->failed++;
		return 0;
	}
	c->users++;
	return 0;
}

static int recover_group_cb(const struct scim_group *g, void *ctx)
{
	struct recover_ctx *c = ctx;
	uint32_t n;
	/* A user-private group carries its user's id and number. */
	if (g->scim_id && scim_idmap_get(c->map, SCIM_IDMAP_USER, g->scim_id, &n, NULL) == 0 && n == g->gid)
		return 0;
	if (!g->scim_id || !*g->scim_id || scim_idmap_add(c->map, SCIM_IDMAP_GROUP, g->scim_id, g->gid) < 0) {
		log_warning("cannot recover the number of group %s (gid %u)", g->name, g->gid);
		c->failed++;
		return 0;
	}
	c->groups++;
	return 0;
}

static int recover_idmap(const struct scim_config *cfg, struct scim_idmap *map)
{
	struct recover_ctx c = { .map = map };
	int r = scim_cache_file_open(cfg->cache_file, &c.f);

	if (r < 0) {
		log_error("cannot rebuild the id map from %s: %s", cfg->cache_file, strerror(-r));
		return r;
	}
	r = scim_cache_file_foreach_user(c.f, recover_name_cb, &c);
	for (size_t i = 0; i < c.n && r == 0; i++) {
		r = scim_cache_file_user_by_name(c.f, c.list[i], recover_user_cb, &c);
		if (r == -ENOENT)
			r = 0;
	}
	if (r == 0)
		r = scim_cache_file_foreach_group(c.f, recover_group_cb, &c);
	scim_cache_file_close(c.f);
	free(c.list);
	scim_arena_free(&c.names);
	if (r == 0)
		r = scim_idmap_commit(map);
	if (r < 0) {
		log_error("cannot rebuild the id map from %s: %s", cfg->cache_file, strerror(-r));
		return r;
	}
	log_notice("rebuilt the id map from %s: %u users and %u groups keep their numbers%s; numbers of ids that "
		   "had already left the directory (tombstones) are not in a cache and could be handed out again",
		   cfg->cache_file, c.users, c.groups, c.failed ? " (some could not, see above)" : "");
	return 0;
}

int scim_model_new(const struct scim_config *cfg, struct scim_model **out)
{
	struct scim_model *m;
	struct stat st;
	int r;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->cfg = cfg;
	m->cur_group = UINT32_MAX;
	r = build_keys(m);
	if (r < 0)
		goto out;
	r = scim_local_load(NULL, NULL, &m->local);
	if (r < 0) {
		log_error("cannot read /etc/passwd or /etc/group: %s", strerror(-r));
		goto out;
	}
	r = scim_idmap_open(cfg->state_dir, true, &m->idmap);
	if (r < 0)
		goto out;
	/* An empty map beside a published cache means the map was lost: going
	 * on would hand out new numbers, and old files would change owner. */
	if (scim_idmap_count(m->idmap) == 0 && stat(cfg->cache_file, &st) == 0 && cfg->recover_idmap) {
		r = recover_idmap(cfg, m->idmap);
		if (r < 0)
			goto out;
	}
	if (scim_idmap_count(m->idmap) == 0 && stat(cfg->cache_file, &st) == 0) {
		log_error("the id map %s/%s is missing or empty, but the cache %s exists: the numbers it "
			  "recorded would change. Restore the id map from a backup, or run once with "
			  "--recover-idmap to rebuild it from the cache; to start over with new numbers on "
			  "purpose, remove %s first.",
			  cfg->state_dir, SCIM_IDMAP_FILE, cfg->cache_file, cfg->cache_file);
		r = -ENOENT;
		goto out;
	}
out:
	if (r < 0) {
		scim_model_free(m);
		return r;
	}
	*out = m;
	return 0;
}

void scim_model_free(struct scim_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->ngroups; i++) {
		free(m->groups[i].users);
		free(m->groups[i].refs);
		free(m->groups[i].subgroups);
	}
	free(m->users);
	free(m->groups);
	/* The id map borrows the model's strings: close it first. */
	scim_idmap_close(m->idmap);
	scim_strmap_free(&m->ids);
	scim_arena_free(&m->arena);
	scim_local_free(m->local);
	free(m);
}

void scim_model_expect(struct scim_model *m, bool groups, size_t total)
{
	/* A hostile server may promise millions: nothing is reserved here.
	 * The arrays grow as resources arrive (see grow_cap()). */
	if (groups)
		m->expect_groups = total;
	else
		m->expect_users = total;
}

/* The next capacity of an array of count entries that is full at cap: double
 * it (first when empty), so memory follows what has arrived, but stop at the
 * promised total when that is nearer, so an honest listing is not left with
 * up to twice the room it needs. */
static size_t grow_cap(size_t cap, size_t first, size_t count, size_t expect)
{
	size_t n = cap ? cap * 2 : first;

	if (expect > count && expect < n)
		n = expect;
	return n;
}

size_t scim_model_user_ids(const struct scim_model *m)
{
	return m->nusers;
}

size_t scim_model_group_ids(const struct scim_model *m)
{
	return m->ngroups;
}

bool scim_model_has_id(const struct scim_model *m, bool groups, const char *id)
{
	uint32_t idx;
	return scim_strmap_get(&m->ids, groups ? KIND_GROUP : KIND_USER, id, &idx) == 0;
}

/* The id, or NULL (and the resource is counted and logged as skipped: as
 * ambiguous in *amb_count when amb names a key it holds twice). */
static const char *resource_id(struct scim_model *m, struct json_object *res, const char *kind, uint32_t *noid,
			       uint32_t *bad, const char *amb, uint32_t *amb_count)
{
	const char *id, *hint;
	size_t len, hlen;

	if (!json_object_is_type(res, json_type_object)) {
		log_warning("skipping a %s resource: not a JSON object", kind);
		(*bad)++;
		return NULL;
	}
	id = get_str(get_ci(res, "id"), &len);
	if (id && len > 0 && len <= SCIM_ID_MAX)
		return id;
	/* Name something a sysadmin can find in the IdP. */
	hint = get_str(get_ci(res, "externalId"), &hlen);
	if (!hint)
		hint = get_str(get_ci(res, "userName"), &hlen);
	if (!hint)
		hint = get_str(get_ci(res, "displayName"), &hlen);
	if (amb) {
		log_warning("skipping a %s without a usable SCIM id (%s%.64s%s): '%s' appears twice (in some letter "
			    "case), so it is ambiguous",
			    kind, hint ? "'" : "no name either", hint ? hint : "", hint ? "'" : "", amb);
		(*amb_count)++;
		return NULL;
	}
	log_warning("skipping a %s without a usable SCIM id (%s%.64s%s)", kind, hint ? "'" : "no name either",
		    hint ? hint : "", hint ? "'" : "");
	(*noid)++;
	return NULL;
}

/* The ambiguity scim_model_ambiguous() announced for the resource being
 * added, if any, into path (256 bytes); cleared. */
static bool take_ambiguous(struct scim_model *m, char *path)
{
	bool amb = m->ambiguous[0] != 0;

	memcpy(path, m->ambiguous, sizeof(m->ambiguous));
	m->ambiguous[0] = 0;
	return amb;
}

#define AMBIGUOUS_FMT "skipping %s id=%s: '%s' appears twice (in some letter case), so it is ambiguous"

/* Maps and checks a name; returns 0 or 1 + the skip reason (logged). */
static uint8_t check_name(struct scim_model *m, const char *kind, const char *id, const char *raw, size_t len,
			  char *name)
{
	const struct scim_config *cfg = m->cfg;

	if (!raw || len == 0) {
		log_warning("skipping %s id=%s: no name", kind, id);
		return 1 + SCIM_SKIP_NO_NAME;
	}
	if (scim_map_name(raw, len, cfg->lowercase_names, cfg->strip_domain, name) < 0) {
		log_warning("skipping %s id=%s: name '%.64s%s' is not a valid POSIX name ([a-z_][a-z0-9_.-]*, at "
			    "most %d characters)",
			    kind, id, raw, len > 64 ? "..." : "", SCIM_POSIX_NAME_MAX);
		return 1 + SCIM_SKIP_BAD_NAME;
	}
	/* Built in: names a package creates later or sudoers/polkit grant rights to. */
	if (scim_name_is_reserved(name))
		goto reserved;
	for (size_t i = 0; i < cfg->ndeny_names; i++)
		if (!strcasecmp(name, cfg->deny_names[i]))
			goto reserved;
	if (scim_local_has_name(m->local, name)) {
		log_warning("skipping %s id=%s: name '%s' exists in /etc/passwd or /etc/group (the directory never "
			    "shadows a local account)",
			    kind, id, name);
		return 1 + SCIM_SKIP_LOCAL;
	}
	return 0;
reserved:
	log_warning("skipping %s id=%s: name '%s' is reserved (system or package account, or deny_names)", kind, id,
		    name);
	return 1 + SCIM_SKIP_RESERVED;
}

static uint32_t attr_number(struct scim_model *m, struct json_object *res, const char *path, const char *kind,
			    const char *id)
{
	struct json_object *o;
	uint32_t n;
	if (!path || !(o = get_path(res, path)) || json_object_is_type(o, json_type_null))
		return 0;
	if (!get_number(o, &n)) {
		log_notice("%s id=%s: %s is not a number; hashing the id instead", kind, id, path);
		return 0;
	}
	if (n < m->cfg->uid_min || n > m->cfg->uid_max) {
		log_notice("%s id=%s: %s %u is outside [%u, %u]; hashing the id instead", kind, id, path, n,
			   m->cfg->uid_min, m->cfg->uid_max);
		return 0;
	}
	return n;
}

/* Finds or creates the slot for (kind, id): a repeated id (pages shifting
 * under a listing) replaces the earlier resource. */
static int slot_for(struct scim_model *m, char kind, const char *id, uint32_t *idx, bool *fresh)
{
	const char *copy;
	int r;
	size_t count = kind == KIND_USER ? m->nusers : m->ngroups;

	if (scim_strmap_get(&m->ids, (uint8_t)kind, id, idx) == 0) {
		*fresh = false;
		return 0;
	}
	if (count >= UINT32_MAX - 1)
		return -E2BIG;
	if (kind == KIND_USER && m->nusers == m->ucap) {
		size_t cap = grow_cap(m->ucap, 1024, m->nusers, m->expect_users);
		struct user *u = realloc(m->users, cap * sizeof(*u));
		if (!u)
			return -ENOMEM;
		m->users = u;
		m->ucap = cap;
	} else if (kind == KIND_GROUP && m->ngroups == m->gcap) {
		size_t cap = grow_cap(m->gcap, 256, m->ngroups, m->expect_groups);
		struct group *g = realloc(m->groups, cap * sizeof(*g));
		if (!g)
			return -ENOMEM;
		m->groups = g;
		m->gcap = cap;
	}
	/* Known ids share the id map's copy. */
	copy = scim_idmap_id(m->idmap, kind, id);
	if (!copy)
		copy = scim_arena_strdup(&m->arena, id);
	if (!copy)
		return -ENOMEM;
	*idx = (uint32_t)count;
	r = scim_strmap_put(&m->ids, (uint8_t)kind, copy, idx);
	if (r < 0)
		return r;
	if (kind == KIND_USER) {
		memset(&m->users[count], 0, sizeof(m->users[count]));
		m->users[count].id = copy;
		m->nusers++;
	} else {
		memset(&m->groups[count], 0, sizeof(m->groups[count]));
		m->groups[count].id = copy;
		m->ngroups++;
	}
	*fresh = true;
	return 0;
}

/* "active" of res: absent means active (RFC 7643); true or false, or the
 * strings "true" and "false" in any letter case, which some servers send.
 * Anything else, an explicit null included, fails closed: an unreadable
 * flag must not unlock an account. */
static bool parse_active(struct json_object *res, const char *id)
{
	struct json_object *o;
	const char *s;
	size_t len = 0;

	if (!find_ci(res, "active", &o))
		return true;
	if (o && json_object_is_type(o, json_type_boolean))
		return json_object_get_boolean(o);
	/* get_str(): "true\u0000x" is not "true". */
	s = get_str(o, &len);
	if (s && len == 4 && !strcasecmp(s, "true"))
		return true;
	if (s && len == 5 && !strcasecmp(s, "false"))
		return false;
	log_warning("user id=%s: 'active' is %s, neither true nor false; treating the user as suspended", id,
		    !o ? "null" : json_object_is_type(o, json_type_string) ? "another string" : "not a boolean");
	return false;
}

/* ssh_keys_attribute: a string, or an array of strings or of multi-valued
 * {"value": ...} objects.  A line that is not a plain public key is dropped
 * with a warning; the rest are kept, up to SCIM_SSH_KEYS_MAX lines and
 * SCIM_SSHKEYS_BYTES_MAX bytes a user. */
static int collect_keys(struct scim_model *m, struct user *u, struct json_object *o, const char *id)
{
	const char *attr = m->cfg->ssh_keys_attribute;
	char joined[SCIM_SSHKEYS_BYTES_MAX + 1], line[SCIM_SSHKEY_LINE_MAX + 1];
	size_t n = 1, used = 0, dropped_over = 0;
	bool array = o && json_object_is_type(o, json_type_array);

	if (!o || json_object_is_type(o, json_type_null))
		return 0;
	if (array)
		n = json_object_array_length(o);
	for (size_t i = 0; i < n; i++) {
		struct json_object *v = array ? json_object_array_get_idx(o, i) : o;
		const char *s, *why;
		size_t len = 0, ll;

		if (v && json_object_is_type(v, json_type_object))
			v = get_ci(v, "value");
		s = get_str(v, &len);
		if (!s) {
			log_warning("user id=%s: %s[%zu] is not a string; SSH key dropped", id, attr, i);
			continue;
		}
		if (scim_sshkey_check(s, len, line, sizeof(line), &why) < 0) {
			log_warning("user id=%s: %s[%zu]: SSH key dropped: %s", id, attr, i,
				    why[0] ? why : "the line is too long");
			continue;
		}
		ll = strlen(line);
		if (u->nkeys == SCIM_SSH_KEYS_MAX || used + ll + 1 > SCIM_SSHKEYS_BYTES_MAX) {
			dropped_over++;
			continue;
		}
		memcpy(joined + used, line, ll);
		joined[used + ll] = '\n';
		used += ll + 1;
		u->nkeys++;
	}
	if (dropped_over)
		log_warning("user id=%s: %s: %zu SSH keys dropped, over %d keys or %d bytes a user", id, attr,
			    dropped_over, SCIM_SSH_KEYS_MAX, SCIM_SSHKEYS_BYTES_MAX);
	if (!u->nkeys)
		return 0;
	u->keys = scim_arena_strndup(&m->arena, joined, used);
	return u->keys ? 0 : -ENOMEM;
}

int scim_model_add_user(struct scim_model *m, struct json_object *res)
{
	char name[SCIM_POSIX_NAME_MAX + 1], gecos[SCIM_GECOS_MAX + 1];
	const char *id, *raw, *g;
	struct user *u;
	size_t len = 0, glen = 0;
	char amb[sizeof(m->ambiguous)];
	bool fresh, is_amb = take_ambiguous(m, amb);
	uint32_t idx;
	int r;

	id = resource_id(m, res, "user", &m->noid_users, &m->bad_users, is_amb ? amb : NULL, &m->amb_users);
	if (!id)
		return 0;
	r = slot_for(m, KIND_USER, id, &idx, &fresh);
	if (r < 0)
		return r;
	u = &m->users[idx];
	if (!fresh)
		log_debug("user id=%s came twice; the later copy wins", id);
	u->name = u->gecos = NULL;
	u->attr = 0;
	u->skip = 0;
	u->keys = NULL;
	u->nkeys = 0;
	u->suspended = false;
	if (is_amb) {
		log_warning(AMBIGUOUS_FMT, "user", id, amb);
		u->skip = 1 + SCIM_SKIP_AMBIGUOUS;
		return 0;
	}

	raw = get_str(get_path(res, m->cfg->name_attribute), &len);
	if (!raw && get_path(res, m->cfg->name_attribute)) {
		log_warning("skipping user id=%s: %s is not a string (or holds a NUL byte)", id, m->cfg->name_attribute);
		u->skip = 1 + SCIM_SKIP_BAD_RESOURCE;
		return 0;
	}
	u->skip = check_name(m, "user", id, raw, len, name);
	if (u->skip)
		return 0;
	g = get_str(get_ci(res, "displayName"), &glen);
	if (!g || !glen)
		g = get_str(get_path(res, "name.formatted"), &glen);
	scim_clean_gecos(g ? g : "", g ? glen : 0, gecos);
	u->name = scim_arena_strdup(&m->arena, name);
	u->gecos = scim_arena_strdup(&m->arena, gecos);
	if (!u->name || !u->gecos)
		return -ENOMEM;
	u->suspended = !parse_active(res, id);
	u->attr = attr_number(m, res, m->cfg->uid_attribute, "user", id);
	if (m->cfg->ssh_keys_attribute)
		return collect_keys(m, u, get_path(res, m->cfg->ssh_keys_attribute), id);
	return 0;
}

/* value (len bytes) names a user or, with group_hint, a group.  1 when the
 * member is dropped for want of a usable value. */
static int add_member(struct scim_model *m, struct group *g, const char *value, size_t len, bool group_hint)
{
	uint32_t uidx;

	if (!value || !len || len > SCIM_ID_MAX)
		return 1;
	if (!group_hint && scim_strmap_getn(&m->ids, KIND_USER, value, len, &uidx) == 0) {
		if (g->nusers == g->ucap) {
			uint32_t cap = g->ucap ? g->ucap * 2 : 8;
			uint32_t *p = realloc(g->users, cap * sizeof(*p));
			if (!p)
				return -ENOMEM;
			g->users = p;
			g->ucap = cap;
		}
		g->users[g->nusers++] = uidx;
		return 0;
	}
	if (g->nrefs == g->rcap) {
		uint32_t cap = g->rcap ? g->rcap * 2 : 4;
		struct ref *p = realloc(g->refs, cap * sizeof(*p));
		if (!p)
			return -ENOMEM;
		g->refs = p;
		g->rcap = cap;
	}
	g->refs[g->nrefs].value = scim_arena_strndup(&m->arena, value, len);
	if (!g->refs[g->nrefs].value)
		return -ENOMEM;
	g->refs[g->nrefs++].group_hint = group_hint;
	return 0;
}

int scim_model_begin_group(struct scim_model *m, struct json_object *res)
{
	char name[SCIM_POSIX_NAME_MAX + 1];
	struct json_object *members;
	const char *id, *raw;
	char amb[sizeof(m->ambiguous)];
	struct group *g;
	size_t len = 0;
	uint32_t idx;
	bool fresh, is_amb = take_ambiguous(m, amb);
	int r;

	m->cur_group = UINT32_MAX;
	m->cur_dropped = 0;
	m->in_group = true;
	id = resource_id(m, res, "group", &m->noid_groups, &m->bad_groups, is_amb ? amb : NULL, &m->amb_groups);
	/* Counted as without an id, unless found ambiguous later on. */
	m->cur_noid = !id && !is_amb && json_object_is_type(res, json_type_object);
	if (!id)
		return 0;
	r = slot_for(m, KIND_GROUP, id, &idx, &fresh);
	if (r < 0)
		return r;
	g = &m->groups[idx];
	if (!fresh)
		log_debug("group id=%s came twice; the later copy wins", id);
	g->name = NULL;
	g->attr = 0;
	g->skip = 0;
	g->nusers = g->nrefs = 0;
	if (is_amb) {
		log_warning(AMBIGUOUS_FMT, "group", id, amb);
		g->skip = 1 + SCIM_SKIP_AMBIGUOUS;
		return 0; /* and its members are not read */
	}
	m->cur_group = idx;

	raw = get_str(get_ci(res, "displayName"), &len);
	g->skip = check_name(m, "group", id, raw, len, name);
	/* Even a skipped group keeps its members: it may be nested in another. */
	if (!g->skip) {
		g->name = scim_arena_strdup(&m->arena, name);
		if (!g->name)
			return -ENOMEM;
		g->attr = attr_number(m, res, m->cfg->gid_attribute, "group", id);
	}
	members = get_ci(res, "members");
	if (members && json_object_is_type(members, json_type_array)) {
		size_t n = json_object_array_length(members);
		for (size_t i = 0; i < n; i++) {
			r = scim_model_add_member(m, json_object_array_get_idx(members, i));
			if (r < 0)
				return r;
		}
	} else if (members && !json_object_is_type(members, json_type_null)) {
		log_warning("group id=%s: 'members' is not a list; the group gets no members", id);
	}
	return 0;
}

int scim_model_add_member(struct scim_model *m, struct json_object *member)
{
	const char *value, *type, *ref;
	size_t len = 0, tlen = 0, rlen = 0;

	value = get_str(get_ci(member, "value"), &len);
	type = get_str(get_ci(member, "type"), &tlen);
	/* GitHub's docs spell it "$+ref"; RFC 7643 "$ref". */
	ref = get_str(get_ci(member, "$ref"), &rlen);
	if (!ref)
		ref = get_str(get_ci(member, "$+ref"), &rlen);
	return scim_model_add_member_ref(m, value, len, type, tlen, ref, rlen);
}

int scim_model_add_member_ref(struct scim_model *m, const char *value, size_t value_len, const char *type,
			      size_t type_len, const char *ref, size_t ref_len)
{
	bool group_hint;
	int r;

	if (m->cur_group == UINT32_MAX)
		return 0; /* the group itself was skipped */
	/* A string with a NUL in it is no string (as get_str() has it). */
	if (value && memchr(value, 0, value_len))
		value = NULL;
	if (type && memchr(type, 0, type_len))
		type = NULL;
	if (ref && memchr(ref, 0, ref_len))
		ref = NULL;
	group_hint = (type && type_len == 5 && !strncasecmp(type, "Group", 5)) ||
		     (ref && memmem(ref, ref_len, "/Groups/", 8));
	r = add_member(m, &m->groups[m->cur_group], value, value_len, group_hint);
	if (r > 0)
		m->cur_dropped += (uint32_t)r;
	return r < 0 ? r : 0;
}

int scim_model_end_group(struct scim_model *m)
{
	if (m->cur_group != UINT32_MAX && m->cur_dropped)
		log_warning("group id=%s: %u members without a usable 'value' were ignored", m->groups[m->cur_group].id,
			    m->cur_dropped);
	m->cur_group = UINT32_MAX;
	m->cur_dropped = 0;
	m->in_group = m->cur_noid = false;
	return 0;
}

int scim_model_ambiguous(struct scim_model *m, const char *path)
{
	struct group *g;

	if (!m->in_group) {
		snprintf(m->ambiguous, sizeof(m->ambiguous), "%s", path);
		return 0;
	}
	/* Found inside a member: the group's members so far go too, as if it
	 * had been known from the start. */
	if (m->cur_group != UINT32_MAX) {
		g = &m->groups[m->cur_group];
		log_warning(AMBIGUOUS_FMT, "group", g->id, path);
		g->skip = 1 + SCIM_SKIP_AMBIGUOUS;
		g->name = NULL;
		g->attr = 0;
		g->nusers = g->nrefs = 0;
		m->cur_group = UINT32_MAX;
	} else if (m->cur_noid) {
		log_warning("the group without a usable SCIM id is also ambiguous: '%s' appears twice", path);
		m->noid_groups--;
		m->amb_groups++;
		m->cur_noid = false;
	}
	return 0;
}

int scim_model_add_group(struct scim_model *m, struct json_object *res)
{
	int r = scim_model_begin_group(m, res);
	if (r == 0)
		r = scim_model_end_group(m);
	return r;
}

static int sink_user(void *ctx, struct json_object *res)
{
	return scim_model_add_user(ctx, res);
}

/* Every key scim_model_add_user() and resource_id() read. */
static bool sink_user_key(void *ctx, const char *key, size_t len)
{
	const struct scim_model *m = ctx;
	return scim_keys_child(&m->user_keys, 0, key, len) > 0;
}

static int sink_ambiguous(void *ctx, const char *path)
{
	return scim_model_ambiguous(ctx, path);
}

static int sink_group(void *ctx, struct json_object *res)
{
	return scim_model_add_group(ctx, res);
}

static int sink_begin_group(void *ctx, struct json_object *res)
{
	return scim_model_begin_group(ctx, res);
}

static int sink_member(void *ctx, struct json_object *member)
{
	return scim_model_add_member(ctx, member);
}

static int sink_member_ref(void *ctx, const char *value, size_t value_len, const char *type, size_t type_len,
			   const char *ref, size_t ref_len)
{
	return scim_model_add_member_ref(ctx, value, value_len, type, type_len, ref, ref_len);
}

static int sink_end_group(void *ctx)
{
	return scim_model_end_group(ctx);
}

static void sink_member_ahead(void *ctx, const char *value, size_t value_len, unsigned step)
{
	struct scim_model *m = ctx;
	scim_strmap_prefetch(&m->ids, KIND_USER, value, value_len, step > 0);
}

void scim_model_sink(struct scim_model *m, bool groups, struct scim_scan_sink *out)
{
	memset(out, 0, sizeof(*out));
	out->ctx = m;
	out->ambiguous = sink_ambiguous;
	if (!groups) {
		out->resource = sink_user;
		out->want_key = sink_user_key;
		out->keys = &m->user_keys;
		return;
	}
	out->keys = &m->group_keys;
	out->resource = sink_group;
	out->begin_group = sink_begin_group;
	out->member = sink_member;
	out->member_ref = sink_member_ref;
	out->end_group = sink_end_group;
	out->member_ahead = sink_member_ahead;
}

int scim_model_describe(const struct scim_model *m, FILE *out)
{
	for (size_t i = 0; i < m->nusers; i++) {
		const struct user *u = &m->users[i];
		fprintf(out, "user %s skip=%s name=%s gecos=%s attr=%u suspended=%d\n", u->id,
			u->skip ? scim_skip_reason_name(u->skip - 1) : "-", u->name ? u->name : "-", u->gecos ? u->gecos : "-",
			u->attr, u->suspended);
	}
	for (size_t i = 0; i < m->ngroups; i++) {
		const struct group *g = &m->groups[i];
		fprintf(out, "group %s skip=%s name=%s attr=%u members=", g->id,
			g->skip ? scim_skip_reason_name(g->skip - 1) : "-", g->name ? g->name : "-", g->attr);
		for (uint32_t k = 0; k < g->nusers; k++)
			fprintf(out, "%su:%s", k ? "," : "", m->users[g->users[k]].id);
		for (uint32_t k = 0; k < g->nrefs; k++)
			fprintf(out, "%sr:%s%s", k || g->nusers ? "," : "", g->refs[k].value,
				g->refs[k].group_hint ? ":group" : "");
		fputc('\n', out);
	}
	fprintf(out, "no_id users=%u groups=%u bad users=%u groups=%u ambiguous users=%u groups=%u\n", m->noid_users,
		m->noid_groups, m->bad_users, m->bad_groups, m->amb_users, m->amb_groups);
	return ferror(out) ? -EIO : 0;
}

/* ------------------------------------------------------------------ publish */

struct pending {
	const char *id;
	uint32_t idx, attr;
	char kind;
};

static int cmp_pending(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	return c ? c : (x->kind > y->kind) - (x->kind < y->kind);
}

struct publish {
	struct scim_model *m;
	struct scim_sync_stats *st;
	uint32_t *flat;            /* flattened memberships, by group */
	size_t nflat;
	uint32_t *gids;            /* supplementary gids, by user */
	uint32_t primary_gid;
	/* (uid, SCIM id) of the users whose ids left in this sync: the label of
	 * their removed entry (the live cache's ids are not kept for every user
	 * just for the few that leave). */
	struct scim_pub_removed *gone;
	size_t gone_n, gone_cap;
	struct scim_arena gone_arena;
};

static const char *kind_name(char kind)
{
	return kind == KIND_USER ? "user" : "group";
}

static void skip_entry(struct scim_model *m, char kind, uint32_t idx, enum scim_skip_reason why)
{
	if (kind == KIND_USER)
		m->users[idx].skip = (uint8_t)(1 + why);
	else
		m->groups[idx].skip = (uint8_t)(1 + why);
}

/* Two directory entries with one name: neither gets it. */
static int find_duplicates(struct scim_model *m)
{
	struct scim_strmap names = { 0 };
	int r = 0;

	for (int pass = 0; pass < 2 && r == 0; pass++) {
		char kind = pass == 0 ? KIND_USER : KIND_GROUP;
		size_t n = pass == 0 ? m->nusers : m->ngroups;
		for (size_t i = 0; i < n; i++) {
			const char *name = pass == 0 ? m->users[i].name : m->groups[i].name;
			uint8_t skip = pass == 0 ? m->users[i].skip : m->groups[i].skip;
			uint32_t v = (uint32_t)i, first;
			if (skip)
				continue;
			/* With user-private groups a group name is taken by the user of that name. */
			if (pass == 1 && !m->cfg->primary_group &&
			    scim_strmap_get(&names, KIND_USER, name, &first) == 0 && !m->users[first].skip) {
				log_warning("skipping group id=%s: name '%s' is the private group of user id=%s", m->groups[i].id,
					    name, m->users[first].id);
				m->groups[i].skip = 1 + SCIM_SKIP_DUPLICATE;
				continue;
			}
			r = scim_strmap_put(&names, (uint8_t)kind, name, &v);
			if (r == -EEXIST) {
				const char *other = pass == 0 ? m->users[v].id : m->groups[v].id;
				log_warning("skipping %s id=%s: name '%s' is also the name of %s id=%s (both are skipped)",
					    kind_name(kind), pass == 0 ? m->users[i].id : m->groups[i].id, name,
					    kind_name(kind), other);
				skip_entry(m, kind, (uint32_t)i, SCIM_SKIP_DUPLICATE);
				/* The first one is skipped too (its slot stays in the map so a
				 * third one is caught). */
				skip_entry(m, kind, v, SCIM_SKIP_DUPLICATE);
				r = 0;
			}
			if (r < 0)
				break;
		}
	}
	scim_strmap_free(&names);
	return r;
}

static bool number_free(struct publish *p, uint32_t n)
{
	const struct scim_config *cfg = p->m->cfg;
	/* 65534/65535: nobody and the 16-bit (uid_t)-1. */
	if (n < cfg->uid_min || n > cfg->uid_max || n == 65534 || n == 65535 || n == UINT32_MAX)
		return false;
	return !scim_idmap_number_taken(p->m->idmap, n) && !scim_local_has_number(p->m->local, n);
}

static void set_number(struct scim_model *m, char kind, uint32_t idx, uint32_t n)
{
	if (kind == KIND_USER)
		m->users[idx].number = n;
	else
		m->groups[idx].number = n;
}

static int assign_numbers(struct publish *p)
{
	struct scim_model *m = p->m;
	const struct scim_config *cfg = m->cfg;
	struct pending *pend = NULL;
	size_t npend = 0, total = m->nusers + m->ngroups;
	int r = 0;

	pend = malloc((total ? total : 1) * sizeof(*pend));
	if (!pend)
		return -ENOMEM;
	/* Known ids keep their numbers, whatever the attribute says now. */
	for (size_t i = 0; i < total; i++) {
		bool isuser = i < m->nusers;
		uint32_t idx = (uint32_t)(isuser ? i : i - m->nusers);
		char kind = isuser ? KIND_USER : KIND_GROUP;
		const char *id = isuser ? m->users[idx].id : m->groups[idx].id;
		uint32_t attr = isuser ? m->users[idx].attr : m->groups[idx].attr, n;
		uint8_t flags;
		if (isuser ? m->users[idx].skip : m->groups[idx].skip)
			continue;
		if (scim_idmap_get(m->idmap, kind, id, &n, &flags) == 0) {
			if (scim_local_has_number(m->local, n)) {
				log_error("skipping %s id=%s: its number %u now belongs to a local account", kind_name(kind),
					  id, n);
				skip_entry(m, kind, idx, SCIM_SKIP_LOCAL);
				continue;
			}
			if (attr && attr != n)
				log_notice("%s id=%s: attribute says %u, keeping %u (numbers never move)", kind_name(kind),
					   id, attr, n);
			set_number(m, kind, idx, n);
			if (flags & SCIM_IDMAP_GONE) {
				log_info("%s id=%s is back; it keeps number %u", kind_name(kind), id, n);
				r = scim_idmap_set_flags(m->idmap, kind, id, flags & ~SCIM_IDMAP_GONE);
				if (r < 0)
					goto out;
			}
			continue;
		}
		pend[npend++] = (struct pending){ id, idx, attr, kind };
	}
	/* New ids in a host-independent order, so two hosts starting from empty
	 * state agree even where hashes collide. */
	qsort(pend, npend, sizeof(*pend), cmp_pending);
	/* A number goes into the id map as soon as it is handed out, so the map
	 * alone says what is taken: no second table of this run's numbers at
	 * the peak of a first sync.  Nothing reaches the disk before the
	 * publish commits the map. */
	r = scim_idmap_reserve(m->idmap, scim_idmap_count(m->idmap) + npend);
	if (r < 0)
		goto out;

	/* Pass 1: numbers from the configured attributes. */
	for (size_t i = 0; i < npend; i++) {
		struct pending *e = &pend[i];
		if (!e->attr)
			continue;
		if (number_free(p, e->attr)) {
			r = scim_idmap_add_borrowed(m->idmap, e->kind, e->id, e->attr);
			if (r < 0)
				goto out;
			p->st->new_numbers++;
			set_number(m, e->kind, e->idx, e->attr);
			e->attr = UINT32_MAX; /* done */
		} else {
			log_warning("%s id=%s: number %u from its attribute is already taken; hashing the id instead",
				    kind_name(e->kind), e->id, e->attr);
			e->attr = 0;
		}
	}
	/* Pass 2: a hash of the id, probing past collisions. */
	for (size_t i = 0; i < npend; i++) {
		struct pending *e = &pend[i];
		uint32_t n = 0, first, attempt;
		if (e->attr == UINT32_MAX)
			continue;
		first = scim_idmap_hash(e->id, 0, cfg->uid_min, cfg->uid_max);
		for (attempt = 0; attempt < 64; attempt++) {
			uint32_t c = attempt ? scim_idmap_hash(e->id, attempt, cfg->uid_min, cfg->uid_max) : first;
			if (number_free(p, c)) {
				n = c;
				break;
			}
		}
		/* A nearly full window: walk it from the first hash. */
		if (!n) {
			uint64_t range = (uint64_t)cfg->uid_max - cfg->uid_min + 1;
			for (uint64_t k = 1; k <= range; k++) {
				uint32_t c = (uint32_t)(cfg->uid_min + ((uint64_t)first - cfg->uid_min + k) % range);
				if (number_free(p, c)) {
					n = c;
					break;
				}
			}
		}
		if (!n) {
			log_error("skipping %s id=%s: no free number left in [%u, %u]", kind_name(e->kind), e->id,
				  cfg->uid_min, cfg->uid_max);
			skip_entry(m, e->kind, e->idx, SCIM_SKIP_NO_NUMBER);
			continue;
		}
		if (n != first) {
			p->st->collisions++;
			log_notice("%s id=%s: number %u is taken (hash collision); probed to %u", kind_name(e->kind),
				   e->id, first, n);
		}
		r = scim_idmap_add_borrowed(m->idmap, e->kind, e->id, n);
		if (r < 0)
			goto out;
		p->st->new_numbers++;
		set_number(m, e->kind, e->idx, n);
	}
out:
	free(pend);
	return r;
}

struct tomb_ctx {
	struct publish *p;
};

/* Remembers the SCIM id of a user who leaves, for their removed entry. */
static int gone_add(struct publish *p, uint32_t uid, const char *id)
{
	if (p->gone_n == p->gone_cap) {
		size_t cap = p->gone_cap ? p->gone_cap * 2 : 64;
		struct scim_pub_removed *g = realloc(p->gone, cap * sizeof(*g));
		if (!g)
			return -ENOMEM;
		p->gone = g;
		p->gone_cap = cap;
	}
	p->gone[p->gone_n] = (struct scim_pub_removed){ .uid = uid, .id = scim_arena_strdup(&p->gone_arena, id) };
	if (!p->gone[p->gone_n].id)
		return -ENOMEM;
	p->gone_n++;
	return 0;
}

static int tomb_cb(char kind, const char *id, uint32_t number, uint8_t flags, void *ctx)
{
	struct tomb_ctx *t = ctx;
	struct scim_model *m = t->p->m;
	uint32_t idx;
	bool present = false;

	if (scim_strmap_get(&m->ids, (uint8_t)kind, id, &idx) == 0)
		present = kind == KIND_USER ? !m->users[idx].skip : !m->groups[idx].skip;
	if (present || (flags & SCIM_IDMAP_GONE))
		return 0;
	/* Gone from the directory (or no longer publishable): the number stays
	 * reserved, so no newcomer inherits the old files. */
	log_info("%s id=%s left the directory; number %u stays reserved (tombstone)", kind_name(kind), id, number);
	t->p->st->tombstoned++;
	if (kind == KIND_USER) {
		int r = gone_add(t->p, number, id);
		if (r < 0)
			return r;
	}
	return scim_idmap_set_flags(m->idmap, kind, id, flags | SCIM_IDMAP_GONE);
}

/* Groups nested in groups: every group gets the users of every group below it. */
static int flatten_groups(struct publish *p)
{
	struct scim_model *m = p->m;
	uint32_t *ustamp = NULL, *gstamp = NULL, *stack = NULL;
	size_t cap = 0;
	int r = 0;

	/* Resolve refs now that every resource is in. */
	for (size_t i = 0; i < m->ngroups; i++) {
		struct group *g = &m->groups[i];
		uint32_t idx;
		if (!g->nrefs)
			continue;
		g->subgroups = malloc(g->nrefs * sizeof(*g->subgroups));
		if (!g->subgroups)
			return -ENOMEM;
		for (uint32_t k = 0; k < g->nrefs; k++) {
			const struct ref *ref = &g->refs[k];
			if (scim_strmap_get(&m->ids, KIND_GROUP, ref->value, &idx) == 0) {
				g->subgroups[g->nsub++] = idx;
			} else if (!ref->group_hint && scim_strmap_get(&m->ids, KIND_USER, ref->value, &idx) == 0) {
				if (g->nusers == g->ucap) {
					uint32_t c = g->ucap ? g->ucap * 2 : 8;
					uint32_t *np = realloc(g->users, c * sizeof(*np));
					if (!np)
						return -ENOMEM;
					g->users = np;
					g->ucap = c;
				}
				g->users[g->nusers++] = idx;
			} else {
				p->st->members_dropped++;
				log_debug("group id=%s: member %s is no known user or group; dropped", g->id, ref->value);
			}
		}
	}
	/* The id table only resolved members: give it back before the
	 * flattened lists are built, the peak of a sync. */
	scim_strmap_free(&m->ids);

	ustamp = calloc(m->nusers ? m->nusers : 1, sizeof(*ustamp));
	gstamp = calloc(m->ngroups ? m->ngroups : 1, sizeof(*gstamp));
	stack = malloc((m->ngroups ? m->ngroups : 1) * sizeof(*stack));
	if (!ustamp || !gstamp || !stack) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m->ngroups; i++) {
		struct group *g = &m->groups[i];
		uint32_t stamp = (uint32_t)i + 1, sp = 0, dropped = 0;
		bool cycle = false;
		g->flat_off = (uint32_t)p->nflat;
		g->nflat = 0;
		if (g->skip || !g->number)
			continue;
		gstamp[i] = stamp;
		stack[sp++] = (uint32_t)i;
		while (sp) {
			struct group *h = &m->groups[stack[--sp]];
			for (uint32_t k = 0; k < h->nusers; k++) {
				uint32_t u = h->users[k];
				if (ustamp[u] == stamp)
					continue;
				ustamp[u] = stamp;
				if (m->users[u].skip || !m->users[u].number) {
					dropped++;
					continue;
				}
				if (p->nflat == cap) {
					size_t nc = cap ? cap * 2 : 65536;
					uint32_t *nf = realloc(p->flat, nc * sizeof(*nf));
					if (!nf) {
						r = -ENOMEM;
						goto out;
					}
					p->flat = nf;
					cap = nc;
				}
				p->flat[p->nflat++] = u;
				g->nflat++;
			}
			for (uint32_t k = 0; k < h->nsub; k++) {
				uint32_t s = h->subgroups[k];
				if (s == i)
					cycle = true;
				if (gstamp[s] == stamp)
					continue;
				gstamp[s] = stamp;
				stack[sp++] = s;
			}
		}
		if (cycle) {
			p->st->cycles++;
			log_warning("group '%s' (id=%s) contains itself through nested groups (a cycle); it gets the "
				    "members of every group in the cycle",
				    g->name, g->id);
		}
		if (dropped) {
			p->st->members_dropped += dropped;
			log_info("group '%s' (id=%s): %u members are users that were skipped; left out", g->name, g->id,
				 dropped);
		}
	}
out:
	free(ustamp);
	free(gstamp);
	free(stack);
	return r;
}

/* host_groups: only the members of those groups (nested ones included, so
 * after flatten_groups) are published, and only the groups that keep a
 * member.  Numbers are assigned before this, to everyone, so a user has the
 * same uid on every host whatever the host selects. */
static int select_host(struct publish *p)
{
	struct scim_model *m = p->m;
	const struct scim_config *cfg = m->cfg;
	bool *sel;
	uint32_t groups_left = 0;

	if (!cfg->host_groups)
		return 0;
	sel = calloc(m->nusers ? m->nusers : 1, sizeof(*sel));
	if (!sel)
		return -ENOMEM;
	for (size_t h = 0; h < cfg->nhost_groups; h++) {
		bool found = false;
		for (size_t i = 0; i < m->ngroups; i++) {
			const struct group *g = &m->groups[i];
			if (g->skip || strcmp(g->name, cfg->host_groups[h]) != 0)
				continue;
			found = true;
			for (uint32_t k = 0; k < g->nflat; k++)
				sel[p->flat[g->flat_off + k]] = true;
		}
		if (!found)
			log_warning("host_groups: '%s' is not a group of the directory; it selects nobody",
				    cfg->host_groups[h]);
	}
	for (size_t i = 0; i < m->nusers; i++) {
		struct user *u = &m->users[i];
		if (!u->skip && !sel[i]) {
			u->off_host = true;
			p->st->not_selected++;
		}
	}
	for (size_t i = 0; i < m->ngroups; i++) {
		struct group *g = &m->groups[i];
		uint32_t n = 0;
		if (g->skip)
			continue;
		for (uint32_t k = 0; k < g->nflat; k++)
			if (sel[p->flat[g->flat_off + k]])
				p->flat[g->flat_off + n++] = p->flat[g->flat_off + k];
		g->nflat = n;
		/* A directory primary_group is every user's group: it stays. */
		if (n == 0 && !(cfg->primary_group && g->number == p->primary_gid)) {
			g->off_host = true;
			groups_left++;
		}
	}
	if (groups_left)
		log_info("host_groups: %u directory groups have no member on this host; left out", groups_left);
	free(sel);
	return 0;
}

static int supplementary_gids(struct publish *p)
{
	struct scim_model *m = p->m;
	uint32_t *fill;
	size_t off = 0;

	for (size_t i = 0; i < m->nusers; i++)
		m->users[i].ngids = 0;
	for (size_t i = 0; i < m->ngroups; i++)
		for (uint32_t k = 0; k < m->groups[i].nflat; k++)
			m->users[p->flat[m->groups[i].flat_off + k]].ngids++;
	for (size_t i = 0; i < m->nusers; i++) {
		m->users[i].gid_off = (uint32_t)off;
		off += m->users[i].ngids;
	}
	p->gids = malloc((off ? off : 1) * sizeof(*p->gids));
	fill = calloc(m->nusers ? m->nusers : 1, sizeof(*fill));
	if (!p->gids || !fill) {
		free(fill);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->ngroups; i++)
		for (uint32_t k = 0; k < m->groups[i].nflat; k++) {
			uint32_t u = p->flat[m->groups[i].flat_off + k];
			p->gids[m->users[u].gid_off + fill[u]++] = m->groups[i].number;
		}
	free(fill);
	return 0;
}

/* The mapped directory as publish.c takes it.  Strings are borrowed from the
 * model; homes are expanded into arena. */
/* Builds the mapped directory that scim_publish_dir() takes, and gives back
 * the model's user and group arrays as it goes (each as soon as it is
 * copied): the directory's strings stay in the model's arena, and the
 * arrays are 13 MB at 100k users and 110k groups, held otherwise through the
 * cache writer, the peak of a sync. */
static int build_dir(struct publish *p, struct scim_arena *arena, struct scim_pub_dir *d)
{
	struct scim_model *m = p->m;
	const struct scim_config *cfg = m->cfg;
	struct scim_pub_user *pu = NULL;
	struct scim_pub_group *pg = NULL;
	uint32_t *map = NULL;
	char home[SCIM_HOME_MAX + 1];
	size_t nu = 0, ng = 0;
	int r = 0;

	pu = calloc(m->nusers ? m->nusers : 1, sizeof(*pu));
	map = calloc(m->nusers ? m->nusers : 1, sizeof(*map));
	if (!pu || !map) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m->nusers; i++) {
		const struct user *u = &m->users[i];
		if (u->skip)
			continue;
		r = scim_expand_home(cfg->home, u->name, u->number, home, sizeof(home));
		if (r < 0) {
			log_error("the home directory of user %s is too long", u->name);
			goto out;
		}
		map[i] = (uint32_t)nu;
		pu[nu++] = (struct scim_pub_user){
			.id = u->id, .name = u->name, .gecos = u->gecos, .home = scim_arena_strdup(arena, home),
			.shell = cfg->shell, .uid = u->number, .gid = cfg->primary_group ? p->primary_gid : u->number,
			.suspended = u->suspended, .hidden = u->off_host, .ngids = u->ngids, .gids = p->gids + u->gid_off,
			.nkeys = u->nkeys, .keys = u->keys,
		};
		if (!pu[nu - 1].home) {
			r = -ENOMEM;
			goto out;
		}
	}
	/* Members become indices into pu: p->flat is rewritten in place, it has
	 * no other reader after supplementary_gids(). */
	for (size_t i = 0; i < p->nflat; i++)
		p->flat[i] = map[p->flat[i]];
	free(m->users);
	m->users = NULL;
	m->nusers = m->ucap = 0;

	pg = calloc(m->ngroups ? m->ngroups : 1, sizeof(*pg));
	if (!pg) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < m->ngroups; i++) {
		const struct group *g = &m->groups[i];
		if (g->skip || g->off_host)
			continue;
		pg[ng++] = (struct scim_pub_group){ .id = g->id, .name = g->name, .gid = g->number,
						    .nmembers = g->nflat, .members = p->flat + g->flat_off };
	}
	free(m->groups);
	m->groups = NULL;
	m->ngroups = m->gcap = 0;
	*d = (struct scim_pub_dir){ .idmap = m->idmap, .users = pu, .nusers = nu, .groups = pg, .ngroups = ng,
				    .gone = p->gone, .ngone = p->gone_n };
	pu = NULL;
	pg = NULL;
out:
	free(pu);
	free(pg);
	free(map);
	return r;
}

int scim_publish(struct scim_model *m, const char *source, bool force, struct scim_sync_stats *stats)
{
	const struct scim_config *cfg = m->cfg;
	struct scim_sync_stats local_stats;
	struct publish p = { .m = m };
	struct tomb_ctx tomb = { .p = &p };
	struct scim_pub_dir d = { 0 };
	struct scim_arena homes = { 0 };
	int r;

	if (!stats)
		stats = &local_stats;
	memset(stats, 0, sizeof(*stats));
	p.st = stats;
	stats->host_groups = cfg->host_groups != NULL;
	if (m->used)
		return -EALREADY;
	m->used = true;

	r = find_duplicates(m);
	if (r < 0)
		goto out;
	malloc_trim(0);
	scim_log_memory(__func__, "reading");
	r = assign_numbers(&p);
	if (r < 0)
		goto out;
	r = scim_idmap_foreach(m->idmap, tomb_cb, &tomb);
	if (r < 0)
		goto out;
	/* Every number is assigned and every tombstone staged: the map's lookup
	 * tables (6 MB at 110k entries) are not needed for the rest, which holds
	 * the biggest structures of a sync.  The commit writes what is staged. */
	scim_idmap_seal(m->idmap);

	if (cfg->primary_group) {
		bool found = scim_local_group_gid(m->local, cfg->primary_group, &p.primary_gid) == 0;
		for (size_t i = 0; i < m->ngroups && !found; i++)
			if (!m->groups[i].skip && !strcmp(m->groups[i].name, cfg->primary_group)) {
				p.primary_gid = m->groups[i].number;
				found = true;
			}
		if (!found) {
			log_error("primary_group '%s' is neither in /etc/group nor a group of the directory; not "
				  "publishing",
				  cfg->primary_group);
			r = -ENOENT;
			goto out;
		}
	}
	r = flatten_groups(&p);
	if (r < 0)
		goto out;
	/* Everything below reads the flattened lists: give back the raw ones
	 * before the gids are laid out, the peak of a first sync. */
	for (size_t i = 0; i < m->ngroups; i++) {
		struct group *g = &m->groups[i];
		free(g->users);
		free(g->refs);
		free(g->subgroups);
		g->users = NULL;
		g->refs = NULL;
		g->subgroups = NULL;
		g->nusers = g->ucap = g->nrefs = g->rcap = g->nsub = 0;
	}
	malloc_trim(0); /* they are small blocks all over the heap */
	r = select_host(&p);
	if (r < 0)
		goto out;
	r = supplementary_gids(&p);
	if (r < 0)
		goto out;

	for (size_t i = 0; i < m->nusers; i++)
		if (m->users[i].skip)
			stats->skipped_users[m->users[i].skip - 1]++;
	for (size_t i = 0; i < m->ngroups; i++)
		if (m->groups[i].skip)
			stats->skipped_groups[m->groups[i].skip - 1]++;
	stats->skipped_users[SCIM_SKIP_NO_ID] += m->noid_users;
	stats->skipped_users[SCIM_SKIP_BAD_RESOURCE] += m->bad_users;
	stats->skipped_groups[SCIM_SKIP_NO_ID] += m->noid_groups;
	stats->skipped_groups[SCIM_SKIP_BAD_RESOURCE] += m->bad_groups;
	stats->skipped_users[SCIM_SKIP_AMBIGUOUS] += m->amb_users;
	stats->skipped_groups[SCIM_SKIP_AMBIGUOUS] += m->amb_groups;

	scim_log_memory(__func__, "mapping");
	r = build_dir(&p, &homes, &d);
	if (r < 0)
		goto out;
	d.source = source;
	r = scim_publish_dir(cfg, &d, force, stats);
out:
	free((void *)d.users);
	free((void *)d.groups);
	scim_arena_free(&homes);
	free(p.gone);
	scim_arena_free(&p.gone_arena);
	free(p.flat);
	free(p.gids);
	return r;
}
