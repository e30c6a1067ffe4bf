/* names.h - turning SCIM strings into POSIX fields, never mangling them. */
#ifndef SCIM_REFRESHD_NAMES_H
#define SCIM_REFRESHD_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCIM_GECOS_MAX 255
#define SCIM_HOME_MAX 4095

/* raw (len bytes, may hold anything) -> a POSIX name in out (at least
 * SCIM_POSIX_NAME_MAX + 1 bytes): lower-cased (ASCII) when lowercase, cut at
 * the first '@' when strip_domain.  Returns 0, or -EINVAL when the result is
 * not [a-z_][a-z0-9_.-]{0,31} (out then holds nothing useful). */
int scim_map_name(const char *raw, size_t len, bool lowercase, bool strip_domain, char *out);

/* raw -> gecos in out (SCIM_GECOS_MAX + 1 bytes): ':' ',' and control
 * characters removed, spaces at both ends trimmed, cut at a UTF-8 character
 * boundary if longer than SCIM_GECOS_MAX. */
void scim_clean_gecos(const char *raw, size_t len, char *out);

/* Expands a home template (%u name, %U uid, %% percent).  -ENAMETOOLONG if
 * the result does not fit outlen. */
int scim_expand_home(const char *tmpl, const char *name, uint32_t uid, char *out, size_t outlen);

/* True when name (any case) is one the directory may never take: built in,
 * see reserved_names in names.c and scim-refreshd.conf(5). deny_names is
 * checked separately. */
bool scim_name_is_reserved(const char *name);

/* The built-in list (sorted, without the prefix rules); returns its length. */
size_t scim_reserved_names(const char *const **names);

#endif
