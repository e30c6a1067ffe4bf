#!/bin/sh
# fleet_bench.sh - a fleet host installing a big snapshot, timed.
#
#   bench/fleet_bench.sh [USERS]          (default 100000; groups = USERS/10)
#
# A relay imports a generated directory (bench/gen.py --scim) and publishes it
# as a fleet snapshot; a static HTTPS server serves publish_dir; a host runs
# `scim-refreshd --once` twice: a fresh install (the full blob) and, after a
# 1% change on the relay (1000 suspended, 500 renamed, 500 deleted), the
# delta.  Reports each host run's wall time, CPU (user + system) and peak RSS
# (GNU time), and the bytes it fetched.  Targets (issue 11): full install
# <= 0.5 s / 64 MB, delta <= 0.2 s / 100 MB.  Knobs: BUILD (the build tree;
# default: the current directory), KEEP=1 keeps the work dir.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$here/.." && pwd)
BUILD=${BUILD:-$(pwd)}
REFRESHD=$BUILD/scim-refreshd
[ -x "$REFRESHD" ] || { echo "fleet_bench: no $REFRESHD (run from the build tree or set BUILD)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "fleet_bench: needs GNU time (/usr/bin/time)" >&2; exit 1; }
N=${1:-100000}
G=$((N / 10))
W=$(mktemp -d "${TMPDIR:-/tmp}/scim-fleetbench.XXXXXX")
spid=""
cleanup() {
	[ -z "$spid" ] || kill "$spid" 2>/dev/null || true
	[ "${KEEP:-0}" = 1 ] && echo "kept $W" >&2 || rm -rf "$W"
}
trap cleanup EXIT
export TDB_NO_FSYNC=1

echo "# generating $N users, $G groups" >&2
python3 "$here/gen.py" --users "$N" --groups "$G" --scim --out "$W/dir" >&2
ext=urn:example:params:scim:schemas:extension:posix:2.0
NUMBERS="uid_attribute = $ext:User:uidNumber
gid_attribute = $ext:Group:gidNumber
uid_min = 100000
uid_max = 2147483647"
python3 "$top_srcdir/tests/scim_server.py" --certs-only --certdir "$W/certs" --data x --port-file x >&2

"$REFRESHD" --keygen "$W/fleet" >/dev/null 2>&1
mkdir -p "$W/relay" "$W/www/fleet" "$W/host"
cat >"$W/relay/conf" <<EOC
$NUMBERS
state_dir = $W/relay
cache_file = $W/relay/cache.tdb
publish_dir = $W/www/fleet
signing_key = $W/fleet.key
EOC
echo "# relay: import and publish" >&2
/usr/bin/time -f "relay import+publish: %e s wall, %U+%S s CPU, %M KB peak" \
	"$REFRESHD" --config "$W/relay/conf" --once --import "$W/dir/scim" 2>&1 | grep -E 'published snapshot|relay import' >&2

# A static HTTPS server for publish_dir.
python3 - "$W/www" "$W/certs" "$W/port" <<'EOP' 2>"$W/server.err" &
import http.server, os, ssl, sys
root, certs, portfile = sys.argv[1:4]
os.chdir(root)
class Q(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *a):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Q)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(certs, "server.pem"), os.path.join(certs, "server.key"))
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(portfile + ".tmp", "w").write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
EOP
spid=$!
i=0
while [ ! -s "$W/port" ]; do
	i=$((i + 1))
	[ $i -gt 300 ] && { echo "fleet_bench: server did not start: $(cat "$W/server.err")" >&2; exit 1; }
	sleep 0.1
done
cat >"$W/host/conf" <<EOC
$NUMBERS
state_dir = $W/host
cache_file = $W/host/cache.tdb
snapshot_url = https://127.0.0.1:$(cat "$W/port")/fleet/
snapshot_pubkey = $(sed -n 2p "$W/fleet.pub")
ca_file = $W/certs/ca.pem
EOC

host_run() {
	/usr/bin/time -f "%e %U %S %M" -o "$W/time" "$REFRESHD" --config "$W/host/conf" --once >"$W/host/out" 2>&1 ||
		{ cat "$W/host/out" >&2; exit 1; }
	read -r wall usr sys rss <"$W/time"
	via=$(sed -n 's/.* via=\([a-z]*\) .*/\1/p' "$W/host/out")
	bytes=$(sed -n 's/.* bytes=\([0-9]*\) .*/\1/p' "$W/host/out")
	printf '%-14s via=%-5s %6s s wall  %5.2f s CPU  %6.1f MB peak RSS  %9s bytes fetched\n' "$1" "$via" "$wall" \
		"$(echo "$usr + $sys" | bc)" "$(echo "scale=1; $rss / 1024" | bc)" "$bytes"
}
host_run "full install"

# 1% churn on the relay: 1000 suspended, 500 renamed, 500 deleted.
python3 - "$W/dir/scim/Users.json" <<'EOP'
import json, os, sys
p = sys.argv[1]
d = json.load(open(p))
res = d["Resources"]
for u in res[0:1000]:
    u["active"] = False
for u in res[1000:1500]:
    u["userName"] = "r" + u["userName"]
del res[1500:2000]
d["totalResults"] = len(res)
d["itemsPerPage"] = len(res)
json.dump(d, open(p + ".tmp", "w"))
os.rename(p + ".tmp", p)
EOP
sleep 1
"$REFRESHD" --config "$W/relay/conf" --once --import "$W/dir/scim" 2>&1 | grep -E 'published snapshot' >&2
host_run "1% delta"
ls -l "$W/www/fleet/snapshots" "$W/www/fleet/deltas" | grep zst >&2
