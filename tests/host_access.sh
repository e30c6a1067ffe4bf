#!/bin/sh
# Homes, sudo and sshd's AllowGroups with directory users (issue 13, part
# C), in private mount and network namespaces (root only):
#   - pam_mkhomedir, enabled with pam-auth-update, makes a directory user's
#     home at the first sshd login, with the user's uid and gid and the mode
#     login.defs asks for;
#   - sshd's AllowGroups with a directory group admits its members only;
#   - Debian's sudo with "%scimops ALL=(ALL:ALL) NOPASSWD: ALL": a member is
#     granted, a non-member is refused, a suspended member is refused at the
#     account stage (pam_scim in common-account).
set -eu
. "$top_srcdir/tests/pam_env.sh"
command -v pam-auth-update >/dev/null && [ -f /usr/share/pam-configs/mkhomedir ] ||
	{ echo "SKIP: needs pam-auth-update and libpam-modules' mkhomedir profile"; exit 77; }
command -v setpriv >/dev/null && command -v ldconfig >/dev/null || { echo "SKIP: needs setpriv and ldconfig"; exit 77; }
sudo=$(command -v sudo || true)
[ -n "$sudo" ] || { echo "SKIP: no sudo"; exit 77; }
sshd_users="scimact scimdev1 scimnew scimlocal"
. "$top_srcdir/tests/sshd_env.sh"

sshd_env_run "$0" "$@"

# sudo is setuid: the dynamic loader ignores LD_LIBRARY_PATH and the module
# ignores NSS_SCIM_CACHE there.  So, in here only: the module is found
# through a private ld.so.cache, and the cache is published at the
# module's built-in path, on a tmpfs.
cache=$(env -u NSS_SCIM_CACHE "$top_builddir/scimctl/scimctl" --help 2>&1 | sed -n 's/^default cache: //p')
[ -n "$cache" ] || { echo "cannot tell the default cache path"; exit 1; }
d=$(dirname "$cache")
top=$d
while [ ! -d "$top" ]; do top=$(dirname "$top"); done
if [ "$top" = "$d" ]; then mount -t tmpfs -o mode=755 tmpfs "$d"; else mount -t tmpfs -o mode=755 tmpfs "$top"; fi
mkdir -p "$d"
mkdir -p "$t/lib"
cp "$SCIM_LIBDIR/libnss_scim.so.2" "$t/lib/"
printf '%s\ninclude /etc/ld.so.conf.d/*.conf\n' "$t/lib" >"$t/ld.so.conf"
ldconfig -C "$t/ld.so.cache" -f "$t/ld.so.conf"
mount --bind "$t/ld.so.cache" /etc/ld.so.cache
export NSS_SCIM_CACHE="$cache"

# scimact: active, in scimops; scimdev1: active, not in scimops; scimsop:
# suspended member of scimops; scimnew: active, in scimops, no home yet.
{
	grep -v '^user:scimlong' "$t/active.desc"
	echo "user:scimdev1:72004:72004:Dev One:$t/home/scimdev1:/bin/sh:active:id-dev1:72100"
	echo "group:scimdev1:72004:upg-dev1:"
	echo "user:scimsop:72005:72005:Suspended Op:$t/home/scimsop:/bin/sh:suspended:id-sop:72101"
	echo "group:scimsop:72005:upg-sop:"
	echo "user:scimnew:72006:72006:New User:$t/home/scimnew:/bin/sh:active:id-new:72101"
	echo "group:scimnew:72006:upg-new:"
} | sed 's/^\(group:scimops:72101:id-ops:\).*/\1scimact,scimsop,scimnew/' >"$t/host.desc"
"$top_builddir/tests/scim-mkcache" "$cache" <"$t/host.desc"
mkdir -p "$t/home/scimdev1"

# ---------------------------------------------------------------- homes
# pam-auth-update --enable mkhomedir, as the README says.
pam_auth_update "$t" mkhomedir
grep -q 'pam_mkhomedir.so' "$t/pam.d/common-session" || { echo "no pam_mkhomedir in:"; cat "$t/pam.d/common-session"; exit 1; }
cat >"$t/pam.d/sshd" <<PAM
auth	required	pam_deny.so
@include common-account
@include common-session
password	required	pam_deny.so
PAM
sshd_start
# The mode pam_mkhomedir gives: HOME_MODE from login.defs, else 0777 & ~UMASK.
mode=$(sed -n 's/^HOME_MODE[[:space:]]\{1,\}\([0-7]*\).*/\1/p' /etc/login.defs)
if [ -z "$mode" ]; then
	um=$(sed -n 's/^UMASK[[:space:]]\{1,\}\([0-7]*\).*/\1/p' /etc/login.defs)
	mode=$(printf '%o' $((0777 & ~0${um:-022})))
fi
mode=$(printf '%o' $((0$mode)))
check "no home before the first login" no "$([ -e "$t/home/scimnew" ] && echo yes || echo no)"
ssh_as scimnew 'pwd; id -un'
check "first sshd login: the session starts in the new home" "0 $t/home/scimnew
scimnew" "$rc $out"
check "pam_mkhomedir: the home has the user's uid and gid and mode $mode" "72006 72006 $mode" \
	"$(stat -c '%u %g %a' "$t/home/scimnew")"

# ---------------------------------------------------------------- AllowGroups
kill "$sshd_pid"; wait "$sshd_pid" 2>/dev/null || :
sshd_start "AllowGroups scimops"
ssh_as scimact id -un
check "AllowGroups scimops: a member logs in" "0 scimact" "$rc $out"
ssh_as scimdev1 id -un
check "AllowGroups scimops: a directory user outside the group is refused" 255 "$rc"
ssh_as scimlocal id -un
check "AllowGroups scimops: so is a local user outside it" 255 "$rc"
check_has "sshd says why" "User scimdev1 from 127.0.0.1 not allowed because none of user's groups are listed in AllowGroups" \
	"$(cat "$t/sshd.log")"
kill "$sshd_pid"; wait "$sshd_pid" 2>/dev/null || :

# ---------------------------------------------------------------- sudo
printf 'Defaults !lecture, !syslog\nroot ALL=(ALL:ALL) ALL\n%%scimops ALL=(ALL:ALL) NOPASSWD: ALL\n' >"$t/sudoers"
chmod 440 "$t/sudoers"
mount --bind "$t/sudoers" /etc/sudoers
cat >"$t/pam.d/sudo" <<PAM
auth	required	pam_deny.so
@include common-account
session	required	pam_permit.so
PAM
# as UID CMD...: CMD with the credentials of the user UID (groups from NSS).
as() {
	u=$1
	shift
	out=$(timeout 20 setpriv --reuid "$u" --regid "$u" --init-groups --reset-env "$@" 2>&1) && rc=0 || rc=$?
}
check "sudo -l -U: the member is listed" yes \
	"$("$sudo" -l -U scimact 2>&1 | grep -q '(ALL : ALL) NOPASSWD: ALL' && echo yes || echo no)"
as 72001 "$sudo" -n -u root id -un
check "sudo: a member of the directory group is granted" "0 root" "$rc $out"
as 72004 "$sudo" -n -u root id -un
check "sudo: a directory user outside the group is refused" 1 "$rc"
case "$out" in *root*) check "sudo: the non-member runs nothing" "" "$out" ;; esac
check_has "sudo -l -U: the non-member may not" "User scimdev1 is not allowed to run sudo" \
	"$("$sudo" -l -U scimdev1 2>&1)"
as 72005 "$sudo" -n -u root id -un
check "sudo: a suspended member is refused" 1 "$rc"
check_has "sudo: at the account stage" "expired" "$out"
case "$out" in *root*) check "sudo: the suspended member runs nothing" "" "$out" ;; esac

# The directory suspends scimact: sudo refuses at once.
sed 's/:active:id-act:/:suspended:id-act:/' "$t/host.desc" | "$top_builddir/tests/scim-mkcache" "$cache"
as 72001 "$sudo" -n -u root id -un
check "sudo: a member suspended since is refused" 1 "$rc"

if [ $fail != 0 ]; then echo "--- sshd.log"; cat "$t/sshd.log"; exit 1; fi
echo "PASS: homes, AllowGroups and sudo with directory users"
