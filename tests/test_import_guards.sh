#!/bin/sh
# Publishing refusals and failures: each leaves the cache byte-identical and
# says why.  Also: a corrupt or lost id map is refused, bad JSON and bad config
# lines are reported.
. "${top_srcdir:-.}/tests/import_lib.sh"

unchanged() { # unchanged NAME: the cache is byte-identical to $T/before
	if cmp -s "$CACHE" "$T/before"; then echo "ok   $1: cache byte-identical"; else
		echo "FAIL $1: the cache changed"; failures=$((failures + 1)); fi
}

config
set --
for i in $(seq 1 20); do set -- "$@" "u:id-$i:user$i"; done
scim_dir "$T/twenty" "$@"
run_import "$T/twenty"
check "setup: 20 users" "0 20" "$rc $(dir_users 1879048192 | wc -l)"
cp "$CACHE" "$T/before"

# ---- Too many removals (default max_removed_percent = 10): 3 of 20 is 15 %.
set --
for i in $(seq 1 17); do set -- "$@" "u:id-$i:user$i"; done
scim_dir "$T/seventeen" "$@"
run_import "$T/seventeen"
check "removals: refused with exit 3" 3 "$rc"
check_log "removals: explained" "refusing to publish: the new snapshot would remove 3 of the 20 users in the cache \(15%\), more than max_removed_percent = 10; run with --force"
unchanged "removals"
check "removals: user18 still resolves" "user18" "$(pw user18 | cut -d: -f1)"
# 2 of 20 is exactly 10 %: allowed.
set --
for i in $(seq 1 18); do set -- "$@" "u:id-$i:user$i"; done
scim_dir "$T/eighteen" "$@"
cp "$CACHE" "$T/before"
run_import "$T/eighteen"
check "removals: 10 % is allowed" "0 18" "$rc $(dir_users 1879048192 | wc -l)"
run_import "$T/twenty"
cp "$CACHE" "$T/before"
run_import "$T/seventeen" --force
check "removals: --force publishes" "0 17" "$rc $(dir_users 1879048192 | wc -l)"
check_log "removals: --force is logged" "removing 3 of 20 users, more than max_removed_percent = 10 \(--force\)"

# ---- An empty snapshot over a non-empty cache, even with max_removed_percent = 100.
config "max_removed_percent = 100"
run_import "$T/twenty"
cp "$CACHE" "$T/before"
scim_dir "$T/empty"
run_import "$T/empty"
check "empty: refused with exit 3" 3 "$rc"
check_log "empty: explained" "refusing to publish: the new snapshot has no users, but the cache .* has 20; run with --force"
unchanged "empty"
# Every user skipped counts as empty too.
scim_dir "$T/allbad" "u:b-1:Bad Name" "u:b-2:root"
run_import "$T/allbad"
check "empty after skips: refused" 3 "$rc"
unchanged "empty after skips"

# ---- Broken input: nothing is published.
mkdir -p "$T/badjson"
cp "$T/twenty/Users.json" "$T/badjson/Users.json"
printf '{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,"Resources":[{"id":"x","displayName":"g",' >"$T/badjson/Groups.json"
run_import "$T/badjson"
check "truncated JSON: exit 1" 1 "$rc"
check_log "truncated JSON: explained" "Groups.json: invalid or truncated JSON"
unchanged "truncated JSON"
printf '{"Resources":[{"id":"x","userName":"u" "oops"}]}' >"$T/badjson/Users.json"
run_import "$T/badjson"
check "invalid JSON: exit 1" 1 "$rc"
unchanged "invalid JSON"
printf '{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":401,"detail":"Bad credentials"}' >"$T/badjson/Users.json"
run_import "$T/badjson"
check "SCIM error document: exit 1" 1 "$rc"
check_log "SCIM error document: detail logged" "a SCIM error response \(status 401\): Bad credentials"
unchanged "SCIM error document"
mkdir -p "$T/nothing"
run_import "$T/nothing"
check "no Users*.json/Groups*.json: exit 1" 1 "$rc"
check_log "no files: explained" "holds no Users\*.json or Groups\*.json"
unchanged "no files"

# ---- The id map.
run_import "$T/twenty"
cp "$CACHE" "$T/before"
cp "$T/state/idmap.tdb" "$T/idmap.good"
# Change one byte of a recorded id ("id-13" becomes "id-23"): tdb's own
# structure stays intact, only the map's checksum can notice.
off=$(grep -boa 'id-13' "$T/state/idmap.tdb" | head -n 1 | cut -d: -f1)
printf '2' | dd of="$T/state/idmap.tdb" bs=1 seek=$((off + 3)) conv=notrunc 2>/dev/null
run_import "$T/twenty"
check "corrupt id map (damaged data): exit 1" 1 "$rc"
check_log "corrupt id map (damaged data): explained" "idmap.tdb: the id map (is corrupt|fails its consistency check).*refusing to run"
unchanged "corrupt id map (damaged data)"
head -c 4096 /dev/urandom >"$T/state/idmap.tdb"
run_import "$T/twenty"
check "corrupt id map (garbage): exit 1" 1 "$rc"
check_log "corrupt id map (garbage): explained" "idmap.tdb: the id map is corrupt or not an id map .*refusing to run"
unchanged "corrupt id map (garbage)"
rm "$T/state/idmap.tdb"
run_import "$T/twenty"
check "lost id map beside a cache: exit 1" 1 "$rc"
check_log "lost id map: explained" "the id map .*idmap.tdb is missing or empty, but the cache .* exists"
unchanged "lost id map"
run_import "$T/twenty" --force
check "lost id map: --force does not override it" 1 "$rc"
# --recover-idmap rebuilds it from the cache: every number stays.
answers=$(dir_users)
run_import "$T/twenty" --recover-idmap
check "--recover-idmap: publishes" 0 "$rc"
check_log "--recover-idmap: explained" "rebuilt the id map from .*: 20 users and 0 groups keep their numbers"
check "--recover-idmap: same numbers" "$answers" "$(dir_users)"
check_log "--recover-idmap: nothing renumbered" "added=0 removed=0 renamed=0 .* new_numbers=0"
cp "$T/idmap.good" "$T/state/idmap.tdb"
run_import "$T/twenty"
check "restored id map: publishes again" 0 "$rc"

# ---- Configuration errors name the line; nothing is published.
cp "$CACHE" "$T/before"
printf 'state_dir = %s\ncache_file = %s\n# comment\nuid_mn = 5\n' "$T/state" "$CACHE" >"$T/conf"
run_import "$T/twenty"
check "unknown key: exit 2" 2 "$rc"
check_log "unknown key: names the line" "$T/conf:4: unknown key 'uid_mn'"
printf 'state_dir = %s\ncache_file = %s\nuid_min = 12abc\n' "$T/state" "$CACHE" >"$T/conf"
run_import "$T/twenty"
check_log "bad number: names the line" "$T/conf:3: uid_min: '12abc' is not a number"
printf 'state_dir = %s\ncache_file = %s\n\nuid_max = 4294967295\n' "$T/state" "$CACHE" >"$T/conf"
run_import "$T/twenty"
check_log "out of range: names the line" "$T/conf:4: uid_max: 4294967295 is out of range"
printf 'state_dir = %s\ncache_file = %s\nlowercase_names = maybe\n' "$T/state" "$CACHE" >"$T/conf"
run_import "$T/twenty"
check_log "bad boolean: names the line" "$T/conf:3: lowercase_names: 'maybe' is not yes or no"
printf 'state_dir = %s\ncache_file = %s\nmax_removed_percent = 101\n' "$T/state" "$CACHE" >"$T/conf"
run_import "$T/twenty"
check_log "bad percent: names the line" "$T/conf:3: max_removed_percent: 101 is out of range \(0..100\)"
# A config group or others may write could point the token elsewhere: exit 2,
# naming the file and the fix, in both modes.
config
chmod 0664 "$T/conf"
run_import "$T/twenty"
check "group-writable config: exit 2" 2 "$rc"
check_log "group-writable config: names the file and the fix" "config file $T/conf: mode 0664 lets group or others write it: refusing it \(chmod 644\)"
rc=0; in_ns "$REFRESHD" --config "$T/conf" 2>"$T/log" || rc=$?
check "group-writable config: the daemon does not start either (exit 2)" 2 "$rc"
config "ca_file = $T/conf"
chmod 0646 "$T/conf"
run_import "$T/twenty"
check "world-writable config: exit 2" 2 "$rc"
chmod 0644 "$T/conf"
cp "$T/conf" "$T/ca.pem"; chmod 0666 "$T/ca.pem"
config "ca_file = $T/ca.pem"
run_import "$T/twenty"
check "world-writable ca_file: exit 2" 2 "$rc"
check_log "world-writable ca_file: named" "ca_file $T/ca.pem: mode 0666 lets group or others write it"
unchanged "configuration errors"
finish
