/* pack.h - cache records into glibc's struct passwd / struct group. */
#ifndef SCIM_PACK_H
#define SCIM_PACK_H

#include <grp.h>
#include <pwd.h>

#include "cache/cache.h"

/* The password field of every directory user: no password through NSS.  ("x"
 * would send pam_unix to a shadow entry that does not exist and deny.) */
#define SCIM_NO_PASSWORD "*"

/* 0, or -ERANGE when buflen is too small (nothing useful is left in buf).
 * The user must come from the decoder, which sets the string lengths. */
int scim_pack_passwd(const struct scim_user *u, struct passwd *pw, char *buf, size_t buflen);
int scim_pack_group(const struct scim_group *g, struct group *gr, char *buf, size_t buflen);

/* Bytes the answer needs in a buffer starting at buf (alignment included). */
size_t scim_need_passwd(const struct scim_user *u);
size_t scim_need_group(const struct scim_group *g, const char *buf);

#endif
