#!/bin/bash
# bench/check-cache.sh [N] - proves the libnss-cache files gen.py writes are
# read the way libnss-cache reads real ones, with real lookups (getent) in the
# namespace bench/run.sh uses ("passwd: cache", "group: cache"), as root:
#   1. a sample of users by name and by uid and of groups by name and by gid
#      comes back byte-identical to the generated line;
#   2. made-up names and ids are "not found";
#   3. each lookup went through the index: libnss-cache silently falls back
#      to scanning the whole map when the index is missing or older than the
#      map, which would measure the wrong thing.  Under strace, every lookup
#      must open the index and then lseek() the map to the stdio block holding
#      the entry's line, whose offset we take from the map itself.
# Environment: BUILD, BENCH_TMP, SEED as for run.sh.  Default N = 100000.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_TMP=${BENCH_TMP:-/tmp/scim-bench}

if [ "${1:-}" = __inner ]; then
	data=$2
	t=$(mktemp -d)
	trap 'rm -rf "$t"' EXIT
	bad=0
	for spec in "passwd 1 name" "passwd 3 uid" "group 1 name" "group 3 gid"; do
		set -- $spec
		db=$1 col=$2 ix=$3
		# every 97th entry (at least one), in file order
		awk -F: -v c="$col" 'NR % 97 == 1 { print $c }' "$data/$db" >"$t/keys"
		awk 'NR % 97 == 1' "$data/$db" >"$t/want"
		strace -o "$t/trace" -e trace=openat,lseek getent "$db" $(cat "$t/keys") >"$t/got" || true
		if ! cmp -s "$t/got" "$t/want"; then
			echo "FAIL $db by $ix: getent output differs from the generated lines"
			bad=1
			continue
		fi
		if python3 - "$data/$db" "$t/keys" "$t/trace" "$db" "$col" <<'PY'; then :; else bad=1; fi
import re, sys
mapfile, keysfile, trace, db, col = sys.argv[1:]
col = int(col) - 1
offset, pos = {}, 0
for line in open(mapfile, "rb"):
    offset[line.split(b":")[col].decode()] = pos
    pos += len(line)
keys = open(keysfile).read().split()
want = [offset[k] & ~4095 for k in keys]          # stdio seeks to the enclosing 4 KiB block
ix_opens, seeks, map_fd = 0, [], None
for l in open(trace):
    m = re.match(r'openat\(AT_FDCWD, "([^"]+)".* = (\d+)', l)
    if m:
        if m.group(1).startswith("/etc/%s.cache.ix" % db):
            ix_opens += 1
        map_fd = m.group(2) if m.group(1) == "/etc/%s.cache" % db else map_fd
        continue
    m = re.match(r"lseek\((\d+), (\d+), SEEK_SET\)", l)
    if m and m.group(1) == map_fd:
        seeks.append(int(m.group(2)))
# in order; a group lookup retried after ERANGE seeks again, so repeats are fine
it = iter(seeks)
ok = ix_opens >= len(keys) and all(any(s == w for s in it) for w in want)
print("%s %s by %s: %d lookups identical, %d index opens, %d map seeks, offsets %s"
      % ("OK  " if ok else "FAIL", db, ["name", "", "uid" if db == "passwd" else "gid"][col], len(keys),
         ix_opens, len(seeks), "as expected" if ok else "WRONG (index not used?)"))
sys.exit(0 if ok else 1)
PY
	done
	for q in "passwd zz-nouser-1" "passwd 1500000001" "group zz-nogroup-1" "group 1600000001"; do
		if getent $q >/dev/null; then
			echo "FAIL getent $q found something"
			bad=1
		else
			echo "OK   getent $q: not found"
		fi
	done
	[ $bad = 0 ] && echo "check-cache: ALL OK" || echo "check-cache: FAILED"
	exit $bad
fi

[ "$(id -u)" = 0 ] || { echo "check-cache.sh: run as root" >&2; exit 1; }
command -v strace >/dev/null || { echo "check-cache.sh: needs strace (apt-get install strace)" >&2; exit 1; }
n=${1:-100000}
data=$BENCH_TMP/data/n$n-s${SEED:-1}
if [ ! -e "$data/.done" ]; then
	rm -rf "$data"
	python3 "$HERE/gen.py" --users "$n" --seed "${SEED:-1}" --out "$data"
	touch "$data/.done"
fi
rc=0
unshare --mount --propagation private env BUILD="${BUILD:-/tmp/b-bench}" BENCH_TMP="$BENCH_TMP" \
	bash "$HERE/run.sh" __ns cache "$data" bash "$HERE/check-cache.sh" __inner "$data" || rc=$?
rmdir "$BENCH_TMP"/ns.* 2>/dev/null || true
exit $rc
