/* local.h - the host's own accounts, read straight from /etc/passwd and
 * /etc/group (never through NSS: that would ask our own module). */
#ifndef SCIM_REFRESHD_LOCAL_H
#define SCIM_REFRESHD_LOCAL_H

#include <stdbool.h>
#include <stdint.h>

struct scim_local;

/* NULL paths mean /etc/passwd and /etc/group.  A missing file counts as
 * empty; an unreadable one is an error. */
int scim_local_load(const char *passwd, const char *group, struct scim_local **out);
void scim_local_free(struct scim_local *l);
/* The name is a user or a group name in either file. */
bool scim_local_has_name(const struct scim_local *l, const char *name);
/* The number is a uid or a gid in either file. */
bool scim_local_has_number(const struct scim_local *l, uint32_t number);
/* gid of a group of /etc/group, or -ENOENT. */
int scim_local_group_gid(const struct scim_local *l, const char *name, uint32_t *gid);

#endif
