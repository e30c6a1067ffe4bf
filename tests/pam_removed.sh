#!/bin/sh
# A user the directory deletes must not fall through the account stack as an
# "unknown" user (issue 10, finding 1): sshd may have resolved them before the
# publish.  The whole chain: SCIM JSON -> scim-refreshd --once --import -> the
# cache -> pamtester through pam_scim's profile line -> scimctl.  Root only,
# in a private mount namespace.
set -eu
. "$top_srcdir/tests/pam_env.sh"
command -v pamtester >/dev/null || { echo "SKIP: no pamtester"; exit 77; }
refreshd="$top_builddir/scim-refreshd"
[ -x "$refreshd" ] || { echo "SKIP: scim-refreshd not built"; exit 77; }

pam_env_run "$0" "$@"
export NSS_SCIM_CACHE="$t/import/cache.tdb"
mkdir -p "$t/import" "$t/scim"
# conf [EXTRA]: the daemon's configuration; a deletion of one user in two
# must pass the removal guard.
conf() {
	cat >"$t/refreshd.conf" <<-CONF
	state_dir = $t/import
	cache_file = $t/import/cache.tdb
	home = $t/home/%u
	shell = /bin/sh
	max_removed_percent = 100
	${1:-}
	CONF
}
# users ID:NAME...: the directory's users.
users() {
	{
		echo '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": ['
		sep=
		for u in "$@"; do
			printf '%s{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "%s", "userName": "%s"}\n' \
				"$sep" "${u%%:*}" "${u#*:}"
			sep=,
		done
		echo ']}'
	} >"$t/scim/Users.json"
	echo '{"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "Resources": []}' >"$t/scim/Groups.json"
}
import() {
	"$refreshd" --config "$t/refreshd.conf" --once --import "$t/scim" >"$t/refreshd.log" 2>&1 && rc=0 || rc=$?
	check "scim-refreshd --once --import publishes ($1)" 0 "$rc"
	[ "$rc" = 0 ] || cat "$t/refreshd.log"
}
# acct USER: the module alone, with its profile line, then pam_permit (the
# place of a pam_unix that would admit a user sshd had already resolved).
acct() {
	out=$(timeout 20 pamtester -v scim-only "$1" acct_mgmt 2>&1) && rc=0 || rc=$?
}
ctl() { out=$("$top_builddir/scimctl/scimctl" "$@" 2>&1) && rc=0 || rc=$?; }

conf
users rm-ann-1:scimann rm-ben-2:scimben
import "both users"
acct scimben; check "pamtester: directory user scimben" 0 "$rc"

# The directory deletes scimben.
users rm-ann-1:scimann
import "scimben deleted"
check_has "the removal is logged" "user scimben removed" "$(cat "$t/refreshd.log")"
check_has "the summary counts the kept entry" "removed_kept=1" "$(cat "$t/refreshd.log")"
check "NSS no longer knows scimben" "" "$(getent passwd scimben || true)"
check "enumeration does not show scimben" "" "$(getent passwd | grep '^scimben:' || true)"
acct scimben; check "pamtester: deleted user denied, not ignored as unknown" 1 "$rc"
check_has "pamtester: deleted user is told" "removed from the directory" "$out"
check_has "pamtester: deleted user gets the suspended status" "User account has expired" "$out"
acct scimnobody; check "pamtester: a never-known user is still not pam_scim's business" 0 "$rc"
acct scimlocal; check "pamtester: local user" 0 "$rc"
ctl user scimben
check_has "scimctl user: state removed" "state:       removed (since " "$out"
check "scimctl user: exit 1, no such user" 1 "$rc"
check_has "scimctl user: the SCIM id that left" "scim id:     rm-ben-2" "$out"

# A newcomer gets the name: it is theirs.
users rm-ann-1:scimann rm-ben-3:scimben
import "a newcomer named scimben"
check_has "the entry is dropped" "removed_kept=0" "$(cat "$t/refreshd.log")"
acct scimben; check "pamtester: the newcomer holding the name passes" 0 "$rc"
ctl user scimben
check_has "scimctl user: the newcomer is active" "state:       active" "$rc $out"

# removed_retention = 0 keeps nothing: a deleted user is unknown again.
conf "removed_retention = 0"
users rm-ann-1:scimann
import "removed_retention = 0"
check_has "nothing kept" "removed_kept=0" "$(cat "$t/refreshd.log")"
acct scimben; check "pamtester: removed_retention = 0 leaves the user unknown" 0 "$rc"

[ $fail = 0 ] && echo "PASS: deleted directory users are denied" || exit 1
