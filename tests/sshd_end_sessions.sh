#!/bin/sh
# on_suspend with the shipped scim-end-sessions (issue 13, part B): a user
# logged in over a real sshd keeps a session open and is suspended in the
# directory; after the next sync the session is gone within 5 s, and the
# other user's session is untouched.  Then the directory deletes the other
# user, whose session ends the same way.  Root only, in private mount and
# network namespaces (no logind in there: the program kills by uid).
set -eu
. "$top_srcdir/tests/pam_env.sh"
refreshd="$top_builddir/scim-refreshd"
[ -x "$refreshd" ] || { echo "SKIP: scim-refreshd not built"; exit 77; }
command -v pgrep >/dev/null || { echo "SKIP: no pgrep"; exit 77; }
sshd_users="esann esben"
. "$top_srcdir/tests/sshd_env.sh"

sshd_env_run "$0" "$@"
export TDB_NO_FSYNC=1
mkdir -p "$t/state" "$t/scim" "$t/home/esann" "$t/home/esben"
rm -f "$t/cache.tdb"
cat >"$t/refreshd.conf" <<CONF
state_dir = $t/state
cache_file = $t/cache.tdb
home = $t/home/%u
shell = /bin/sh
max_removed_percent = 100
on_suspend = $top_srcdir/refreshd/scim-end-sessions
on_suspend_timeout = 10
CONF
chmod 644 "$t/refreshd.conf"
# scim ANN_ACTIVE [BEN]: the directory.  The ids are this test's own: a uid
# comes from the id, and the hook kills by uid across the whole machine, so a
# uid shared with a test running beside this one would end its sessions too.
scim() {
	{
		echo '{"Resources": ['
		printf '{"id": "u-esann-end-sessions", "userName": "esann", "active": %s}' "$1"
		[ -z "${2:-}" ] || printf ', {"id": "u-esben-end-sessions", "userName": "esben"}'
		echo ']}'
	} >"$t/scim/Users.json"
	echo '{"Resources": []}' >"$t/scim/Groups.json"
}
import() {
	"$refreshd" --config "$t/refreshd.conf" --once --import "$t/scim" >"$t/refreshd.log" 2>&1 && rc=0 || rc=$?
	check "scim-refreshd --import publishes ($1)" 0 "$rc"
	[ "$rc" = 0 ] || cat "$t/refreshd.log"
}
# open_session USER: a session that stays open (a sleep), in the background.
open_session() {
	# shellcheck disable=SC2046
	timeout 120 ssh $(ssh_opts) "$1@127.0.0.1" 'echo up; exec sleep 600' >"$t/$1.session" 2>&1 &
	eval "${1}_ssh=\$!"
	i=0
	until grep -qs up "$t/$1.session"; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "no session for $1:"; cat "$t/$1.session"; exit 1; }
		sleep 0.1
	done
}
# gone_within SECONDS PID USER: "gone" once PID (the ssh client) has exited
# and no process of USER's uid is left, "alive" after SECONDS.
gone_within() {
	end=$(($(date +%s%N) / 1000000 + $1 * 1000))
	while kill -0 "$2" 2>/dev/null || pgrep -U "$3" >/dev/null; do
		if [ $(($(date +%s%N) / 1000000)) -gt $end ]; then
			echo alive
			# What was left, for the log: the client, and the uid's processes.
			{ kill -0 "$2" 2>/dev/null && echo "ssh client $2 still runs"; ps -o pid,stat,user,args -U "$3"; } \
				>>"$t/left.$3" 2>&1
			return
		fi
		sleep 0.1
	done
	echo gone
}
alive() { kill -0 "$1" 2>/dev/null && pgrep -U "$2" -x sleep >/dev/null && echo alive || echo gone; }

scim true ben
import "two active users"
sshd_start
ann=$(getent passwd esann | cut -d: -f3)
ben=$(getent passwd esben | cut -d: -f3)
open_session esann
open_session esben
check "esann's session runs" alive "$(alive "$esann_ssh" "$ann")"
check "esben's session runs" alive "$(alive "$esben_ssh" "$ben")"

# The directory suspends esann: the next sync ends the session.
scim false ben
import "esann suspended"
check_has "the hook ran for esann" "on_suspend $top_srcdir/refreshd/scim-end-sessions esann $ann: done" \
	"$(cat "$t/refreshd.log")"
check "esann's session is gone within 5 s" gone "$(gone_within 5 "$esann_ssh" "$ann")"
check "esben's session is untouched" alive "$(alive "$esben_ssh" "$ben")"
ssh_as esann id -un
check "esann cannot log in again" 255 "$rc"

# The directory deletes esben: the same.
scim false
import "esben deleted"
check_has "the hook ran for esben" "on_suspend $top_srcdir/refreshd/scim-end-sessions esben $ben: done" \
	"$(cat "$t/refreshd.log")"
check "esben's session is gone within 5 s" gone "$(gone_within 5 "$esben_ssh" "$ben")"

kill "$esann_ssh" "$esben_ssh" 2>/dev/null || :
if [ $fail != 0 ]; then
	echo "--- refreshd.log"; cat "$t/refreshd.log"
	for f in "$t"/left.*; do [ -e "$f" ] && { echo "--- $f"; cat "$f"; }; done
	echo "--- sshd.log"; cat "$t/sshd.log"; exit 1
fi
echo "PASS: on_suspend ends the sessions of suspended and removed users"
