#!/bin/sh
# The whole chain on one host, offline: SCIM JSON -> scim-refreshd --once
# --import -> the cache -> NSS (id, su) and pam_scim (pamtester, su) ->
# scimctl.  The directory then deactivates a user ("active": false) and the
# next import locks them out.  Root only, in a private mount namespace.
set -eu
. "$top_srcdir/tests/pam_env.sh"
command -v pamtester >/dev/null || { echo "SKIP: no pamtester"; exit 77; }
refreshd="$top_builddir/scim-refreshd"
[ -x "$refreshd" ] || { echo "SKIP: scim-refreshd not built"; exit 77; }

pam_env_run "$0" "$@"
export NSS_SCIM_CACHE="$t/import/cache.tdb"
mkdir -p "$t/import" "$t/scim"
cat >"$t/refreshd.conf" <<CONF
state_dir = $t/import
cache_file = $t/import/cache.tdb
home = $t/home/%u
shell = /bin/sh
CONF
chmod 0644 "$t/refreshd.conf"

# scim_json ANN_ACTIVE: the directory, with scimann active or not.
scim_json() {
	cat >"$t/scim/Users.json" <<JSON
{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 2,
 "Resources": [
  {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "e2e-ann-0001",
   "userName": "scimann", "active": $1, "displayName": "Ann"},
  {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "e2e-ben-0002",
   "userName": "scimben", "active": false, "displayName": "Ben"}]}
JSON
	cat >"$t/scim/Groups.json" <<JSON
{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 1,
 "Resources": [
  {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "e2e-team-0001",
   "displayName": "scimteam", "members": [{"value": "e2e-ann-0001"}, {"value": "e2e-ben-0002"}]}]}
JSON
}
import() {
	"$refreshd" --config "$t/refreshd.conf" --once --import "$t/scim" 2>"$t/refreshd.log" && rc=0 || rc=$?
	check "scim-refreshd --once --import publishes" 0 "$rc"
	[ "$rc" = 0 ] || cat "$t/refreshd.log"
}

scim_json true
import
mkdir -p "$t/home/scimann" "$t/home/scimben"
out=$(timeout 20 su -s /bin/sh -c 'id -Gn' scimann 2>&1) && rc=0 || rc=$?
check_has "su to an imported active user; id shows the directory's group" "scimteam" "$rc $out"
check "su to an imported active user succeeds" 0 "$rc"
out=$(timeout 20 pamtester scim-host scimann acct_mgmt 2>&1) && rc=0 || rc=$?
check "pamtester: imported active user" 0 "$rc"
out=$(timeout 20 pamtester scim-host scimben acct_mgmt 2>&1) && rc=0 || rc=$?
check "pamtester: imported inactive user denied" 1 "$rc"
check_has "pamtester: imported inactive user told" "suspended by the directory" "$out"
out=$(timeout 20 su -s /bin/sh -c 'echo RAN' scimben 2>&1) && rc=0 || rc=$?
check "su to an imported inactive user fails" 1 "$rc"
out=$("$top_builddir/scimctl/scimctl" --json status) && rc=0 || rc=$?
check_has "scimctl status: 2 users, 1 suspended, from the import" '"users":2,"groups":' "$rc $out"
check_has "scimctl status: suspended count" '"suspended":1' "$out"
check_has "scimctl status: source" "import:" "$out"
out=$("$top_builddir/scimctl/scimctl" user scimben) && rc=0 || rc=$?
check_has "scimctl user: SCIM id and state" "state:       suspended" "$rc $out"
check_has "scimctl user: SCIM id" "scim id:     e2e-ben-0002" "$out"

# The directory deactivates scimann; the next import locks them out.
scim_json false
import
out=$(timeout 20 pamtester scim-host scimann acct_mgmt 2>&1) && rc=0 || rc=$?
check "pamtester: user deactivated in the directory is denied after the import" 1 "$rc"
out=$(timeout 20 su -s /bin/sh -c 'echo RAN' scimann 2>&1) && rc=0 || rc=$?
check "su to the deactivated user fails" 1 "$rc"
out=$(timeout 20 su -s /bin/sh -c 'id -un' scimlocal 2>&1) && rc=0 || rc=$?
check "local user unaffected" "0 scimlocal" "$rc $out"

[ $fail = 0 ] && echo "PASS: import -> NSS -> pam_scim -> scimctl" || exit 1
