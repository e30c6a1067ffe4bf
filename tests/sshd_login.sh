#!/bin/sh
# A real sshd with pam_scim in its account stack, in private mount and
# network namespaces (root only): key logins of an active directory user
# (whose `id` shows the directory's groups), a suspended one, a local one,
# and a republish that suspends the active user.
set -eu
. "$top_srcdir/tests/pam_env.sh"
sshd=/usr/sbin/sshd
[ -x "$sshd" ] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null ||
	{ echo "SKIP: needs openssh-server and openssh-client"; exit 77; }
# Loopback up in the new network namespace: ip(8) when iproute2 is there,
# else the SIOCSIFFLAGS ioctl from python3.
lo_up() {
	if command -v ip >/dev/null; then
		ip link set lo up
	else
		python3 -c '
import fcntl, socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
name, flags = struct.unpack("16sH22x", fcntl.ioctl(s, 0x8913, struct.pack("16sH22x", b"lo", 0)))
fcntl.ioctl(s, 0x8914, struct.pack("16sH22x", b"lo", flags | 1))'
	fi
}
command -v ip >/dev/null || command -v python3 >/dev/null || { echo "SKIP: needs ip or python3"; exit 77; }

if [ "${1:-}" != __inner ]; then
	t=$(mktemp -d)
	trap 'rm -rf "$t"' EXIT
	pam_env_setup "$t"
	ssh-keygen -q -t ed25519 -N '' -C scim-host -f "$t/hostkey"
	ssh-keygen -q -t ed25519 -N '' -C scim-user -f "$t/id_user"
	mkdir "$t/keys"
	for u in scimact scimsusp scimlocal; do cp "$t/id_user.pub" "$t/keys/$u"; done
	chmod 644 "$t"/keys/*
	# A network namespace of its own: its loopback port cannot clash
	# with anything on the host.
	unshare --mount --net --propagation private sh "$0" __inner "$t"
	exit $?
fi
t=$2
pam_env_enter "$t"
lo_up
mkdir -m 755 /run/sshd   # privilege separation directory, on the private /run
port=2222

cat >"$t/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $t/hostkey
PidFile $t/sshd.pid
UsePAM yes
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile $t/keys/%u
StrictModes no
PrintMotd no
PrintLastLog no
# The session's programs (id) must find the module and the cache too.
SetEnv LD_LIBRARY_PATH=$SCIM_LIBDIR NSS_SCIM_CACHE=$t/cache.tdb
LogLevel VERBOSE
CONF
"$sshd" -t -f "$t/sshd_config"
"$sshd" -D -f "$t/sshd_config" -E "$t/sshd.log" &
sshd_pid=$!
trap 'kill $sshd_pid 2>/dev/null; wait $sshd_pid 2>/dev/null || :' EXIT
i=0
until grep -q "Server listening on 127.0.0.1 port $port" "$t/sshd.log" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "sshd did not start:"; cat "$t/sshd.log"; exit 1; }
	kill -0 $sshd_pid 2>/dev/null || { echo "sshd exited:"; cat "$t/sshd.log"; exit 1; }
	sleep 0.1
done

# ssh_as USER CMD: output and exit status of CMD run over ssh as USER.
ssh_as() {
	user=$1; shift
	out=$(timeout 30 ssh -F /dev/null -i "$t/id_user" -p $port -o BatchMode=yes -o IdentitiesOnly=yes \
		-o StrictHostKeyChecking=no -o UserKnownHostsFile="$t/known_hosts" -o ConnectTimeout=10 \
		-o ServerAliveInterval=5 -o ServerAliveCountMax=2 -o LogLevel=ERROR \
		"$user@127.0.0.1" "$@" 2>&1) && rc=0 || rc=$?
}

ssh_as scimact id
check "ssh: active directory user logs in with a key; id shows the directory's groups" \
	"0 uid=72001(scimact) gid=72001(scimact) groups=72001(scimact),72100(scimdev),72101(scimops)" "$rc $out"

ssh_as scimsusp id
check "ssh: suspended directory user is refused" 255 "$rc"
case "$out" in *uid=*) check "ssh: suspended user runs nothing" "" "$out" ;; esac
check_has "sshd: refused by the account stack" "Access denied for user scimsusp by PAM account configuration" \
	"$(cat "$t/sshd.log")"

ssh_as scimlocal id -un
check "ssh: local user is unaffected" "0 scimlocal" "$rc $out"

# The directory suspends scimact: the next login is refused.
publish allsusp
ssh_as scimact id
check "ssh: after republish, the newly suspended user is refused" 255 "$rc"
check_has "sshd: newly suspended user refused by the account stack" \
	"Access denied for user scimact by PAM account configuration" "$(cat "$t/sshd.log")"

# A corrupt cache never locks out a local user.
echo "not a cache" | "$top_builddir/tests/scim-mkcache" --raw 0644 "$t/cache.tdb"
ssh_as scimlocal id -un
check "ssh: corrupt cache, local user still logs in" "0 scimlocal" "$rc $out"
publish active
ssh_as scimact id -un
check "ssh: republished active again, logs in" "0 scimact" "$rc $out"

if [ $fail != 0 ]; then echo "--- sshd.log"; cat "$t/sshd.log"; exit 1; fi
echo "PASS: sshd with pam_scim"
