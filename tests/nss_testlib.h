/* nss_testlib.h - loads libnss_scim.so.2 the way glibc does (dlopen with
 * RTLD_NOW) and publishes test caches through scim-mkcache in a child
 * process: tdb allows one open of a file per process, and the module under
 * test holds one, so an in-process writer could not mark the file it
 * replaces. */
#ifndef SCIM_NSS_TESTLIB_H
#define SCIM_NSS_TESTLIB_H

#include <grp.h>
#include <nss.h>
#include <pwd.h>
#include <sys/types.h>

struct nss_module {
	void *handle;
	enum nss_status (*getpwnam_r)(const char *, struct passwd *, char *, size_t, int *);
	enum nss_status (*getpwuid_r)(uid_t, struct passwd *, char *, size_t, int *);
	enum nss_status (*setpwent)(int);
	enum nss_status (*getpwent_r)(struct passwd *, char *, size_t, int *);
	enum nss_status (*endpwent)(void);
	enum nss_status (*getgrnam_r)(const char *, struct group *, char *, size_t, int *);
	enum nss_status (*getgrgid_r)(gid_t, struct group *, char *, size_t, int *);
	enum nss_status (*setgrent)(int);
	enum nss_status (*getgrent_r)(struct group *, char *, size_t, int *);
	enum nss_status (*endgrent)(void);
	enum nss_status (*initgroups_dyn)(const char *, gid_t, long int *, long int *, gid_t **, long int, int *);
};

/* Makes a private directory, sets NSS_SCIM_CACHE to DIR/cache.tdb and loads
 * the module from $SCIM_LIBDIR.  Returns the cache path. */
const char *nss_test_setup(struct nss_module *m);
/* Publishes a cache at path from a scim-mkcache description; 0 on success. */
int nss_test_publish(const char *path, const char *description);
/* Publishes len bytes as the cache at path, with mode and (uid >= 0) owner. */
int nss_test_publish_raw(const char *path, const void *data, size_t len, unsigned mode, int uid);
/* Number of open descriptors in this process. */
int nss_test_count_fds(void);

#endif
