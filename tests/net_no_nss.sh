#!/bin/sh
# The daemon never resolves users or groups through NSS (it would recurse into
# its own module): in a namespace whose nsswitch.conf says "passwd: files scim"
# and "group: files scim", a full sync and publish never loads libnss_scim
# (glibc's LD_DEBUG=libs reports every library it loads, dlopen included).
. "$top_srcdir/tests/net_lib.sh"
net_need_root

net_token
net_seed 8 2 3
net_start_server
net_config
printf 'passwd: files scim\ngroup: files scim\n' >"$T/nsswitch.conf"
NET_NS_CONF=$T/nsswitch.conf LD_LIBRARY_PATH=$SCIM_LIBDIR LD_DEBUG=libs \
	unshare --mount --propagation private sh -c '
	mount --bind "$NET_NS_CONF" /etc/nsswitch.conf || exit 99
	exec "$@"' sh "$REFRESHD" --config "$T/conf" --once >"$T/out" 2>&1 || fail "sync: $(grep -v "^ *[0-9]*:" "$T/out")"
grep -q "published: users=8 " "$T/out" || fail "no publish"
grep -q "calling init:" "$T/out" || fail "LD_DEBUG=libs gave no output: the check would prove nothing"
! grep -q "libnss_scim" "$T/out" || fail "libnss_scim was loaded: $(grep libnss_scim "$T/out" | head -3)"
ok "a sync and publish never loaded libnss_scim (no passwd/group lookups through NSS)"
