#!/bin/sh
# The test command: installs the Debian build dependencies, then three runs,
# each in its own build directory:
#   _build       the plain build (--enable-werror): make check
#   _build-san   the same with ASan and UBSan (--enable-sanitizers): make check
#                (scripts that load the module into uninstrumented programs
#                such as getent or sshd skip there)
#   _build-fuzz  the libFuzzer build (--enable-fuzzing, clang): every fuzz
#                target for FUZZ_SECONDS (30) over its corpus (make fuzz)
# make check also builds the Debian packages with dpkg-buildpackage from a copy
# of the tree, lints them and installs them in a throwaway system
# (tests/deb_packages.sh, plain run only).  Tests that need root skip (exit 77)
# without it; run this as root to run them all, as CI does.  One summary line per run, and the total as the last line:
# "N passed, N failed, N skipped".  SCIM_TEST_RUNS picks runs ("plain san").
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
runs=${SCIM_TEST_RUNS:-plain san fuzz}
"$top/scripts/install-deps.sh"
cd "$top" && ./autogen.sh

status=0 pass=0 fail=0 skip=0
total() { # PASS FAIL SKIP for one run
	pass=$((pass + $1)) fail=$((fail + $2)) skip=$((skip + $3))
}
count() { grep -h "^# $1: *" "$2" | awk '{s += $3} END {print s + 0}'; }

# make_check NAME DIR CONFIGURE-FLAGS
make_check() {
	rm -rf "$2"
	rc=0
	CONFIGURE_FLAGS="$3" "$top/scripts/build.sh" "$2" || rc=$?
	if [ $rc = 0 ]; then
		(cd "$2" && make -j2 check) || rc=$?
	fi
	log=$2/test-suite.log
	if [ ! -f "$log" ]; then
		echo "$1: the build failed"
		total 0 1 0
		status=1
		return
	fi
	# Every test's log on failure, and one plain summary line.
	[ $rc = 0 ] || { cat "$log" || true; status=1; }
	p=$(count PASS "$log") f=$(($(count FAIL "$log") + $(count ERROR "$log") + $(count XPASS "$log")))
	s=$(count SKIP "$log")
	echo "$1: $p passed, $f failed, $s skipped"
	total "$p" "$f" "$s"
}

fuzz_run() {
	dir=$top/_build-fuzz
	rm -rf "$dir"
	mkdir -p "$dir"
	rc=0
	(cd "$dir" && "$top/configure" --enable-fuzzing && make -j2 fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-30}") \
		>"$dir/fuzz.log" 2>&1 || rc=$?
	p=$(grep -c '^PASS: fuzz_' "$dir/fuzz.log" || true)
	f=$(grep -c '^FAIL: fuzz_' "$dir/fuzz.log" || true)
	if [ $rc = 0 ]; then
		grep -E '^PASS: fuzz_' "$dir/fuzz.log" || true
	elif [ "$f" -gt 0 ]; then
		# run.sh's lines: a PASS line per target, the end of each
		# failing target's log and its FAIL line
		sed -n '/fuzz\/run.sh/,$p' "$dir/fuzz.log"
		status=1
	else
		tail -n 60 "$dir/fuzz.log" # it failed before any target ran
		status=1
		f=1
	fi
	echo "fuzz: $p passed, $f failed, 0 skipped (crash inputs in _build-fuzz/fuzz-out/*/crashes/)"
	total "$p" "$f" 0
}

for run in $runs; do
	case $run in
	plain) make_check plain "$top/_build" --enable-werror ;;
	san) make_check sanitizers "$top/_build-san" "--enable-werror --enable-sanitizers" ;;
	fuzz) fuzz_run ;;
	*) echo "unknown run '$run'" >&2; exit 2 ;;
	esac
done
echo "$pass passed, $fail failed, $skip skipped"
exit $status
