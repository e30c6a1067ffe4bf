#!/bin/sh
# A real sshd with pam_scim in its account stack, in private mount and
# network namespaces (root only): key logins of an active directory user
# (whose `id` shows the directory's groups), a suspended one, a local one,
# and a republish that suspends the active user.
set -eu
. "$top_srcdir/tests/pam_env.sh"
. "$top_srcdir/tests/sshd_env.sh"

sshd_env_run "$0" "$@"
sshd_start

ssh_as scimact id
check "ssh: active directory user logs in with a key; id shows the directory's groups" \
	"0 uid=72001(scimact) gid=72001(scimact) groups=72001(scimact),72100(scimdev),72101(scimops)" "$rc $out"

ssh_as scimsusp id
check "ssh: suspended directory user is refused" 255 "$rc"
case "$out" in *uid=*) check "ssh: suspended user runs nothing" "" "$out" ;; esac
check_has "sshd: refused by the account stack" "Access denied for user scimsusp by PAM account configuration" \
	"$(cat "$t/sshd.log")"

ssh_as scimlocal id -un
check "ssh: local user is unaffected" "0 scimlocal" "$rc $out"

# The directory suspends scimact: the next login is refused.
publish allsusp
ssh_as scimact id
check "ssh: after republish, the newly suspended user is refused" 255 "$rc"
check_has "sshd: newly suspended user refused by the account stack" \
	"Access denied for user scimact by PAM account configuration" "$(cat "$t/sshd.log")"

# A corrupt cache never locks out a local user.
echo "not a cache" | "$top_builddir/tests/scim-mkcache" --raw 0644 "$t/cache.tdb"
ssh_as scimlocal id -un
check "ssh: corrupt cache, local user still logs in" "0 scimlocal" "$rc $out"
publish active
ssh_as scimact id -un
check "ssh: republished active again, logs in" "0 scimact" "$rc $out"

if [ $fail != 0 ]; then echo "--- sshd.log"; cat "$t/sshd.log"; exit 1; fi
echo "PASS: sshd with pam_scim"
