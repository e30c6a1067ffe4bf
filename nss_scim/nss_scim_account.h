/* nss_scim_account.h - the one private interface libnss_scim.so.2 exports
 * besides glibc's entry points.  pam_scim.so calls it so both modules share
 * the process-wide cache handle (tdb refuses to open one file twice in a
 * process, and sshd loads both modules). */
#ifndef SCIM_NSS_ACCOUNT_H
#define SCIM_NSS_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>

struct scim_account {
	bool suspended;
	uint32_t uid;
	int64_t last_sync;   /* header: unix seconds of the last successful sync */
	uint64_t generation; /* header */
};

/* cache_path NULL means the module's default.  Returns 0 when the user is in
 * the cache, -ENOENT when the cache is fine but has no such user (last_sync is
 * still filled in), -ENODATA when no cache is published, another -errno when
 * it cannot be read (-EBADMSG: corrupt, -EPERM: unsafe ownership or mode).
 * errno is preserved. */
int _nss_scim_account_lookup(const char *cache_path, const char *name, struct scim_account *out);

/* A user the directory removed within scim-refreshd's removed_retention. */
struct scim_removed_account {
	uint32_t uid;
	int64_t since; /* unix seconds of the publish that first missed the user */
};

/* For a name _nss_scim_account_lookup() did not find: 0 when the cache keeps
 * it as a removed user, -ENOENT when not, other -errno values as above.
 * errno is preserved. */
int _nss_scim_removed_lookup(const char *cache_path, const char *name, struct scim_removed_account *out);

/* Whether the directory user `user` is in the directory group `group`: the
 * group's gid is the user's primary gid or one of the supplementary gids of
 * the user's record (nested groups included, flattened by scim-refreshd).
 * Only the cache is asked, never /etc/group.  0 with *member set (false when
 * the cache has no such group), -ENOENT when the cache has no such user,
 * other -errno values as above.  errno is preserved. */
int _nss_scim_group_member(const char *cache_path, const char *user, const char *group, bool *member);

#endif
