/* snap_err.h - private to snapshot/: fills the caller's err buffer
 * (SCIM_SNAP_ERR_MAX bytes, may be NULL) with one line. */
#ifndef SCIM_SNAP_ERR_H
#define SCIM_SNAP_ERR_H

void scim_snap_seterr(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
