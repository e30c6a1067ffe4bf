# net_lib.sh - sourced by the network tests (tests/net_*.sh).
#
# Gives each test a private directory $T (removed at exit), an HTTPS SCIM test
# server on 127.0.0.1 with a CA made for this run, a config for scim-refreshd
# pointing at it, and small helpers.  The server is always stopped by the trap.

set -u
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
TESTS_SRC=$top_srcdir/tests
REFRESHD=${SCIM_REFRESHD:-$top_builddir/scim-refreshd}
export TDB_NO_FSYNC=1

T=$(mktemp -d "${TMPDIR:-/tmp}/scim-net.XXXXXX")
NET_PIDS=""

net_cleanup() {
	for p in $NET_PIDS; do
		kill "$p" 2>/dev/null
	done
	for p in $NET_PIDS; do
		wait "$p" 2>/dev/null
	done
	if [ "${NET_KEEP:-0}" = 1 ]; then
		echo "kept $T" >&2
	else
		rm -rf "$T"
	fi
}
trap net_cleanup EXIT
trap 'exit 1' INT TERM

fail() {
	echo "FAIL: $*" >&2
	for f in "$T"/*.log "$T"/out; do
		[ -f "$f" ] && { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
	done
	exit 1
}

ok() { echo "ok: $*"; }

# net_seed N_USERS [N_GROUPS [MEMBERS]]: $T/data/seed.json
net_seed() {
	mkdir -p "$T/data"
	python3 "$TESTS_SRC/scim_seed.py" --users "$1" --groups "${2:-3}" --members "${3:-3}" --out "$T/data/seed.json"
}

# net_start_server [NAME [DATA]]: starts a server; sets PORT and URL (and
# NAME_PORT).  Its requests go to $T/NAME.log, its control file is $T/NAME.ctl.
net_start_server() {
	name=${1:-server}
	data=${2:-$T/data/seed.json}
	rm -f "$T/$name.port"
	python3 "$TESTS_SRC/scim_server.py" --data "$data" --certdir "$T/certs" \
		--port-file "$T/$name.port" --token-file "$T/token" --control "$T/$name.ctl" \
		--log "$T/$name.log" --max-seconds "${NET_SERVER_SECONDS:-300}" 2>"$T/$name.err" &
	NET_PIDS="$NET_PIDS $!"
	i=0
	while [ ! -s "$T/$name.port" ]; do
		i=$((i + 1))
		[ $i -gt 300 ] && fail "the test server did not start: $(cat "$T/$name.err")"
		sleep 0.05
	done
	PORT=$(cat "$T/$name.port")
	URL="https://127.0.0.1:$PORT/scim/v2"
	eval "${name}_PORT=$PORT"
}

# net_token: a root-only token file (the daemon refuses anything looser).
net_token() {
	printf 'test-token-%s\n' "$$" >"$T/token"
	chmod 600 "$T/token"
}

# net_config [KEY = VALUE...]: $T/conf for a sync from $URL into
# $T/cache/cache.tdb; a line given here replaces the default for its key.
net_config() {
	mkdir -p "$T/state" "$T/cache"
	{
		for l in "url = $URL" "token_file = $T/token" "ca_file = $T/certs/ca.pem" \
			"state_dir = $T/state" "cache_file = $T/cache/cache.tdb" "page_size = 10" "timeout = 5"; do
			key=${l%% *}
			for e in "$@"; do
				[ "${e%% *}" = "$key" ] && continue 2
			done
			echo "$l"
		done
		for l in "$@"; do
			echo "$l"
		done
	} >"$T/conf"
	# scim-refreshd refuses a config group or others may write.
	chmod 0644 "$T/conf"
}

# net_control JSON [NAME]: the server's fault and paging settings (atomic).
net_control() {
	printf '%s\n' "$1" >"$T/${2:-server}.ctl.tmp"
	mv "$T/${2:-server}.ctl.tmp" "$T/${2:-server}.ctl"
}

# net_once [ARGS...]: one sync; output in $T/out, exit status in $RC.
net_once() {
	RC=0
	"$REFRESHD" --config "$T/conf" --once "$@" >"$T/out" 2>&1 || RC=$?
}

# net_requests [NAME]: requests the server has answered so far.
net_requests() {
	wc -l <"$T/${1:-server}.log"
}

# net_wait_for FILE PATTERN SECONDS: wait until PATTERN appears in FILE.
net_wait_for() {
	i=0
	while ! grep -q -- "$2" "$1" 2>/dev/null; do
		i=$((i + 1))
		[ $i -gt $(($3 * 20)) ] && return 1
		sleep 0.05
	done
	return 0
}

# net_ns CMD...: run CMD with glibc answering passwd/group from "files scim"
# and the module reading $T/cache/cache.tdb, in a private mount namespace
# (root only; the host's /etc is never written; nscd is hidden).
net_ns() {
	printf 'passwd: files scim\ngroup: files scim\n' >"$T/nsswitch.conf"
	NET_NS_CONF=$T/nsswitch.conf NSS_SCIM_CACHE=$T/cache/cache.tdb LD_LIBRARY_PATH=$SCIM_LIBDIR \
		unshare --mount --propagation private sh -c '
		mount --bind "$NET_NS_CONF" /etc/nsswitch.conf || exit 99
		if [ -d /run/nscd ]; then mount -t tmpfs tmpfs /run/nscd || exit 99; fi
		exec "$@"' sh "$@"
}

# net_need_root: namespaces need root; an ASan build cannot load the module
# into uninstrumented getent.
net_need_root() {
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for unshare --mount"; exit 77; }
	[ -z "${SCIM_SANITIZERS:-}" ] || { echo "SKIP: an ASan module cannot load into uninstrumented programs"; exit 77; }
	command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
}
