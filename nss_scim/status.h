/* status.h - the one place where 0/-errno becomes an NSS status. */
#ifndef SCIM_STATUS_H
#define SCIM_STATUS_H

#include <nss.h>

/* Sets *errnop only for TRYAGAIN and UNAVAIL (glibc passes &errno, and a
 * found or not-found answer must leave errno alone). */
enum nss_status scim_to_nss(int r, int *errnop);

#endif
