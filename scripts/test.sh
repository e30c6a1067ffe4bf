#!/bin/sh
# The test command: installs the Debian build dependencies, builds, and runs
# every test (make check), which also builds the Debian packages with
# dpkg-buildpackage from a copy of the tree, lints them and installs them in
# a throwaway system (tests/deb_packages.sh).  Tests that need root skip
# (exit 77) without it; run this as root to run them all, as CI does.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=$top/_build
"$top/scripts/install-deps.sh"
cd "$top" && ./autogen.sh
rm -rf "$build"
CONFIGURE_FLAGS="--enable-werror" "$top/scripts/build.sh" "$build"
cd "$build"
status=0
make -j2 check || status=$?
# Every test's log on failure, and one plain summary line.
if [ $status != 0 ]; then
	cat test-suite.log || true
fi
count() { grep -h "^# $1: *" test-suite.log | awk '{print $3}'; }
echo "$(count PASS) passed, $(( $(count FAIL) + $(count ERROR) + $(count XPASS) )) failed, $(count SKIP) skipped"
exit $status
