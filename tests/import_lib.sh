# import_lib.sh - sourced by tests/test_import_*.sh.
#
# Each test gets a private directory $T (removed at exit) holding a config
# ($T/conf), a state dir ($T/state) and a private /etc view ($T/etc:
# nsswitch.conf with "passwd: files scim", and test passwd/group files).
# run_import and the lookups run inside `unshare --mount` with those files
# bind-mounted over /etc, so scim-refreshd reads the test's local accounts
# and getent/id answer through the real libnss_scim.so.2; the host's /etc is
# never written.
set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for unshare --mount"; exit 77; }
command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
[ -z "${SCIM_SANITIZERS:-}" ] || { echo "SKIP: an ASan module cannot load into uninstrumented programs (getent)"; exit 77; }
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}" "${SCIM_LIBDIR:?}"
REFRESHD=$top_builddir/scim-refreshd
MAPTOOL=$top_builddir/tests/scim-maptool
FIX=$top_srcdir/tests/fixtures
export TDB_NO_FSYNC=1

T=$(mktemp -d "${TMPDIR:-/tmp}/scim-import.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/etc" "$T/state"
printf 'passwd: files scim\ngroup: files scim\n' >"$T/etc/nsswitch.conf"
cat >"$T/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
localuser:x:1000:1000:Local User:/home/localuser:/bin/bash
PW
cat >"$T/etc/group" <<'GR'
root:x:0:
daemon:x:1:
users:x:100:
localgrp:x:1001:
nogroup:x:65534:
GR
CACHE=$T/state/cache.tdb
failures=0

# config [LINE...]: $T/conf with the test's state dir and cache, plus LINEs.
config() {
	{
		echo "state_dir = $T/state"
		echo "cache_file = $CACHE"
		for l in "$@"; do echo "$l"; done
	} >"$T/conf"
	# scim-refreshd refuses a config group or others may write.
	chmod 0644 "$T/conf"
}

# in_ns CMD...: CMD in a mount namespace with $T/etc over /etc.
in_ns() {
	NSS_SCIM_CACHE=$CACHE LD_LIBRARY_PATH=$SCIM_LIBDIR unshare --mount --propagation private \
		sh -c 'for f in nsswitch.conf passwd group; do mount --bind "$0/$f" "/etc/$f" || exit 99; done; exec "$@"' \
		"$T/etc" "$@"
}

# run_import DIR [OPTIONS...]: imports DIR; stderr goes to $T/log (and is
# appended to $T/all.log); sets rc.
run_import() {
	dir=$1
	shift
	in_ns "$REFRESHD" --config "$T/conf" --once --import "$dir" "$@" 2>"$T/log" && rc=0 || rc=$?
	cat "$T/log" >>"$T/all.log"
}

check() { # check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then
		echo "ok   $1"
	else
		echo "FAIL $1"
		echo "  want: $2"
		echo "  got:  $3"
		failures=$((failures + 1))
	fi
}

# check_log NAME PATTERN: the last import's log has a line matching PATTERN (grep -E).
check_log() {
	if grep -qE -- "$2" "$T/log"; then
		echo "ok   $1"
	else
		echo "FAIL $1: no log line matches: $2"
		sed 's/^/  | /' "$T/log"
		failures=$((failures + 1))
	fi
}

# Answers through glibc and libnss_scim.
pw() { in_ns getent passwd "$@" || true; }
gr() { in_ns getent group "$@" || true; }
uid_of() { pw "$1" | cut -d: -f3; }
# Members of a group, sorted, comma-separated.
members() { gr "$1" | cut -d: -f4 | tr , '\n' | sort | paste -sd, -; }
# Group names of a user (id -Gn), sorted, space-separated.
groups_of() { in_ns id -Gn "$1" 2>/dev/null | tr ' ' '\n' | sort | paste -sd' ' -; }
# Every directory user (uid >= min), sorted by name: "name:uid".
dir_users() { in_ns getent passwd | awk -F: -v min="${1:-1879048192}" '$3 >= min && $3 != 65534 { print $1 ":" $3 }' | sort; }

finish() {
	if [ "$failures" -gt 0 ]; then
		echo "--- logs of every import in this test"
		sed 's/^/  | /' "$T/all.log"
		echo "$failures check(s) failed"
		exit 1
	fi
	echo "PASS"
}

# scim_dir DIR SPEC...: writes DIR/Users.json (and Groups.json) from SPECs:
#   u:ID:USERNAME[:active|suspended[:UIDNUMBER]]   a user
#   g:ID:NAME:MEMBERID,MEMBERID...                 a group
# Users go in the order given.  An empty DIR/Users.json listing when no u:.
scim_dir() {
	d=$1
	shift
	mkdir -p "$d"
	python3 - "$d" "$@" <<'PY'
import json, sys
d = sys.argv[1]
lr = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
users, groups = [], []
for spec in sys.argv[2:]:
    f = spec.split(":")
    if f[0] == "u":
        u = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": f[1], "userName": f[2],
             "displayName": f[2].capitalize()}
        if len(f) > 3 and f[3]:
            u["active"] = f[3] == "active"
        if len(f) > 4 and f[4]:
            u["urn:example:posix:User"] = {"uidNumber": int(f[4])}
        users.append(u)
    elif f[0] == "g":
        groups.append({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": f[1], "displayName": f[2],
                       "members": [{"value": v} for v in f[3].split(",") if v]})
for name, res in (("Users.json", users), ("Groups.json", groups)):
    with open(d + "/" + name, "w") as out:
        json.dump({"schemas": [lr], "totalResults": len(res), "Resources": res}, out)
PY
}
