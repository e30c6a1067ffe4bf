#!/bin/sh
# scimctl: every command in both output formats, and every exit code of
# scimctl(8), against caches published by scim-mkcache.
set -eu
ctl="$top_builddir/scimctl/scimctl"
mk="$top_builddir/tests/scim-mkcache"
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail=0
check() {
	if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1"; echo "  want: $2"; echo "  got:  $3"; fail=1; fi
}
# run ARGS...: stdout in $out, exit status in $rc
run() { out=$("$ctl" "$@" 2>"$t/err") && rc=0 || rc=$?; }
json_ok() { printf '%s' "$1" | python3 -c 'import json,sys; json.load(sys.stdin)' 2>/dev/null && echo valid || echo invalid; }
have_python=$(command -v python3 >/dev/null && echo yes || echo no)

cat >"$t/desc" <<'DESC'
source:https://idp.example/scim/v2
user:alice:70001:70001:Alice "Quote" \ Back	Tab Ünï:/home/alice:/bin/sh:active:2819c223-7f76:70100,70101
user:bob:70002:70002:Bob:/home/bob:/bin/bash:suspended:id-bob:70100
user:carol:70003:70003:Carol:/home/carol:/bin/sh:suspended:id-carol:
group:alice:70001:upg-alice:
group:staff:70100:id-staff:alice,bob
group:ops:70101:id-ops:alice
removed:dave:70004:1700000000:id-dave
removed:erin:70005:1700000000:
removed:erin2:70005:1700000100:id-erin
removed:alice:70009:1700000000:id-old-alice
DESC
"$mk" "$t/c.tdb" <"$t/desc"

run --cache "$t/c.tdb" status
check "status exit" 0 "$rc"
check "status counts" "users:       3 (2 suspended)|groups:      3|state:       ok" \
	"$(printf '%s\n' "$out" | grep -E '^(users|groups|state):' | paste -sd'|')"
check "status source" "source:      https://idp.example/scim/v2" "$(printf '%s\n' "$out" | grep '^source:')"
check "status generation" "generation:  1" "$(printf '%s\n' "$out" | grep '^generation:')"
"$mk" "$t/c.tdb" <"$t/desc"
run --cache "$t/c.tdb" --json status
check "status --json exit" 0 "$rc"
if [ $have_python = yes ]; then
	check "status --json fields" "ok 2 3 3 2 https://idp.example/scim/v2 True" "$(printf '%s' "$out" | python3 -c '
import json, sys, time
d = json.load(sys.stdin)
print(d["state"], d["generation"], d["users"], d["groups"], d["suspended"], d["source"],
      abs(time.time() - d["last_sync"]) < 600 and d["age_seconds"] >= 0)')"
fi

run --cache "$t/c.tdb" user alice
check "user by name" "0 active 2819c223-7f76" "$rc $(printf '%s\n' "$out" | awk '/^state:/{s=$2} /^scim id:/{i=$3} END{print s, i}')"
check "user groups named" "groups:      70100 (staff), 70101 (ops)" "$(printf '%s\n' "$out" | grep '^groups:')"
run --cache "$t/c.tdb" user 70002
check "user by uid, suspended" "0 name:        bob|state:       suspended" \
	"$rc $(printf '%s\n' "$out" | grep -E '^(name|state):' | paste -sd'|')"
run --cache "$t/c.tdb" --json user alice
check "user --json is valid JSON (quotes, backslash, tab, UTF-8)" "0 valid" "$rc $(json_ok "$out")"
if [ $have_python = yes ]; then
	check "user --json fields" "alice 70001 alice active 2819c223-7f76 [70100, 70101] ['staff', 'ops']" \
		"$(printf '%s' "$out" | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["name"], d["uid"], d["group"], d["state"], d["scim_id"], [g["gid"] for g in d["groups"]], [g["name"] for g in d["groups"]])')"
	check "user --json gecos round trip" 'Alice "Quote" \ Back	Tab Ünï' \
		"$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["gecos"])')"
fi
run --cache "$t/c.tdb" group staff
check "group by name" "0 scim id:     id-staff|members:     alice, bob" \
	"$rc $(printf '%s\n' "$out" | grep -E '^(scim id|members):' | paste -sd'|')"
run --cache "$t/c.tdb" --json group 70101
check "group by gid --json" '0 {"name":"ops","gid":70101,"scim_id":"id-ops","members":["alice"]}' "$rc $out"
# Options may follow the command.
run group 70001 --json --cache "$t/c.tdb"
check "options after the command" '0 {"name":"alice","gid":70001,"scim_id":"upg-alice","members":[]}' "$rc $out"

# A user the directory removed lately: shown, but still no user (exit 1, as
# an unknown user; nothing on stderr, the state says it).
run --cache "$t/c.tdb" user dave
check "removed user by name: exit 1" 1 "$rc"
check "removed user: state line" "state:       removed (since 2023-11-14T22:13:20Z)" "$(printf '%s\n' "$out" | grep '^state:')"
check "removed user: name, uid, scim id" "name:        dave|uid:         70004|scim id:     id-dave" \
	"$(printf '%s\n' "$out" | grep -E '^(name|uid|scim id):' | paste -sd'|')"
check "removed user: no error message" "" "$(cat "$t/err")"
run --cache "$t/c.tdb" --json user dave
check "removed user --json" '1 {"name":"dave","uid":70004,"state":"removed","removed_since":1700000000,"removed_since_utc":"2023-11-14T22:13:20Z","scim_id":"id-dave"}' "$rc $out"
run --cache "$t/c.tdb" user 70005
check "removed user by uid: the newest entry" "1 name:        erin2|state:       removed (since 2023-11-14T22:15:00Z)" \
	"$rc $(printf '%s\n' "$out" | grep -E '^(name|state):' | paste -sd'|')"
run --cache "$t/c.tdb" user alice
check "a name held again is the user's" "0 state:       active" "$rc $(printf '%s\n' "$out" | grep '^state:')"
run --cache "$t/c.tdb" status
check "removed users are not counted as users" "users:       3 (2 suspended)" "$(printf '%s\n' "$out" | grep '^users:')"

# Exit codes.
run --cache "$t/c.tdb" user nosuch;  check "unknown user: exit 1" 1 "$rc"
run --cache "$t/c.tdb" user 4294967294; check "unknown uid: exit 1" 1 "$rc"
run --cache "$t/c.tdb" group nosuch; check "unknown group: exit 1" 1 "$rc"
run --cache "$t/c.tdb" frobnicate;   check "unknown command: exit 2" 2 "$rc"
run --cache "$t/c.tdb" user;         check "missing argument: exit 2" 2 "$rc"
run --cache "$t/c.tdb" status extra; check "extra argument: exit 2" 2 "$rc"
for bad in abc -1 0 5s 99999999999999999999; do
	run --cache "$t/c.tdb" --max-age "$bad" status; check "--max-age $bad: exit 2" 2 "$rc"
done
run --cache "$t/missing.tdb" status
check "missing cache: exit 3" "3 state:       missing (no cache is published)" "$rc $(printf '%s\n' "$out" | grep '^state:')"
run --cache "$t/missing.tdb" --json status
check "missing cache --json" '3 {"cache":"'"$t"'/missing.tdb","state":"missing","error":"no cache is published"}' "$rc $out"
run --cache "$t/missing.tdb" user alice; check "missing cache, user: exit 3" 3 "$rc"
echo "not a cache" | "$mk" --raw 0644 "$t/bad.tdb"
run --cache "$t/bad.tdb" status; check "corrupt cache: exit 4" 4 "$rc"
run --cache "$t/bad.tdb" group staff; check "corrupt cache, group: exit 4" 4 "$rc"
"$mk" --raw 0666 "$t/unsafe.tdb" <"$t/c.tdb"
run --cache "$t/unsafe.tdb" status
check "world-writable cache (the modules refuse it): exit 4" "4 state:       unreadable (the cache has an unsafe owner or mode (the modules refuse it))" \
	"$rc $(printf '%s\n' "$out" | grep '^state:')"
{ echo "last_sync:$(($(date +%s) - 7200))"; cat "$t/desc"; } | "$mk" "$t/old.tdb"
run --cache "$t/old.tdb" --max-age 3600 status
check "older than --max-age: exit 5" "5 state:       stale (older than --max-age 3600)" "$rc $(printf '%s\n' "$out" | grep '^state:')"
run --cache "$t/old.tdb" --max-age 86400 status; check "within --max-age: exit 0" 0 "$rc"
run --cache "$t/old.tdb" --max-age 3600 --json status
check "stale --json" "5 valid" "$rc $(json_ok "$out")"
# A last_sync from the future is stale under --max-age, with a reason; a few
# minutes of skew are not.
{ echo "last_sync:$(($(date +%s) + 7200))"; cat "$t/desc"; } | "$mk" "$t/future.tdb"
out=$("$ctl" --cache "$t/future.tdb" --max-age 3600 status 2>"$t/err") && rc=0 || rc=$?
check "last sync in the future: exit 5" "5 state:       stale (last sync in the future)" "$rc $(printf '%s\n' "$out" | grep '^state:')"
check "last sync in the future: said on stderr" 1 "$(grep -cE "[0-9]+ seconds ahead of this host's clock" "$t/err")"
{ echo "last_sync:$(($(date +%s) + 120))"; cat "$t/desc"; } | "$mk" "$t/skew.tdb"
run --cache "$t/skew.tdb" --max-age 60 status; check "two minutes of skew: exit 0" 0 "$rc"
# The default cache is the modules' default ($NSS_SCIM_CACHE here).
out=$(NSS_SCIM_CACHE="$t/c.tdb" "$ctl" user bob) && rc=0 || rc=$?
check "default cache follows NSS_SCIM_CACHE" "0 name:        bob" "$rc $(printf '%s\n' "$out" | grep '^name:')"

[ $fail = 0 ] && echo "PASS: scimctl" || exit 1
