#!/bin/sh
# The daemon's signals: SIGUSR1 syncs now; SIGHUP reloads (a bad config is
# refused and the old one kept, a good one takes effect with a sync);
# SIGTERM exits promptly during a backoff wait, during the retry backoff inside
# a sync, and in the middle of a slow transfer; leftovers are cleaned at start.
# "Promptly" is checked against 3 s (the daemon polls its flags every 0.1 s;
# the bound is generous for a loaded machine, it is not a speed benchmark).
. "$top_srcdir/tests/net_lib.sh"

net_token
net_seed 20 2 3
net_start_server
net_config "refresh_interval = 600" "timeout = 20"
CACHE=$T/cache/cache.tdb
LOG=$T/daemon.log

start_daemon() {
	: >"$LOG"
	"$REFRESHD" --config "$T/conf" >>"$LOG" 2>&1 &
	DPID=$!
	NET_PIDS="$NET_PIDS $DPID"
}
# stop_within SECONDS: SIGTERM, then the daemon must be gone within SECONDS.
stop_within() {
	t0=$(date +%s%N)
	kill -TERM "$DPID"
	i=0
	while kill -0 "$DPID" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt $(($1 * 50)) ] && fail "still running $1 s after SIGTERM"
		sleep 0.02
	done
	wait "$DPID" && rc=0 || rc=$?
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ $rc = 0 ] || fail "exit status $rc after SIGTERM"
	grep -q "stopping on signal" "$LOG" || fail "no 'stopping on signal' in the log"
}
published() { grep -c "published: " "$LOG"; }
# wait_published N WHAT: until the N-th publish, or fail with WHAT.
wait_published() {
	i=0
	while [ "$(published)" -lt "$1" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "$2"
		sleep 0.05
	done
}

# A token file that group can read: the daemon refuses to start.
chmod 640 "$T/token"
RC=0
"$REFRESHD" --config "$T/conf" >"$LOG" 2>&1 || RC=$?
[ $RC = 1 ] || fail "started with a group-readable token file (rc=$RC)"
grep -q "lets group or others read or write it" "$LOG" && grep -q "not starting" "$LOG" || fail "no reason given"
[ ! -s "$T/server.log" ] || fail "a request went out"
chmod 600 "$T/token"
ok "group-readable token file: refused to start, nothing sent"

# A leftover from a publisher killed mid-write is removed at start.
mkdir -p "$T/cache"
echo junk >"$CACHE.new"
start_daemon
net_wait_for "$LOG" "published: users=20 " 10 || fail "first sync"
[ ! -e "$CACHE.new" ] || fail "leftover $CACHE.new not removed"
grep -q "removed $CACHE.new left by an interrupted publish" "$LOG" || fail "leftover removal not logged"
ok "leftover .new removed at start, first sync published"

# SIGUSR1: a sync now, not in 600 s.
kill -USR1 "$DPID"
net_wait_for "$LOG" "SIGUSR1: syncing now" 5 || fail "SIGUSR1 not acknowledged"
wait_published 2 "SIGUSR1 did not trigger a sync"
ok "SIGUSR1 triggered a sync"

# SIGHUP with a bad config: refused, the old one kept (and still used).
cp "$T/conf" "$T/conf.good"
echo "page_size = lots" >>"$T/conf"
kill -HUP "$DPID"
net_wait_for "$LOG" "new configuration refused, keeping the old one" 5 || fail "bad config not refused"
grep -q "conf:[0-9]*: .*page_size" "$LOG" || fail "the bad line is not named"
kill -0 "$DPID" || fail "the daemon died on a bad config"
kill -USR1 "$DPID"
wait_published 3 "no sync with the old config after a refused reload"
ok "SIGHUP with a bad config: refused, old config kept"

# SIGHUP with a good new config: reloaded, and it syncs with it (pages of 7).
sed 's/^page_size = .*/page_size = 7/' "$T/conf.good" >"$T/conf"
n=$(net_requests)
kill -HUP "$DPID"
net_wait_for "$LOG" "configuration reloaded" 5 || fail "good config not reloaded"
wait_published 4 "no sync after a reload"
tail -n +$((n + 1)) "$T/server.log" | grep -q '"query": "startIndex=8&count=7"' || fail "the new page_size is not used"
ok "SIGHUP with a good config: reloaded and synced with it"

# SIGTERM while waiting out the backoff after a failed sync.
net_control '{"faults": [{"kind": "status", "status": 401, "detail": "nope"}]}'
kill -USR1 "$DPID"
net_wait_for "$LOG" "next attempt in [0-9]* s (failure 1 in a row)" 10 || fail "no backoff after a failure"
sleep 0.3
stop_within 3
ok "SIGTERM during the backoff after a failure: exited in ${ms} ms"

# SIGTERM during the retry backoff inside a sync (5xx retries).
net_control '{"faults": [{"kind": "status", "status": 503, "headers": {"Retry-After": "30"}}]}'
start_daemon
net_wait_for "$LOG" "server error HTTP 503: retrying in 30 s" 10 || fail "no retry wait"
sleep 0.3
stop_within 3
grep -q "failed (interrupted): nothing published" "$LOG" || fail "interrupted sync not logged"
ok "SIGTERM during a Retry-After wait inside a sync: exited in ${ms} ms"

# SIGTERM in the middle of a transfer the server is slow to answer.
net_control '{"faults": [{"kind": "slow", "seconds": 15}]}'
cp "$CACHE" "$T/before"
start_daemon
net_wait_for "$T/server.log" '"status": "slow"' 10 || fail "the slow request never arrived"
sleep 0.3
stop_within 3
grep -q "transfer interrupted" "$LOG" || fail "no 'transfer interrupted' in the log"
ok "SIGTERM mid-transfer: exited in ${ms} ms"
cmp -s "$CACHE" "$T/before" || fail "the cache changed"
left=$(ls "$T/cache" | grep -v '^cache\.tdb$' | grep -v '^cache\.tdb\.lock$' || true)
[ -z "$left" ] || fail "stray files: $left"
ok "cache untouched, no stray files"
