#!/bin/sh
# The README's main command: installs the Debian build dependencies, builds
# in ./_build, then runs the whole job on the bundled sample directory
# (scripts/demo-sync.sh): a SCIM test server over HTTPS on 127.0.0.1,
# scim-refreshd syncing from it, getent/id answering from libnss_scim, then a
# user suspended on the server and synced again.  Run as root: the lookups
# happen in a private mount namespace, so the host's /etc is never written.
# (scripts/demo.sh shows the offline import of the same sample.)
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "quickstart.sh: run as root (sudo): the demo uses a private mount namespace" >&2; exit 1; }
"$top/scripts/install-deps.sh"
"$top/scripts/build.sh" "$top/_build"
exec "$top/scripts/demo-sync.sh" "$top/_build"
