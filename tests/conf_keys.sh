#!/bin/sh
# The packaged configuration (data/scim-refreshd.conf, Debian's conffile):
# every key of the parser's table is there, commented out, and each shown
# value is one the parser accepts once uncommented.  Keys the parser does not
# know yet (written ahead of their branch) are listed and skipped.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_builddir=${top_builddir:-.}
conf=$top_srcdir/data/scim-refreshd.conf
refreshd=$top_builddir/scim-refreshd
[ -x "$refreshd" ] || { echo "SKIP: no $refreshd"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/scim-confkeys.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail=0

# The key table: K(name, TYPE) and { "name", TYPE, ... } lines.
keys=$(sed -n -e 's/^[[:space:]]*K(\([a-z_]*\),.*/\1/p' \
	-e 's/^[[:space:]]*{ "\([a-z_]*\)", T_.*/\1/p' "$top_srcdir/refreshd/config.c" | sort -u)
n=$(echo "$keys" | wc -w)
[ "$n" -ge 20 ] || { echo "FAIL: read only $n keys from refreshd/config.c"; exit 1; }

# Nothing is set: a fresh install changes no default.
set_lines=$(grep -v '^[[:space:]]*#' "$conf" | grep -v '^[[:space:]]*$')
if [ -n "$set_lines" ]; then echo "FAIL: lines not commented out:"; echo "$set_lines"; fail=1; fi

# Each key once as "# key = value".
: >"$T/uncommented"
for k in $keys; do
	c=$(grep -c "^# $k = " "$conf")
	if [ "$c" != 1 ]; then
		echo "FAIL: '# $k = ...' is in $conf $c times (want once)"
		fail=1
	fi
	line=$(sed -n "s/^# \($k = .*\)/\1/p" "$conf" | head -n 1)
	# The state must not land on the host: paths go to $T.
	case $k in
	state_dir) line="state_dir = $T/state" ;;
	cache_file) line="cache_file = $T/state/cache.tdb" ;;
	esac
	[ -z "$line" ] || echo "$line" >>"$T/uncommented"
done
for k in $(sed -n 's/^# \([a-z_]*\) = .*/\1/p' "$conf"); do
	echo "$keys" | grep -qx "$k" || echo "note: '$k' is not in refreshd/config.c yet (not checked)"
done
[ $fail = 0 ] && echo "ok   $n keys of refreshd/config.c in data/scim-refreshd.conf"

# All of them uncommented: the parser takes the file (a configuration error
# is exit 2 with FILE:LINE; the import of a missing directory then fails with 1).
# A fleet host's keys (snapshot_*) replace url, token_file and publish_dir,
# which the parser refuses together: they are checked in a second file.
mkdir -p "$T/state"
grep -v -e '^url ' -e '^token_file ' -e '^publish_dir ' -e '^signing_key ' "$T/uncommented" >"$T/uncommented-host"
grep -v '^snapshot_' "$T/uncommented" >"$T/uncommented-relay"
for f in uncommented-relay uncommented-host; do
	chmod 644 "$T/$f"
	"$refreshd" --config "$T/$f" --once --import "$T/no-such-dir" >"$T/out" 2>&1
	rc=$?
	if [ $rc = 2 ] || grep -q "$f:[0-9]" "$T/out"; then
		echo "FAIL: the shown values do not parse ($f, exit $rc):"
		cat "$T/out"
		fail=1
	else
		echo "ok   every shown value parses ($f, exit $rc: the import dir is missing, as intended)"
	fi
done
exit $fail
