#!/bin/sh
# Crash safety: kill -9 the daemon many times, at random points of a sync and
# of its publish, while the directory flips between two versions (every gecos
# starts with "Alpha" in one and "Omega" in the other).  After every kill the
# published cache must be one complete snapshot, old or new (counts match the
# header, every gecos from the same version); after a restart no stray file
# is left, and the next sync publishes.
. "$top_srcdir/tests/net_lib.sh"
CHECK=$top_builddir/tests/net_cachecheck
ROUNDS=${NET_CRASH_ROUNDS:-20}

net_token
mkdir -p "$T/data"
python3 "$TESTS_SRC/scim_seed.py" --users 3000 --groups 300 --members 20 --gecos Alpha --out "$T/alpha.json"
python3 "$TESTS_SRC/scim_seed.py" --users 3000 --groups 300 --members 20 --gecos Omega --out "$T/omega.json"
cp "$T/alpha.json" "$T/data/seed.json"
net_start_server
net_config "page_size = 1000" "refresh_interval = 600"
CACHE=$T/cache/cache.tdb

net_once
[ $RC = 0 ] || fail "first sync"
"$CHECK" "$CACHE" >"$T/check" || fail "first cache: $(cat "$T/check")"
grep -q "users=3000 groups=3300 gecos=Alpha" "$T/check" || fail "first cache: $(cat "$T/check")"
# A full sync's duration, to spread the blind kills over it.
dur_ms=$(sed -n 's/.* duration=\([0-9]*\)\.\([0-9][0-9]\)s.*/\1\20/p' "$T/out")
[ -n "$dur_ms" ] && [ "$dur_ms" -gt 0 ] || dur_ms=500

# killer MODE: runs the daemon and kill -9s it.  "publish": as soon as the
# writer's .new file appears, after a random part of the publish window
# measured below; "blind": at a random point of a whole sync.  Prints
# "mid-publish" when the kill left a .new file behind.
killer() {
	python3 - "$1" "$REFRESHD" "$T/conf" "$CACHE.new" "$dur_ms" "${window_ms:-0}" "$T/daemon.log" <<'PY'
import os, random, signal, subprocess, sys, time
mode, daemon, conf, new, dur_ms, window_ms, log = sys.argv[1:]
with open(log, "w") as out:
    p = subprocess.Popen([daemon, "--config", conf], stdout=out, stderr=out)
    t0 = time.monotonic()
    if mode == "calibrate":
        # How long does the .new file exist in an undisturbed publish?
        while not os.path.exists(new):
            if time.monotonic() - t0 > 30: sys.exit("no publish started")
            time.sleep(0.001)
        t1 = time.monotonic()
        while os.path.exists(new):
            time.sleep(0.001)
        print("%d" % max(1, (time.monotonic() - t1) * 1000))
        p.send_signal(signal.SIGTERM); p.wait(); sys.exit(0)
    if mode == "publish":
        while not os.path.exists(new):
            if time.monotonic() - t0 > 30 or p.poll() is not None: sys.exit("no publish started")
            # On a loaded machine a short publish can come and go between
            # two polls: that round proves nothing, so it is run again.
            with open(log) as f:
                if " published: " in f.read():
                    p.send_signal(signal.SIGKILL); p.wait(); print("missed"); sys.exit(0)
            time.sleep(0.001)
        time.sleep(random.uniform(0, float(window_ms)) / 1000)
    else:
        time.sleep(random.uniform(0, float(dur_ms) + 100) / 1000)
    p.send_signal(signal.SIGKILL)
    p.wait()
    print("mid-publish" if os.path.exists(new) else "outside")
PY
}
flip() {
	cp "$T/$1.json" "$T/data/seed.json.tmp"
	mv "$T/data/seed.json.tmp" "$T/data/seed.json"
}

flip omega
window_ms=$(killer calibrate) || fail "calibration: $(cat "$T/daemon.log")"
"$CHECK" "$CACHE" | grep -q "gecos=Omega" || fail "calibration sync did not publish"

mid_publish=0
missed=0
version=Alpha
r=1
while [ $r -le $ROUNDS ]; do
	flip "$(echo $version | tr A-Z a-z)"
	mode=publish
	[ $((r % 3)) = 0 ] && mode=blind
	res=$(killer $mode) || fail "round $r: $res"
	if [ "$res" = missed ]; then
		missed=$((missed + 1))
		[ $missed -le $ROUNDS ] || fail "the publish window was missed $missed times"
		"$CHECK" "$CACHE" >"$T/check" || fail "round $r: the cache is not one complete snapshot: $(cat "$T/check")"
		if grep -q "gecos=$version" "$T/check"; then version=$([ $version = Omega ] && echo Alpha || echo Omega); fi
		continue
	fi
	[ "$res" = mid-publish ] && mid_publish=$((mid_publish + 1))
	"$CHECK" "$CACHE" >"$T/check" || fail "round $r: the cache is not one complete snapshot: $(cat "$T/check")"
	grep -q "users=3000 groups=3300 gecos=\(Alpha\|Omega\)$" "$T/check" || fail "round $r: $(cat "$T/check")"
	if grep -q "gecos=$version" "$T/check"; then version=$([ $version = Omega ] && echo Alpha || echo Omega); fi
	r=$((r + 1))
done
[ $mid_publish -ge $((ROUNDS / 4)) ] || fail "only $mid_publish of $ROUNDS kills landed mid-publish"
ok "$ROUNDS kill -9 ($mid_publish of them mid-publish, leaving a .new file; publish window ${window_ms} ms): the cache was one complete snapshot every time"

# Restart: leftovers go, the next sync publishes, and nothing stray remains.
"$REFRESHD" --config "$T/conf" >"$T/daemon.log" 2>&1 &
pid=$!
NET_PIDS="$NET_PIDS $pid"
net_wait_for "$T/daemon.log" "published: users=3000 " 20 || fail "no sync after the kills: $(cat "$T/daemon.log")"
kill -TERM $pid
wait $pid 2>/dev/null
left=$(ls "$T/cache" | grep -v '^cache\.tdb$' | grep -v '^cache\.tdb\.lock$' || true)
[ -z "$left" ] || fail "stray files in the cache directory: $left"
left=$(ls -a "$T/state" | grep -v '^\.\.\?$' | grep -v '^idmap\.tdb$' || true)
[ -z "$left" ] || fail "stray files in the state directory: $left"
"$CHECK" "$CACHE" >"$T/check" || fail "after restart: $(cat "$T/check")"
ok "after restart: published, no stray files ($(cat "$T/check"))"
