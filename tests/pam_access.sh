#!/bin/sh
# Who may log in on this host (issue 13, part A), through pamtester and a
# real sshd in private mount and network namespaces (root only):
#   pam_scim allow_groups=: members of the listed directory groups pass, any
#   other directory user is denied, a local group of the same name grants
#   nothing, local users are untouched;
#   scim-refreshd host_groups: only the groups' members (nested ones too)
#   become users of the host, and one who leaves the groups is denied.
set -eu
. "$top_srcdir/tests/pam_env.sh"
command -v pamtester >/dev/null || { echo "SKIP: no pamtester"; exit 77; }
refreshd="$top_builddir/scim-refreshd"
[ -x "$refreshd" ] || { echo "SKIP: scim-refreshd not built"; exit 77; }
sshd_users="scimact scimsusp scimlocal scimdev1 hgann hgben hgcarl"
. "$top_srcdir/tests/sshd_env.sh"

sshd_env_run "$0" "$@"
export TDB_NO_FSYNC=1
# Homes sshd can chdir to (root's, mode 755: nothing is written there).
for u in scimdev1 hgann hgben hgcarl; do mkdir -p "$t/home/$u"; done
acct() { out=$(timeout 20 pamtester -v "$1" "$2" acct_mgmt 2>&1) && rc=0 || rc=$?; }

# ---------------------------------------------------------------- allow_groups
# scimdev1 is an active directory user in scimdev only, and a member of the
# local group localadm.
{
	cat "$t/active.desc"
	echo "user:scimdev1:72004:72004:Dev One:$t/home/scimdev1:/bin/sh:active:id-dev1:72100"
	echo "group:scimdev1:72004:upg-dev1:"
} >"$t/access.desc"
publish access
echo "localadm:x:62010:scimdev1,scimact" >>"$t/group"
sed -i 's|pam_scim\.so.*$|& allow_groups=scimops,localadm|' "$t/pam.d/common-account"
grep -q 'allow_groups=scimops,localadm' "$t/pam.d/common-account" || { echo "no allow_groups in:"; cat "$t/pam.d/common-account"; exit 1; }
sshd_start

acct scim-host scimact; check "pamtester allow_groups: member of scimops passes" 0 "$rc"
acct scim-host scimdev1; check "pamtester allow_groups: directory user in no allowed group is denied" 1 "$rc"
check_has "pamtester allow_groups: PAM_PERM_DENIED" "Permission denied" "$out"
check_has "pamtester allow_groups: the user is told" "not in a directory group allowed to log in on this host" "$out"
acct scim-host scimlocal; check "pamtester allow_groups: local user untouched" 0 "$rc"
acct scim-host root; check "pamtester allow_groups: root untouched" 0 "$rc"
acct scim-host scimsusp; check "pamtester allow_groups: suspended user still denied as suspended" 1 "$rc"
check_has "pamtester allow_groups: suspended wording" "suspended by the directory" "$out"

ssh_as scimact id -un
check "ssh allow_groups: member logs in" "0 scimact" "$rc $out"
ssh_as scimdev1 id -un
check "ssh allow_groups: non-member (only in a local group of an allowed name) is refused" 255 "$rc"
check_has "sshd allow_groups: refused by the account stack" \
	"Access denied for user scimdev1 by PAM account configuration" "$(cat "$t/sshd.log")"
ssh_as scimlocal id -un
check "ssh allow_groups: local user logs in" "0 scimlocal" "$rc $out"
# The way back: no allow_groups, everyone active may log in.
sed -i 's| allow_groups=scimops,localadm||' "$t/pam.d/common-account"
ssh_as scimdev1 id -un
check "ssh without allow_groups: scimdev1 logs in" "0 scimdev1" "$rc $out"

# ---------------------------------------------------------------- host_groups
# A directory: hgann in hostgrp directly, hgben through the nested group
# team, hgcarl in other only.  scim-refreshd publishes the host's cache.
mkdir -p "$t/state" "$t/scim"
rm -f "$t/cache.tdb"
cat >"$t/refreshd.conf" <<CONF
state_dir = $t/state
cache_file = $t/cache.tdb
home = $t/home/%u
shell = /bin/sh
max_removed_percent = 100
host_groups = hostgrp
CONF
chmod 644 "$t/refreshd.conf"
scim() { # scim TEAM_MEMBERS
	cat >"$t/scim/Users.json" <<-JSON
	{"Resources": [
	 {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u-ann", "userName": "hgann"},
	 {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u-ben", "userName": "hgben"},
	 {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "u-carl", "userName": "hgcarl"}]}
	JSON
	cat >"$t/scim/Groups.json" <<-JSON
	{"Resources": [
	 {"id": "g-host", "displayName": "hostgrp", "members": [{"value": "u-ann"}, {"value": "g-team"}]},
	 {"id": "g-team", "displayName": "team", "members": [$1]},
	 {"id": "g-other", "displayName": "other", "members": [{"value": "u-carl"}, {"value": "u-ben"}]}]}
	JSON
}
import() {
	"$refreshd" --config "$t/refreshd.conf" --once --import "$t/scim" >"$t/refreshd.log" 2>&1 && rc=0 || rc=$?
	check "scim-refreshd --import publishes ($1)" 0 "$rc"
	[ "$rc" = 0 ] || cat "$t/refreshd.log"
}
scim '{"value": "u-ben"}'
import "host_groups = hostgrp"
check_has "host_groups: the summary counts hgcarl" "not_selected=1" "$(cat "$t/refreshd.log")"
ssh_as hgann id -Gn
check "ssh host_groups: a direct member logs in" "0 hgann hostgrp" "$rc $out"
ssh_as hgben id -Gn
check "ssh host_groups: a member through a nested group logs in; other has only him here" \
	"0 hgben hostgrp team other" "$rc $out"
ssh_as hgcarl id -un
check "ssh host_groups: a directory user outside the host's groups is no user here" 255 "$rc"
check_has "sshd: hgcarl is an invalid user" "Invalid user hgcarl" "$(cat "$t/sshd.log")"
check "getent: hgcarl unknown on this host" "" "$(getent passwd hgcarl || true)"

# hgben leaves team: removed from this host, denied even to a process that
# resolved him before.
scim ''
import "hgben left team"
check_has "host_groups: hgben's removal is logged" "user hgben removed" "$(cat "$t/refreshd.log")"
acct scim-only hgben; check "pamtester host_groups: a user who left the host's groups is denied" 1 "$rc"
ssh_as hgben id -un
check "ssh host_groups: a user who left the host's groups is refused" 255 "$rc"
ssh_as hgann id -un
check "ssh host_groups: the others still log in" "0 hgann" "$rc $out"

if [ $fail != 0 ]; then echo "--- sshd.log"; cat "$t/sshd.log"; exit 1; fi
echo "PASS: allow_groups and host_groups"
