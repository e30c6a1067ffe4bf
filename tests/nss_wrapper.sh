#!/bin/sh
# The module through glibc's own getent under nss_wrapper (no root needed):
# nss_wrapper loads libnss_scim.so.2 as its "module" backend.
set -eu
[ -z "${SCIM_SANITIZERS:-}" ] || { echo "SKIP: an ASan module cannot load into uninstrumented programs"; exit 77; }
wrapper=$(pkg-config --variable=libdir nss_wrapper 2>/dev/null || true)/libnss_wrapper.so
[ -f "$wrapper" ] || wrapper=/usr/lib/x86_64-linux-gnu/libnss_wrapper.so
[ -f "$wrapper" ] || { echo "SKIP: libnss_wrapper.so not installed"; exit 77; }

t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
cat >"$t/desc" <<'DESC'
user:mona:1879048210:1879048210:Mona Lisa Octocat:/home/mona:/bin/bash:active:7fce0092:1879048310
user:hubot:1879048211:1879048211:Hubot:/home/hubot:/bin/sh:suspended:8a1b:1879048310
group:octocats:1879048310:g1:mona,hubot
DESC
"$top_builddir/tests/scim-mkcache" "$t/cache.tdb" <"$t/desc"
echo 'root:x:0:0:root:/root:/bin/sh' >"$t/passwd"
echo 'root:x:0:' >"$t/group"

run() {
	LD_PRELOAD=$wrapper NSS_WRAPPER_PASSWD=$t/passwd NSS_WRAPPER_GROUP=$t/group \
	NSS_WRAPPER_MODULE_SO_PATH=$SCIM_LIBDIR/libnss_scim.so.2 NSS_WRAPPER_MODULE_FN_PREFIX=scim \
	NSS_SCIM_CACHE=$t/cache.tdb "$@"
}
fail=0
check() { # check EXPECTED CMD...
	want=$1; shift
	got=$(run "$@" 2>&1 || true)
	if [ "$got" = "$want" ]; then echo "ok   $*"; else echo "FAIL $*: got '$got' want '$want'"; fail=1; fi
}
check 'mona:*:1879048210:1879048210:Mona Lisa Octocat:/home/mona:/bin/bash' getent passwd mona
check 'hubot:*:1879048211:1879048211:Hubot:/home/hubot:/bin/sh' getent passwd 1879048211
check 'octocats:*:1879048310:mona,hubot' getent group octocats
check 'octocats:*:1879048310:mona,hubot' getent group 1879048310
check 'root:x:0:0:root:/root:/bin/sh' getent passwd root
check '' getent passwd nosuchuser
[ $fail = 0 ] && echo "PASS: nss_wrapper" || exit 1
