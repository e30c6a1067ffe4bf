#!/bin/sh
# The Debian packages, built and used as an admin would, in a throwaway system.
#
# Builds the packages from a copy of the source tree with dpkg-buildpackage
# (twice: the tree's version, then a bumped one), runs lintian (no errors
# allowed), then in a private mount namespace with overlays on /etc, /usr and
# /var (upper dirs on a tmpfs) installs them with dpkg and checks:
# nsswitch.conf and common-account edited; getent and id answering from an
# imported directory; the unit passing systemd-analyze verify and its start
# condition; an upgrade keeping the cache and the id map byte for byte;
# remove keeping the state; purge restoring nsswitch.conf and common-account
# byte for byte and removing the state.  The host's /etc, /var and dpkg
# database are never written: checked at the end.
#
# Root only (exit 77 otherwise), and only in a tree with debian/ (a dist
# tarball has none).  Bounded: each build and the install run have a timeout.
set -u
if [ "${1:-}" = --inside ]; then
	inside=1
	T=$2
else
	inside=0
fi
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
top_srcdir=$(cd "$top_srcdir" && pwd)

if [ $inside = 0 ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (mount namespace, dpkg)"; exit 77; }
	[ -d "$top_srcdir/debian" ] || { echo "SKIP: no debian/ in $top_srcdir"; exit 77; }
	# The packages are built from the sources, never from this build: the
	# sanitizer run of scripts/test.sh would only build them again.
	[ -z "${SCIM_SANITIZERS:-}" ] || { echo "SKIP: sanitizer build (the plain run tests the packages)"; exit 77; }
	# Never from a package build (dpkg-buildpackage sets this for debian/rules).
	[ -z "${DEB_RULES_REQUIRES_ROOT:-}" ] || { echo "SKIP: inside a package build"; exit 77; }
	for c in dpkg-buildpackage dpkg unshare lintian timeout; do
		command -v $c >/dev/null || { echo "SKIP: no $c (scripts/install-deps.sh installs it)"; exit 77; }
	done
	if ! deps=$(cd "$top_srcdir" && dpkg-checkbuilddeps 2>&1); then
		echo "SKIP: $deps"
		exit 77
	fi
fi

fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1"; echo "  want: $2"; echo "  got:  $3"; fi; }
sum() { sha256sum "$1" 2>/dev/null | cut -d' ' -f1; }

# ---------------------------------------------------------------- inside
if [ $inside = 1 ]; then
	set -e
	# Overlays: every write of dpkg, its triggers and the maintainer scripts
	# lands in the upper dirs, on a tmpfs that dies with this namespace.
	mkdir -p "$T/ov"
	mount -t tmpfs -o mode=0700 scim-deb "$T/ov"
	for d in etc usr var; do
		mkdir -p "$T/ov/$d.up" "$T/ov/$d.work"
		mount -t overlay "scim-deb-$d" -o "lowerdir=/$d,upperdir=$T/ov/$d.up,workdir=$T/ov/$d.work" "/$d" || {
			echo "SKIP: no overlayfs here: nothing installed"
			exit 77
		}
	done
	# A private /run: no nscd socket answers for the host, and no systemd
	# is seen (deb-systemd-invoke starts nothing).
	mount -t tmpfs -o mode=0755 scim-deb-run /run
	mkdir -p /run/lock
	set +e
	export DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true

	v1=$(cat "$T/v1.version")
	v2=$(cat "$T/v2.version")
	pkgs="libnss-scim libpam-scim scim-refreshd"
	debs() { for p in $pkgs; do echo "$T/${p}_$1_$(dpkg --print-architecture).deb"; done; }
	cp /etc/nsswitch.conf "$T/nsswitch.before"
	cp /etc/pam.d/common-account "$T/common-account.before"

	# ---- install
	# shellcheck disable=SC2046
	dpkg -i $(debs "$v1") >"$T/install.log" 2>&1
	check "install: dpkg -i exit status" 0 "$?"
	grep -E "warning|error" "$T/install.log" | sed 's/^/  /'
	# "scim" right after "files", the rest of the line as it was.
	for db in passwd group; do
		check "install: $db line" "$(sed -E -n "s/^($db:.*[[:space:]]files)([[:space:]]|\$)/\1 scim\2/p" "$T/nsswitch.before")" \
			"$(grep "^$db:" /etc/nsswitch.conf)"
	done
	check "install: nothing else in nsswitch.conf changed" \
		"$(grep -v -E '^(passwd|group):' "$T/nsswitch.before")" "$(grep -v -E '^(passwd|group):' /etc/nsswitch.conf)"
	check "install: common-account has pam_scim once" 1 "$(grep -c 'pam_scim\.so' /etc/pam.d/common-account)"
	check "install: the profile's line" \
		"account [default=bad success=ok user_unknown=ignore ignore=ignore] pam_scim.so" \
		"$(grep 'pam_scim\.so' /etc/pam.d/common-account | tr -s ' \t' '  ' | sed 's/ $//')"
	check "install: state dir mode and owner" "755 root root" "$(stat -c '%a %U %G' /var/lib/nss-pam-scim)"
	check "install: conffile mode and owner" "644 root root" "$(stat -c '%a %U %G' /etc/scim-refreshd.conf)"
	check "install: /etc/scim-refreshd.conf is a conffile" "/etc/scim-refreshd.conf" \
		"$(dpkg-query -W -f '${Conffiles}\n' scim-refreshd | awk 'NF {print $1}')"
	check "install: no key set in the conffile" "" "$(grep -v -e '^#' -e '^$' /etc/scim-refreshd.conf)"
	ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
	check "install: the modules are where glibc and libpam look" "yes yes" \
		"$([ -f "/usr/lib/$ma/libnss_scim.so.2" ] && echo yes) $([ -f "/usr/lib/$ma/security/pam_scim.so" ] && echo yes)"
	check "install: the unit is enabled" "/lib/systemd/system/scim-refreshd.service" \
		"$(readlink /etc/systemd/system/multi-user.target.wants/scim-refreshd.service)"

	# ---- the unit
	unit=/lib/systemd/system/scim-refreshd.service
	if command -v systemd-analyze >/dev/null; then
		out=$(systemd-analyze verify "$unit" 2>&1)
		check "unit: systemd-analyze verify" "0 " "$? $(echo "$out" | grep scim-refreshd)"
	else
		echo "note: no systemd-analyze, unit not verified"
	fi
	if [ -d "$T/host-systemd" ]; then
		echo "note: systemd runs on this host, but the packages are only in this namespace: not started"
	else
		echo "note: systemd is not PID 1 here: the unit's start condition is run by hand"
	fi
	# ExecCondition= as systemd runs it: through /bin/sh with the unit's
	# quoting, against copies of the config.
	cond=$(sed -n 's/^ExecCondition=//p' "$unit")
	cond_run() { # CONFIG: runs the condition against CONFIG, prints "STATUS LINES|OUTPUT"
		c=$(printf '%s\n' "$cond" | sed "s|/etc/scim-refreshd\.conf|$1|g")
		o=$(eval "$c" 2>&1)
		echo "$? $(printf '%s' "$o" | grep -c .)|$o"
	}
	cp /etc/scim-refreshd.conf "$T/c-none.conf"
	r=$(cond_run "$T/c-none.conf")
	check "unit: no url: condition fails with one line" "1 1" "${r%%|*}"
	case ${r#*|} in *"sets no url or snapshot_url"*) ok "unit: the line says why: ${r#*|}" ;;
	*) bad "unit: the line says why"; echo "  got: ${r#*|}" ;; esac
	{ cat /etc/scim-refreshd.conf; echo "url = https://scim.example.com/scim/v2"; } >"$T/c-url.conf"
	check "unit: url set: condition passes" "0 0" "$(cond_run "$T/c-url.conf" | cut -d'|' -f1)"
	{ cat /etc/scim-refreshd.conf; echo "  snapshot_url= https://fleet.example.com/snap"; } >"$T/c-snap.conf"
	check "unit: snapshot_url set: condition passes" "0 0" "$(cond_run "$T/c-snap.conf" | cut -d'|' -f1)"
	check "unit: no config file: condition fails" "1 1" "$(cond_run "$T/none/missing.conf" | cut -d'|' -f1)"

	# ---- an imported directory through the installed binaries
	cp "$top_srcdir/sample/scim-refreshd.conf" "$T/import.conf"
	chmod 644 "$T/import.conf"
	/usr/sbin/scim-refreshd --config "$T/import.conf" --once --import "$top_srcdir/sample" >"$T/import.log" 2>&1
	check "import: scim-refreshd --once --import sample/" 0 "$?"
	pw=$(getent passwd mona.octocat)
	case $pw in mona.octocat:*:Mona\ Lisa\ Octocat:/home/mona.octocat:/bin/bash) ok "getent passwd mona.octocat: $pw" ;;
	*) bad "getent passwd mona.octocat"; echo "  got: '$pw'"; cat "$T/import.log" ;; esac
	uid=$(echo "$pw" | cut -d: -f3)
	check "getent passwd by uid" "mona.octocat" "$(getent passwd "$uid" | cut -d: -f1)"
	check "getent group octo-devs has mona" "yes" \
		"$(getent group octo-devs | cut -d: -f4 | tr ',' '\n' | grep -qx mona.octocat && echo yes)"
	check "id -Gn mona.octocat has octo-all" "yes" "$(id -Gn mona.octocat | tr ' ' '\n' | grep -qx octo-all && echo yes)"
	check "scimctl status reads the cache" 0 "$(/usr/sbin/scimctl status >/dev/null 2>&1; echo $?)"
	cache_sum=$(sum /var/lib/nss-pam-scim/cache.tdb)
	idmap_sum=$(sum /var/lib/nss-pam-scim/idmap.tdb)
	if [ -z "$cache_sum" ] || [ -z "$idmap_sum" ]; then bad "import: no cache.tdb or idmap.tdb in /var/lib/nss-pam-scim"; fi

	# ---- upgrade
	# shellcheck disable=SC2046
	dpkg -i $(debs "$v2") >"$T/upgrade.log" 2>&1
	check "upgrade: dpkg -i exit status" 0 "$?"
	check "upgrade: versions" "$v2 $v2 $v2" \
		"$(for p in $pkgs; do dpkg-query -W -f '${Version} ' "$p"; done | sed 's/ $//')"
	check "upgrade: cache byte for byte" "$cache_sum" "$(sum /var/lib/nss-pam-scim/cache.tdb)"
	check "upgrade: id map byte for byte" "$idmap_sum" "$(sum /var/lib/nss-pam-scim/idmap.tdb)"
	check "upgrade: scim still once on each line" "1 1" \
		"$(grep -c '^passwd:.* scim' /etc/nsswitch.conf) $(grep -c '^group:.* scim' /etc/nsswitch.conf)"
	check "upgrade: pam_scim still once" 1 "$(grep -c 'pam_scim\.so' /etc/pam.d/common-account)"
	check "upgrade: getent still answers" "$uid" "$(getent passwd mona.octocat | cut -d: -f3)"
	# The same directory again after the upgrade: the same numbers.
	/usr/sbin/scim-refreshd --config "$T/import.conf" --once --import "$top_srcdir/sample" >>"$T/import.log" 2>&1
	check "upgrade: a new import keeps mona's uid" "$uid" "$(getent passwd mona.octocat | cut -d: -f3)"
	cache_sum=$(sum /var/lib/nss-pam-scim/cache.tdb)

	# ---- remove: the system files back, the state kept
	dpkg -r $pkgs >"$T/remove.log" 2>&1
	check "remove: dpkg -r exit status" 0 "$?"
	check "remove: nsswitch.conf restored" "$(sum "$T/nsswitch.before")" "$(sum /etc/nsswitch.conf)"
	check "remove: common-account restored" "$(sum "$T/common-account.before")" "$(sum /etc/pam.d/common-account)"
	check "remove: the cache is kept" "$cache_sum" "$(sum /var/lib/nss-pam-scim/cache.tdb)"
	check "remove: the id map is kept" "$idmap_sum" "$(sum /var/lib/nss-pam-scim/idmap.tdb)"
	check "remove: the conffile is kept" "yes" "$([ -f /etc/scim-refreshd.conf ] && echo yes)"

	# ---- purge
	dpkg -P $pkgs >"$T/purge.log" 2>&1
	check "purge: dpkg -P exit status" 0 "$?"
	if cmp "$T/nsswitch.before" /etc/nsswitch.conf; then ok "purge: nsswitch.conf byte for byte"; else
		bad "purge: nsswitch.conf byte for byte"; diff "$T/nsswitch.before" /etc/nsswitch.conf; fi
	if cmp "$T/common-account.before" /etc/pam.d/common-account; then ok "purge: common-account byte for byte"; else
		bad "purge: common-account byte for byte"; diff "$T/common-account.before" /etc/pam.d/common-account; fi
	check "purge: state dir gone" "no" "$([ -e /var/lib/nss-pam-scim ] && echo yes || echo no)"
	check "purge: conffile gone" "no" "$([ -e /etc/scim-refreshd.conf ] && echo yes || echo no)"
	check "purge: the unit's enablement gone" "no" \
		"$([ -e /etc/systemd/system/multi-user.target.wants/scim-refreshd.service ] && echo yes || echo no)"
	check "purge: no package left" "" "$(dpkg -l | grep scim)"
	if [ $fail != 0 ]; then
		for l in install upgrade remove purge import; do echo "---- $l.log"; cat "$T/$l.log"; done
	fi
	exit $fail
fi

# ---------------------------------------------------------------- outside
start=$(date +%s)
T=$(mktemp -d "${TMPDIR:-/tmp}/scim-deb.XXXXXX")
trap 'rm -rf "$T"' EXIT
host_ns=$(sum /etc/nsswitch.conf)
host_pam=$(sum /etc/pam.d/common-account)
host_state=$([ -e /var/lib/nss-pam-scim ] && echo yes || echo no)

# A copy of the tree: the build writes debian/ and the source tree, and
# another test may be building in the tree at the same time.
mkdir -p "$T/src"
if git -C "$top_srcdir" rev-parse --show-toplevel >/dev/null 2>&1; then
	(cd "$top_srcdir" && git ls-files -co --exclude-standard -z | xargs -0 sh -c \
		'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh | tar --null -T - -cf -) | tar -xf - -C "$T/src"
else
	(cd "$top_srcdir" && tar --exclude=./_build --exclude='./nss-pam-scim-*' -cf - .) | tar -xf - -C "$T/src"
fi
[ -f "$T/src/debian/rules" ] || { echo "FAIL: copying the tree"; exit 1; }

# dpkg-buildpackage's own parallelism: 1 under make check (which already
# runs tests side by side), else the machine's.
par=${SCIM_DEB_PARALLEL:-$([ -n "${MAKELEVEL:-}" ] && echo 1 || nproc)}
v1=$(cd "$T/src" && dpkg-parsechangelog -S Version)
v2=$v1+upgradetest1
echo "$v1" >"$T/v1.version"
echo "$v2" >"$T/v2.version"
build() { # LOG ARGS...: dpkg-buildpackage in the copy, bounded
	log=$1
	shift
	# A clean environment: make check's MAKEFLAGS would hand its TESTS
	# (this very test) to the package's own make check, and so on.
	(cd "$T/src" && env -i PATH="$PATH" HOME="${HOME:-/root}" LC_ALL=C.UTF-8 TMPDIR="${TMPDIR:-/tmp}" \
		DEB_BUILD_OPTIONS="parallel=$par" timeout 900 dpkg-buildpackage -us -uc -b "$@") >"$T/$log" 2>&1
}
if build build1.log; then ok "dpkg-buildpackage -us -uc -b ($v1) in $(($(date +%s) - start)) s"; else
	bad "dpkg-buildpackage ($v1)"
	tail -n 60 "$T/build1.log"
	exit 1
fi
# The upgrade: the same build, packaged again under a newer changelog entry
# (the compiled tree is reused: -nc skips the clean, dh the finished build).
{
	printf 'nss-pam-scim (%s) unstable; urgency=medium\n\n  * Upgrade test.\n\n' "$v2"
	printf ' -- nss-pam-scim tests <tests@example.org>  %s\n\n' "$(date -R)"
	cat "$T/src/debian/changelog"
} >"$T/changelog.new"
mv "$T/changelog.new" "$T/src/debian/changelog"
rm -f "$T/src/debian"/*.debhelper.log
t1=$(date +%s)
if build build2.log -nc; then ok "dpkg-buildpackage -b -nc ($v2) in $(($(date +%s) - t1)) s"; else
	bad "dpkg-buildpackage ($v2)"
	tail -n 60 "$T/build2.log"
	exit 1
fi
for p in libnss-scim libpam-scim scim-refreshd; do
	for v in "$v1" "$v2"; do
		[ -f "$T/${p}_${v}_$(dpkg --print-architecture).deb" ] || bad "no ${p}_${v} package built"
	done
done

# lintian: no errors; the rest is printed for the log.
changes=$T/nss-pam-scim_${v1}_$(dpkg --print-architecture).changes
timeout 300 lintian --pedantic -I "$changes" >"$T/lintian.log" 2>&1
sed 's/^/  lintian: /' "$T/lintian.log" | grep -v 'running with root privileges'
check "lintian: no errors" 0 "$(grep -c '^E:' "$T/lintian.log")"

# The throwaway system.
[ -d /run/systemd/system ] && mkdir "$T/host-systemd"
t1=$(date +%s)
timeout 300 unshare --mount --propagation private sh "$0" --inside "$T"
rc=$?
case $rc in
0) ;;
77) skipped=1 ;;
*) bad "install, upgrade, remove and purge (exit $rc)" ;;
esac
echo "     (install test $(($(date +%s) - t1)) s)"

# The host is untouched.
check "host: /etc/nsswitch.conf unchanged" "$host_ns" "$(sum /etc/nsswitch.conf)"
check "host: /etc/pam.d/common-account unchanged" "$host_pam" "$(sum /etc/pam.d/common-account)"
check "host: no package of ours" "" "$(dpkg -l | grep scim)"
check "host: /var/lib/nss-pam-scim as it was" "$host_state" "$([ -e /var/lib/nss-pam-scim ] && echo yes || echo no)"
echo "     (total $(($(date +%s) - start)) s)"
[ $fail = 0 ] && [ -n "${skipped:-}" ] && exit 77
exit $fail
