/* nss_scim.h - the entry points glibc looks up in libnss_scim.so.2. */
#ifndef SCIM_NSS_SCIM_H
#define SCIM_NSS_SCIM_H

#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <sys/types.h>

enum nss_status _nss_scim_getpwnam_r(const char *name, struct passwd *pwd, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_scim_getpwuid_r(uid_t uid, struct passwd *pwd, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_scim_setpwent(int stayopen);
enum nss_status _nss_scim_getpwent_r(struct passwd *pwd, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_scim_endpwent(void);
enum nss_status _nss_scim_getgrnam_r(const char *name, struct group *grp, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_scim_getgrgid_r(gid_t gid, struct group *grp, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_scim_setgrent(int stayopen);
enum nss_status _nss_scim_getgrent_r(struct group *grp, char *buf, size_t buflen, int *errnop);
enum nss_status _nss_scim_endgrent(void);
enum nss_status _nss_scim_initgroups_dyn(const char *user, gid_t group, long int *start, long int *size,
					 gid_t **groupsp, long int limit, int *errnop);

#endif
