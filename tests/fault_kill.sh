#!/bin/sh
# kill -9 during publish, FAULT_KILL_ROUNDS (200) times: after every kill the
# cache is the old snapshot or the new one, the id map is never behind it, no
# number ever moves, and the next start leaves no temporary file.  See
# tests/fault_kill.py for the rounds and how the kills are timed.
set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: the fault tests run as root"; exit 77; }
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
# Real fsyncs: the publish is then as long as on a real host, and a kill can
# land inside the id map's commit.
unset TDB_NO_FSYNC
T=$(mktemp -d "${TMPDIR:-/tmp}/scim-fault.XXXXXX")
trap 'rm -rf "$T"' EXIT
python3 "$top_srcdir/tests/fault_kill.py" "$top_builddir/scim-refreshd" "$top_builddir/tests/scim-faultcheck" \
	"$T" "${FAULT_KILL_ROUNDS:-200}"
