/* libnss_bnull.c - NSS module "bnull": the benchmark's zero point.
 *
 * Every lookup by name or number succeeds with one fixed entry, packed into
 * the caller's buffer as the _r contract demands; initgroups adds nothing and
 * enumeration is empty.  What the benchmark measures with "passwd: bnull" is
 * therefore glibc's own work per call: the nsswitch.conf change check (one
 * stat()), walking the service list, finding the function, the _r wrapper.
 * No real module can be faster than this through glibc.
 */
#include <errno.h>
#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define EXPORT __attribute__((visibility("default")))

/* What glibc looks up with dlsym (prototypes for -Wmissing-prototypes). */
EXPORT enum nss_status _nss_bnull_getpwnam_r(const char *, struct passwd *, char *, size_t, int *);
EXPORT enum nss_status _nss_bnull_getpwuid_r(uid_t, struct passwd *, char *, size_t, int *);
EXPORT enum nss_status _nss_bnull_getgrnam_r(const char *, struct group *, char *, size_t, int *);
EXPORT enum nss_status _nss_bnull_getgrgid_r(gid_t, struct group *, char *, size_t, int *);
EXPORT enum nss_status _nss_bnull_initgroups_dyn(const char *, gid_t, long int *, long int *, gid_t **, long int,
						 int *);
EXPORT enum nss_status _nss_bnull_setpwent(int);
EXPORT enum nss_status _nss_bnull_endpwent(void);
EXPORT enum nss_status _nss_bnull_getpwent_r(struct passwd *, char *, size_t, int *);
EXPORT enum nss_status _nss_bnull_setgrent(int);
EXPORT enum nss_status _nss_bnull_endgrent(void);
EXPORT enum nss_status _nss_bnull_getgrent_r(struct group *, char *, size_t, int *);

/* Copies s into the buffer; NULL when it does not fit. */
static char *put(char **at, size_t *left, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = *at;
	if (n > *left)
		return NULL;
	memcpy(d, s, n);
	*at += n;
	*left -= n;
	return d;
}

static enum nss_status erange(int *errnop)
{
	*errnop = ERANGE;
	return NSS_STATUS_TRYAGAIN;
}

static enum nss_status fixed_passwd(struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	char *at = buf;
	size_t left = buflen;
	pw->pw_name = put(&at, &left, "bnull");
	pw->pw_passwd = put(&at, &left, "x");
	pw->pw_gecos = put(&at, &left, "bench null user");
	pw->pw_dir = put(&at, &left, "/nonexistent");
	pw->pw_shell = put(&at, &left, "/usr/sbin/nologin");
	if (!pw->pw_name || !pw->pw_passwd || !pw->pw_gecos || !pw->pw_dir || !pw->pw_shell)
		return erange(errnop);
	pw->pw_uid = 65000;
	pw->pw_gid = 65000;
	return NSS_STATUS_SUCCESS;
}

static enum nss_status fixed_group(struct group *gr, char *buf, size_t buflen, int *errnop)
{
	/* The member array must be aligned; the caller's buffer need not be. */
	size_t pad = (_Alignof(char *) - (uintptr_t)buf % _Alignof(char *)) % _Alignof(char *);
	char *at;
	size_t left;
	if (buflen < pad + sizeof(char *))
		return erange(errnop);
	gr->gr_mem = (char **)(void *)(buf + pad);
	gr->gr_mem[0] = NULL;
	at = buf + pad + sizeof(char *);
	left = buflen - pad - sizeof(char *);
	gr->gr_name = put(&at, &left, "bnull");
	gr->gr_passwd = put(&at, &left, "x");
	if (!gr->gr_name || !gr->gr_passwd)
		return erange(errnop);
	gr->gr_gid = 65000;
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_bnull_getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t buflen,
					     int *errnop)
{
	return fixed_passwd(pw, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_bnull_getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	return fixed_passwd(pw, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_bnull_getgrnam_r(const char *name, struct group *gr, char *buf, size_t buflen,
					     int *errnop)
{
	return fixed_group(gr, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_bnull_getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t buflen, int *errnop)
{
	return fixed_group(gr, buf, buflen, errnop);
}

EXPORT enum nss_status _nss_bnull_initgroups_dyn(const char *user, gid_t group, long int *start, long int *size,
						 gid_t **groupsp, long int limit, int *errnop)
{
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_bnull_setpwent(int stayopen)
{
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_bnull_endpwent(void)
{
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_bnull_getpwent_r(struct passwd *pw, char *buf, size_t buflen, int *errnop)
{
	return NSS_STATUS_NOTFOUND;
}

EXPORT enum nss_status _nss_bnull_setgrent(int stayopen)
{
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_bnull_endgrent(void)
{
	return NSS_STATUS_SUCCESS;
}

EXPORT enum nss_status _nss_bnull_getgrent_r(struct group *gr, char *buf, size_t buflen, int *errnop)
{
	return NSS_STATUS_NOTFOUND;
}
