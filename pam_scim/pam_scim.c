/* pam_scim.c - PAM account management for SCIM directory users: a user the
 * directory suspended cannot log in, whatever authenticated them (an SSH key
 * never reaches the auth stack).
 *
 * The answer comes from the local cache only, through libnss_scim.so.2's
 * _nss_scim_account_lookup(): sshd loads the NSS module and this one into one
 * process and tdb refuses to open a file twice in a process, so both modules
 * must share the NSS module's process-wide handle instead of each linking a
 * reader.
 *
 *   the user is                          status
 *   local (in /etc/passwd, read directly) PAM_USER_UNKNOWN, cache not consulted
 *   not in the cache                      PAM_USER_UNKNOWN
 *   removed from the directory lately      PAM_ACCT_EXPIRED (PAM_PERM_DENIED)
 *   in the cache and active               PAM_SUCCESS
 *   active, but in none of allow_groups   PAM_PERM_DENIED
 *   in the cache and suspended            PAM_ACCT_EXPIRED (PAM_PERM_DENIED)
 *   in the cache, cache older than max_age PAM_AUTHINFO_UNAVAIL
 *   anyone else, cache missing or broken  PAM_AUTHINFO_UNAVAIL
 * "Removed lately" is a name the cache keeps as a removed user (scim-refreshd's
 * removed_retention): a process that resolved the user before the publish
 * (sshd) reaches this stage afterwards, and "unknown" would let the rest of
 * the stack admit them.
 * allow_groups= names the directory groups whose members may log in on this
 * host; membership comes from the cache alone (the user's flattened gids or
 * primary gid), so a local group of the same name grants nothing, and local
 * users are never asked about it.
 * ignore_unknown_user turns the first two into PAM_IGNORE and
 * ignore_authinfo_unavail the last one.  scim_verdict_status() is the only
 * place that turns a verdict into a PAM status; everything before it returns
 * 0 or -errno.
 *
 * Like the NSS module this never touches the network, never prints to the
 * host program's streams, keeps no global state and leaves errno as it found
 * it. */
#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#define PAM_SM_ACCOUNT
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "cache/cache.h"
#include "nss_scim/nss_scim_account.h"

#define EXPORT __attribute__((visibility("default")))

/* Local accounts are read from this file directly, never through NSS: NSS
 * would ask this very cache, and the point is to keep local admins out of
 * the cache's reach.  Not a run-time option, so nothing a caller controls can
 * make a directory user look local; tests bind-mount a file over it. */
#ifndef SCIM_PASSWD_FILE
#define SCIM_PASSWD_FILE "/etc/passwd"
#endif

/* A passwd line longer than this is not a user we could have created. */
#define SCIM_PWLINE_MAX (1024 * 1024)

/* max_age= range: a second up to 2^31-1 (68 years). */
#define SCIM_MAX_AGE_MAX 2147483647L

/* allow_groups= may be given this many times; the lists add up. */
#define SCIM_ALLOW_LISTS_MAX 8
/* Longest group name the cache can hold (cache.h's SCIM_NAME_MAX). */
#define SCIM_GROUP_NAME_MAX 255

struct scim_pam_opts {
	const char *cache_path; /* NULL: libnss_scim's default */
	long max_age;           /* seconds; 0: no limit */
	int deny_status;        /* for suspended users */
	/* allow_groups= lists, as given (comma-separated, pointing into argv) */
	const char *allow[SCIM_ALLOW_LISTS_MAX];
	int nallow;
	bool allow_broken; /* an allow_groups= that could not be kept: deny all */
	bool debug;
	bool silent;
	bool ignore_unknown_user;
	bool ignore_authinfo_unavail;
};

enum scim_verdict {
	SCIM_ACTIVE,
	SCIM_SUSPENDED,
	SCIM_NOT_ALLOWED, /* active, but in none of allow_groups */
	SCIM_REMOVED, /* not in the cache, but kept there as a removed user */
	SCIM_LOCAL,
	SCIM_UNKNOWN,
	SCIM_STALE,   /* in the cache, but the cache is older than max_age */
	SCIM_UNAVAIL, /* not local, and the cache cannot answer */
	SCIM_NO_USER, /* PAM could not tell us who the user is */
};

struct scim_check {
	enum scim_verdict verdict;
	const char *user;
	int err;            /* -errno behind SCIM_UNAVAIL */
	int get_user_status; /* pam_get_user's answer behind SCIM_NO_USER */
	long long age;      /* seconds since the last successful sync */
	int64_t removed_since; /* SCIM_REMOVED: when the publisher first missed the user */
	bool future;        /* SCIM_STALE because last_sync is ahead of the clock */
};

/* ---------------------------------------------------------------- options */

static int scim_parse_seconds(const char *s, long *out)
{
	char *end;
	long v;

	/* strtol accepts leading blanks and signs; a budget in seconds is digits. */
	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (*end != '\0')
		return -EINVAL;
	if (v < 1 || v > SCIM_MAX_AGE_MAX)
		return -ERANGE;
	*out = v;
	return 0;
}

/* Bad or unknown options are logged and otherwise ignored, like every
 * Linux-PAM module: a typo must not turn into a lockout of the whole host. */
static void scim_parse_args(pam_handle_t *pamh, int flags, int argc, const char **argv, struct scim_pam_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->deny_status = PAM_ACCT_EXPIRED;
	o->silent = (flags & PAM_SILENT) != 0;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "debug") == 0) {
			o->debug = true;
		} else if (strcmp(a, "silent") == 0 || strcmp(a, "no_warn") == 0) {
			o->silent = true;
		} else if (strcmp(a, "ignore_unknown_user") == 0) {
			o->ignore_unknown_user = true;
		} else if (strcmp(a, "ignore_authinfo_unavail") == 0) {
			o->ignore_authinfo_unavail = true;
		} else if (strncmp(a, "max_age=", 8) == 0) {
			long v;
			if (scim_parse_seconds(a + 8, &v) == 0)
				o->max_age = v;
			else
				pam_syslog(pamh, LOG_ERR, "bad number supplied for max_age (1 to %ld): %s; no age limit",
					   SCIM_MAX_AGE_MAX, a + 8);
		} else if (strncmp(a, "cache=", 6) == 0) {
			/* Relative paths would depend on the caller's cwd. */
			if (a[6] == '/')
				o->cache_path = a + 6;
			else
				pam_syslog(pamh, LOG_ERR, "cache= needs an absolute path: %s; using the default", a + 6);
		} else if (strncmp(a, "allow_groups=", 13) == 0) {
			/* A restriction that cannot be read must not fall open:
			 * it denies every directory user (local ones are never
			 * asked), which the log says. */
			if (o->nallow < SCIM_ALLOW_LISTS_MAX) {
				o->allow[o->nallow++] = a + 13;
			} else {
				pam_syslog(pamh, LOG_ERR, "allow_groups= given more than %d times: directory users are denied",
					   SCIM_ALLOW_LISTS_MAX);
				o->allow_broken = true;
			}
		} else if (strcmp(a, "deny=perm") == 0) {
			o->deny_status = PAM_PERM_DENIED;
		} else if (strcmp(a, "deny=expired") == 0) {
			o->deny_status = PAM_ACCT_EXPIRED;
		} else {
			pam_syslog(pamh, LOG_ERR, "unknown option: %s", a);
		}
	}
}

/* ---------------------------------------------------------------- checks */

/* 1 when name has an entry in SCIM_PASSWD_FILE, 0 when not, -errno when the
 * file cannot be read. */
static int scim_local_user(const char *name)
{
	struct passwd pw, *res;
	size_t len = 1024;
	char *buf = NULL, *nbuf;
	FILE *f;
	int r;

	f = fopen(SCIM_PASSWD_FILE, "re");
	if (!f)
		return -errno;
	buf = malloc(len);
	if (!buf) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		r = fgetpwent_r(f, &pw, buf, len, &res);
		if (r == ERANGE) {
			/* glibc rewinds to the start of the line: grow and retry it. */
			if (len >= SCIM_PWLINE_MAX) {
				r = -ERANGE;
				goto out;
			}
			nbuf = realloc(buf, len * 2);
			if (!nbuf) {
				r = -ENOMEM;
				goto out;
			}
			buf = nbuf;
			len *= 2;
			continue;
		}
		if (r == ENOENT) {
			r = 0;
			goto out;
		}
		if (r != 0) {
			r = -r;
			goto out;
		}
		if (strcmp(res->pw_name, name) == 0) {
			r = 1;
			goto out;
		}
	}
out:
	free(buf);
	fclose(f);
	return r;
}

/* 1 when user is in one of the allow_groups= groups, 0 when not, -errno
 * when the cache cannot answer.  A name too long for the cache matches
 * nothing. */
static int scim_allowed(pam_handle_t *pamh, const struct scim_pam_opts *o, const char *user)
{
	char name[SCIM_GROUP_NAME_MAX + 1];
	bool any = false, member;
	int r;

	if (o->allow_broken)
		return 0;
	for (int i = 0; i < o->nallow; i++) {
		const char *p = o->allow[i];
		while (*p) {
			size_t n = strcspn(p, ",");
			if (n > 0 && n <= SCIM_GROUP_NAME_MAX) {
				memcpy(name, p, n);
				name[n] = '\0';
				any = true;
				r = _nss_scim_group_member(o->cache_path, user, name, &member);
				if (r == -ENOENT)
					/* Gone from the cache since the first lookup. */
					return 0;
				if (r < 0)
					return r;
				if (member)
					return 1;
			} else if (n > SCIM_GROUP_NAME_MAX) {
				pam_syslog(pamh, LOG_ERR, "allow_groups: a name of %zu bytes is no group name", n);
			}
			p += n;
			if (*p == ',')
				p++;
		}
	}
	if (!any)
		pam_syslog(pamh, LOG_ERR, "allow_groups= names no group: directory users are denied");
	return 0;
}

/* Decides; reports nothing but a broken /etc/passwd (scim_verdict_status()
 * does the rest). */
static void scim_perform_check(pam_handle_t *pamh, const struct scim_pam_opts *o, struct scim_check *c)
{
	struct scim_account acct;
	enum scim_cache_age age;
	const char *user = NULL;
	char ebuf[128];
	time_t now;
	int r;

	r = pam_get_user(pamh, &user, NULL);
	if (r != PAM_SUCCESS || !user || !*user) {
		c->verdict = SCIM_NO_USER;
		c->get_user_status = r;
		return;
	}
	c->user = user;

	/* Local accounts first, before the cache is touched at all: a missing,
	 * corrupt or hostile cache must never decide for a local admin. */
	r = scim_local_user(user);
	if (r == 1) {
		c->verdict = SCIM_LOCAL;
		return;
	}
	if (r < 0)
		/* Not knowing whether the user is local, let the cache answer for
		 * its own users; anyone else gets the cache-error answer below. */
		pam_syslog(pamh, LOG_ERR, "cannot read %s: %s", SCIM_PASSWD_FILE, strerror_r(-r, ebuf, sizeof(ebuf)));

	r = _nss_scim_account_lookup(o->cache_path, user, &acct);
	if (r == -ENOENT) {
		struct scim_removed_account gone;
		/* Only now: a user who holds the name again is that user. */
		r = _nss_scim_removed_lookup(o->cache_path, user, &gone);
		if (r == 0) {
			c->verdict = SCIM_REMOVED;
			c->removed_since = gone.since;
		} else if (r == -ENOENT) {
			c->verdict = SCIM_UNKNOWN;
		} else {
			c->verdict = SCIM_UNAVAIL;
			c->err = r;
		}
		return;
	}
	if (r < 0) {
		c->verdict = SCIM_UNAVAIL;
		c->err = r;
		return;
	}
	now = time(NULL);
	c->age = (long long)now - (long long)acct.last_sync;
	age = scim_cache_age_check(acct.last_sync, now, o->max_age);
	/* A suspension known from an old cache is still a suspension. */
	if (acct.suspended)
		c->verdict = SCIM_SUSPENDED;
	else if (age != SCIM_CACHE_AGE_OK) {
		c->verdict = SCIM_STALE;
		c->future = age == SCIM_CACHE_AGE_FUTURE;
	} else
		c->verdict = SCIM_ACTIVE;

	if (c->verdict == SCIM_ACTIVE && (o->nallow > 0 || o->allow_broken)) {
		r = scim_allowed(pamh, o, user);
		if (r < 0) {
			c->verdict = SCIM_UNAVAIL;
			c->err = r;
		} else if (r == 0) {
			c->verdict = SCIM_NOT_ALLOWED;
		}
	}
}

static const char *scim_cache_name(const struct scim_pam_opts *o)
{
	return o->cache_path ? o->cache_path : "the default cache";
}


/* UTC, as scimctl prints it; the number itself if the date cannot be. */
static void scim_format_time(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "%lld", (long long)t);
}

/* The one place that turns a verdict into a PAM status, and so also the
 * place that logs it and tells the user. */
static int scim_verdict_status(pam_handle_t *pamh, const struct scim_pam_opts *o, const struct scim_check *c)
{
	char ebuf[128], tbuf[32];

	switch (c->verdict) {
	case SCIM_ACTIVE:
		if (o->debug)
			pam_syslog(pamh, LOG_DEBUG, "%s is an active directory user", c->user);
		return PAM_SUCCESS;
	case SCIM_SUSPENDED:
		pam_syslog(pamh, LOG_NOTICE, "%s is suspended in the directory: access denied", c->user);
		if (!o->silent)
			pam_error(pamh, "Your account has been suspended by the directory. "
					"Contact your administrator.");
		return o->deny_status;
	case SCIM_NOT_ALLOWED:
		pam_syslog(pamh, LOG_NOTICE, "%s is in none of the groups allowed on this host (allow_groups): access denied",
			   c->user);
		if (!o->silent)
			pam_error(pamh, "You are not in a directory group allowed to log in on this host. "
					"Contact your administrator.");
		/* Not deny_status: the account is fine, this host is not theirs. */
		return PAM_PERM_DENIED;
	case SCIM_REMOVED:
		scim_format_time(c->removed_since, tbuf, sizeof(tbuf));
		pam_syslog(pamh, LOG_NOTICE, "%s was removed from the directory (since %s): access denied", c->user,
			   tbuf);
		if (!o->silent)
			pam_error(pamh, "Your account has been removed from the directory. "
					"Contact your administrator.");
		return o->deny_status;
	case SCIM_LOCAL:
	case SCIM_UNKNOWN:
		if (o->debug)
			pam_syslog(pamh, LOG_DEBUG, "%s is %s", c->user,
				   c->verdict == SCIM_LOCAL ? "a local account" : "not in the directory cache");
		return o->ignore_unknown_user ? PAM_IGNORE : PAM_USER_UNKNOWN;
	case SCIM_STALE:
		if (c->future) {
			/* A stamp from the future would keep the cache fresh for as
			 * long as it is ahead: a wrong clock, or a forged header. */
			pam_syslog(pamh, LOG_WARNING,
				   "%s: the directory cache's last sync is %lld seconds ahead of this host's clock "
				   "(more than %d): counted as stale under max_age=%ld: access denied",
				   c->user, -c->age, SCIM_CACHE_FUTURE_MAX, o->max_age);
			if (!o->silent)
				pam_error(pamh, "Directory logins are refused: the account directory's last "
						"synchronisation is dated in the future; check the clock.");
			return PAM_AUTHINFO_UNAVAIL;
		}
		pam_syslog(pamh, LOG_WARNING,
			   "%s: the directory cache was last synced %lld seconds ago, more than max_age=%ld: access denied",
			   c->user, c->age, o->max_age);
		if (!o->silent)
			pam_error(pamh, "Directory logins are refused: the account directory has not been "
					"synchronised for %lld seconds (the limit is %ld).",
				  c->age, o->max_age);
		/* Deliberately not subject to ignore_authinfo_unavail: max_age
		 * is the budget that stops a dead daemon letting suspended people
		 * in for ever, and only makes sense as a denial. */
		return PAM_AUTHINFO_UNAVAIL;
	case SCIM_UNAVAIL:
		if (o->ignore_authinfo_unavail) {
			pam_syslog(pamh, LOG_ERR, "%s: %s (%s); ignored (ignore_authinfo_unavail)", c->user,
				   scim_cache_strerror(c->err, ebuf, sizeof(ebuf)), scim_cache_name(o));
			return PAM_IGNORE;
		}
		pam_syslog(pamh, LOG_ERR, "%s: %s (%s): access denied", c->user,
			   scim_cache_strerror(c->err, ebuf, sizeof(ebuf)), scim_cache_name(o));
		if (!o->silent)
			pam_error(pamh, "Directory logins are refused: the account directory cache is unavailable.");
		return PAM_AUTHINFO_UNAVAIL;
	case SCIM_NO_USER:
		/* Never PAM_SUCCESS: pass pam_get_user's error on. */
		if (c->get_user_status != PAM_SUCCESS) {
			pam_syslog(pamh, LOG_ERR, "cannot get the user name: %s",
				   pam_strerror(pamh, c->get_user_status));
			return c->get_user_status;
		}
		return PAM_USER_UNKNOWN;
	}
	return PAM_SERVICE_ERR;
}

/* ---------------------------------------------------------------- entry point */

EXPORT int pam_sm_acct_mgmt(pam_handle_t *pamh, int flags, int argc, const char **argv)
{
	int saved_errno = errno;
	struct scim_pam_opts o;
	struct scim_check c = { .verdict = SCIM_NO_USER };
	int status;

	scim_parse_args(pamh, flags, argc, argv, &o);
	scim_perform_check(pamh, &o, &c);
	status = scim_verdict_status(pamh, &o, &c);
	errno = saved_errno;
	return status;
}
