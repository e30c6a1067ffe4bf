#!/bin/sh
# fleet.sh - fleet mode (issue 11) end to end: a relay scim-refreshd syncs
# from the test SCIM server and publishes into a directory served by a real
# nginx (origin), with the edge cache of data/nginx-edge.conf.example in
# front; hosts (scim-refreshd --once with snapshot_url) install from the edge.
#
#   1. the relay publishes; the manifest checks by hand with minisign
#   2. one host installs; its cache has the relay's numbers
#   3. a change (suspend, rename, delete) reaches the host through a delta
#   4. refusals, each leaving the host's cache untouched, with a log line
#   5. FLEET_HOSTS (200) hosts at once against the edge: all identical, and
#      the origin serves each blob at most once and the manifest a few times
#   6. relay down: hosts keep answering; max_age denies once synced is old
#   7. --seed-idmap: a standby relay hands out the same numbers
# Root only (nginx runs as root here); exit 77 without root or nginx.
. "$top_srcdir/tests/net_lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "SKIP: no nginx"; exit 77; }
command -v zstd >/dev/null || { echo "SKIP: no zstd"; exit 77; }
SNAPTOOL=$top_builddir/tests/scim-snaptool
CHECK=$top_builddir/tests/scim-faultcheck
SCIMCTL=$top_builddir/scimctl/scimctl
[ -x "$SCIMCTL" ] || SCIMCTL=$top_builddir/scimctl
HOSTS=${FLEET_HOSTS:-200}
# An instrumented daemon is several times bigger and slower: the sanitizer run
# of scripts/test.sh checks the same paths with fewer hosts at once.
[ -z "${SCIM_SANITIZERS:-}" ] || HOSTS=${FLEET_HOSTS:-20}

# ---- the relay ---------------------------------------------------------
net_seed 60 6 8
net_token
net_start_server
"$REFRESHD" --keygen "$T/relay" >"$T/keygen.log" 2>&1 || fail "--keygen: $(cat "$T/keygen.log")"
[ "$(stat -c %a "$T/relay.key")" = 600 ] || fail "relay.key is not mode 0600"
"$REFRESHD" --keygen "$T/relay" >"$T/keygen2.log" 2>&1 && fail "--keygen overwrote an existing key"
PUB=$(sed -n 2p "$T/relay.pub")
"$REFRESHD" --keygen "$T/other" >/dev/null 2>&1 || fail "--keygen other"
mkdir -p "$T/www/nss-pam-scim" "$T/ngx"
PD=$T/www/nss-pam-scim
net_config "publish_dir = $PD" "signing_key = $T/relay.key" "fleet_name = test-fleet" "manifest_expires = 1h"
mv "$T/conf" "$T/relay.conf"
relay_once() {
	"$REFRESHD" --config "$T/relay.conf" --once >"$T/relay.out" 2>&1 || fail "relay sync: $(cat "$T/relay.out")"
	cat "$T/relay.out" >>"$T/relay.log"
}
relay_once
grep -q 'published snapshot' "$T/relay.out" || fail "the relay did not publish: $(cat "$T/relay.out")"
[ -s "$PD/manifest.minisig" ] || fail "no manifest"
SHA1=$(sed -n 's/.* sha256=\([0-9a-f]*\) .*/\1/p' "$PD/manifest.minisig")
[ -s "$PD/snapshots/$SHA1.zst" ] || fail "no snapshots/$SHA1.zst"
# By hand, as the README says.
if command -v minisign >/dev/null; then
	zstd -q -dc "$PD/snapshots/$SHA1.zst" >"$T/s1"
	minisign -V -P "$PUB" -m "$T/s1" -x "$PD/manifest.minisig" >"$T/minisign.out" 2>&1 ||
		fail "minisign -V: $(cat "$T/minisign.out")"
	ok "the relay published snapshot ${SHA1%${SHA1#????????????}}; minisign verifies the manifest"
fi
# The same snapshot again: re-signed (serial and synced move), never in the same second.
S1=$(sed -n 's/.* serial=\([0-9]*\) .*/\1/p' "$PD/manifest.minisig")
relay_once
S2=$(sed -n 's/.* serial=\([0-9]*\) .*/\1/p' "$PD/manifest.minisig")
[ "$((S2 / 1000))" -gt "$((S1 / 1000))" ] || fail "two manifests in one second: $S1 $S2"
grep -q "sha256=$SHA1 " "$PD/manifest.minisig" || fail "an unchanged directory changed the snapshot"
ok "an unchanged sync re-signs the manifest (serial $S1 -> $S2, another second)"

# ---- nginx: origin and edge ---------------------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
OPORT=$(free_port)
EPORT=$(free_port)
sed -e "s|/var/cache/nginx/scim|$T/ngx/cache|" \
	-e "s|listen 443 ssl;|listen 127.0.0.1:$EPORT ssl;|" \
	-e "s|server_name edge.example.com;|server_name localhost; access_log $T/ngx/edge.log fleet;|" \
	-e "s|/etc/ssl/certs/edge.example.com.pem|$T/certs/server.pem|" \
	-e "s|/etc/ssl/private/edge.example.com.key|$T/certs/server.key|" \
	-e "s|/etc/ssl/certs/ca-certificates.crt|$T/certs/ca.pem|" \
	-e "s|https://relay.example.com|https://127.0.0.1:$OPORT|" \
	-e "s|proxy_ssl_name relay.example.com;|proxy_ssl_name localhost;|" \
	"$top_srcdir/data/nginx-edge.conf.example" >"$T/ngx/edge.conf"
grep -q "127.0.0.1:$OPORT" "$T/ngx/edge.conf" || fail "the edge example changed: this test cannot adapt it"
sed -e "s|@T@|$T|g" -e "s|@ORIGIN_PORT@|$OPORT|g" -e "s|@CERTS@|$T/certs|g" -e "s|@EDGE_CONF@|$T/ngx/edge.conf|g" \
	"$top_srcdir/tests/fleet_nginx.conf.in" >"$T/ngx/nginx.conf"
"$NGINX" -t -p "$T/ngx" -c "$T/ngx/nginx.conf" >"$T/ngx/t.out" 2>&1 || fail "nginx -t: $(cat "$T/ngx/t.out")"
"$NGINX" -p "$T/ngx" -c "$T/ngx/nginx.conf" 2>>"$T/ngx/stderr" &
NET_PIDS="$NET_PIDS $!"
i=0
until curl -s --cacert "$T/certs/ca.pem" -o /dev/null "https://127.0.0.1:$EPORT/nss-pam-scim/manifest.minisig"; do
	i=$((i + 1))
	[ $i -gt 100 ] && fail "nginx did not start: $(cat "$T/ngx/error.log" "$T/ngx/stderr" 2>/dev/null)"
	sleep 0.1
done
EDGE=https://127.0.0.1:$EPORT/nss-pam-scim/
ORIGIN=https://127.0.0.1:$OPORT/
# edge_serves WHAT WORDS: wait until the edge's manifest holds WORDS (it caches
# the manifest for 10 s), at most 15 s.
edge_serves() {
	i=0
	until curl -s --cacert "$T/certs/ca.pem" "${EDGE}manifest.minisig" | grep -q "$2"; do
		i=$((i + 1))
		[ $i -gt 150 ] && fail "the edge never served $1"
		sleep 0.1
	done
}
ok "nginx: origin on $OPORT, edge on $EPORT (data/nginx-edge.conf.example)"

# ---- hosts ----------------------------------------------------------------
# host_conf DIR URL [KEY = VALUE...]: a host's config in DIR/conf.
host_conf() {
	d=$1
	u=$2
	shift 2
	mkdir -p "$d/state" "$d/cache"
	{
		echo "snapshot_url = $u"
		echo "snapshot_pubkey = $PUB"
		echo "fleet_name = test-fleet"
		echo "ca_file = $T/certs/ca.pem"
		echo "state_dir = $d/state"
		echo "cache_file = $d/cache/cache.tdb"
		echo "timeout = 20"
		for l in "$@"; do echo "$l"; done
	} >"$d/conf"
	chmod 0644 "$d/conf"
}
# host_once DIR: one poll; output in DIR/out, status in HRC.
host_once() {
	HRC=0
	"$REFRESHD" --config "$1/conf" --once >"$1/out" 2>&1 || HRC=$?
}
dump() { "$CHECK" cache "$1" | grep -v '^header'; }
# poll_all [WAVE]: every host --once, WAVE (all) at a time; sets POLL_FAILED.
poll_all() {
	POLL_FAILED=0
	i=0
	while [ $i -lt "$HOSTS" ]; do
		pids=""
		j=0
		while [ $j -lt "${1:-$HOSTS}" ] && [ $i -lt "$HOSTS" ]; do
			"$REFRESHD" --config "$T/hosts/$i/conf" --once >"$T/hosts/$i/out" 2>&1 &
			pids="$pids $!"
			i=$((i + 1))
			j=$((j + 1))
		done
		for p in $pids; do
			wait "$p" || POLL_FAILED=$((POLL_FAILED + 1))
		done
	done
}

H=$T/h1
host_conf "$H" "$EDGE"
host_once "$H"
[ "$HRC" = 0 ] || fail "host install: $(cat "$H/out")"
grep -q 'installed:.* via=full' "$H/out" || fail "host: no install line: $(cat "$H/out")"
dump "$T/cache/cache.tdb" >"$T/relay.dump" || fail "relay cache"
dump "$H/cache/cache.tdb" >"$H/dump" || fail "host cache: $(cat "$H/out")"
cmp -s "$T/relay.dump" "$H/dump" || fail "the host's cache differs from the relay's: $(diff "$T/relay.dump" "$H/dump" | head)"
# synced is the cache's last_sync: the relay's, not the download's.
RSYNC=$(sed -n 's/.* synced=\([0-9]*\) .*/\1/p' "$PD/manifest.minisig")
"$SCIMCTL" --cache "$H/cache/cache.tdb" --json status >"$T/status.json" || true
grep -q "\"last_sync\":$RSYNC" "$T/status.json" || fail "last_sync is not the relay's synced $RSYNC: $(cat "$T/status.json")"
ok "a host installed the snapshot: $(wc -l <"$H/dump") users and groups, the relay's numbers, last_sync = synced"
host_once "$H"
[ "$HRC" = 0 ] || fail "second poll: $(cat "$H/out")"
grep -q 'installed' "$H/out" && fail "an unchanged manifest was installed again: $(cat "$H/out")"
ok "an unchanged manifest only records freshness"

# The daemon: a host polls at start, then in its slot; SIGUSR1 polls now.
host_conf "$T/hd" "$EDGE" "refresh_interval = 600"
"$REFRESHD" --config "$T/hd/conf" >"$T/hd/daemon.log" 2>&1 &
dpid=$!
NET_PIDS="$NET_PIDS $dpid"
net_wait_for "$T/hd/daemon.log" 'installed:' 20 || fail "the host daemon did not install: $(cat "$T/hd/daemon.log")"
grep -q 'fleet host, polling .* in slot [0-9]*' "$T/hd/daemon.log" || fail "no slot in the start line"
kill -USR1 "$dpid"
net_wait_for "$T/hd/daemon.log" 'unchanged: serial=' 20 || fail "SIGUSR1 did not poll: $(cat "$T/hd/daemon.log")"
kill "$dpid"
wait "$dpid" 2>/dev/null || true
ok "a host daemon installs at start, polls again on SIGUSR1 ($(grep -o 'in slot [0-9]*' "$T/hd/daemon.log") of 600 s)"

# ---- a change through a delta --------------------------------------------
cp -a "$H" "$T/h1-v1" # a host still at the first snapshot, for the refusals
cp "$PD/manifest.minisig" "$T/manifest.v1"
python3 - "$T/data/seed.json" <<'EOF'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
u = d["Users"]
u[0]["active"] = False                 # suspend
u[1]["userName"] = "renamed0002"       # rename
del u[2]                               # delete
json.dump(d, open(p + ".tmp", "w"))
import os
os.rename(p + ".tmp", p)
EOF
sleep 1
relay_once
SHA2=$(sed -n 's/.* sha256=\([0-9a-f]*\) .*/\1/p' "$PD/manifest.minisig")
[ "$SHA2" != "$SHA1" ] || fail "the change did not change the snapshot"
[ -s "$PD/deltas/$SHA1-$SHA2.zst" ] || fail "no delta $SHA1-$SHA2"
grep -q "deltas=$SHA1:" "$PD/manifest.minisig" || fail "the manifest does not offer the delta"
# The edge caches the manifest for 10 s: wait until it serves the new one.
edge_serves "the new manifest" "sha256=$SHA2"
host_once "$H"
[ "$HRC" = 0 ] || fail "delta install: $(cat "$H/out")"
grep -q 'installed:.* via=delta' "$H/out" || fail "not installed through the delta: $(cat "$H/out")"
grep -q 'suspended=1' "$H/out" && grep -q 'renamed=1' "$H/out" && grep -q 'removed=1' "$H/out" ||
	fail "the summary does not show the change: $(cat "$H/out")"
dump "$T/cache/cache.tdb" >"$T/relay.dump"
dump "$H/cache/cache.tdb" >"$H/dump"
cmp -s "$T/relay.dump" "$H/dump" || fail "after the delta the host differs: $(diff "$T/relay.dump" "$H/dump" | head)"
DBYTES=$(sed -n 's/.* bytes=\([0-9]*\) .*/\1/p' "$H/out")
FULL=$(stat -c %s "$PD/snapshots/$SHA2.zst")
ok "suspend + rename + delete reached the host through a delta: fetched $DBYTES bytes (manifest and delta; the full blob is $FULL)"

# ---- host_groups on a host -------------------------------------------------
G=$(grep '^G g-' "$T/relay.dump" | head -n 1)
GNAME=$(echo "$G" | cut -d' ' -f4)
GN=$(echo "$G" | cut -d' ' -f5)
host_conf "$T/hg" "$EDGE" "host_groups = $GNAME"
host_once "$T/hg"
[ "$HRC" = 0 ] || fail "host_groups host: $(cat "$T/hg/out")"
dump "$T/hg/cache/cache.tdb" >"$T/hg/dump"
[ "$(grep -c '^U' "$T/hg/dump")" = "$GN" ] || fail "host_groups = $GNAME: not its $GN members: $(cat "$T/hg/dump")"
grep -q 'not_selected=[1-9]' "$T/hg/out" || fail "no not_selected in the summary: $(cat "$T/hg/out")"
ok "host_groups = $GNAME on a host: its $GN members only"

# ---- refusals -------------------------------------------------------------
# Each case serves a directory of its own at the origin, and polls from a
# copy of a host at snapshot 2 (or 1); the cache must stay byte for byte.
BASE=$T/h1
COMMENT=$(sed -n 's/^trusted comment: //p' "$PD/manifest.minisig")
zstd -q -dc "$PD/snapshots/$SHA2.zst" >"$T/s2"
# field NAME COMMENT: a field of a trusted comment.
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
# recomment COMMENT KEY=VALUE...: the comment with those fields replaced.
recomment() {
	c=$1
	shift
	for kv in "$@"; do
		c=$(printf '%s\n' "$c" | sed "s/\( \|^\)${kv%%=*}=[^ ]*/\1$kv/")
	done
	printf '%s\n' "$c"
}
now_ms() { python3 -c 'import time; print(int(time.time()*1000))'; }
# bad_dir NAME: a copy of the publish_dir in www/NAME.
bad_dir() {
	rm -rf "$T/www/$1"
	cp -a "$PD" "$T/www/$1"
	echo "$T/www/$1"
}
# sign KEY STREAM COMMENT OUT: a manifest for STREAM.
sign() { "$SNAPTOOL" sign "$1" "$2" "$3" >"$4" || fail "snaptool sign"; }
# fresh_comment STREAM BLOB [KEY=VALUE...]: a comment for a new serial.
fresh_comment() {
	ms=$(now_ms)
	st=$1
	bl=$2
	shift 2
	recomment "$COMMENT" "serial=$ms" "issued=$((ms / 1000))" "expires=$((ms / 1000 + 3600))" \
		"size=$(stat -c %s "$st")" "sha256=$(sha256sum "$st" | cut -c1-64)" "zsize=$(stat -c %s "$bl")" \
		"deltas=-" "$@"
}
# expect_refusal NAME FROM PATTERN: a copy of host FROM polls www/NAME and
# must refuse with PATTERN in its log, its cache untouched.
expect_refusal() {
	d=$T/r-$1
	rm -rf "$d"
	cp -a "$2" "$d"
	host_conf "$d" "${ORIGIN}$1/"
	before=$(sha256sum <"$d/cache/cache.tdb")
	state_before=$(cat "$d/state/manifest.accepted")
	host_once "$d"
	[ "$HRC" != 0 ] || fail "$1: accepted: $(cat "$d/out")"
	grep -q -- "$3" "$d/out" || fail "$1: no log line matching '$3': $(cat "$d/out")"
	[ "$(sha256sum <"$d/cache/cache.tdb")" = "$before" ] || fail "$1: the cache changed"
	[ "$(cat "$d/state/manifest.accepted")" = "$state_before" ] || fail "$1: the accepted manifest changed"
	ok "refused $1: $(grep -o 'failed at .*' "$d/out" | cut -c1-150)"
}
# A stream and its blob for the crafted cases: snapshot 2 with one more
# user line changed, recompressed (zstd writes the content size).
craft() {
	dir=$1
	stream=$2
	zstd -q -f -19 "$stream" -o "$stream.zst"
	sha=$(sha256sum "$stream" | cut -c1-64)
	cp "$stream.zst" "$dir/snapshots/$sha.zst"
}

# A bit flip in the manifest's trusted comment (users=N -> users=N+1 would
# be another length; flip one digit of the serial).
D=$(bad_dir flip-manifest)
python3 - "$D/manifest.minisig" <<'EOF2'
import re, sys
p = sys.argv[1]
t = open(p).read()
m = re.search(r"serial=\d*(\d) ", t)
i = m.end() - 2
t = t[:i] + str((int(t[i]) + 1) % 10) + t[i + 1:]
open(p, "w").write(t)
EOF2
cmp -s "$D/manifest.minisig" "$PD/manifest.minisig" && fail "the flip did nothing"
expect_refusal flip-manifest "$BASE" "manifest signature"

# Signed by another key.
D=$(bad_dir other-key)
sign "$T/other.key" "$T/s2" "$(fresh_comment "$T/s2" "$PD/snapshots/$SHA2.zst")" "$D/manifest.minisig"
expect_refusal other-key "$BASE" "manifest signature"

# An old manifest replayed (snapshot 1's, to a host at snapshot 2).
D=$(bad_dir replay)
cp "$T/manifest.v1" "$D/manifest.minisig"
expect_refusal replay "$BASE" "(rollback)"

# Expired.
D=$(bad_dir expired)
ms=$(($(now_ms) - 7200000))
sign "$T/relay.key" "$T/s2" "$(fresh_comment "$T/s2" "$PD/snapshots/$SHA2.zst" "serial=$ms" "issued=$((ms / 1000))" \
	"synced=$((ms / 1000 - 1))" "expires=$((ms / 1000 + 7190))")" "$D/manifest.minisig"
expect_refusal expired "$BASE" "manifest expired at"

# Issued in the future (more than 300 s).
D=$(bad_dir future)
ms=$(($(now_ms) + 900000))
sign "$T/relay.key" "$T/s2" "$(recomment "$(fresh_comment "$T/s2" "$PD/snapshots/$SHA2.zst")" "serial=$ms" \
	"issued=$((ms / 1000))" "expires=$((ms / 1000 + 3600))")" "$D/manifest.minisig"
expect_refusal future "$BASE" "in the future"

# The same serial as the accepted one, other content.
D=$(bad_dir same-serial)
sign "$T/relay.key" "$T/s2" "$(recomment "$COMMENT" "generation=999")" "$D/manifest.minisig"
expect_refusal same-serial "$BASE" "accepted before with other content"

# A bit flip in the full blob (a host at snapshot 1, no delta on offer).
D=$(bad_dir flip-blob)
sign "$T/relay.key" "$T/s2" "$(fresh_comment "$T/s2" "$PD/snapshots/$SHA2.zst")" "$D/manifest.minisig"
python3 - "$D/snapshots/$SHA2.zst" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x10
open(p, "wb").write(b)
EOF
expect_refusal flip-blob "$T/h1-v1" "zstd decompression\|SHA-256"

# A blob bigger than signed.
D=$(bad_dir big-blob)
sign "$T/relay.key" "$T/s2" "$(fresh_comment "$T/s2" "$PD/snapshots/$SHA2.zst")" "$D/manifest.minisig"
head -c 5000 /dev/urandom >>"$D/snapshots/$SHA2.zst"
expect_refusal big-blob "$T/h1-v1" "bigger than the signed"

# A delta that does not match: the host falls back to the full blob (once) ...
D=$(bad_dir bad-delta)
"$SNAPTOOL" delta-make "$T/s2" "$T/s1" "$T/wrong.zst" || fail "delta-make"
DZ=$(stat -c %s "$T/wrong.zst")
cp "$T/wrong.zst" "$D/deltas/$SHA1-$SHA2.zst"
sign "$T/relay.key" "$T/s2" "$(fresh_comment "$T/s2" "$PD/snapshots/$SHA2.zst" "deltas=$SHA1:$DZ")" \
	"$D/manifest.minisig"
d=$T/r-bad-delta-fallback
cp -a "$T/h1-v1" "$d"
host_conf "$d" "${ORIGIN}bad-delta/"
host_once "$d"
[ "$HRC" = 0 ] || fail "bad delta with a good full blob: $(cat "$d/out")"
grep -q 'fetching the full snapshot instead' "$d/out" && grep -q 'via=full' "$d/out" ||
	fail "no fallback to the full blob: $(cat "$d/out")"
ok "a delta that does not match falls back to the full blob"
# ... and without a good full blob, it is refused.
rm -f "$D/snapshots/$SHA2.zst"
expect_refusal bad-delta "$T/h1-v1" "fetching the full snapshot instead"

# Snapshots the relay would never sign, signed anyway: uid 0, a duplicate
# name, counts that differ from the signed counts.
D=$(bad_dir uid0)
awk -F'\t' 'BEGIN { OFS = "\t" } $1 == "U" && !done { $4 = 0; done = 1 } { print }' "$T/s2" >"$T/s-uid0"
craft "$D" "$T/s-uid0"
sign "$T/relay.key" "$T/s-uid0" "$(fresh_comment "$T/s-uid0" "$T/s-uid0.zst")" "$D/manifest.minisig"
expect_refusal uid0 "$BASE" "uid 0 is outside"

D=$(bad_dir dup-name)
first=$(awk -F'\t' '$1 == "U" { print $3; exit }' "$T/s2")
awk -F'\t' -v n="$first" 'BEGIN { OFS = "\t" } $1 == "U" { k++; if (k == 2) $3 = n } { print }' "$T/s2" >"$T/s-dup"
craft "$D" "$T/s-dup"
sign "$T/relay.key" "$T/s-dup" "$(fresh_comment "$T/s-dup" "$T/s-dup.zst")" "$D/manifest.minisig"
expect_refusal dup-name "$BASE" "name .* is used twice"

D=$(bad_dir counts)
USERS=$(field users "$COMMENT")
sign "$T/relay.key" "$T/s2" "$(fresh_comment "$T/s2" "$PD/snapshots/$SHA2.zst" "users=$((USERS + 1))")" \
	"$D/manifest.minisig"
expect_refusal counts "$BASE" "counts differ from the signed counts"

# ---- many hosts at once ---------------------------------------------------
# A new snapshot the edge has never seen: every host asks for its blob at once.
python3 - "$T/data/seed.json" <<'EOF2'
import json, os, sys
p = sys.argv[1]
d = json.load(open(p))
d["Users"][3]["active"] = False
json.dump(d, open(p + ".tmp", "w"))
os.rename(p + ".tmp", p)
EOF2
sleep 1
relay_once
SHA3=$(sed -n 's/.* sha256=\([0-9a-f]*\) .*/\1/p' "$PD/manifest.minisig")
dump "$T/cache/cache.tdb" >"$T/relay.dump"
edge_serves "the third manifest" "sha256=$SHA3"
: >"$T/ngx/origin.log.mark"
cp "$T/ngx/origin.log" "$T/origin.before"
mkdir -p "$T/hosts"
i=0
while [ $i -lt "$HOSTS" ]; do
	host_conf "$T/hosts/$i" "$EDGE"
	i=$((i + 1))
done
start=$(date +%s)
poll_all
took=$(($(date +%s) - start))
[ "$POLL_FAILED" = 0 ] || fail "$POLL_FAILED of $HOSTS hosts failed: $(grep -h failed "$T"/hosts/*/out | head -3)"
i=0
while [ $i -lt "$HOSTS" ]; do
	dump "$T/hosts/$i/cache/cache.tdb" >"$T/hosts/$i/dump" || fail "host $i: bad cache"
	cmp -s "$T/relay.dump" "$T/hosts/$i/dump" || fail "host $i differs from the relay"
	i=$((i + 1))
done
tail -n +"$(($(wc -l <"$T/origin.before") + 1))" "$T/ngx/origin.log" >"$T/origin.new"
blob_max=$(grep -o '"GET /nss-pam-scim/[a-z]*/[^ ]*' "$T/origin.new" | sort | uniq -c | sort -rn | awk 'NR == 1 { print $1 }')
manifest_n=$(grep -c 'GET /nss-pam-scim/manifest.minisig' "$T/origin.new")
grep -q "GET /nss-pam-scim/snapshots/$SHA3.zst" "$T/origin.new" || fail "the edge never fetched the new blob?"
[ "${blob_max:-0}" -le 1 ] || fail "the origin served a blob $blob_max times: $(cat "$T/origin.new")"
[ "$manifest_n" -le 3 ] || fail "the origin served the manifest $manifest_n times for $HOSTS hosts"
ok "$HOSTS hosts at once in ${took}s: identical caches with the relay's numbers; origin: each blob at most ${blob_max:-0}x, manifest ${manifest_n}x"

# ---- the fleet simulation (bench/fleet_sim.sh; FLEET_SIM=1 only) -----------
# Every host polls again, generation after generation, through the edge: what
# the origin serves per generation, what a host fetches per change, and the
# SCIM server's requests, which are the relay's alone.
# generation LABEL: poll every host, then report the origin's requests and
# what the hosts fetched.
generation() {
	before=$(wc -l <"$T/ngx/origin.log")
	scim_before=$(wc -l <"$T/server.log")
	start=$(date +%s)
	poll_all "${FLEET_WAVE:-200}"
	took=$(($(date +%s) - start))
	[ "$POLL_FAILED" = 0 ] || fail "$1: $POLL_FAILED of $HOSTS hosts failed"
	origin=$(tail -n +"$((before + 1))" "$T/ngx/origin.log" | wc -l)
	scim=$(($(wc -l <"$T/server.log") - scim_before))
	bytes=$(cat "$T/hosts"/*/out | sed -n 's/.* bytes=\([0-9]*\).*/\1/p' | awk '{ s += $1; n++ } END { printf "%d %d", s, n }')
	echo "sim: $1: $HOSTS hosts in ${took} s; origin requests $origin; SCIM requests by the hosts $scim;" \
		"installs $(echo "$bytes" | cut -d' ' -f2), bytes per host $(($(echo "$bytes" | cut -d' ' -f1) / HOSTS))"
	[ "$scim" = 0 ] || fail "$1: the hosts reached the SCIM server"
}
if [ "${FLEET_SIM:-0}" = 1 ]; then
	relay_requests() { grep -c '"auth": "ok"' "$T/server.log"; }
	r0=$(relay_requests)
	generation "unchanged (the manifest only)"
	# A change: one suspension and one rename, through the relay.
	python3 - "$T/data/seed.json" <<'EOF3'
import json, os, sys
p = sys.argv[1]
d = json.load(open(p))
d["Users"][5]["active"] = False
d["Users"][6]["userName"] = "simrenamed"
json.dump(d, open(p + ".tmp", "w"))
os.rename(p + ".tmp", p)
EOF3
	sleep 1
	relay_once
	SHAS=$(sed -n 's/.* sha256=\([0-9a-f]*\) .*/\1/p' "$PD/manifest.minisig")
	edge_serves "the simulation's manifest" "sha256=$SHAS"
	generation "a change (a delta each)"
	sleep 1
	relay_once
	edge_serves "the re-signed manifest" "serial=$(sed -n 's/.* serial=\([0-9]*\) .*/\1/p' "$PD/manifest.minisig") "
	generation "re-signed, unchanged snapshot"
	r1=$(relay_requests)
	echo "sim: the SCIM server answered $((r1 - r0)) requests during the simulation, all with the relay's token" \
		"($(grep -c '"auth": "ok"' "$T/server.log") of $(wc -l <"$T/server.log") in all carry it)"
	ok "fleet simulation: $HOSTS hosts, three generations"
	# The relay synced for the simulation: the steps below count on its
	# history as the test left it.
	exit 0
fi

# ---- relay down -------------------------------------------------------------
# The relay stops (no more syncs) and its publish_dir is gone from the
# origin: a host's poll fails with a log line, its cache stays and answers,
# and max_age, which measures the relay's synced, denies once that is old.
d=$T/hosts/0
"$SCIMCTL" --cache "$d/cache/cache.tdb" --max-age 3600 status >/dev/null || fail "fresh cache reported stale"
mv "$PD" "$T/www/gone"
sleep 11 # the edge's manifest lifetime: it asks the origin again
before=$(sha256sum <"$d/cache/cache.tdb")
host_once "$d"
[ "$HRC" != 0 ] || grep -q 'unchanged' "$d/out" || fail "relay down: $(cat "$d/out")"
[ "$(sha256sum <"$d/cache/cache.tdb")" = "$before" ] || fail "relay down: the cache changed"
"$CHECK" cache "$d/cache/cache.tdb" >/dev/null || fail "the host stopped answering"
SYNCED=$(sed -n 's/.* synced=\([0-9]*\) .*/\1/p' "$T/www/gone/manifest.minisig")
AGE=$(($(date +%s) - SYNCED))
"$SCIMCTL" --cache "$d/cache/cache.tdb" --max-age $((AGE + 600)) status >/dev/null || fail "within max_age, reported stale"
"$SCIMCTL" --cache "$d/cache/cache.tdb" --max-age 5 status >"$T/stale.out" 2>&1 && fail "max_age did not deny: $(cat "$T/stale.out")"
grep -q stale "$T/stale.out" || fail "scimctl status: $(cat "$T/stale.out")"
ok "relay down: poll $( [ "$HRC" = 0 ] && echo 'served stale by the edge' || echo failed), the host still answers, max_age 5 s denies (synced $AGE s ago)"
mv "$T/www/gone" "$PD"

# ---- blobs no manifest offers any more ------------------------------------
# After manifest_expires (1h here) without an offer, a blob goes; the
# snapshots of the history stay (deltas are made from them).  The wait is
# simulated by moving the offer times in relay.state back two hours.
ls "$PD/deltas/$SHA1-$SHA2.zst" >/dev/null || fail "the old delta is already gone"
sed -i 's/^\(blob [^ ]*\) [0-9]*$/\1 1/' "$T/state/relay.state"
sleep 1
relay_once
[ -e "$PD/deltas/$SHA1-$SHA2.zst" ] && fail "a delta no manifest offers survived its grace period"
[ -s "$PD/deltas/$SHA2-$SHA3.zst" ] || fail "the offered delta $SHA2-$SHA3 was removed"
[ -s "$PD/snapshots/$SHA1.zst" ] || fail "a snapshot of the history was removed"
grep -q "removed deltas/$SHA1-$SHA2.zst" "$T/relay.out" || fail "no log line for the removal: $(cat "$T/relay.out")"
# Fresh offers start a new grace period: nothing else goes on the next run.
n=$(ls "$PD/deltas" "$PD/snapshots" | wc -l)
sleep 1
relay_once
[ "$(ls "$PD/deltas" "$PD/snapshots" | wc -l)" = "$n" ] || fail "blobs went before their grace period"
# Out of the history (publish_deltas = 0): old snapshots go too.
sed -i 's/^fleet_name = .*/&\npublish_deltas = 0/' "$T/relay.conf"
sed -i 's/^\(blob [^ ]*\) [0-9]*$/\1 1/' "$T/state/relay.state"
sleep 1
relay_once
[ -e "$PD/snapshots/$SHA1.zst" ] && fail "an old snapshot out of the history survived"
[ -s "$PD/snapshots/$SHA3.zst" ] || fail "the current snapshot was removed"
grep -q 'deltas=-$' "$PD/manifest.minisig" || fail "publish_deltas = 0 still offers deltas"
ok "blobs no manifest offered for manifest_expires are removed; offered ones and the history stay"

# ---- a standby relay seeded from the snapshot -------------------------------
mkdir -p "$T/standby/state"
sed -e "s|state_dir = .*|state_dir = $T/standby/state|" -e "s|cache_file = .*|cache_file = $T/standby/cache.tdb|" \
	-e "/publish_dir/d" -e "/signing_key/d" "$T/relay.conf" >"$T/standby/conf"
"$REFRESHD" --config "$T/standby/conf" --seed-idmap "$PD/snapshots/$SHA3.zst" >"$T/standby/seed.out" 2>&1 ||
	fail "--seed-idmap: $(cat "$T/standby/seed.out")"
"$REFRESHD" --config "$T/standby/conf" --once >"$T/standby/out" 2>&1 || fail "standby sync: $(cat "$T/standby/out")"
dump "$T/standby/cache.tdb" >"$T/standby/dump"
cmp -s "$T/relay.dump" "$T/standby/dump" || fail "the standby relay's numbers differ: $(diff "$T/relay.dump" "$T/standby/dump" | head)"
grep -q 'new_numbers=0' "$T/standby/out" || fail "the standby handed out new numbers: $(cat "$T/standby/out")"
ok "a standby relay seeded with --seed-idmap hands out the same numbers"
exit 0
