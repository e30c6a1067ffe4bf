#!/bin/sh
# SSH public keys from the directory (issue 13, part D) with a real sshd in
# private mount and network namespaces (root only): AuthorizedKeysCommand
# scim-authorized-keys, run as nobody, is the only source of keys.  A key
# login works for an active user; fails for a user suspended on the server
# after the next sync, for a removed user, and when the cache is stale.
set -eu
. "$top_srcdir/tests/pam_env.sh"
refreshd="$top_builddir/scim-refreshd"
[ -x "$refreshd" ] || { echo "SKIP: scim-refreshd not built"; exit 77; }
# No authorized_keys files at all: every key comes from the directory.
sshd_users=""
. "$top_srcdir/tests/sshd_env.sh"

sshd_env_run "$0" "$@"
export TDB_NO_FSYNC=1
mkdir -p "$t/state" "$t/scim" "$t/home/akann" "$t/home/akben" "$t/home/akcarl"
rm -f "$t/cache.tdb"
attr=urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:sshPublicKeys
cat >"$t/refreshd.conf" <<CONF
state_dir = $t/state
cache_file = $t/cache.tdb
home = $t/home/%u
shell = /bin/sh
max_removed_percent = 100
ssh_keys_attribute = $attr
CONF
chmod 644 "$t/refreshd.conf"
ssh-keygen -q -t ed25519 -N '' -C other -f "$t/id_other"
# scim ANN_ACTIVE CARL_PRESENT: akann and akben have the test's key (as
# multi-valued objects), akcarl too (as strings).
scim() {
	key=$(cat "$t/id_user.pub")
	other=$(cat "$t/id_other.pub")
	{
		echo '{"Resources": ['
		printf '{"id": "u-ann", "userName": "akann", "active": %s, "%s": {"sshPublicKeys": [{"value": "%s"}]}},\n' \
			"$1" "${attr%:*}" "$key"
		printf '{"id": "u-ben", "userName": "akben", "%s": {"sshPublicKeys": [{"value": "%s"}, {"value": "%s"}]}}' \
			"${attr%:*}" "$other" "$key"
		[ "$2" = no ] || printf ',\n{"id": "u-carl", "userName": "akcarl", "%s": {"sshPublicKeys": ["%s"]}}' \
			"${attr%:*}" "$key"
		echo ']}'
	} >"$t/scim/Users.json"
	echo '{"Resources": []}' >"$t/scim/Groups.json"
}
import() {
	"$refreshd" --config "$t/refreshd.conf" --once --import "$t/scim" >"$t/refreshd.log" 2>&1 && rc=0 || rc=$?
	check "scim-refreshd --import publishes ($1)" 0 "$rc"
	[ "$rc" = 0 ] || cat "$t/refreshd.log"
}
# sshd wants the command and every directory above it root-owned and not
# writable by others: a copy on the private /run.
install -m 755 "$top_builddir/scimctl/scim-authorized-keys" /run/scim-authorized-keys
start() { # start MAX_AGE
	kill "${sshd_pid:-}" 2>/dev/null && wait "$sshd_pid" 2>/dev/null || :
	sshd_start "AuthorizedKeysCommand /run/scim-authorized-keys --cache $t/cache.tdb --max-age $1 %u" \
		"AuthorizedKeysCommandUser nobody"
}

scim true yes
import "three users with keys"
start 3600
ssh_as akann id -un
check "ssh: an active user logs in with a key from the directory" "0 akann" "$rc $out"
ssh_as akben id -un
check "ssh: one of several keys" "0 akben" "$rc $out"
check_has "sshd: the key came from the command" "Accepted publickey for akann" "$(cat "$t/sshd.log")"
ssh_as scimlocal id -un
check "ssh: a local user without authorized_keys gets no key from the directory" 255 "$rc"

# The directory suspends akann and deletes akcarl.
scim false no
import "akann suspended, akcarl deleted"
ssh_as akann id -un
check "ssh: suspended on the server, after the next sync: refused" 255 "$rc"
ssh_as akcarl id -un
check "ssh: removed: refused" 255 "$rc"
check "scim-authorized-keys: nothing for the suspended user" "" \
	"$(setpriv --reuid nobody --regid nogroup --clear-groups /run/scim-authorized-keys --cache "$t/cache.tdb" akann 2>/dev/null)"
ssh_as akben id -un
check "ssh: akben still logs in" "0 akben" "$rc $out"

# A stale cache: the budget is 1 second, the cache is older.
start 1
sleep 2
ssh_as akben id -un
check "ssh: the cache is older than --max-age: refused" 255 "$rc"
import "a fresh sync"
ssh_as akben id -un
check "ssh: fresh again: logs in" "0 akben" "$rc $out"

if [ $fail != 0 ]; then echo "--- sshd.log"; cat "$t/sshd.log"; exit 1; fi
echo "PASS: SSH keys from the directory"
