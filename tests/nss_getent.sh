#!/bin/sh
# The module through real glibc: getent and id in a private mount namespace
# whose /etc/nsswitch.conf says "passwd: files scim" and "group: files scim".
# Root only (mount namespaces); the host's /etc is never written.
set -eu
[ -z "${SCIM_SANITIZERS:-}" ] || { echo "SKIP: an ASan module cannot load into uninstrumented programs"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for unshare --mount"; exit 77; }
command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }

if [ "${1:-}" != __inner ]; then
	t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
	{
		echo "source:https://api.github.com/scim/v2/enterprises/acme"
		echo "user:mona:1879048210:1879048210:Mona Lisa Octocat:/home/mona:/bin/bash:active:7fce0092:1879048310,1879048311"
		echo "user:hubot:1879048211:1879048211:Hubot:/home/hubot:/bin/sh:suspended:8a1b:1879048310"
		echo "group:mona:1879048210:upg-mona:"
		echo "group:octocats:1879048310:g1:mona,hubot"
		echo "group:admins:1879048311:g2:mona"
		echo "biggroup:huge:1879048312:member:20000"
		# a user in 300 groups: more than any small buffer holds
		gids=$(seq -s, 1879049000 1879049299)
		echo "user:many:1879048212:1879048212:Many Groups:/home/many:/bin/bash:active:many:$gids"
		for g in $(seq 1879049000 1879049299); do echo "group:grp$g:$g:id$g:many"; done
	} >"$t/desc"
	"$top_builddir/tests/scim-mkcache" "$t/cache.tdb" <"$t/desc"
	printf 'passwd: files scim\ngroup: files scim\n' >"$t/nsswitch.conf"
	exec unshare --mount --propagation private sh "$0" __inner "$t"
fi

t=$2
mount --bind "$t/nsswitch.conf" /etc/nsswitch.conf
export LD_LIBRARY_PATH="$SCIM_LIBDIR" NSS_SCIM_CACHE="$t/cache.tdb"
fail=0
check() { # check NAME EXPECTED ACTUAL
	if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1"; echo "  want: $2"; echo "  got:  $3"; fail=1; fi
}

check "getent passwd by name" 'mona:*:1879048210:1879048210:Mona Lisa Octocat:/home/mona:/bin/bash' "$(getent passwd mona)"
check "getent passwd by uid" 'hubot:*:1879048211:1879048211:Hubot:/home/hubot:/bin/sh' "$(getent passwd 1879048211)"
check "local users still answer" "$(grep '^root:' /etc/passwd)" "$(getent passwd root)"
check "getent group" 'octocats:*:1879048310:mona,hubot' "$(getent group octocats)"
check "getent group by gid" 'admins:*:1879048311:mona' "$(getent group 1879048311)"
check "getent initgroups" "mona                  1879048310 1879048311" "$(getent initgroups mona)"
check "id" "uid=1879048210(mona) gid=1879048210(mona) groups=1879048210(mona),1879048310(octocats),1879048311(admins)" "$(id mona)"
check "id of a suspended user still resolves" "uid=1879048211(hubot) gid=1879048211 groups=1879048211,1879048310(octocats)" "$(id hubot)"
check "user in 300 groups: id -G" 301 "$(id -G many | wc -w)"
check "user in 300 groups: getent initgroups" 300 "$(getent initgroups many | wc -w | awk '{print $1 - 1}')"
check "group of 20,000 members" 20000 "$(getent group huge | cut -d: -f4 | tr , '\n' | wc -l)"
check "getent passwd enumerates files then scim" "root mona hubot many" \
	"$(getent passwd | cut -d: -f1 | grep -xE 'root|mona|hubot|many' | tr '\n' ' ' | sed 's/ $//')"
check "getent group enumerates" 304 "$(getent group | grep -c ':18790')"
getent passwd nosuchuser >/dev/null && rc=0 || rc=$?
check "unknown user: getent exit 2" 2 "$rc"

# No cache at all: scim is UNAVAIL, files still answers.
export NSS_SCIM_CACHE="$t/missing.tdb"
check "no cache: root still resolves" "$(grep '^root:' /etc/passwd)" "$(getent passwd root)"
getent passwd mona >/dev/null && rc=0 || rc=$?
check "no cache: directory user is not found" 2 "$rc"

[ $fail = 0 ] && echo "PASS: getent/id through glibc" || exit 1
