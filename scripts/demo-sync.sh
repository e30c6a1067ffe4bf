#!/bin/sh
# demo-sync.sh BUILDDIR - the whole job end to end over HTTPS, on loopback:
#   1. start the bundled SCIM test server (tests/scim_server.py) serving a copy
#      of sample/, with a CA and server certificate made for this run;
#   2. run scim-refreshd (the daemon) against it;
#   3. show getent/id answering from libnss_scim;
#   4. suspend hubot on the server, send SIGUSR1 (sync now), show id again.
# As root the lookups run in a private mount namespace whose nsswitch.conf says
# "passwd: files scim" / "group: files scim"; the host's /etc is never written.
# Needs python3 and openssl.  Everything is removed at exit.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 1 ] || { echo "usage: $0 BUILDDIR" >&2; exit 2; }
b=$(cd "$1" && pwd)
[ -x "$b/scim-refreshd" ] && [ -e "$b/.libs/libnss_scim.so.2" ] ||
	{ echo "demo-sync.sh: build first (make in $b)" >&2; exit 1; }
[ "$(id -u)" = 0 ] && command -v unshare >/dev/null ||
	{ echo "demo-sync.sh: needs root (unshare --mount) to show lookups without touching /etc" >&2; exit 1; }

t=$(mktemp -d "${TMPDIR:-/tmp}/scim-demo-sync.XXXXXX")
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	for p in $pids; do wait "$p" 2>/dev/null || true; done
	rm -rf "$t"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

mkdir -p "$t/directory" "$t/state"
cp "$here"/sample/Users*.json "$here"/sample/Groups*.json "$t/directory/"
(umask 077 && printf 'demo-token-%s\n' "$$" >"$t/token")
echo "# 1. the SCIM test server, HTTPS on 127.0.0.1 (CA made for this run)"
python3 "$here/tests/scim_server.py" --data "$t/directory" --certdir "$t/certs" --port-file "$t/port" \
	--token-file "$t/token" --max-seconds 600 2>"$t/server.err" &
pids="$pids $!"
i=0
while [ ! -s "$t/port" ]; do
	i=$((i + 1))
	[ $i -gt 300 ] && { cat "$t/server.err" >&2; exit 1; }
	sleep 0.1
done
url="https://127.0.0.1:$(cat "$t/port")/scim/v2"
{
	grep -v '^#' "$here/sample/scim-refreshd.conf"
	echo "url = $url"
	echo "token_file = $t/token"
	echo "ca_file = $t/certs/ca.pem"
	echo "state_dir = $t/state"
	echo "cache_file = $t/state/cache.tdb"
} >"$t/scim-refreshd.conf"
# scim-refreshd refuses a config group or others may write.
chmod 0644 "$t/scim-refreshd.conf"
echo "    url = $url"
echo

echo "# 2. scim-refreshd --config $t/scim-refreshd.conf (the daemon, in the background)"
"$b/scim-refreshd" --config "$t/scim-refreshd.conf" >"$t/daemon.log" 2>&1 &
daemon=$!
pids="$pids $daemon"
wait_published() { # N: wait for the N-th publish
	i=0
	while [ "$(cat "$t/daemon.log" 2>/dev/null | grep -c 'published: ')" -lt "$1" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && { cat "$t/daemon.log" >&2; exit 1; }
		sleep 0.1
	done
	sed 's/^/    /' "$t/daemon.log" | tail -n +"$2"
}
wait_published 1 1
echo

lookups() {
	printf 'passwd: files scim\ngroup: files scim\n' >"$t/nsswitch.conf"
	NSS_SCIM_CACHE=$t/state/cache.tdb LD_LIBRARY_PATH=$b/.libs \
		unshare --mount --propagation private sh -c '
		mount --bind "$0/nsswitch.conf" /etc/nsswitch.conf || exit 1
		[ -d /run/nscd ] && mount -t tmpfs tmpfs /run/nscd
		for cmd in "$@"; do echo "\$ $cmd"; sh -c "$cmd" || true; echo; done' "$t" "$@"
}
echo "# 3. lookups through libnss_scim (private mount namespace)"
lookups "getent passwd mona.octocat hubot" "getent group octo-devs" "id hubot"

echo "# 4. suspend hubot on the server (active: false), then SIGUSR1: sync now"
python3 - "$t/directory/Users.json" <<'PY'
import json, os, sys
p = sys.argv[1]
d = json.load(open(p))
for r in d.get("Resources", []):
    if r.get("userName", "").startswith("hubot"):
        r["active"] = False
json.dump(d, open(p + ".tmp", "w"), indent=1)
os.rename(p + ".tmp", p)
PY
n=$(wc -l <"$t/daemon.log")
kill -USR1 "$daemon"
wait_published 2 $((n + 1))
echo
lookups "id hubot"
echo "\$ scimctl user hubot"
"$b/scimctl/scimctl" --cache "$t/state/cache.tdb" user hubot || true
echo
echo "(hubot is suspended: still resolvable so their files keep a name; pam_scim denies the login)"
kill -TERM "$daemon"
