#!/bin/sh
# After a publish, nscd's passwd and group caches are invalidated when nscd
# runs.  In a private mount namespace a stand-in /usr/sbin/nscd records its
# arguments and /run/nscd/nscd.pid names a live process; the host's nscd (if
# any) and /usr/sbin are untouched.  Without the pid file nothing is run.
. "$top_srcdir/tests/net_lib.sh"
net_need_root

net_token
net_seed 5 1 2
net_start_server
net_config

cat >"$T/inner.sh" <<'INNER'
set -e
mount -t tmpfs tmpfs /usr/sbin
mount -t tmpfs tmpfs /run 2>/dev/null || { mkdir -p /run && mount -t tmpfs tmpfs /run; }
printf '#!/bin/sh\necho "$*" >>%s/nscd.calls\n' "$T" >/usr/sbin/nscd
chmod 755 /usr/sbin/nscd
# Not running: no pid file, so no call.
"$REFRESHD" --config "$T/conf" --once >"$T/out1" 2>&1
[ ! -e "$T/nscd.calls" ] || { echo "nscd was called although it does not run"; exit 1; }
mkdir -p /run/nscd
sleep 60 &
echo $! >/run/nscd/nscd.pid
"$REFRESHD" --config "$T/conf" --once --debug >"$T/out2" 2>&1
kill $!
INNER
T=$T REFRESHD=$REFRESHD unshare --mount --propagation private sh "$T/inner.sh" || fail "in the namespace"
grep -q "published:" "$T/out2" || fail "the sync did not publish: $(cat "$T/out2")"
[ "$(cat "$T/nscd.calls")" = "$(printf -- '-i passwd\n-i group')" ] || fail "nscd calls: $(cat "$T/nscd.calls")"
grep -q "invalidated nscd's passwd and group caches" "$T/out2" || fail "not logged"
ok "after a publish: nscd -i passwd, nscd -i group (only when nscd runs)"
