#!/bin/sh
# Installs the Debian 12 packages the build and the tests need
# (scripts/debian-packages.txt).  Runs apt-get as root, or through sudo.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
pkgs=$(grep -v '^#' "$here/debian-packages.txt" | tr '\n' ' ')
if [ "$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
# Installing openssh-server must not start a daemon on the host.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
	$sudo chmod +x /usr/sbin/policy-rc.d
	trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $pkgs
# node and npm (for the interop test against npm's scimmy) come from Debian
# only when the machine has none of its own.
if ! command -v npm >/dev/null 2>&1; then
	$sudo apt-get install -y -q --no-install-recommends nodejs npm
fi
