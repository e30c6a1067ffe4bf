#!/bin/sh
# fleet_sim.sh [HOSTS] - the fleet simulation of issue 11: HOSTS (1000) hosts
# poll a relay's snapshots through the edge nginx of
# data/nginx-edge.conf.example on loopback, generation after generation (an
# unchanged manifest, a change carried by deltas, a re-signed manifest), and
# the script reports, per generation, the origin's requests, the bytes a host
# fetched, and that the SCIM server saw the relay's requests alone.
#
# It is tests/fleet.sh with FLEET_SIM=1 and FLEET_HOSTS=HOSTS (the hosts of its
# "many hosts" step, then the simulation's generations, FLEET_WAVE (200) hosts
# at a time).  Run as root from a build tree: cd _build && ../bench/fleet_sim.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=$(cd "$here/.." && pwd)
top_builddir=${BUILD:-$(pwd)}
[ -x "$top_builddir/scim-refreshd" ] || { echo "fleet_sim: run from a build tree (or set BUILD)" >&2; exit 2; }
export top_srcdir top_builddir
FLEET_SIM=1 FLEET_HOSTS=${1:-1000} NET_SERVER_SECONDS=1800 sh "$top_srcdir/tests/fleet.sh" 2>&1 |
	grep -E '^(sim:|ok: [0-9]+ hosts at once|FAIL)'
