#!/bin/sh
# Builds nss-pam-scim out of tree in ./_build (or $1).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/_build}
cd "$top"
[ -x configure ] || ./autogen.sh
mkdir -p "$build"
cd "$build"
[ -f Makefile ] || "$top/configure" ${CONFIGURE_FLAGS:-}
make -j"$(nproc)"
