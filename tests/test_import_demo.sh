#!/bin/sh
# The README's main command (scripts/demo.sh) keeps working: the sample
# imports and getent/id answer from libnss_scim.  Root uses a mount
# namespace; otherwise nss_wrapper (skipped if neither is available).
set -eu
: "${top_srcdir:?run through make check}" "${top_builddir:?run through make check}"
[ -z "${SCIM_SANITIZERS:-}" ] || { echo "SKIP: an ASan module cannot load into uninstrumented programs (getent)"; exit 77; }
if [ "$(id -u)" != 0 ] && [ ! -e /usr/lib/x86_64-linux-gnu/libnss_wrapper.so ]; then
	echo "SKIP: needs root or nss_wrapper"
	exit 77
fi
out=$(TDB_NO_FSYNC=1 sh "$top_srcdir/scripts/demo.sh" "$top_builddir" 2>&1) || { echo "$out"; echo "FAIL: demo.sh exited non-zero"; exit 1; }
fail=0
for want in \
	'imported .*sample: users=5 groups=8 suspended_total=1 added=5' \
	'^mona.octocat:\*:[0-9]+:[0-9]+:Mona Lisa Octocat:/home/mona.octocat:/bin/bash$' \
	'^e012347:\*:[0-9]+:[0-9]+:Lisa Ops:/home/e012347:/bin/bash$' \
	'^octo-devs:\*:[0-9]+:mona.octocat,hubot,jules.dev$' \
	'^octo-all:\*:[0-9]+:e012347,mona.octocat,hubot,jules.dev$' \
	'^uid=[0-9]+\(mona.octocat\) gid=[0-9]+\(mona.octocat\) groups=.*\(octo-devs\).*\(octo-all\)' \
	'^uid=[0-9]+\(former.employee\)'; do
	if echo "$out" | grep -qE -- "$want"; then echo "ok   $want"; else echo "FAIL $want"; fail=1; fi
done
[ $fail = 0 ] || { echo "$out"; exit 1; }
echo PASS
