#!/bin/sh
# pam_scim on a host: pamtester account checks and su, through the real
# libpam, /etc/pam.d and NSS, in a private mount namespace (root only).
set -eu
. "$top_srcdir/tests/pam_env.sh"
command -v pamtester >/dev/null || { echo "SKIP: no pamtester"; exit 77; }

pam_env_run "$0" "$@"

# acct SERVICE USER: pamtester's exit status and what it printed.
acct() {
	out=$(timeout 20 pamtester -v "$1" "$2" acct_mgmt 2>&1) && rc=0 || rc=$?
}

# The module alone (profile line, then pam_permit).
acct scim-only scimact;  check "pamtester: active directory user" 0 "$rc"
acct scim-only scimsusp; check "pamtester: suspended directory user denied" 1 "$rc"
check_has "pamtester: suspended user is told why" "suspended by the directory" "$out"
check_has "pamtester: suspended is PAM_ACCT_EXPIRED" "User account has expired" "$out"
acct scim-only scimnobody; check "pamtester: unknown user is not pam_scim's business" 0 "$rc"
acct scim-only scimlocal; check "pamtester: local user" 0 "$rc"
acct scim-only root;      check "pamtester: root" 0 "$rc"
acct scim-only scimlong;  check "pamtester: local user with a 5000-byte passwd line, suspended in the directory" 0 "$rc"

# The whole account stack of a Debian host.
acct scim-host scimact;  check "host stack: active directory user" 0 "$rc"
acct scim-host scimsusp; check "host stack: suspended directory user denied" 1 "$rc"
acct scim-host scimlocal; check "host stack: local user" 0 "$rc"
acct scim-host scimnobody; check "host stack: unknown user denied (by pam_unix)" 1 "$rc"

# su from root: pam_rootok passes auth, the account stage must refuse.
out=$(timeout 20 su -s /bin/sh -c 'id -Gn' scimact 2>&1) && rc=0 || rc=$?
check "su to an active directory user" "0 scimact scimdev scimops" "$rc $out"
out=$(timeout 20 su -s /bin/sh -c 'echo RAN' scimsusp 2>&1) && rc=0 || rc=$?
check "su to a suspended user fails" 1 "$rc"
check_has "su to a suspended user: refused at the account stage" "suspended by the directory" "$out"
case "$out" in *RAN*) check "su to a suspended user runs nothing" "" "$out" ;; esac
out=$(timeout 20 su -s /bin/sh -c 'id -un' scimlocal 2>&1) && rc=0 || rc=$?
check "su to a local user" "0 scimlocal" "$rc $out"

# The directory suspends scimact: the next check refuses.
publish allsusp
acct scim-host scimact; check "after republish: newly suspended user denied" 1 "$rc"
out=$(timeout 20 su -s /bin/sh -c 'echo RAN' scimact 2>&1) && rc=0 || rc=$?
check "after republish: su to the newly suspended user fails" "1" "$rc"

# A corrupt cache: directory users are denied, local users and root are not.
echo "not a cache" | "$top_builddir/tests/scim-mkcache" --raw 0644 "$t/cache.tdb"
# (NSS cannot resolve scimact either, so on a real stack pam_unix denies first.)
acct scim-host scimact; check "corrupt cache: directory user denied" 1 "$rc"
acct scim-only scimact; check "corrupt cache: pam_scim denies a directory user" 1 "$rc"
check_has "corrupt cache: PAM_AUTHINFO_UNAVAIL" "Authentication service cannot retrieve authentication info" "$out"
check_has "corrupt cache: the user is told" "account directory cache is unavailable" "$out"
acct scim-host scimlocal; check "corrupt cache: local user still passes" 0 "$rc"
out=$(timeout 20 su -s /bin/sh -c 'id -un' scimlocal 2>&1) && rc=0 || rc=$?
check "corrupt cache: su to a local user" "0 scimlocal" "$rc $out"
# No cache at all.
rm -f "$t/cache.tdb"
acct scim-host scimlocal; check "no cache: local user still passes" 0 "$rc"
acct scim-host root; check "no cache: root still passes" 0 "$rc"
acct scim-only scimact; check "no cache: directory user denied" 1 "$rc"

[ $fail = 0 ] && echo "PASS: pamtester and su" || exit 1
