/* nss_scim.c - glibc NSS entry points for the SCIM cache: passwd, group and
 * initgroups, answered from the local cache only.
 *
 * This code runs inside every process on the host.  It never touches the
 * network, never prints, never exits; it leaves errno as it found it (glibc
 * passes &errno as errnop, so only *errnop carries an error); a missing or
 * damaged cache is NSS_STATUS_UNAVAIL so "passwd: files scim" still answers
 * local users.  Internal functions return 0 or -errno; scim_to_nss() is the only
 * place that turns them into an NSS status (status.c). */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pthread.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "cache/cache.h"
#include "nss_scim/nss_scim.h"
#include "nss_scim/nss_scim_account.h"
#include "nss_scim/pack.h"
#include "nss_scim/status.h"

#define EXPORT __attribute__((visibility("default")))

/* Every entry point: run, restore errno, then report through *errnop. */
#define NSS_RETURN(expr)                                  \
	do {                                              \
		int saved_errno_ = errno;                 \
		int r_ = (expr);                          \
		errno = saved_errno_;                     \
		return scim_to_nss(r_, errnop);                \
	} while (0)

/* ---------------------------------------------------------------- passwd */

struct pw_out {
	struct passwd *pw;
	char *buf;
	size_t buflen;
};

static int pw_pack_cb(const struct scim_user *u, void *ctx)
{
	struct pw_out *o = ctx;
	return scim_pack_passwd(u, o->pw, o->buf, o->buflen);
}

static int user_by_name(const char *name, struct pw_out *o)
{
	if (!name)
		return -ENOENT;
	return scim_cache_passwd_by_name(NULL, name, pw_pack_cb, o);
}

EXPORT enum nss_status _nss_scim_getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t buflen,
					    int *errnop)
{
	struct pw_out o = { pwd, buf, buflen };
	NSS_RETURN(user_by_name(name, &o));
}

EXPORT enum nss_status _nss_scim_getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t buflen, int *errnop)
{
	struct pw_out o = { pwd, buf, buflen };
	NSS_RETURN(scim_cache_passwd_by_uid(NULL, uid, pw_pack_cb, &o));
}

/* ---------------------------------------------------------------- group */

struct gr_out {
	struct group *gr;
	char *buf;
	size_t buflen;
};

static int gr_pack_cb(const struct scim_group *g, void *ctx)
{
	struct gr_out *o = ctx;
	return scim_pack_group(g, o->gr, o->buf, o->buflen);
}

static int group_by_name(const char *name, struct gr_out *o)
{
	if (!name)
		return -ENOENT;
	return scim_cache_group_by_name(NULL, name, gr_pack_cb, o);
}

EXPORT enum nss_status _nss_scim_getgrnam_r(const char *name, struct group *grp, char *buf, size_t buflen,
					    int *errnop)
{
	struct gr_out o = { grp, buf, buflen };
	NSS_RETURN(group_by_name(name, &o));
}

EXPORT enum nss_status _nss_scim_getgrgid_r(gid_t gid, struct group *grp, char *buf, size_t buflen, int *errnop)
{
	struct gr_out o = { grp, buf, buflen };
	NSS_RETURN(scim_cache_group_by_gid(NULL, gid, gr_pack_cb, &o));
}

/* ---------------------------------------------------------------- enumeration
 * One cursor per database behind its own lock.  By-key lookups never touch
 * these.  A cursor pins the snapshot it started on; it moves only after an
 * entry was delivered, so a call retried after ERANGE gets the same entry. */

struct enum_state {
	pthread_mutex_t lock;
	struct scim_cursor cur;
	bool open;
};

static struct enum_state pw_enum = { PTHREAD_MUTEX_INITIALIZER };
static struct enum_state gr_enum = { PTHREAD_MUTEX_INITIALIZER };

static int enum_restart(struct enum_state *e)
{
	int r;
	pthread_mutex_lock(&e->lock);
	scim_cache_cursor_close(&e->cur);
	e->open = false;
	r = scim_cache_cursor_open(NULL, &e->cur);
	e->open = r == 0;
	pthread_mutex_unlock(&e->lock);
	return r;
}

static int enum_end(struct enum_state *e)
{
	pthread_mutex_lock(&e->lock);
	scim_cache_cursor_close(&e->cur);
	e->open = false;
	pthread_mutex_unlock(&e->lock);
	return 0;
}

static int enum_next(struct enum_state *e, bool users, void *out)
{
	int r = 0;
	pthread_mutex_lock(&e->lock);
	/* getpwent without setpwent starts at the beginning, like files does. */
	if (!e->open) {
		r = scim_cache_cursor_open(NULL, &e->cur);
		e->open = r == 0;
	}
	if (r == 0)
		r = users ? scim_cache_user_next(&e->cur, pw_pack_cb, out)
			  : scim_cache_group_next(&e->cur, gr_pack_cb, out);
	pthread_mutex_unlock(&e->lock);
	return r;
}

EXPORT enum nss_status _nss_scim_setpwent(int stayopen)
{
	int dummy, *errnop = &dummy;
	NSS_RETURN(enum_restart(&pw_enum));
}

EXPORT enum nss_status _nss_scim_endpwent(void)
{
	int dummy, *errnop = &dummy;
	NSS_RETURN(enum_end(&pw_enum));
}

EXPORT enum nss_status _nss_scim_getpwent_r(struct passwd *pwd, char *buf, size_t buflen, int *errnop)
{
	struct pw_out o = { pwd, buf, buflen };
	NSS_RETURN(enum_next(&pw_enum, true, &o));
}

EXPORT enum nss_status _nss_scim_setgrent(int stayopen)
{
	int dummy, *errnop = &dummy;
	NSS_RETURN(enum_restart(&gr_enum));
}

EXPORT enum nss_status _nss_scim_endgrent(void)
{
	int dummy, *errnop = &dummy;
	NSS_RETURN(enum_end(&gr_enum));
}

EXPORT enum nss_status _nss_scim_getgrent_r(struct group *grp, char *buf, size_t buflen, int *errnop)
{
	struct gr_out o = { grp, buf, buflen };
	NSS_RETURN(enum_next(&gr_enum, false, &o));
}

/* ---------------------------------------------------------------- initgroups
 * The user record carries its supplementary gids, so this is one lookup, not
 * a walk over every group. */

struct initgroups_out {
	gid_t skip;
	long int *start, *size, limit;
	gid_t **groupsp;
};

static int add_gids_cb(const struct scim_user *u, void *ctx)
{
	struct initgroups_out *o = ctx;
	for (uint32_t i = 0; i < u->ngids; i++) {
		gid_t gid = scim_rec_gid(u, i);
		if (gid == o->skip)
			continue;
		if (*o->start == *o->size) {
			long int newsize;
			gid_t *p;
			if (o->limit > 0 && *o->size >= o->limit)
				return 0; /* glibc's limit: keep what fits */
			newsize = *o->size > 0 ? 2 * *o->size : 16;
			if (o->limit > 0 && newsize > o->limit)
				newsize = o->limit;
			p = realloc(*o->groupsp, (size_t)newsize * sizeof(gid_t));
			if (!p)
				return -ENOMEM;
			*o->groupsp = p;
			*o->size = newsize;
		}
		(*o->groupsp)[(*o->start)++] = gid;
	}
	return 0;
}

static int user_initgroups(const char *user, struct initgroups_out *o)
{
	if (!user)
		return -ENOENT;
	return scim_cache_user_by_name(NULL, user, add_gids_cb, o);
}

EXPORT enum nss_status _nss_scim_initgroups_dyn(const char *user, gid_t group, long int *start, long int *size,
						gid_t **groupsp, long int limit, int *errnop)
{
	struct initgroups_out o = { group, start, size, limit, groupsp };
	NSS_RETURN(user_initgroups(user, &o));
}

/* ---------------------------------------------------------------- pam_scim
 * Not part of glibc's interface: pam_scim.so calls this so that the NSS and
 * PAM modules in one process (sshd) share the one process-wide cache handle. */

static int account_user_cb(const struct scim_user *u, void *ctx)
{
	struct scim_account *a = ctx;
	a->suspended = u->suspended;
	a->uid = u->uid;
	return 0;
}

static int account_header_cb(const struct scim_cache_header *h, void *ctx)
{
	struct scim_account *a = ctx;
	a->last_sync = h->last_sync;
	a->generation = h->generation;
	return 0;
}

EXPORT int _nss_scim_account_lookup(const char *cache_path, const char *name, struct scim_account *out)
{
	int saved_errno = errno, r;

	memset(out, 0, sizeof(*out));
	r = scim_cache_header(cache_path, account_header_cb, out);
	if (r == 0)
		r = name ? scim_cache_user_by_name(cache_path, name, account_user_cb, out) : -ENOENT;
	errno = saved_errno;
	return r;
}

static int removed_cb(const struct scim_removed *d, void *ctx)
{
	struct scim_removed_account *a = ctx;
	a->uid = d->uid;
	a->since = d->since;
	return 0;
}

EXPORT int _nss_scim_removed_lookup(const char *cache_path, const char *name, struct scim_removed_account *out)
{
	int saved_errno = errno, r;

	memset(out, 0, sizeof(*out));
	r = name ? scim_cache_removed_by_name(cache_path, name, removed_cb, out) : -ENOENT;
	errno = saved_errno;
	return r;
}

/* Membership the way initgroups sees it: the group's gid is the user's
 * primary gid or one of the supplementary gids of the user's record, which
 * scim-refreshd flattened (nested groups included) at publish.  Two lookups,
 * each on the newest file: numbers never move, so a publish between them can
 * only change the answer, never mix two users up. */
struct member_ctx {
	uint32_t gid;
	bool member;
};

static int member_group_cb(const struct scim_group *g, void *ctx)
{
	struct member_ctx *c = ctx;
	c->gid = g->gid;
	return 0;
}

static int member_user_cb(const struct scim_user *u, void *ctx)
{
	struct member_ctx *c = ctx;
	c->member = u->gid == c->gid;
	for (uint32_t i = 0; !c->member && u->has_ext && i < u->ngids; i++)
		c->member = scim_rec_gid(u, i) == c->gid;
	return 0;
}

EXPORT int _nss_scim_group_member(const char *cache_path, const char *user, const char *group, bool *member)
{
	struct member_ctx c = { 0, false };
	int saved_errno = errno, r;

	*member = false;
	if (!user || !group) {
		r = -ENOENT;
		goto out;
	}
	r = scim_cache_group_by_name(cache_path, group, member_group_cb, &c);
	if (r == -ENOENT) {
		/* No such directory group: nobody is in it. */
		r = 0;
		goto out;
	}
	if (r < 0)
		goto out;
	r = scim_cache_user_by_name(cache_path, user, member_user_cb, &c);
	if (r == 0)
		*member = c.member;
out:
	errno = saved_errno;
	return r;
}
