#!/bin/sh
# sync_bench.sh - one network sync of a big directory, timed.
#
#   bench/sync_bench.sh [USERS]          (default 100000; groups = USERS/10)
#
# Serves a generated directory with the HTTPS test server (tests/scim_server.py)
# on 127.0.0.1 and runs `scim-refreshd --once` against it twice: the first sync
# (every number new) and a steady-state sync (nothing changed).  Reports the
# daemon's wall time, CPU time (user + system) and peak RSS, measured on the
# daemon process alone (getrusage of the child), and the server's CPU time
# separately (from /proc).  Targets: daemon CPU <= 2 s, peak RSS <= 64 MB.
#
# The directory comes from bench/gen.py --scim (the NSS benchmark's directory
# as SCIM resources, numbers in a POSIX extension); SEED=FILE reuses a
# scim/seed.json written before.  Knobs: PAGE_SIZE (100), REPS (3), BUILD (the
# build tree holding scim-refreshd; default: the current directory), KEEP=1
# keeps the work dir.
# LATENCY=SECONDS makes the test server wait that long before answering each
# request (a real SCIM server takes 100-300 ms a page; default 0).
# PARALLEL="1 4 8" runs the whole measurement once per max_parallel value
# (default: one run with the daemon's default, 4), e.g.
#   LATENCY=0.1 PARALLEL="1 4 8" REPS=1 bench/sync_bench.sh 100000
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$(pwd)}
REFRESHD=$BUILD/scim-refreshd
[ -x "$REFRESHD" ] || { echo "sync_bench: no $REFRESHD (run from the build tree or set BUILD)" >&2; exit 1; }
N=${1:-100000}
G=$((N / 10))
PAGE_SIZE=${PAGE_SIZE:-100}
REPS=${REPS:-3}
LATENCY=${LATENCY:-0}
PARALLEL=${PARALLEL:-}
W=$(mktemp -d "${TMPDIR:-/tmp}/scim-syncbench.XXXXXX")
spid=""
cleanup() {
	[ -z "$spid" ] || kill "$spid" 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] && echo "kept $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT

ext=urn:example:params:scim:schemas:extension:posix:2.0
if [ -n "${SEED:-}" ]; then
	# A directory generated before (gen.py --scim's scim/seed.json).
	DATA=$SEED
else
	echo "# generating $N users, $G groups" >&2
	python3 "$here/gen.py" --users "$N" --groups "$G" --scim --out "$W/dir" >&2
	DATA=$W/dir/scim/seed.json
fi
NUMBERS="uid_attribute = $ext:User:uidNumber
gid_attribute = $ext:Group:gidNumber
uid_min = 100000
uid_max = 2147483647"

printf 'bench-token-%s\n' "$$" >"$W/token"
chmod 600 "$W/token"
python3 "$top_srcdir/tests/scim_server.py" --data "$DATA" --certdir "$W/certs" --port-file "$W/port" \
	--token-file "$W/token" --max-seconds 7200 --latency "$LATENCY" 2>"$W/server.err" &
spid=$!
i=0
while [ ! -s "$W/port" ]; do
	i=$((i + 1))
	[ $i -gt 1200 ] && { echo "sync_bench: server did not start: $(cat "$W/server.err")" >&2; exit 1; }
	sleep 0.1
done
mkdir -p "$W/state"
cat >"$W/conf.base" <<EOF
url = https://127.0.0.1:$(cat "$W/port")/scim/v2
token_file = $W/token
ca_file = $W/certs/ca.pem
state_dir = $W/state
cache_file = $W/state/cache.tdb
page_size = $PAGE_SIZE
timeout = 120
$NUMBERS
EOF
chmod 0644 "$W/conf.base"

server_cpu() { # utime + stime of the server, in clock ticks
	awk '{print $14 + $15}' "/proc/$spid/stat"
}
hz=$(getconf CLK_TCK)

run() { # LABEL
	s0=$(server_cpu)
	python3 - "$REFRESHD" "$W/conf" "$W/out" <<'PY' >"$W/usage"
import resource, subprocess, sys, time
daemon, conf, out = sys.argv[1:]
t0 = time.monotonic()
with open(out, "w") as f:
    rc = subprocess.call([daemon, "--config", conf, "--once"], stdout=f, stderr=f)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("rc=%d wall=%.2f cpu=%.2f user=%.2f sys=%.2f maxrss_mb=%.1f" %
      (rc, wall, ru.ru_utime + ru.ru_stime, ru.ru_utime, ru.ru_stime, ru.ru_maxrss / 1024))
PY
	s1=$(server_cpu)
	summary=$(grep "published:" "$W/out" | sed 's/.*published: //') || true
	[ -n "$summary" ] || { cat "$W/out" >&2; echo "sync_bench: $1 sync did not publish" >&2; exit 1; }
	req=$(echo "$summary" | sed -n 's/.*\(requests=[0-9]*\).*/\1/p')
	bytes=$(echo "$summary" | sed -n 's/.*\(bytes=[0-9]*\).*/\1/p')
	users=$(echo "$summary" | sed -n 's/^\(users=[0-9]*\).*/\1/p')
	groups=$(echo "$summary" | sed -n 's/.*\( groups=[0-9]*\).*/\1/p')
	echo "$1: $(cat "$W/usage") $users$groups $req $bytes server_cpu=$(awk -v d=$((s1 - s0)) -v hz="$hz" 'BEGIN{printf "%.2f", d / hz}') page_size=$PAGE_SIZE"
}

echo "# daemon: $REFRESHD; data: $DATA ($(du -h "$DATA" | cut -f1)); $REPS repetitions; latency ${LATENCY}s" >&2
for par in ${PARALLEL:-default}; do
cp "$W/conf.base" "$W/conf"
chmod 0644 "$W/conf"
[ "$par" = default ] || echo "max_parallel = $par" >>"$W/conf"
echo "# max_parallel=$par" >&2
# Each repetition: a first sync into empty state, then a steady one (nothing
# changed).  This machine is shared and its CPU figures wander by 15 %, so
# the summary gives the median of the repetitions.
: >"$W/results"
rep=1
while [ "$rep" -le "$REPS" ]; do
	rm -rf "$W/state"
	mkdir -p "$W/state"
	for label in first steady; do
		run "$label p=$par" >"$W/line"
		cat "$W/line"
		cat "$W/line" >>"$W/results"
	done
	rep=$((rep + 1))
done
if [ "$REPS" -gt 1 ]; then
	for label in first steady; do
		grep "^$label p=$par:" "$W/results" | sed -n 's/.* cpu=\([0-9.]*\) .*maxrss_mb=\([0-9.]*\).*/\1 \2/p' | sort -n |
			awk -v l="$label p=$par" '{c[NR]=$1; if ($2 > m) m = $2} END {printf "%s median: cpu=%.2f (min %.2f, max %.2f) maxrss_mb=%.1f (largest)\n", l, c[int((NR+1)/2)], c[1], c[NR], m}'
	done
fi

done

# The same directory through the offline import (no network, same mapping and
# publish), as the reference in the same run: what the network layer adds is
# the difference.
dir=$(dirname "$DATA")
if [ -f "$dir/Users.json" ] && [ -f "$dir/Groups.json" ]; then
	mkdir -p "$W/import/state"
	sed -e "s|$W/state|$W/import/state|g" "$W/conf.base" >"$W/import/conf"
	chmod 0644 "$W/import/conf"
	python3 - "$REFRESHD" "$W/import/conf" "$dir" <<'PY'
import resource, subprocess, sys, time
daemon, conf, d = sys.argv[1:]
t0 = time.monotonic()
rc = subprocess.call([daemon, "--config", conf, "--once", "--import", d],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print("import (reference, no network): rc=%d wall=%.2f cpu=%.2f user=%.2f sys=%.2f maxrss_mb=%.1f" %
      (rc, wall, ru.ru_utime + ru.ru_stime, ru.ru_utime, ru.ru_stime, ru.ru_maxrss / 1024))
PY
fi
