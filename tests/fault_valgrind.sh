#!/bin/sh
# valgrind memcheck over every cmocka unit test (the tests/test_* programs
# built for this check): no memory error and no definite leak in any of them,
# and every unit still passes.  Also run by `make check-valgrind`.  Skips when
# valgrind is not installed, or in a sanitizer build (ASan and valgrind do not
# mix).  Each unit's ERROR SUMMARY and leak figures are printed.  Then a few
# scim-refreshd imports under valgrind, the daemon's own code paths.
set -u
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
command -v valgrind >/dev/null || { echo "SKIP: valgrind is not installed"; exit 77; }
[ -z "${SCIM_SANITIZERS:-}" ] || { echo "SKIP: a sanitizer build cannot run under valgrind"; exit 77; }
T=$(mktemp -d "${TMPDIR:-/tmp}/scim-valgrind.XXXXXX")
trap 'rm -rf "$T"' EXIT
# valgrind runs one thread at a time, and by default not fairly: a reader
# that spins on a flag (test_nss_threads) could keep the writer it waits for
# off the CPU for ever (one run in three hung).  --fair-sched=yes hands the
# CPU round; and no unit gets more than UNIT_TIMEOUT seconds (a hang fails,
# and says so, instead of holding CI).
VG="valgrind --fair-sched=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite"
UNIT_TIMEOUT=${UNIT_TIMEOUT:-600}

failures=0
units=0
for f in "$top_builddir"/tests/test_*; do
	case ${f##*/} in *.*) continue ;; esac
	# Real programs only (a libtool wrapper script would run valgrind on sh).
	[ -f "$f" ] && [ -x "$f" ] && [ "$(head -c 4 "$f" | tail -c 3)" = ELF ] || continue
	name=${f##*/}
	units=$((units + 1))
	start=$(date +%s)
	timeout "$UNIT_TIMEOUT" $VG --show-leak-kinds=definite --log-file="$T/$name.vg" "$f" >"$T/$name.out" 2>&1 &&
		rc=0 || rc=$?
	secs=$(($(date +%s) - start))
	summary=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1 errors/p' "$T/$name.vg" | tail -n 1)
	lost=$(sed -n 's/^==[0-9]*==    definitely lost: \([0-9,]*\) bytes.*/\1 bytes definitely lost/p' "$T/$name.vg" |
		tail -n 1)
	if [ $rc = 0 ]; then
		echo "ok   $name: ${summary:-no summary}, ${lost:-0 bytes definitely lost} (${secs} s)"
	else
		echo "FAIL $name: exit $rc (99: valgrind found errors; 124: still running after ${UNIT_TIMEOUT} s)," \
			"${summary:-no summary}, ${lost:-no leak summary}"
		sed 's/^/  | /' "$T/$name.vg" | grep -v '^  | ==[0-9]*== *$' | head -n 80
		tail -n 20 "$T/$name.out" | sed 's/^/  > /'
		failures=$((failures + 1))
	fi
done
[ $units -gt 0 ] || { echo "SKIP: no cmocka unit was built (no cmocka?)"; exit 77; }

# scim-refreshd's import path too: a first import, a refused one (a publishing
# guard), a forced one and a failed one (no files), each with its exit status.
printf 'state_dir = %s/state\ncache_file = %s/state/cache.tdb\n' "$T" "$T" >"$T/conf"
chmod 644 "$T/conf"
mkdir -p "$T/empty"
n=0
for run in "0 github-emu" "3 rfc7643" "0 rfc7643 --force" "0 groups --force" "1 EMPTY"; do
	set -- $run
	want=$1 dir=$top_srcdir/tests/fixtures/$2
	[ "$2" = EMPTY ] && dir=$T/empty
	shift 2
	n=$((n + 1))
	timeout "$UNIT_TIMEOUT" $VG --show-leak-kinds=definite \
		--log-file="$T/refreshd$n.vg" "$top_builddir/scim-refreshd" --config "$T/conf" --once --import "$dir" "$@" \
		>"$T/refreshd$n.out" 2>&1 && rc=0 || rc=$?
	summary=$(sed -n 's/^==[0-9]*== ERROR SUMMARY: \([0-9]*\) errors.*/\1 errors/p' "$T/refreshd$n.vg" | tail -n 1)
	if [ $rc = "$want" ]; then
		echo "ok   scim-refreshd --import ${dir##*/} $*: exit $rc, ${summary:-no summary}"
	else
		echo "FAIL scim-refreshd --import ${dir##*/} $*: exit $rc, not $want (99: valgrind found errors)"
		grep -v '^==[0-9]*== *$' "$T/refreshd$n.vg" | head -n 60 | sed 's/^/  | /'
		tail -n 10 "$T/refreshd$n.out" | sed 's/^/  > /'
		failures=$((failures + 1))
	fi
done
[ $failures = 0 ] || { echo "$failures of $units units failed under valgrind"; exit 1; }
echo "PASS: $units units and $n scim-refreshd imports under valgrind memcheck, no errors, no definite leaks"
