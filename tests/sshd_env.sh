# sshd_env.sh - sourced by the sshd system tests after pam_env.sh: a real
# sshd on a loopback port of a private network namespace, logging in with
# keys.  Root only, like pam_env.sh.
#
#   sshd_env_run "$0" "$@"   outside: pam_env_setup, host and user keys, an
#                            authorized keys file for every name in
#                            $sshd_users, then the test again in private
#                            mount and network namespaces; inside: enters
#                            $t and brings the loopback up
#   sshd_start [LINE...]     writes $t/sshd_config (LINEs appended), starts
#                            sshd and waits until it listens
#   ssh_as USER CMD...       sets out and rc from CMD run over ssh as USER

sshd=/usr/sbin/sshd
[ -x "$sshd" ] && command -v ssh >/dev/null && command -v ssh-keygen >/dev/null ||
	{ echo "SKIP: needs openssh-server and openssh-client"; exit 77; }
command -v ip >/dev/null || command -v python3 >/dev/null || { echo "SKIP: needs ip or python3"; exit 77; }
: "${sshd_users=scimact scimsusp scimlocal}"
port=2222

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

sshd_env_run() {
	if [ "${2:-}" != __inner ]; then
		t=$(mktemp -d)
		trap 'rm -rf "$t"' EXIT
		pam_env_setup "$t"
		ssh-keygen -q -t ed25519 -N '' -C scim-host -f "$t/hostkey"
		ssh-keygen -q -t ed25519 -N '' -C scim-user -f "$t/id_user"
		mkdir "$t/keys"
		for u in $sshd_users; do cp "$t/id_user.pub" "$t/keys/$u"; done
		[ -z "$sshd_users" ] || chmod 644 "$t"/keys/*
		# A network namespace of its own: its loopback port cannot
		# clash with anything on the host.
		unshare --mount --net --propagation private sh "$1" __inner "$t"
		exit $?
	fi
	t=$3
	pam_env_enter "$t"
	lo_up
	mkdir -m 755 /run/sshd # privilege separation directory, on the private /run
}

sshd_start() {
	# A fresh log: a restart waits for its own "listening" line.
	: >"$t/sshd.log"
	cat >"$t/sshd_config" <<-CONF
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
	SetEnv LD_LIBRARY_PATH=$SCIM_LIBDIR NSS_SCIM_CACHE=$NSS_SCIM_CACHE
	LogLevel VERBOSE
	CONF
	for l in "$@"; do echo "$l" >>"$t/sshd_config"; done
	"$sshd" -t -f "$t/sshd_config"
	"$sshd" -D -f "$t/sshd_config" -E "$t/sshd.log" &
	sshd_pid=$!
	trap 'kill $sshd_pid 2>/dev/null || :; wait $sshd_pid 2>/dev/null || :' EXIT
	i=0
	until grep -q "Server listening on 127.0.0.1 port $port" "$t/sshd.log" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 100 ] || { echo "sshd did not start:"; cat "$t/sshd.log"; exit 1; }
		kill -0 $sshd_pid 2>/dev/null || { echo "sshd exited:"; cat "$t/sshd.log"; exit 1; }
		sleep 0.1
	done
}

ssh_opts() {
	echo "-F /dev/null -i $t/id_user -p $port -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=no" \
		"-o UserKnownHostsFile=$t/known_hosts -o ConnectTimeout=10 -o ServerAliveInterval=5" \
		"-o ServerAliveCountMax=2 -o LogLevel=ERROR"
}

ssh_as() {
	user=$1
	shift
	# shellcheck disable=SC2046
	out=$(timeout 30 ssh $(ssh_opts) "$user@127.0.0.1" "$@" 2>&1) && rc=0 || rc=$?
}
