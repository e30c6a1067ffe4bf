/* publish.h - a mapped directory -> the guarded publish of the cache.
 *
 * The second half of a sync.  Two producers meet here: the SCIM mapping
 * (model.c: JSON resources, names, numbers from the id map, nesting,
 * host_groups) and a fleet host (fleet_host.c: a verified snapshot from the
 * relay).  Both hand over a scim_pub_dir, and this unit compares it with the
 * live cache, applies the guards (an empty snapshot, max_removed_percent,
 * host_groups selecting nobody), keeps the removed users pam_scim must deny,
 * commits the id map, writes the cache atomically and runs on_suspend.
 *
 * Everything in a scim_pub_dir is already decided: names are valid and not
 * local, numbers are final.  This unit never maps, renumbers or skips. */
#ifndef SCIM_REFRESHD_PUBLISH_H
#define SCIM_REFRESHD_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "refreshd/config.h"

struct scim_idmap;

/* Why a resource was left out of the snapshot. */
enum scim_skip_reason {
	SCIM_SKIP_BAD_RESOURCE, /* not a JSON object, or a field of the wrong type */
	SCIM_SKIP_NO_ID, /* no "id" */
	SCIM_SKIP_NO_NAME, /* no name attribute (userName / displayName) */
	SCIM_SKIP_BAD_NAME, /* name not [a-z_][a-z0-9_.-]{0,31} after mapping */
	SCIM_SKIP_RESERVED, /* built-in reserved name, or in deny_names */
	SCIM_SKIP_LOCAL, /* the name exists in /etc/passwd or /etc/group */
	SCIM_SKIP_DUPLICATE, /* two directory entries map to this name */
	SCIM_SKIP_NO_NUMBER, /* no free number left in [uid_min, uid_max] */
	SCIM_SKIP_AMBIGUOUS, /* a key the mapping reads appears twice, in any letter case */
	SCIM_SKIP_NREASONS
};

/* Short name of a reason, as used in logs ("invalid_name", ...). */
const char *scim_skip_reason_name(enum scim_skip_reason r);

struct scim_sync_stats {
	/* the published snapshot */
	uint32_t users, groups, suspended_total;
	/* compared with the cache that was live before */
	uint32_t added, removed, renamed, suspended, reactivated;
	uint32_t groups_added, groups_removed;
	/* left out */
	uint32_t skipped_users[SCIM_SKIP_NREASONS];
	uint32_t skipped_groups[SCIM_SKIP_NREASONS];
	uint32_t members_dropped; /* group members that resolve to no mapped user or
				     group */
	uint32_t cycles; /* nested-group cycles found (and cut) */
	uint32_t new_numbers; /* numbers assigned for the first time */
	uint32_t collisions; /* assignments that had to probe past a hash collision */
	uint32_t tombstoned; /* ids that left the directory in this sync */
	uint32_t removed_kept; /* removed users the new cache keeps for pam_scim */
	uint32_t not_selected; /* users in none of host_groups: numbered, not published */
	bool host_groups; /* host_groups is set: not_selected is in the summary */
	bool published;
	uint64_t generation; /* of the published cache */
};

/* Formats the summary as one line of "key=value" words, e.g.
 * "users=3 groups=2 suspended_total=1 added=3 removed=0 renamed=0 suspended=1
 *  reactivated=0 skipped=2 (invalid_name=1 local_name=1) members_dropped=0 ...
 *  tombstoned=0 removed_kept=0".
 * Always NUL-terminates (truncates to len). */
void scim_sync_stats_format(const struct scim_sync_stats *st, char *buf, size_t len);

/* A user as it will be published.  gid == uid means a user-private group of
 * the user's name and number, which the cache gets too. */
struct scim_pub_user {
	const char *id, *name, *gecos, *home, *shell;
	uint32_t uid, gid;
	bool suspended;
	/* Numbered but not on this host (host_groups): compared as removed,
	 * under the name the live cache knew, and not written. */
	bool hidden;
	uint32_t ngids; /* supplementary gids */
	const uint32_t *gids;
	uint8_t nkeys; /* SSH public keys: nkeys lines, each ended by '\n' */
	const char *keys;
};

/* A directory group; members are indices into the users array. */
struct scim_pub_group {
	const char *id, *name;
	uint32_t gid;
	uint32_t nmembers;
	const uint32_t *members;
};

/* A removed user pam_scim keeps denying (the snapshot path carries the
 * relay's), or (uid, id) of a user whose SCIM id left in this sync. */
struct scim_pub_removed {
	const char *id, *name;
	uint32_t uid;
	int64_t since;
};

struct scim_pub_dir {
	const char *source; /* recorded in the cache header */
	int64_t last_sync; /* the header's last_sync; 0: now */
	struct scim_idmap *idmap; /* committed before the cache is written; NULL: none */
	const struct scim_pub_user *users;
	size_t nusers;
	const struct scim_pub_group *groups;
	size_t ngroups;
	const struct scim_pub_removed *removed; /* carried over (name, uid, since, id) */
	size_t nremoved;
	const struct scim_pub_removed *gone; /* uid -> SCIM id labels of users who left now */
	size_t ngone;
};

/* Compares d with the live cache (cfg->cache_file), applies the guards and
 * publishes.  st is not cleared: the producer's counts (skipped, numbers,
 * not_selected, ...) stay; this fills the snapshot, comparison and publish
 * fields.  force overrides the guards.
 *
 * Returns 0 when published; -ECANCELED when a guard refused (logged);
 * -EBUSY when another publisher holds the lock; other negative errno values
 * for system errors.  On any error the live cache is untouched. */
int scim_publish_dir(const struct scim_config *cfg, const struct scim_pub_dir *d, bool force,
		     struct scim_sync_stats *st);

#endif
