/* stream.c - the canonical snapshot stream: encode, decode, validate.
 *
 * The encoder and the decoder share one validator, run on the sorted
 * directory, so whatever a relay manages to encode a host will accept. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/snapshot.h"
#include "snapshot/snap_err.h"

#define STREAM_MAGIC "scim-snapshot"

/* Smallest encoded record of each kind, so that counts read from a header
 * can be checked against the stream's size before anything is allocated. */
#define MIN_USER_LINE 24    /* "U\ti\ta\t1\t1\t\t/\t/\tactive\n" */
#define MIN_REMOVED_LINE 12 /* "R\ti\ta\t1\t0\n" */
#define MIN_GROUP_LINE 9    /* "G\ti\ta\t1\n" */
#define MIN_MEMBER 2        /* "\t1" */

struct storage {
	char *buf;
	struct scim_snap_user *users;
	struct scim_snap_removed *removed;
	struct scim_snap_group *groups;
	uint32_t *members;
};

/* The one writer of the err buffer every snapshot call takes. */
void scim_snap_seterr(char *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err, SCIM_SNAP_ERR_MAX, fmt, ap);
	va_end(ap);
}

void scim_snap_dir_drop_users(struct scim_snap_dir *dir)
{
	struct storage *s = dir ? dir->owned : NULL;

	if (!s)
		return;
	free(s->users);
	s->users = NULL;
	dir->users = NULL;
}

void scim_snap_dir_drop_arrays(struct scim_snap_dir *dir)
{
	struct storage *s = dir ? dir->owned : NULL;

	if (!s)
		return;
	scim_snap_dir_drop_users(dir);
	free(s->removed);
	free(s->groups);
	free(s->members);
	s->removed = NULL;
	s->groups = NULL;
	s->members = NULL;
	dir->removed = NULL;
	dir->groups = NULL;
	dir->nusers = dir->nremoved = dir->ngroups = 0;
}

void scim_snap_dir_free(struct scim_snap_dir *dir)
{
	struct storage *s = dir ? dir->owned : NULL;

	if (!dir)
		return;
	scim_snap_dir_drop_arrays(dir);
	if (s) {
		free(s->buf);
		free(s);
	}
	memset(dir, 0, sizeof(*dir));
}

/* ---- field rules ------------------------------------------------------- */

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SCIM_SNAP_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static bool id_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= SCIM_SNAP_ID_MAX;
}

/* Fields that end up in struct passwd, where ':' and control characters
 * would break every tool that prints or parses passwd lines (',' too in
 * GECOS).  By table: 300k fields at 100k users. */
static const struct passwd_bad {
	bool path[256], gecos[256];
} passwd_bad = {
#define CONTROL_BYTES [0 ... 0x1f] = true, [0x7f] = true, [':'] = true
	.path = { CONTROL_BYTES },
	.gecos = { CONTROL_BYTES, [','] = true },
#undef CONTROL_BYTES
};

static bool passwd_field_ok(const char *s, size_t max, bool gecos, bool path)
{
	const bool *bad = gecos ? passwd_bad.gecos : passwd_bad.path;
	size_t n = 0;

	if (path && s[0] != '/')
		return false;
	for (; s[n]; n++)
		if (bad[(unsigned char)s[n]])
			return false;
	return n <= max;
}

static bool number_ok(uint32_t v, const struct scim_snap_limits *lim)
{
	return v != 0 && v >= lim->uid_min && v <= lim->uid_max;
}

/* ---- validation of a sorted directory ---------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- open-addressing tables of indexes ---------------------------------
 * Duplicate names and numbers, and a member's user, are found by hashing:
 * at 100k users and a million memberships, sorting or binary searches cost
 * a host a third of its install time.  A table holds index + 1 (0: empty)
 * in a power of two of slots, at most half full.  The keys come from a
 * signed snapshot (or the relay's own directory), so nobody can pick them
 * to collide; the probe sequence is linear. */

struct ixtab {
	uint32_t *slot;
	size_t mask;
};

static int ixtab_init(struct ixtab *t, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	t->slot = calloc(cap, sizeof(*t->slot));
	t->mask = cap - 1;
	return t->slot ? 0 : -ENOMEM;
}

static void ixtab_free(struct ixtab *t)
{
	free(t->slot);
	t->slot = NULL;
}

static size_t hash_u32(uint32_t v)
{
	return (size_t)(((uint64_t)v * 0x9e3779b97f4a7c15ULL) >> 32);
}

static size_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (size_t)(h ^ (h >> 29));
}

/* Adds index i of names; returns the index already there with an equal
 * name, or UINT32_MAX. */
static uint32_t ixtab_add_name(struct ixtab *t, const char *const *names, uint32_t i)
{
	for (size_t at = hash_str(names[i]) & t->mask;; at = (at + 1) & t->mask) {
		if (!t->slot[at]) {
			t->slot[at] = i + 1;
			return UINT32_MAX;
		}
		if (!strcmp(names[t->slot[at] - 1], names[i]))
			return t->slot[at] - 1;
	}
}

/* The index of the name equal to key, or UINT32_MAX. */
static uint32_t ixtab_find_name(const struct ixtab *t, const char *const *names, const char *key)
{
	for (size_t at = hash_str(key) & t->mask; t->slot[at]; at = (at + 1) & t->mask)
		if (!strcmp(names[t->slot[at] - 1], key))
			return t->slot[at] - 1;
	return UINT32_MAX;
}

/* The same for numbers. */
static uint32_t ixtab_add_num(struct ixtab *t, const uint32_t *nums, uint32_t i)
{
	for (size_t at = hash_u32(nums[i]) & t->mask;; at = (at + 1) & t->mask) {
		if (!t->slot[at]) {
			t->slot[at] = i + 1;
			return UINT32_MAX;
		}
		if (nums[t->slot[at] - 1] == nums[i])
			return t->slot[at] - 1;
	}
}

static const struct scim_snap_user *find_user(const struct scim_snap_dir *d, const char *id)
{
	size_t lo = 0, hi = d->nusers;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(id, d->users[mid].id);
		if (c == 0)
			return &d->users[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/* Two equal names among n. */
static int unique_names(const char **names, size_t n, const char *what, char *err)
{
	struct ixtab t;
	int r = ixtab_init(&t, n);

	for (size_t i = 0; i < n && r == 0; i++)
		if (ixtab_add_name(&t, names, (uint32_t)i) != UINT32_MAX) {
			scim_snap_seterr(err, "%s name '%s' is used twice", what, names[i]);
			r = -EBADMSG;
		}
	ixtab_free(&t);
	return r;
}

/* Members are left to the callers, who turn them into uids or back anyway:
 * the encoder resolves each id to a user, the decoder each uid, and both
 * refuse what they cannot resolve or find twice. */
static int validate(const struct scim_snap_dir *d, const struct scim_snap_limits *lim, char *err)
{
	const char **names = NULL;
	uint32_t *nums = NULL;
	size_t nnums = 0, nmembers = 0, nsusp = 0;
	int r = -EBADMSG;

	if (!d->source || strlen(d->source) > SCIM_SNAP_SOURCE_MAX) {
		scim_snap_seterr(err, "source is missing or longer than %d bytes", SCIM_SNAP_SOURCE_MAX);
		goto out;
	}
	if (lim->uid_min == 0 || lim->uid_min > lim->uid_max) {
		scim_snap_seterr(err, "number window [%u, %u] is empty or holds 0", lim->uid_min, lim->uid_max);
		r = -EINVAL;
		goto out;
	}
	for (size_t i = 0; i < d->nusers; i++) {
		const struct scim_snap_user *u = &d->users[i];
		if (!u->id || !id_ok(u->id)) {
			scim_snap_seterr(err, "user #%zu: empty id, or longer than %d bytes", i + 1, SCIM_SNAP_ID_MAX);
			goto out;
		}
		if (i > 0 && strcmp(d->users[i - 1].id, u->id) >= 0) {
			scim_snap_seterr(err, "user id=%s: %s", u->id,
			       strcmp(d->users[i - 1].id, u->id) ? "users are not sorted by id"
								 : "user id is used twice");
			goto out;
		}
		if (!u->name || !name_ok(u->name)) {
			scim_snap_seterr(err, "user id=%s: invalid name", u->id);
			goto out;
		}
		if (!number_ok(u->uid, lim)) {
			scim_snap_seterr(err, "user id=%s: uid %u is outside [%u, %u] or 0", u->id, u->uid, lim->uid_min,
			       lim->uid_max);
			goto out;
		}
		if (u->gid == 0 || (!number_ok(u->gid, lim) && u->gid != lim->primary_gid)) {
			scim_snap_seterr(err, "user id=%s: gid %u is 0, or outside [%u, %u] and not the primary gid", u->id,
			       u->gid, lim->uid_min, lim->uid_max);
			goto out;
		}
		if (!u->gecos || !passwd_field_ok(u->gecos, SCIM_SNAP_GECOS_MAX, true, false)) {
			scim_snap_seterr(err, "user id=%s: gecos has ':' ',' or control characters, or is too long", u->id);
			goto out;
		}
		if (!u->home || !passwd_field_ok(u->home, SCIM_SNAP_PATH_MAX, false, true) || !u->shell ||
		    !passwd_field_ok(u->shell, SCIM_SNAP_PATH_MAX, false, true)) {
			scim_snap_seterr(err,
			       "user id=%s: home or shell is not an absolute path without ':' or control characters",
			       u->id);
			goto out;
		}
		nsusp += u->suspended;
	}
	for (size_t i = 0; i < d->nremoved; i++) {
		const struct scim_snap_removed *x = &d->removed[i];
		if (!x->id || !id_ok(x->id)) {
			scim_snap_seterr(err, "removed user #%zu: empty id, or longer than %d bytes", i + 1, SCIM_SNAP_ID_MAX);
			goto out;
		}
		if (i > 0 && strcmp(d->removed[i - 1].id, x->id) >= 0) {
			scim_snap_seterr(err, "removed user id=%s: %s", x->id,
			       strcmp(d->removed[i - 1].id, x->id) ? "removed users are not sorted by id"
								   : "removed user id is used twice");
			goto out;
		}
		if (find_user(d, x->id)) {
			scim_snap_seterr(err, "removed user id=%s is also a user", x->id);
			goto out;
		}
		if (!x->name || !name_ok(x->name)) {
			scim_snap_seterr(err, "removed user id=%s: invalid name", x->id);
			goto out;
		}
		if (!number_ok(x->uid, lim)) {
			scim_snap_seterr(err, "removed user id=%s: uid %u is outside [%u, %u] or 0", x->id, x->uid, lim->uid_min,
			       lim->uid_max);
			goto out;
		}
		if (x->since < 0) {
			scim_snap_seterr(err, "removed user id=%s: negative removal time", x->id);
			goto out;
		}
	}
	for (size_t i = 0; i < d->ngroups; i++) {
		const struct scim_snap_group *g = &d->groups[i];
		if (!g->id || !id_ok(g->id)) {
			scim_snap_seterr(err, "group #%zu: empty id, or longer than %d bytes", i + 1, SCIM_SNAP_ID_MAX);
			goto out;
		}
		if (i > 0 && strcmp(d->groups[i - 1].id, g->id) >= 0) {
			scim_snap_seterr(err, "group id=%s: %s", g->id,
			       strcmp(d->groups[i - 1].id, g->id) ? "groups are not sorted by id"
								  : "group id is used twice");
			goto out;
		}
		if (!g->name || !name_ok(g->name)) {
			scim_snap_seterr(err, "group id=%s: invalid name", g->id);
			goto out;
		}
		if (!number_ok(g->gid, lim)) {
			scim_snap_seterr(err, "group id=%s: gid %u is outside [%u, %u] or 0", g->id, g->gid, lim->uid_min,
			       lim->uid_max);
			goto out;
		}
		nmembers += g->nmembers;
	}

	/* Names: unique among users, and among groups.  A removed user's name
	 * may come back with a new id (and a new number). */
	names = malloc((d->nusers > d->ngroups ? d->nusers : d->ngroups) * sizeof(*names) + 1);
	if (!names) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d->nusers; i++)
		names[i] = d->users[i].name;
	if ((r = unique_names(names, d->nusers, "user", err)) < 0)
		goto out;
	for (size_t i = 0; i < d->ngroups; i++)
		names[i] = d->groups[i].name;
	if ((r = unique_names(names, d->ngroups, "group", err)) < 0)
		goto out;
	r = -EBADMSG;

	/* Numbers come from one id map: a uid, a reserved uid and a gid never
	 * share a value. */
	nums = malloc((d->nusers + d->nremoved + d->ngroups) * sizeof(*nums) + 1);
	if (!nums) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d->nusers; i++)
		nums[nnums++] = d->users[i].uid;
	for (size_t i = 0; i < d->nremoved; i++)
		nums[nnums++] = d->removed[i].uid;
	for (size_t i = 0; i < d->ngroups; i++)
		nums[nnums++] = d->groups[i].gid;
	{
		struct ixtab t;
		if (ixtab_init(&t, nnums) < 0) {
			r = -ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < nnums; i++)
			if (ixtab_add_num(&t, nums, (uint32_t)i) != UINT32_MAX) {
				scim_snap_seterr(err, "number %u is used twice", nums[i]);
				ixtab_free(&t);
				goto out;
			}
		ixtab_free(&t);
	}

	if (lim->expect) {
		const struct scim_snap_counts *e = lim->expect;
		if (e->users != d->nusers || e->suspended != nsusp || e->removed != d->nremoved ||
		    e->groups != d->ngroups || e->members != nmembers) {
			scim_snap_seterr(err,
			       "counts differ from the signed counts: users %zu/%llu suspended %zu/%llu removed "
			       "%zu/%llu groups %zu/%llu members %zu/%llu",
			       d->nusers, (unsigned long long)e->users, nsusp, (unsigned long long)e->suspended,
			       d->nremoved, (unsigned long long)e->removed, d->ngroups, (unsigned long long)e->groups,
			       nmembers, (unsigned long long)e->members);
			goto out;
		}
	}
	r = 0;
out:
	free(names);
	free(nums);
	return r;
}

/* ---- encoding ---------------------------------------------------------- */

struct obuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void ob_reserve(struct obuf *b, size_t more)
{
	char *np;
	size_t cap;

	if (b->oom || b->len + more <= b->cap)
		return;
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	np = realloc(b->p, cap);
	if (!np) {
		b->oom = true;
		return;
	}
	b->p = np;
	b->cap = cap;
}

static void ob_put(struct obuf *b, const char *s, size_t n)
{
	ob_reserve(b, n);
	if (b->oom)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void ob_char(struct obuf *b, char c)
{
	ob_put(b, &c, 1);
}

static void ob_esc(struct obuf *b, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const char *run = s;

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[4];
		size_t n = 2;

		if (c >= 0x20 && c != 0x7f && c != '\\')
			continue;
		ob_put(b, run, (size_t)(s - run));
		run = s + 1;
		e[0] = '\\';
		switch (c) {
		case '\\': e[1] = '\\'; break;
		case '\t': e[1] = 't'; break;
		case '\n': e[1] = 'n'; break;
		case '\r': e[1] = 'r'; break;
		default:
			e[1] = 'x';
			e[2] = hex[c >> 4];
			e[3] = hex[c & 15];
			n = 4;
		}
		ob_put(b, e, n);
	}
	ob_put(b, run, (size_t)(s - run));
}

static void ob_tab_esc(struct obuf *b, const char *s)
{
	ob_char(b, '\t');
	ob_esc(b, s);
}

/* Written by hand: a million members went through snprintf at 100k users. */
static void ob_tab_num(struct obuf *b, unsigned long long v)
{
	char t[24], *p = t + sizeof(t);

	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	*--p = '\t';
	ob_put(b, p, (size_t)(t + sizeof(t) - p));
}

static int cmp_user(const void *a, const void *b)
{
	return strcmp(((const struct scim_snap_user *)a)->id, ((const struct scim_snap_user *)b)->id);
}

static int cmp_removed(const void *a, const void *b)
{
	return strcmp(((const struct scim_snap_removed *)a)->id, ((const struct scim_snap_removed *)b)->id);
}

static int cmp_group(const void *a, const void *b)
{
	return strcmp(((const struct scim_snap_group *)a)->id, ((const struct scim_snap_group *)b)->id);
}

int scim_snap_encode(const struct scim_snap_dir *dir, const struct scim_snap_limits *lim, char **out, size_t *outlen,
		     char *err)
{
	struct scim_snap_user *users = NULL;
	struct scim_snap_removed *removed = NULL;
	struct scim_snap_group *groups = NULL;
	uint32_t *uids = NULL;
	size_t maxm = 0;
	struct scim_snap_dir d = *dir;
	struct ixtab by_id = { 0 }; /* members given by id -> sorted users */
	const char **ids = NULL;
	bool members_by_id = false;
	struct obuf b = { 0 };
	size_t nmembers = 0, nsusp = 0;
	int r = -ENOMEM;

	for (size_t i = 0; i < dir->nusers; i++)
		if (!dir->users[i].id) {
			scim_snap_seterr(err, "user #%zu has no id", i + 1);
			return -EINVAL;
		}
	for (size_t i = 0; i < dir->nremoved; i++)
		if (!dir->removed[i].id) {
			scim_snap_seterr(err, "removed user #%zu has no id", i + 1);
			return -EINVAL;
		}
	for (size_t i = 0; i < dir->ngroups; i++) {
		if (!dir->groups[i].id) {
			scim_snap_seterr(err, "group #%zu has no id", i + 1);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < dir->groups[i].nmembers; j++)
			if (dir->groups[i].members ? !dir->groups[i].members[j]
						   : !dir->groups[i].member_users ||
							     dir->groups[i].member_users[j] >= dir->nusers) {
				scim_snap_seterr(err, "group id=%s: member #%u is NULL or no user", dir->groups[i].id,
						 j + 1);
				return -EINVAL;
			}
		nmembers += dir->groups[i].nmembers;
		members_by_id |= dir->groups[i].members && dir->groups[i].nmembers;
		if (dir->groups[i].nmembers > maxm)
			maxm = dir->groups[i].nmembers;
	}

	/* Sort copies: the caller's arrays stay as they were. */
	users = malloc(dir->nusers * sizeof(*users) + 1);
	removed = malloc(dir->nremoved * sizeof(*removed) + 1);
	groups = malloc(dir->ngroups * sizeof(*groups) + 1);
	uids = malloc(maxm * sizeof(*uids) + 1);
	if (!users || !removed || !groups || !uids)
		goto out;
	if (dir->nusers)
		memcpy(users, dir->users, dir->nusers * sizeof(*users));
	if (dir->nremoved)
		memcpy(removed, dir->removed, dir->nremoved * sizeof(*removed));
	if (dir->ngroups)
		memcpy(groups, dir->groups, dir->ngroups * sizeof(*groups));
	qsort(users, dir->nusers, sizeof(*users), cmp_user);
	qsort(removed, dir->nremoved, sizeof(*removed), cmp_removed);
	qsort(groups, dir->ngroups, sizeof(*groups), cmp_group);
	d.users = users;
	d.removed = removed;
	d.groups = groups;
	r = validate(&d, lim, err);
	if (r == -EBADMSG)
		r = -EINVAL;
	if (r < 0)
		goto out;
	/* A million members by id: hashed, not binary-searched (the relay's
	 * encode took 0.9 s at 100k users that way). */
	if (members_by_id) {
		r = -ENOMEM;
		ids = malloc(d.nusers * sizeof(*ids) + 1);
		if (!ids || ixtab_init(&by_id, d.nusers) < 0)
			goto out;
		for (size_t i = 0; i < d.nusers; i++) {
			ids[i] = users[i].id;
			(void)ixtab_add_name(&by_id, ids, (uint32_t)i); /* ids are unique: validated */
		}
		r = 0;
	}

	for (size_t i = 0; i < d.nusers; i++)
		nsusp += users[i].suspended;
	ob_reserve(&b, d.nusers * 160 + nmembers * 12 + 4096);
	ob_put(&b, STREAM_MAGIC, strlen(STREAM_MAGIC));
	ob_tab_num(&b, SCIM_SNAP_FORMAT_VERSION);
	ob_put(&b, "\nsource", 7);
	ob_tab_esc(&b, d.source);
	ob_put(&b, "\ncounts", 7);
	ob_tab_num(&b, d.nusers);
	ob_tab_num(&b, nsusp);
	ob_tab_num(&b, d.nremoved);
	ob_tab_num(&b, d.ngroups);
	ob_tab_num(&b, nmembers);
	ob_char(&b, '\n');
	for (size_t i = 0; i < d.nusers; i++) {
		const struct scim_snap_user *u = &users[i];
		ob_char(&b, 'U');
		ob_tab_esc(&b, u->id);
		ob_tab_esc(&b, u->name);
		ob_tab_num(&b, u->uid);
		ob_tab_num(&b, u->gid);
		ob_tab_esc(&b, u->gecos);
		ob_tab_esc(&b, u->home);
		ob_tab_esc(&b, u->shell);
		ob_put(&b, u->suspended ? "\tsuspended\n" : "\tactive\n", u->suspended ? 11 : 8);
	}
	for (size_t i = 0; i < d.nremoved; i++) {
		const struct scim_snap_removed *x = &removed[i];
		ob_char(&b, 'R');
		ob_tab_esc(&b, x->id);
		ob_tab_esc(&b, x->name);
		ob_tab_num(&b, x->uid);
		ob_tab_num(&b, (unsigned long long)x->since);
		ob_char(&b, '\n');
	}
	for (size_t i = 0; i < d.ngroups; i++) {
		const struct scim_snap_group *g = &groups[i];
		ob_char(&b, 'G');
		ob_tab_esc(&b, g->id);
		ob_tab_esc(&b, g->name);
		ob_tab_num(&b, g->gid);
		for (uint32_t j = 0; j < g->nmembers; j++) {
			const struct scim_snap_user *u;
			if (g->members) {
				uint32_t k = ixtab_find_name(&by_id, ids, g->members[j]);
				u = k == UINT32_MAX ? NULL : &users[k];
			} else {
				u = &dir->users[g->member_users[j]];
			}
			if (!u) {
				scim_snap_seterr(err, "group id=%s: member %s is not a user", g->id, g->members[j]);
				r = -EINVAL;
				goto out;
			}
			uids[j] = u->uid;
		}
		qsort(uids, g->nmembers, sizeof(*uids), cmp_u32);
		for (uint32_t j = 0; j < g->nmembers; j++) {
			/* uids are unique among users: a repeat is a member listed twice */
			if (j > 0 && uids[j - 1] == uids[j]) {
				scim_snap_seterr(err, "group id=%s: a member is listed twice", g->id);
				r = -EINVAL;
				goto out;
			}
			ob_tab_num(&b, uids[j]);
		}
		ob_char(&b, '\n');
	}
	ob_put(&b, "end\n", 5); /* and a NUL, outside the stream, for callers that print it */
	b.len--;
	if (b.oom) {
		r = -ENOMEM;
		goto out;
	}
	*out = b.p;
	*outlen = b.len;
	b.p = NULL;
	r = 0;
out:
	if (r == -ENOMEM)
		scim_snap_seterr(err, "out of memory");
	free(b.p);
	free(users);
	free(removed);
	free(groups);
	free(uids);
	free(ids);
	ixtab_free(&by_id);
	return r;
}

/* ---- decoding ---------------------------------------------------------- */

struct reader {
	char *p, *end;  /* unread part of the buffer */
	char *line_end; /* the current line's '\n' */
	char *f;        /* next field of the current line, or NULL at its end */
	size_t line;
	char *err;
};

/* Moves to the next line; -EBADMSG if the buffer ends without one. */
static int next_line(struct reader *rd)
{
	char *nl;

	if (rd->p >= rd->end) {
		scim_snap_seterr(rd->err, "line %zu: the stream ends early (truncated?)", rd->line + 1);
		return -EBADMSG;
	}
	nl = memchr(rd->p, '\n', (size_t)(rd->end - rd->p));
	if (!nl) {
		scim_snap_seterr(rd->err, "line %zu: the last line has no newline (truncated?)", rd->line + 1);
		return -EBADMSG;
	}
	rd->line++;
	rd->f = rd->p;
	rd->line_end = nl;
	rd->p = nl + 1;
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The next field, unescaped in place and NUL-terminated (over its
 * separator, which the unescaped value never reaches). */
static int field(struct reader *rd, const char *what, char **out)
{
	char *r, *w, *start;

	if (!rd->f) {
		scim_snap_seterr(rd->err, "line %zu: %s is missing", rd->line, what);
		return -EBADMSG;
	}
	start = r = rd->f;
	/* Most fields hold no escape: find their end without copying. */
	while (r < rd->line_end && (unsigned char)*r >= 0x20 && *r != '\\' && *r != 0x7f)
		r++;
	w = r;
	while (r < rd->line_end && *r != '\t') {
		unsigned char c = (unsigned char)*r;
		if (c < 0x20 || c == 0x7f) {
			scim_snap_seterr(rd->err, "line %zu: %s holds a raw control character", rd->line, what);
			return -EBADMSG;
		}
		if (c != '\\') {
			*w++ = *r++;
			continue;
		}
		if (r + 1 >= rd->line_end) {
			scim_snap_seterr(rd->err, "line %zu: %s ends in a lone backslash", rd->line, what);
			return -EBADMSG;
		}
		switch (r[1]) {
		case '\\':
			*w++ = '\\';
			r += 2;
			continue;
		case 't':
			*w++ = '\t';
			r += 2;
			continue;
		case 'n':
			*w++ = '\n';
			r += 2;
			continue;
		case 'r':
			*w++ = '\r';
			r += 2;
			continue;
		case 'x': {
			int hi = r + 3 < rd->line_end ? hexval(r[2]) : -1, lo = hi >= 0 ? hexval(r[3]) : -1;
			int v = hi * 16 + lo;
			/* Only the bytes without a short form, and never NUL. */
			if (hi < 0 || lo < 0 || v == 0 || (v >= 0x20 && v != 0x7f) || v == '\t' || v == '\n' ||
			    v == '\r') {
				scim_snap_seterr(rd->err, "line %zu: %s has a bad \\x escape", rd->line, what);
				return -EBADMSG;
			}
			*w++ = (char)v;
			r += 4;
			continue;
		}
		default:
			scim_snap_seterr(rd->err, "line %zu: %s has an unknown escape \\%c", rd->line, what,
			       (unsigned char)r[1] >= 0x20 && r[1] != 0x7f ? r[1] : '?');
			return -EBADMSG;
		}
	}
	rd->f = r < rd->line_end ? r + 1 : NULL;
	*w = '\0';
	*out = start;
	return 0;
}

static int no_more_fields(struct reader *rd)
{
	if (rd->f) {
		scim_snap_seterr(rd->err, "line %zu: too many fields", rd->line);
		return -EBADMSG;
	}
	return 0;
}

/* A number field, read where it lies: no escape can occur in a valid one,
 * and a million members make this the decoder's inner loop.  Canonical
 * decimal only: digits, no sign, no leading zero, at most max.  19 digits
 * cannot overflow 64 bits, and every max here is below 10^19. */
static int num_field(struct reader *rd, const char *what, uint64_t max, uint64_t *v)
{
	const char *p = rd->f, *start = p, *end = rd->line_end;
	uint64_t x = 0;

	if (!p) {
		scim_snap_seterr(rd->err, "line %zu: %s is missing", rd->line, what);
		return -EBADMSG;
	}
	while (p < end && *p >= '0' && *p <= '9' && p - start < 19)
		x = x * 10 + (uint64_t)(*p++ - '0');
	if (p == start || (p < end && *p != '\t') || (*start == '0' && p - start > 1) || x > max) {
		scim_snap_seterr(rd->err, "line %zu: %s is not a canonical decimal number up to %llu", rd->line, what,
		       (unsigned long long)max);
		return -EBADMSG;
	}
	rd->f = p < end ? (char *)p + 1 : NULL;
	*v = x;
	return 0;
}

static int tag(struct reader *rd, const char **t)
{
	char *s;
	int r = field(rd, "record type", &s);

	*t = s;
	return r;
}

/* uid -> user, for the members: a million lookups at 100k users.  The
 * slots hold the uid beside the index so that a lookup touches one cache
 * line, not the users' array as well. */
struct uidtab {
	struct uid_slot {
		uint32_t uid, user1; /* user index + 1; 0: empty */
	} *slot;
	size_t mask;
};

static int uidtab_build(struct uidtab *t, const struct scim_snap_user *users, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n)
		cap *= 2;
	t->slot = calloc(cap, sizeof(*t->slot));
	if (!t->slot)
		return -ENOMEM;
	t->mask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		size_t at = hash_u32(users[i].uid) & t->mask;
		while (t->slot[at].user1)
			at = (at + 1) & t->mask;
		t->slot[at] = (struct uid_slot){ users[i].uid, (uint32_t)i + 1 };
	}
	return 0;
}

/* The user with this uid (the first, if two share it: validate() refuses
 * that), or UINT32_MAX. */
static uint32_t find_uid(const struct uidtab *t, uint32_t uid)
{
	for (size_t at = hash_u32(uid) & t->mask; t->slot[at].user1; at = (at + 1) & t->mask)
		if (t->slot[at].uid == uid)
			return t->slot[at].user1 - 1;
	return UINT32_MAX;
}

int scim_snap_decode(char *buf, size_t len, const struct scim_snap_limits *lim, struct scim_snap_dir *out, char *err)
{
	struct reader rd = { .p = buf, .end = buf + len, .err = err };
	struct storage *st = NULL;
	struct uidtab uids = { 0 };
	struct scim_snap_dir d = { 0 };
	uint64_t c[5], v;
	const char *t;
	char *s, *src;
	size_t nu = 0, nr = 0, ng = 0, nm = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = next_line(&rd)) < 0 || (r = tag(&rd, &t)) < 0)
		goto out;
	if (strcmp(t, STREAM_MAGIC)) {
		scim_snap_seterr(err, "not a snapshot stream (no '" STREAM_MAGIC "' header)");
		r = -EBADMSG;
		goto out;
	}
	if ((r = num_field(&rd, "format version", UINT32_MAX, &v)) < 0 || (r = no_more_fields(&rd)) < 0)
		goto out;
	if (v != SCIM_SNAP_FORMAT_VERSION) {
		scim_snap_seterr(err, "snapshot format version %llu is not supported (this build reads %d)",
		       (unsigned long long)v, SCIM_SNAP_FORMAT_VERSION);
		r = -EBADMSG;
		goto out;
	}
	if ((r = next_line(&rd)) < 0 || (r = tag(&rd, &t)) < 0)
		goto out;
	if (strcmp(t, "source")) {
		scim_snap_seterr(err, "line 2: expected the source");
		r = -EBADMSG;
		goto out;
	}
	if ((r = field(&rd, "source", &src)) < 0 || (r = no_more_fields(&rd)) < 0)
		goto out;
	if ((r = next_line(&rd)) < 0 || (r = tag(&rd, &t)) < 0)
		goto out;
	if (strcmp(t, "counts")) {
		scim_snap_seterr(err, "line 3: expected the counts");
		r = -EBADMSG;
		goto out;
	}
	{
		static const char *const what[5] = { "user count", "suspended count", "removed count", "group count",
						     "membership count" };
		for (int i = 0; i < 5; i++)
			if ((r = num_field(&rd, what[i], UINT32_MAX, &c[i])) < 0)
				goto out;
		if ((r = no_more_fields(&rd)) < 0)
			goto out;
	}
	r = -EBADMSG;
	if (lim->expect &&
	    (c[0] != lim->expect->users || c[1] != lim->expect->suspended || c[2] != lim->expect->removed ||
	     c[3] != lim->expect->groups || c[4] != lim->expect->members)) {
		scim_snap_seterr(err, "the header's counts differ from the signed counts");
		goto out;
	}
	/* Untrusted counts size the arrays: each record has a minimum size. */
	if (c[1] > c[0] ||
	    c[0] * MIN_USER_LINE + c[2] * MIN_REMOVED_LINE + c[3] * MIN_GROUP_LINE + c[4] * MIN_MEMBER > len) {
		scim_snap_seterr(err, "the header's counts cannot fit in a stream of %zu bytes", len);
		goto out;
	}
	r = -ENOMEM;
	st = calloc(1, sizeof(*st));
	if (!st)
		goto out;
	st->users = calloc(c[0] + 1, sizeof(*st->users));
	st->removed = calloc(c[2] + 1, sizeof(*st->removed));
	st->groups = calloc(c[3] + 1, sizeof(*st->groups));
	st->members = calloc(c[4] + 1, sizeof(*st->members));
	if (!st->users || !st->removed || !st->groups || !st->members)
		goto out;

	for (;;) {
		if ((r = next_line(&rd)) < 0 || (r = tag(&rd, &t)) < 0)
			goto out;
		r = -EBADMSG;
		if (!strcmp(t, "U")) {
			struct scim_snap_user *u = &st->users[nu];
			char *id, *name, *state;
			if (nr || ng) {
				scim_snap_seterr(err, "line %zu: a user after removed users or groups", rd.line);
				goto out;
			}
			if (nu == c[0]) {
				scim_snap_seterr(err, "line %zu: more users than the header counts", rd.line);
				goto out;
			}
			if ((r = field(&rd, "user id", &id)) < 0 || (r = field(&rd, "user name", &name)) < 0 ||
			    (r = num_field(&rd, "uid", UINT32_MAX, &v)) < 0)
				goto out;
			u->id = id;
			u->name = name;
			u->uid = (uint32_t)v;
			if ((r = num_field(&rd, "gid", UINT32_MAX, &v)) < 0 || (r = field(&rd, "gecos", &s)) < 0)
				goto out;
			u->gid = (uint32_t)v;
			u->gecos = s;
			if ((r = field(&rd, "home", &s)) < 0)
				goto out;
			u->home = s;
			if ((r = field(&rd, "shell", &s)) < 0)
				goto out;
			u->shell = s;
			if ((r = field(&rd, "state", &state)) < 0 || (r = no_more_fields(&rd)) < 0)
				goto out;
			r = -EBADMSG;
			if (!strcmp(state, "suspended"))
				u->suspended = true;
			else if (strcmp(state, "active")) {
				scim_snap_seterr(err, "line %zu: state is neither active nor suspended", rd.line);
				goto out;
			}
			nu++;
		} else if (!strcmp(t, "R")) {
			struct scim_snap_removed *x = &st->removed[nr];
			char *id, *name;
			if (ng) {
				scim_snap_seterr(err, "line %zu: a removed user after groups", rd.line);
				goto out;
			}
			if (nr == c[2]) {
				scim_snap_seterr(err, "line %zu: more removed users than the header counts", rd.line);
				goto out;
			}
			if ((r = field(&rd, "removed id", &id)) < 0 || (r = field(&rd, "removed name", &name)) < 0 ||
			    (r = num_field(&rd, "removed uid", UINT32_MAX, &v)) < 0)
				goto out;
			x->id = id;
			x->name = name;
			x->uid = (uint32_t)v;
			if ((r = num_field(&rd, "removal time", INT64_MAX, &v)) < 0 || (r = no_more_fields(&rd)) < 0)
				goto out;
			x->since = (int64_t)v;
			nr++;
		} else if (!strcmp(t, "G")) {
			struct scim_snap_group *g = &st->groups[ng];
			char *id, *name;
			if (ng == c[3]) {
				scim_snap_seterr(err, "line %zu: more groups than the header counts", rd.line);
				goto out;
			}
			/* Members are users by uid; every user came before. */
			if (!uids.slot) {
				if ((r = uidtab_build(&uids, st->users, nu)) < 0)
					goto out;
				r = -EBADMSG;
			}
			if ((r = field(&rd, "group id", &id)) < 0 || (r = field(&rd, "group name", &name)) < 0 ||
			    (r = num_field(&rd, "gid", UINT32_MAX, &v)) < 0)
				goto out;
			g->id = id;
			g->name = name;
			g->gid = (uint32_t)v;
			g->member_users = st->members + nm;
			while (rd.f) {
				if (nm == c[4]) {
					scim_snap_seterr(err, "line %zu: more members than the header counts", rd.line);
					r = -EBADMSG;
					goto out;
				}
				uint32_t hit;
				uint64_t prev = v;
				if ((r = num_field(&rd, "member uid", UINT32_MAX, &v)) < 0)
					goto out;
				r = -EBADMSG;
				if (g->nmembers && v <= prev) {
					scim_snap_seterr(err, "line %zu: members are not sorted by uid, or one is listed twice",
					       rd.line);
					goto out;
				}
				if ((hit = find_uid(&uids, (uint32_t)v)) == UINT32_MAX) {
					scim_snap_seterr(err, "line %zu: member uid %llu is not a user", rd.line,
					       (unsigned long long)v);
					goto out;
				}
				st->members[nm++] = hit;
				g->nmembers++;
			}
			ng++;
		} else if (!strcmp(t, "end")) {
			if ((r = no_more_fields(&rd)) < 0)
				goto out;
			r = -EBADMSG;
			break;
		} else {
			scim_snap_seterr(err, "line %zu: unknown record type", rd.line);
			goto out;
		}
	}
	if (rd.p != rd.end) {
		scim_snap_seterr(err, "line %zu: data after the end record", rd.line + 1);
		goto out;
	}
	if (nu != c[0] || nr != c[2] || ng != c[3] || nm != c[4]) {
		scim_snap_seterr(err,
		       "fewer records than the header counts (users %zu/%llu removed %zu/%llu groups %zu/%llu "
		       "members %zu/%llu)",
		       nu, (unsigned long long)c[0], nr, (unsigned long long)c[2], ng, (unsigned long long)c[3], nm,
		       (unsigned long long)c[4]);
		goto out;
	}
	d.source = src;
	d.nusers = nu;
	d.nremoved = nr;
	d.ngroups = ng;
	d.users = st->users;
	d.removed = st->removed;
	d.groups = st->groups;
	d.nmemberships = nm;
	for (size_t i = 0; i < nu; i++)
		d.nsuspended += st->users[i].suspended;
	if (d.nsuspended != c[1]) {
		scim_snap_seterr(err, "%zu users are suspended, the header counts %llu", d.nsuspended, (unsigned long long)c[1]);
		goto out;
	}
	if ((r = validate(&d, lim, err)) < 0)
		goto out;
	st->buf = buf;
	buf = NULL;
	d.owned = st;
	st = NULL;
	*out = d;
	r = 0;
out:
	if (r == -ENOMEM)
		scim_snap_seterr(err, "out of memory");
	if (st) {
		struct scim_snap_dir tmp = { .owned = st };
		scim_snap_dir_free(&tmp);
	}
	free(uids.slot);
	free(buf);
	return r;
}
