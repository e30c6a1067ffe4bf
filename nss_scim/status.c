/* status.c - internal result → NSS status.
 *
 *   0         SUCCESS
 *   -ENOENT   NOTFOUND       (the cache is fine, the key is not in it)
 *   -ERANGE   TRYAGAIN/ERANGE (buffer too small: glibc grows it and retries)
 *   -EAGAIN, -EBUSY  TRYAGAIN/EAGAIN
 *   -ENOMEM   TRYAGAIN/ENOMEM
 *   -ENODATA  UNAVAIL/ENOENT (no cache published)
 *   other     UNAVAIL/-r     (corrupt, unsafe or unreadable cache)
 * UNAVAIL rather than NOTFOUND for a broken cache, so "passwd: files scim"
 * goes on answering local users and nobody mistakes an outage for "no such
 * user". */
#include <errno.h>

#include "nss_scim/status.h"

enum nss_status scim_to_nss(int r, int *errnop)
{
	switch (r) {
	case 0:
		return NSS_STATUS_SUCCESS;
	case -ENOENT:
		return NSS_STATUS_NOTFOUND;
	case -ERANGE:
		*errnop = ERANGE;
		return NSS_STATUS_TRYAGAIN;
	case -EAGAIN:
	case -EBUSY:
		*errnop = EAGAIN;
		return NSS_STATUS_TRYAGAIN;
	case -ENOMEM:
		*errnop = ENOMEM;
		return NSS_STATUS_TRYAGAIN;
	case -ENODATA:
		*errnop = ENOENT;
		return NSS_STATUS_UNAVAIL;
	default:
		*errnop = r < 0 ? -r : EIO;
		return NSS_STATUS_UNAVAIL;
	}
}
