#!/bin/sh
# libnss_scim.so.2 exports exactly its entry points: every defined dynamic
# symbol matches the version script's _nss_scim_* pattern, and every entry
# point glibc looks for is there.  The soname is the one glibc dlopens.
set -eu
lib=${SCIM_LIBDIR:?}/libnss_scim.so.2
[ -f "$lib" ] || { echo "no $lib"; exit 1; }

syms=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
echo "exported:"; echo "$syms" | sed 's/^/  /'
bad=$(echo "$syms" | grep -v '^_nss_scim_' || true)
if [ -n "$bad" ]; then
	echo "FAIL: symbols outside the version script's _nss_scim_* leaked:"; echo "$bad"; exit 1
fi
for f in getpwnam_r getpwuid_r setpwent getpwent_r endpwent getgrnam_r getgrgid_r setgrent getgrent_r \
	endgrent initgroups_dyn account_lookup removed_lookup group_member; do
	echo "$syms" | grep -qx "_nss_scim_$f" || { echo "FAIL: _nss_scim_$f is not exported"; exit 1; }
done
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = libnss_scim.so.2 ] || { echo "FAIL: soname is '$soname'"; exit 1; }
# -z now / -z defs: no undefined symbol may wait for the first call.
readelf -d "$lib" | grep -q 'BIND_NOW\|FLAGS.*NOW' || { echo "FAIL: not linked with -z now"; exit 1; }
echo "PASS: exports match the version script, soname $soname"
