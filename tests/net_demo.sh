#!/bin/sh
# scripts/demo-sync.sh (the README's end-to-end command over HTTPS) works:
# the daemon publishes the sample from the test server, lookups answer through
# the module, and hubot is suspended after the second sync.
set -u
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for unshare --mount"; exit 77; }
[ -z "${SCIM_SANITIZERS:-}" ] || { echo "SKIP: an ASan module cannot load into uninstrumented programs"; exit 77; }
out=$("$top_srcdir/scripts/demo-sync.sh" "$top_builddir" 2>&1) || { echo "$out"; echo "FAIL: demo-sync.sh failed"; exit 1; }
echo "$out"
for want in "published: users=5 groups=8 suspended_total=1 " \
	"octo-devs:\*:[0-9]*:mona.octocat,hubot,jules.dev" \
	"user hubot (uid [0-9]*) suspended" \
	"state: *suspended"; do
	echo "$out" | grep -q "$want" || { echo "FAIL: no '$want' in the output"; exit 1; }
done
echo "ok: demo-sync.sh"
