#!/bin/sh
# Numbers: hashing, collisions in a tiny window, stickiness across renames,
# attribute changes and re-imports, tombstones, suspension and reactivation.
. "${top_srcdir:-.}/tests/import_lib.sh"

# ---- Collisions, forced with a window of 10 numbers for 8 users.
config "uid_min = 5000" "uid_max = 5009" "max_removed_percent = 100"
set --
for i in 1 2 3 4 5 6 7 8; do set -- "$@" "u:id-$i:user$i"; done
scim_dir "$T/coll" "$@"
run_import "$T/coll"
check "collisions: import exits 0" 0 "$rc"
check "collisions: 8 users published" 8 "$(dir_users 5000 | wc -l)"
check "collisions: 8 distinct numbers, all in [5000, 5009]" "8 5000 5009" \
	"$(dir_users 5000 | cut -d: -f2 | sort -u | awk '{ n++; if ($1 >= 5000 && $1 <= 5009) ok++ } END { print n, (ok == n ? 5000 : "out"), (ok == n ? 5009 : "of-range") }')"
check_log "collisions: probing is logged" "number [0-9]+ is taken \(hash collision\); probed to [0-9]+"
# Each number is the hash of the id, or a probe of it.
first=$(uid_of user1)
check "collisions: user1 has the hash of its id (first in id order)" "$($MAPTOOL hash id-1 5000 5009)" "$first"
coll_answers=$(dir_users 5000)

# The same directory in another order, on a fresh host: the same numbers.
rm -rf "$T/state"; mkdir "$T/state"
set --
for i in 8 3 6 1 5 2 7 4; do set -- "$@" "u:id-$i:user$i"; done
scim_dir "$T/coll-rev" "$@"
run_import "$T/coll-rev"
check "collisions: a fresh host importing another order assigns the same numbers" "$coll_answers" "$(dir_users 5000)"

# ---- A full window: the users without a number are skipped, not doubled.
rm -rf "$T/state"; mkdir "$T/state"
config "uid_min = 5000" "uid_max = 5002"
scim_dir "$T/full" u:f-1:full1 u:f-2:full2 u:f-3:full3 u:f-4:full4
run_import "$T/full"
check "full window: import exits 0" 0 "$rc"
check "full window: 3 users published" 3 "$(dir_users 5000 | cut -d: -f2 | sort -u | wc -l)"
check_log "full window: the fourth is skipped by id" "skipping user id=f-[0-9]: no free number left in \[5000, 5002\]"
check_log "full window: counted" "no_free_number=1"

# ---- Renames keep the uid; deletion leaves a tombstone; a newcomer hashing
# to the tombstone's number gets another one; the deleted id coming back gets
# its own number again.
rm -rf "$T/state"; mkdir "$T/state"
config "uid_min = 5000" "uid_max = 5002" "max_removed_percent = 100"
scim_dir "$T/v1" u:id-alice:alice u:id-bob:bob
run_import "$T/v1"
alice=$(uid_of alice) bob=$(uid_of bob)
check "v1: alice and bob published" "alice:$alice bob:$bob" "$(dir_users 5000 | paste -sd' ' -)"

scim_dir "$T/v2" u:id-alice:alice2 u:id-bob:bob
run_import "$T/v2"
check "rename: same id, new userName, same uid" "alice2:*:$alice:$alice:Alice2:/home/alice2:/bin/bash" "$(pw alice2)"
check "rename: the old name no longer resolves" "" "$(pw alice)"
check "rename: the private group follows" "alice2:*:$alice:" "$(gr alice2)"
check_log "rename: logged" "user alice \(uid $alice\) renamed to alice2"
check_log "rename: counted" "renamed=1"

scim_dir "$T/v3" u:id-alice:alice2
run_import "$T/v3"
check "deletion: exits 0 (max_removed_percent = 100)" 0 "$rc"
check "deletion: bob no longer resolves" "" "$(pw bob)$(pw "$bob")"
check_log "deletion: tombstone logged" "user id=id-bob left the directory; number $bob stays reserved \(tombstone\)"
check_log "deletion: removal logged" "user bob removed"

# A newcomer whose id hashes to bob's old number.
n=0
while [ "$($MAPTOOL hash "newcomer-$n" 5000 5002)" != "$bob" ]; do n=$((n + 1)); done
scim_dir "$T/v4" u:id-alice:alice2 "u:newcomer-$n:carol"
run_import "$T/v4"
carol=$(uid_of carol)
check "tombstone: the newcomer hashing to $bob gets another number" "yes" \
	"$([ -n "$carol" ] && [ "$carol" != "$bob" ] && [ "$carol" != "$alice" ] && echo yes || echo "no ($carol)")"
check_log "tombstone: the collision with the tombstone is logged" "user id=newcomer-$n: number $bob is taken \(hash collision\); probed to $carol"

scim_dir "$T/v5" u:id-alice:alice2 "u:newcomer-$n:carol" u:id-bob:bob
run_import "$T/v5"
check "tombstone: the deleted id coming back gets its own number" "$bob" "$(uid_of bob)"
check_log "tombstone: return logged" "user id=id-bob is back; it keeps number $bob"

# ---- Suspension and reactivation (by name in the log, counted).
scim_dir "$T/v6" u:id-alice:alice2:suspended "u:newcomer-$n:carol" u:id-bob:bob
run_import "$T/v6"
check "suspend: still resolves" "$alice" "$(uid_of alice2)"
check "suspend: flagged in the cache" "suspended" "$($MAPTOOL dump "$CACHE" | awk '$2 == "alice2" { print $5 }')"
check_log "suspend: logged by name" "notice: .*user alice2 \(uid $alice\) suspended"
check_log "suspend: counted" "suspended_total=1 .* suspended=1 reactivated=0"
scim_dir "$T/v7" u:id-alice:alice2:active "u:newcomer-$n:carol" u:id-bob:bob
run_import "$T/v7"
check "reactivate: active again" "active" "$($MAPTOOL dump "$CACHE" | awk '$2 == "alice2" { print $5 }')"
check_log "reactivate: logged by name" "notice: .*user alice2 \(uid $alice\) reactivated"

# ---- Re-importing the same input gives the same answers; the generation advances.
gen_before=$($MAPTOOL dump "$CACHE" | sed -n 's/.*generation=\([0-9]*\).*/\1/p')
all_before=$(in_ns getent passwd; in_ns getent group)
run_import "$T/v7"
check "re-import: same answers" "$all_before" "$(in_ns getent passwd; in_ns getent group)"
check "re-import: generation advances" "$((gen_before + 1))" "$($MAPTOOL dump "$CACHE" | sed -n 's/.*generation=\([0-9]*\).*/\1/p')"
check_log "re-import: nothing changed" "added=0 removed=0 renamed=0 suspended=0 reactivated=0"

# ---- Leniency: an id listed twice (pages shifting under an export): the later
# copy wins; attribute names in any case.
rm -rf "$T/state"; mkdir "$T/state"
config
mkdir -p "$T/dup"
cat >"$T/dup/Users1.json" <<'JSON'
{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":2,
 "Resources":[{"id":"d-1","userName":"first"},{"ID":"d-2","USERNAME":"Upper","DisplayName":"Upper Case","ACTIVE":false}]}
JSON
cat >"$T/dup/Users2.json" <<'JSON'
{"schemas":["urn:ietf:params:scim:api:messages:2.0:ListResponse"],"totalResults":1,
 "Resources":[{"id":"d-1","userName":"second"}]}
JSON
run_import "$T/dup"
check "repeated id: the later copy wins" "second" "$(pw second | cut -d: -f1)$(pw first)"
check "repeated id: counted once" "2" "$(dir_users 1879048192 | wc -l)"
check "attribute names in any case" "upper:Upper Case:suspended" \
	"$(pw upper | cut -d: -f1,5):$($MAPTOOL dump "$CACHE" | awk '$2 == "upper" { print $5 }')"

# ---- Attribute numbers win when free, but never move a number once given.
rm -rf "$T/state"; mkdir "$T/state"
config "uid_min = 6000" "uid_max = 6999" "uid_attribute = urn:example:posix:User:uidNumber"
scim_dir "$T/a1" u:id-x:xavier::6100 u:id-y:yvonne::7100 u:id-z:zoe::6100
run_import "$T/a1"
check "attribute: a free number in the window is used" "6100" "$(uid_of xavier)"
check "attribute: outside the window: hashed" "$($MAPTOOL hash id-y 6000 6999)" "$(uid_of yvonne)"
check_log "attribute: outside the window is logged" "user id=id-y: urn:example:posix:User:uidNumber 7100 is outside \[6000, 6999\]"
check_log "attribute: a number claimed twice: the second id hashes" "user id=id-z: number 6100 from its attribute is already taken"
scim_dir "$T/a2" u:id-x:xavier::6200 u:id-y:yvonne::7100 u:id-z:zoe::6100
run_import "$T/a2"
check "attribute: a changed attribute never moves a number" "6100" "$(uid_of xavier)"
check_log "attribute: the change is logged" "user id=id-x: attribute says 6200, keeping 6100"
finish
