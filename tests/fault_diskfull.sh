#!/bin/sh
# A full disk: state_dir and cache_file on a small tmpfs (in a private mount
# namespace).  An import that adds users is run with less and less room left:
# each attempt that fails must say "No space left on device", leave the cache
# byte-identical and no temporary file.  The id map is byte-identical when its
# own commit failed; when only the cache did not fit, it holds the new ids
# (it is committed first so it is never behind the cache), every old entry
# unchanged, and those numbers are the ones published later.  The first
# attempt with enough room publishes.  The sweep must see the id map's commit fail
# and the cache's write fail (the two places a publish writes).
set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: the fault tests run as root"; exit 77; }
command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"

if [ -z "${FAULT_IN_NS:-}" ]; then
	FAULT_IN_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi
REFRESHD=$top_builddir/scim-refreshd
CHECK=$top_builddir/tests/scim-faultcheck
T=$(mktemp -d "${TMPDIR:-/tmp}/scim-diskfull.XXXXXX")
trap 'umount "$T/fs" 2>/dev/null; rm -rf "$T"' EXIT
fail() {
	echo "FAIL: $*"
	[ -f "$T/log" ] && sed 's/^/  | /' "$T/log"
	exit 1
}

mkdir -p "$T/fs"
mount -t tmpfs -o size=16m,mode=0755 tmpfs "$T/fs" || fail "cannot mount a tmpfs"
S=$T/fs/state
CACHE=$T/fs/cache.tdb
printf 'state_dir = %s\ncache_file = %s\n' "$S" "$CACHE" >"$T/conf"
chmod 644 "$T/conf"

# users DIR FROM TO: a directory with users FROM..TO.
users() {
	python3 - "$@" <<'PY'
import json, os, sys
d, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d)
lr = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
us = [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": "full-%05d" % i,
       "userName": "df%05d" % i, "displayName": "Disk Full %05d" % i} for i in range(lo, hi + 1)]
gs = [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": "fg-%d" % g, "displayName": "dfg%d" % g,
       "members": [{"value": u["id"]} for u in us[g::7]]} for g in range(7)]
for name, res in (("Users.json", us), ("Groups.json", gs)):
    with open(d + "/" + name, "w") as f:
        json.dump({"schemas": [lr], "totalResults": len(res), "Resources": res}, f)
PY
}
import() {
	"$REFRESHD" --config "$T/conf" --once --import "$1" >"$T/log" 2>&1 && rc=0 || rc=$?
}
free_kb() { df -k --output=avail "$T/fs" | tail -n 1 | tr -d ' '; }

users "$T/small" 1 400
users "$T/big" 1 2400
import "$T/small"
[ $rc = 0 ] || fail "the first import"
"$CHECK" cache "$CACHE" | head -n 1 | grep -q "users=400 " || fail "the first cache"
cp "$CACHE" "$T/cache.before"
cp "$S/idmap.tdb" "$T/idmap.before"
# idmap_dump OUT: the id map's entries, sorted (read from a copy).
idmap_dump() {
	rm -rf "$T/chk" && mkdir "$T/chk" && cp "$S/idmap.tdb" "$T/chk/" || fail "cannot copy the id map"
	"$CHECK" idmap "$T/chk" | sort >"$1" || fail "the id map cannot be read"
}
idmap_dump "$T/idmap.before.txt"
echo "ok   setup: 400 users published on a 16 MB tmpfs ($(du -k "$CACHE" | cut -f1) kB cache, $(du -k "$S/idmap.tdb" | cut -f1) kB id map)"

# Fill the file system, then give back ROOM kB at a time.
dd if=/dev/zero of="$T/fs/filler" bs=4k 2>/dev/null
full=$(stat -c %s "$T/fs/filler")
[ "$(free_kb)" -le 4 ] || fail "the tmpfs is not full: $(free_kb) kB free"
idmap_fails=0
cache_fails=0
published=0
attempts=0
# Coarse where the id map's commit fails (tdb grows the file by a hundred
# times its recovery record), fine where only the cache no longer fits.
for room in 0 4 16 64 256 1024 2048 $(seq 4096 128 12288); do
	truncate -s $((full - room * 1024)) "$T/fs/filler"
	import "$T/big"
	attempts=$((attempts + 1))
	if [ $rc = 0 ]; then
		published=$room
		break
	fi
	[ $rc = 1 ] || fail "${room} kB free: exit $rc, not 1"
	grep -q "No space left on device" "$T/log" || fail "${room} kB free: the log does not say 'No space left on device'"
	cmp -s "$CACHE" "$T/cache.before" || fail "${room} kB free: the cache changed"
	if grep -q "cannot publish" "$T/log"; then
		# The id map is committed before the cache is written, so that it is
		# never behind the cache: when only the cache did not fit, the new
		# ids keep the numbers recorded for them, and nothing else moved.
		idmap_dump "$T/idmap.reserved"
		comm -23 "$T/idmap.before.txt" "$T/idmap.reserved" >"$T/lost"
		[ ! -s "$T/lost" ] || fail "${room} kB free: the id map lost or changed $(head -n 3 "$T/lost")"
	else
		cmp -s "$S/idmap.tdb" "$T/idmap.before" || fail "${room} kB free: the id map changed"
	fi
	left=$(ls -A "$T/fs" "$S" | grep -v -e '^$' -e ':$' -e '^cache\.tdb$' -e '^cache\.tdb\.lock$' -e '^idmap\.tdb$' \
		-e '^filler$' -e '^state$' || true)
	[ -z "$left" ] || fail "${room} kB free: left behind: $left"
	if grep -q "id map" "$T/log"; then
		idmap_fails=$((idmap_fails + 1))
		where="the id map"
	else
		cache_fails=$((cache_fails + 1))
		where="the cache"
	fi
	echo "ok   ${room} kB free: failed writing $where: $(grep -m 1 "No space left" "$T/log" | sed 's/^scim-refreshd: //')"
done
[ $idmap_fails -gt 0 ] || fail "no attempt failed in the id map's commit"
[ $cache_fails -gt 0 ] || fail "no attempt failed writing the cache"
if [ $published = 0 ]; then
	# Space returns: the first sync publishes.
	rm -f "$T/fs/filler"
	import "$T/big"
	[ $rc = 0 ] || fail "space returned, but the import did not publish (exit $rc)"
fi
"$CHECK" cache "$CACHE" >"$T/dump" || fail "the published cache is not valid"
head -n 1 "$T/dump" | grep -q "users=2400 " || fail "the published cache: $(head -n 1 "$T/dump")"
# Numbers: the 400 first users kept theirs.
for u in df00001 df00200 df00400; do
	a=$("$CHECK" cache "$T/cache.before" | awk -v u=$u '$1 == "U" && $4 == u { print $3 }')
	b=$(awk -v u=$u '$1 == "U" && $4 == u { print $3 }' "$T/dump")
	[ -n "$a" ] && [ "$a" = "$b" ] || fail "$u: uid $a before, $b after"
done
grep -q "left by an interrupted publish" "$T/log" && fail "a publish that failed left cache.tdb.new"
# The numbers recorded by the publish whose cache did not fit are the ones published.
awk '$1 == "U" { print "U", $2, $3 }' "$T/dump" | sort >"$T/published"
awk '{ print $1, $2, $3 }' "$T/idmap.reserved" | sort | comm -13 - "$T/published" >"$T/moved"
[ ! -s "$T/moved" ] || fail "published numbers differ from the ones the id map recorded: $(head -n 3 "$T/moved")"
[ $published = 0 ] && how="once the filler was removed" || how="with $published kB free"
echo "ok   $attempts attempts: $idmap_fails failed in the id map's commit (cache and id map byte-identical)," \
	"$cache_fails writing the cache (cache byte-identical, id map only grown); published $how"
echo PASS
