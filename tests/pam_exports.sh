#!/bin/sh
# pam_scim.so exports only its PAM entry points, and reaches the cache through
# libnss_scim.so.2 (DT_NEEDED by soname, no rpath into the build tree) rather
# than a reader of its own.
set -eu
so="$SCIM_LIBDIR/pam_scim.so"
command -v nm >/dev/null && command -v readelf >/dev/null || { echo "no binutils: skipped"; exit 77; }
test -f "$so" || { echo "$so not built"; exit 1; }

fail=0
exports=$(nm -D --defined-only "$so" | awk '{print $3}' | sort)
if [ "$exports" != "pam_sm_acct_mgmt" ]; then
	echo "pam_scim.so exports more or less than pam_sm_acct_mgmt:"; echo "$exports"; fail=1
fi
dyn=$(readelf -d "$so")
echo "$dyn" | grep -q 'NEEDED.*\[libnss_scim\.so\.2\]' || { echo "pam_scim.so does not need libnss_scim.so.2"; fail=1; }
if echo "$dyn" | grep -Eq 'RPATH|RUNPATH'; then echo "pam_scim.so carries an rpath:"; echo "$dyn" | grep -E 'RPATH|RUNPATH'; fail=1; fi
# No reader of its own: the tdb library is not linked in.
if echo "$dyn" | grep -q 'NEEDED.*libtdb'; then echo "pam_scim.so links libtdb itself"; fail=1; fi
nm -D --undefined-only "$so" | grep -q ' _nss_scim_account_lookup$' || { echo "pam_scim.so does not call _nss_scim_account_lookup"; fail=1; }
# Every symbol resolves (as libpam will dlopen it with RTLD_NOW).
LD_LIBRARY_PATH="$SCIM_LIBDIR" ldd -r "$so" 2>&1 | grep -i 'undefined symbol' && fail=1
exit $fail
