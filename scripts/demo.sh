#!/bin/sh
# demo.sh [BUILDDIR] - the README's first command: imports sample/ (a small
# GitHub EMU directory) into a temporary state directory with scim-refreshd,
# then shows getent passwd, getent group and id answering from libnss_scim.
#
# It builds nothing (BUILDDIR defaults to scripts/build.sh's ./_build) and
# never touches the host's /etc: as root, the lookups run in a private mount
# namespace whose /etc/nsswitch.conf says "passwd: files scim" / "group: files
# scim"; without root, nss_wrapper (apt-get install libnss-wrapper) loads the
# module into getent and id instead.  Everything is removed at exit.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
[ $# -le 1 ] || { echo "usage: $0 [BUILDDIR]" >&2; exit 2; }
b=${1:-$here/_build}
[ -d "$b" ] || { echo "demo.sh: no build in $b: run scripts/build.sh first" >&2; exit 1; }
b=$(cd "$b" && pwd)
refreshd=$b/scim-refreshd
lib=$b/.libs/libnss_scim.so.2
for f in "$refreshd" "$lib"; do
	[ -e "$f" ] || { echo "demo.sh: $f is missing: build first (scripts/build.sh, or make in $b)" >&2; exit 1; }
done

t=$(mktemp -d "${TMPDIR:-/tmp}/scim-demo.XXXXXX")
trap 'rm -rf "$t"' EXIT
{
	grep -v '^#' "$here/sample/scim-refreshd.conf"
	echo "state_dir = $t/state"
	echo "cache_file = $t/state/cache.tdb"
} >"$t/scim-refreshd.conf"
# scim-refreshd refuses a config group or others may write.
chmod 0644 "$t/scim-refreshd.conf"

echo "\$ scim-refreshd --config $t/scim-refreshd.conf --once --import sample"
"$refreshd" --config "$t/scim-refreshd.conf" --once --import "$here/sample" 2>&1
echo

# The lookups, printed as they run.
cat >"$t/show.sh" <<'SHOW'
show() { echo "\$ $*"; "$@" || true; echo; }
show getent passwd mona.octocat hubot e012347 jules.dev former.employee
show getent group octo-devs octo-ops octo-all
show id mona.octocat
show id e012347
show id former.employee
echo "(former.employee is suspended: still resolvable so their files keep a name; pam_scim denies the login)"
SHOW

if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null; then
	printf 'passwd: files scim\ngroup: files scim\n' >"$t/nsswitch.conf"
	echo "# in a private mount namespace: /etc/nsswitch.conf says 'passwd: files scim', 'group: files scim'"
	echo
	NSS_SCIM_CACHE=$t/state/cache.tdb LD_LIBRARY_PATH=$b/.libs \
		unshare --mount --propagation private \
		sh -c 'mount --bind "$1/nsswitch.conf" /etc/nsswitch.conf && exec sh "$1/show.sh"' sh "$t"
else
	wrapper=/usr/lib/x86_64-linux-gnu/libnss_wrapper.so
	w=$(pkg-config --variable=libdir nss_wrapper 2>/dev/null || true)
	[ -n "$w" ] && [ -e "$w/libnss_wrapper.so" ] && wrapper=$w/libnss_wrapper.so
	if [ ! -e "$wrapper" ]; then
		echo "demo.sh: without root this needs nss_wrapper (apt-get install libnss-wrapper);" >&2
		echo "demo.sh: as root it uses a private mount namespace instead" >&2
		exit 1
	fi
	# nss_wrapper answers from its own passwd/group files, then the module.
	getent passwd "$(id -un)" >"$t/passwd" || echo "root:x:0:0:root:/root:/bin/sh" >"$t/passwd"
	grep -E '^(root|users):' /etc/group >"$t/group" || true
	echo "# not root: getent and id run under nss_wrapper, which loads libnss_scim.so.2"
	echo
	LD_PRELOAD=$wrapper NSS_WRAPPER_PASSWD=$t/passwd NSS_WRAPPER_GROUP=$t/group \
		NSS_WRAPPER_MODULE_SO_PATH=$lib NSS_WRAPPER_MODULE_FN_PREFIX=scim \
		NSS_SCIM_CACHE=$t/state/cache.tdb sh "$t/show.sh"
fi
