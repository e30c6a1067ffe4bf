#!/bin/bash
# bench/run.sh - the NSS benchmark: libnss_scim beside files, libnss-cache and
# the do-nothing module bnull, on one generated directory per N, as root.
#
#   bench/run.sh                 # N = 1000 10000 100000, every backend
#   NS=100000 bench/run.sh       # one size
#
# Every measurement runs in a private mount namespace (unshare -m): /etc is an
# overlay whose writes land in a tmpfs, the generated files and a private
# nsswitch.conf ("passwd: X", "group: X") are bind-mounted onto it, and nscd's
# socket is hidden.  The real /etc is never written.
#
# Environment (defaults):
#   NS="1000 10000 100000"       directory sizes (users; groups = N/10)
#   BACKENDS="bnull bfloor scim files cache"
#                                (bfloor: the least a real lookup costs here, see
#                                bench/libnss_bfloor.c; getpwnam/getpwuid only)
#   BUILD=/tmp/b-bench           configured build tree ("make bench" is run in it)
#   BENCH_TMP=/tmp/scim-bench    generated data (kept per N and SEED) and results
#   SECS=2 ITERS=100000          per op: at most SECS timed seconds, ITERS calls
#   REPS=3                       runs per N, backends interleaved; files and cache
#                                do the lookups only in the first SLOW_REPS=1 runs
#                                (they take seconds) and the enumerations in all
#   SEED=1 OPS=                  generator seed; nssbench --ops filter
#
# Output: raw lines in $BENCH_TMP/results/<time>/, then the table (report.py).
# Exits non-zero only if something failed (a wrong answer, a backend that does
# not resolve); the targets are printed as PASS/MISS and do not change it.
#
# Inner use (what the namespace runs):  run.sh __ns BACKEND DATA CMD [ARGS...]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${BUILD:-/tmp/b-bench}
BENCH_TMP=${BENCH_TMP:-/tmp/scim-bench}

# ------------------------------------------------------------ inside the namespace
if [ "${1:-}" = __ns ]; then
	backend=$2 data=$3
	shift 3
	mount --make-rprivate /
	scratch=$(mktemp -d "$BENCH_TMP/ns.XXXXXX")
	mount -t tmpfs -o size=16m,mode=0755 scim-bench "$scratch"
	mkdir "$scratch/upper" "$scratch/work"
	mount -t overlay scim-bench-etc -o "lowerdir=/etc,upperdir=$scratch/upper,workdir=$scratch/work" /etc
	over() { # over FILE NAME: FILE appears as /etc/NAME (created in the overlay)
		[ -e "/etc/$2" ] || : >"/etc/$2"
		mount --bind "$1" "/etc/$2"
	}
	# glibc asks nscd first when its socket exists
	for d in /run/nscd /var/run/nscd; do
		if [ -d "$d" ] && ! mountpoint -q "$d"; then mount -t tmpfs -o size=1m nscd-hidden "$d"; fi
	done
	if [ -S /run/nscd/socket ] || [ -S /var/run/nscd/socket ]; then
		echo "run.sh: nscd socket still visible" >&2
		exit 1
	fi
	case $backend in
	files)
		over "$data/passwd" passwd
		over "$data/group" group
		;;
	cache)
		for f in passwd.cache passwd.cache.ixname passwd.cache.ixuid group.cache group.cache.ixname group.cache.ixgid; do
			over "$data/$f" "$f"
		done
		;;
	scim)
		export LD_LIBRARY_PATH=$BUILD/.libs NSS_SCIM_CACHE=$data/scim.tdb
		;;
	bnull)
		export LD_LIBRARY_PATH=$BUILD/bench/.libs
		;;
	bfloor)
		export LD_LIBRARY_PATH=$BUILD/bench/.libs BFLOOR_PASSWD=$data/passwd
		;;
	*)
		echo "run.sh: unknown backend $backend" >&2
		exit 2
		;;
	esac
	printf 'passwd: %s\ngroup: %s\n' "$backend" "$backend" >"$scratch/nsswitch.conf"
	over "$scratch/nsswitch.conf" nsswitch.conf
	if [ "$backend" != bnull ]; then
		first=$(head -n1 "$data/users.txt" | cut -d' ' -f1)
		getent passwd "$first" >/dev/null || {
			echo "run.sh: getent passwd $first fails with backend $backend" >&2
			exit 1
		}
	fi
	exec "$@"
fi

# ------------------------------------------------------------ outside
[ "$(id -u)" = 0 ] || { echo "run.sh: run as root (it needs unshare --mount)" >&2; exit 1; }
NS=${NS:-1000 10000 100000}
BACKENDS=${BACKENDS:-bnull bfloor scim files cache}
SECS=${SECS:-2} ITERS=${ITERS:-100000} REPS=${REPS:-3} SLOW_REPS=${SLOW_REPS:-1} SEED=${SEED:-1}
OPS=${OPS:-}

make -s -C "$BUILD" bench >&2
[ -e /usr/lib/x86_64-linux-gnu/libnss_cache.so.2 ] || [ -e /lib/x86_64-linux-gnu/libnss_cache.so.2 ] ||
	case " $BACKENDS " in *" cache "*) echo "run.sh: libnss-cache is not installed (apt-get install libnss-cache)" >&2; exit 1 ;; esac
for d in nscd unscd; do
	if pgrep -x "$d" >/dev/null; then echo "run.sh: note: $d runs on the host; its socket is hidden in the namespace" >&2; fi
done

out=$BENCH_TMP/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
# what was measured: the source tree's commit (the build is made from it above)
echo "source=$(git -C "$HERE" describe --always --dirty 2>/dev/null || echo unknown) host=$(uname -r) nproc=$(nproc)" \
	"load=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)" >"$out/meta.txt"
echo "run.sh: results in $out" >&2
failed=0
for n in $NS; do
	data=$BENCH_TMP/data/n$n-s$SEED
	if [ ! -e "$data/.done" ]; then
		rm -rf "$data"
		python3 "$HERE/gen.py" --users "$n" --seed "$SEED" --out "$data"
		touch "$data/.done"
	fi
	# our cache, through the real writer, fresh every run (it is fast)
	"$BUILD/bench/mkbenchcache" "$data/passwd" "$data/group" "$data/scim.tdb" | tee "$out/mkcache-n$n.txt" >&2
	for rep in $(seq 1 "$REPS"); do
		for b in $BACKENDS; do
			args=(--users "$data/users.txt" --groups "$data/groups.txt" --backend "$b" --seconds "$SECS"
				--iters "$ITERS" --tag "N=$n rep=$rep")
			if [ "$b" = bfloor ]; then # it answers getpwnam and getpwuid only
				bops=getpwnam,getpwuid
				if [ -n "$OPS" ]; then
					bops=$(tr , '\n' <<<"$OPS" | grep '^getpw' | paste -sd, -) || true
					[ -n "$bops" ] || continue
				fi
				args+=(--ops "$bops")
			elif [ -n "$OPS" ]; then
				args+=(--ops "$OPS")
			elif { [ "$b" = files ] || [ "$b" = cache ]; } && [ "$rep" -gt "$SLOW_REPS" ]; then
				args+=(--ops enum) # cheap, and the enum_pw target compares with files
			fi
			if [ "$b" = bnull ]; then args+=(--no-verify); fi # one fixed answer for every key
			echo "run.sh: N=$n backend=$b rep=$rep" >&2
			if ! unshare --mount --propagation private \
				env BUILD="$BUILD" BENCH_TMP="$BENCH_TMP" bash "$HERE/run.sh" __ns "$b" "$data" \
				"$BUILD/bench/nssbench" "${args[@]}" >"$out/n$n-$b-r$rep.txt"; then
				echo "run.sh: N=$n backend=$b failed" >&2
				failed=1
			fi
			rmdir "$BENCH_TMP"/ns.* 2>/dev/null || true
		done
	done
done
python3 "$HERE/report.py" "$out" | tee "$out/table.md" || failed=1
exit $failed
