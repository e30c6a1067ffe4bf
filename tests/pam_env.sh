# pam_env.sh - sourced by the PAM system tests (pam_system.sh, sshd_login.sh):
# a host in a private mount namespace, with directory users from a cache and
# a local user, and the account stack pam-auth-update builds from our profile.
# The host's /etc is never written: every file is bind-mounted inside the
# namespace.
#
#   pam_env_setup DIR      (outside) caches, passwd, nsswitch.conf, pam.d
#   pam_env_enter DIR      (inside)  the bind mounts and the environment
#   pam_env_run "$0" "$@"  both: set up a fresh $t, run the test again in a
#                          private mount namespace, and enter $t there
#   publish NAME           republishes the cache from $t/NAME.desc
#   check NAME WANT GOT    prints ok/FAIL, remembers failures in $fail

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for unshare --mount"; exit 77; }
command -v unshare >/dev/null || { echo "SKIP: no unshare"; exit 77; }
# pamtester, su and sshd are not instrumented (test_pam_scim covers the
# module under the sanitizers).
[ -z "${SCIM_SANITIZERS:-}" ] || { echo "SKIP: an ASan module cannot load into uninstrumented programs"; exit 77; }

fail=0
check() {
	if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1"; echo "  want: $2"; echo "  got:  $3"; fail=1; fi
}
# check_has NAME NEEDLE HAYSTACK
check_has() {
	case "$3" in *"$2"*) echo "ok   $1" ;; *) echo "FAIL $1"; echo "  want something with: $2"; echo "  got: $3"; fail=1 ;; esac
}

publish() {
	"$top_builddir/tests/scim-mkcache" "$t/cache.tdb" <"$t/$1.desc"
}

pam_env_setup() {
	t=$1
	# sshd reads authorized keys as the user: the tree must be traversable.
	chmod 755 "$t"
	mkdir -p "$t/home" "$t/pam.d"
	for u in scimact:72001 scimsusp:72002 scimlocal:62001; do
		mkdir -p "$t/home/${u%%:*}"
		chown "${u#*:}:${u#*:}" "$t/home/${u%%:*}"
	done
	cat >"$t/active.desc" <<-DESC
	source:pam_env.sh
	user:scimact:72001:72001:Active User:$t/home/scimact:/bin/sh:active:id-act:72100,72101
	user:scimsusp:72002:72002:Suspended User:$t/home/scimsusp:/bin/sh:suspended:id-susp:72100
	group:scimact:72001:upg-act:
	group:scimsusp:72002:upg-susp:
	group:scimdev:72100:id-dev:scimact,scimsusp
	group:scimops:72101:id-ops:scimact
	DESC
	# The directory later suspends scimact too.
	sed 's/:active:id-act:/:suspended:id-act:/' "$t/active.desc" >"$t/allsusp.desc"

	# scimlong is local, with a passwd line longer than pam_scim's first
	# buffer, and a suspended directory user too: the local account wins.
	echo "user:scimlong:72003:72003:Long:$t/home/scimlong:/bin/sh:suspended:id-long:" >>"$t/active.desc"
	echo "user:scimlong:72003:72003:Long:$t/home/scimlong:/bin/sh:suspended:id-long:" >>"$t/allsusp.desc"
	publish active
	long=$(head -c 5000 /dev/zero | tr '\0' x)
	{
		cat /etc/passwd
		echo "scimlocal:*:62001:62001:Local User:$t/home/scimlocal:/bin/sh"
		echo "scimlong:*:62002:62002:$long:$t/home/scimlocal:/bin/sh"
	} >"$t/passwd"
	{ cat /etc/group; echo "scimlocal:x:62001:"; } >"$t/group"
	printf 'passwd: files scim\ngroup: files scim\nshadow: files\n' >"$t/nsswitch.conf"

	# The account stack: what Debian's pam-auth-update makes of the pam_unix
	# profile and ours, run for real when it is installed.
	line=$(sed -n '/^Account:/,$p' "$top_srcdir/data/pam-configs/scim" | sed -n 's/^[[:space:]]\{1,\}//p' |
		sed "s|pam_scim\.so|$SCIM_LIBDIR/pam_scim.so|")
	if command -v pam-auth-update >/dev/null && [ -f /usr/share/pam-configs/unix ] && [ -d /var/cache/debconf ]; then
		pam_auth_update "$t"
	else
		cat >"$t/pam.d/common-account" <<-PAM
		account	[success=1 new_authtok_reqd=done default=ignore]	pam_unix.so
		account	requisite	pam_deny.so
		account	required	pam_permit.so
		account	$line
		PAM
	fi
	grep -q "pam_scim.so" "$t/pam.d/common-account" || { echo "no pam_scim line in common-account:"; cat "$t/pam.d/common-account"; exit 1; }
	echo "common-account:"; grep '^account' "$t/pam.d/common-account" | sed 's/^/  /'
	cat >"$t/pam.d/other" <<-PAM
	auth	required	pam_deny.so
	account	required	pam_deny.so
	password	required	pam_deny.so
	session	required	pam_deny.so
	PAM
	# The module alone, with its profile line and nothing else deciding.
	printf 'account\t%s\naccount\trequired\tpam_permit.so\n' "$line" >"$t/pam.d/scim-only"
	printf '@include common-account\n' >"$t/pam.d/scim-host"
	cat >"$t/pam.d/su" <<-PAM
	auth	sufficient	pam_rootok.so
	auth	required	pam_deny.so
	@include common-account
	session	required	pam_permit.so
	PAM
	cat >"$t/pam.d/sshd" <<-PAM
	auth	required	pam_deny.so
	@include common-account
	session	required	pam_permit.so
	password	required	pam_deny.so
	PAM
}

# pam_auth_update DIR [PROFILE...]: runs pam-auth-update on DIR/pam-gen, a
# private copy of everything it reads and writes (pam.d, pam-configs,
# /var/lib/pam and the debconf database), with our profile and PROFILEs from
# /usr/share/pam-configs enabled, and keeps the common-account and
# common-session it generates.
pam_auth_update() {
	g=$1/pam-gen
	shift
	mkdir -p "$g/pam.d" "$g/configs" "$g/varlib" "$g/debconf"
	cp /usr/share/pam-configs/unix "$g/configs/"
	for p in "$@"; do cp "/usr/share/pam-configs/$p" "$g/configs/"; done
	sed "s|pam_scim\.so|$SCIM_LIBDIR/pam_scim.so|" "$top_srcdir/data/pam-configs/scim" >"$g/configs/scim"
	cp -a /var/cache/debconf/. "$g/debconf/"
	unshare --mount --propagation private sh -c '
		g=$1
		shift
		mount --bind "$g/pam.d" /etc/pam.d && mount --bind "$g/configs" /usr/share/pam-configs &&
		mount --bind "$g/varlib" /var/lib/pam && mount --bind "$g/debconf" /var/cache/debconf || exit 1
		DEBIAN_FRONTEND=noninteractive pam-auth-update --package --force --enable scim "$@"' sh "$g" "$@" \
		>"$g/log" 2>&1 || { echo "pam-auth-update failed:"; cat "$g/log"; exit 1; }
	cp "$g/pam.d/common-account" "$g/../pam.d/common-account"
	[ ! -f "$g/pam.d/common-session" ] || cp "$g/pam.d/common-session" "$g/../pam.d/common-session"
	rm -rf "$g"
}

pam_env_enter() {
	t=$1
	mount --bind "$t/nsswitch.conf" /etc/nsswitch.conf
	mount --bind "$t/passwd" /etc/passwd
	mount --bind "$t/group" /etc/group
	mount --bind "$t/pam.d" /etc/pam.d
	# No nscd answers from the host's cache in here.
	mount -t tmpfs -o mode=755 tmpfs /run
	export LD_LIBRARY_PATH="$SCIM_LIBDIR" NSS_SCIM_CACHE="$t/cache.tdb"
}

# Called first by a test that needs nothing more than the setup: outside, it
# sets up a fresh $t, runs the test again inside a private mount namespace and
# exits with its status; inside, it enters $t.
pam_env_run() {
	if [ "${2:-}" != __inner ]; then
		t=$(mktemp -d)
		trap 'rm -rf "$t"' EXIT
		pam_env_setup "$t"
		unshare --mount --propagation private sh "$1" __inner "$t"
		exit $?
	fi
	pam_env_enter "$3"
}
