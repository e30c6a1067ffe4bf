#!/bin/sh
# Interop with a third-party SCIM implementation: npm's scimmy with
# scimmy-routers on express, over HTTPS on loopback.  A full sync, then through
# scimmy's own SCIM API a suspension (PATCH active:false), a rename (PATCH
# userName) and a deletion (DELETE); another sync; every answer checked
# through the real module (getent, id) in a mount namespace.
. "$top_srcdir/tests/net_lib.sh"
net_need_root
command -v node >/dev/null && command -v npm >/dev/null || { echo "SKIP: node/npm not installed"; exit 77; }

# The npm packages go into the build tree, installed on first use.
NPM=$top_builddir/tests/npm
if [ ! -d "$NPM/node_modules/scimmy-routers" ] || [ ! -d "$NPM/node_modules/express" ]; then
	mkdir -p "$NPM"
	if ! npm install --prefix "$NPM" --no-audit --no-fund scimmy scimmy-routers express >"$T/npm.log" 2>&1; then
		if ! npm ping >/dev/null 2>&1; then
			echo "SKIP: the npm registry is unreachable"
			exit 77
		fi
		cat "$T/npm.log" >&2
		fail "npm install scimmy scimmy-routers express"
	fi
fi

net_token
net_seed 12 3 4
python3 "$TESTS_SRC/scim_server.py" --certs-only --certdir "$T/certs" --data x --port-file x || fail "certificates"
NODE_PATH=$NPM/node_modules node "$TESTS_SRC/scimmy_server.js" "$T/data/seed.json" "$T/certs" "$T/scimmy.port" \
	"$T/token" 300 >"$T/scimmy.log" 2>&1 &
NET_PIDS="$NET_PIDS $!"
i=0
while [ ! -s "$T/scimmy.port" ]; do
	i=$((i + 1))
	[ $i -gt 400 ] && fail "scimmy did not start: $(cat "$T/scimmy.log")"
	sleep 0.05
done
URL="https://127.0.0.1:$(cat "$T/scimmy.port")/scim/v2"
net_config "page_size = 5"

# api METHOD PATH [JSON]: scimmy's own SCIM API (python3, no curl binary needed).
api() {
	python3 - "$1" "$URL$2" "${3:-}" "$T/certs/ca.pem" "$T/token" <<'PY'
import ssl, sys, urllib.request
m, url, body, ca, tok = sys.argv[1:]
req = urllib.request.Request(url, method=m, data=body.encode() if body else None,
                             headers={"Authorization": "Bearer " + open(tok).read().strip(),
                                      "Content-Type": "application/scim+json"})
with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=ca)) as r:
    print(r.status)
PY
}
patch() { # ID PATH VALUE(JSON)
	api PATCH "/Users/$1" "{\"schemas\":[\"urn:ietf:params:scim:api:messages:2.0:PatchOp\"],\"Operations\":[{\"op\":\"replace\",\"path\":\"$2\",\"value\":$3}]}"
}
check() { # NAME EXPECTED ACTUAL
	[ "$2" = "$3" ] || fail "$1: expected '$2', got '$3'"
	ok "$1"
}

net_once
[ $RC = 0 ] || fail "first sync from scimmy: rc=$RC"
grep -q "published: users=12 groups=15 .*requests=4 " "$T/out" || fail "first sync summary: $(cat "$T/out")"
ok "full sync from scimmy: 12 users and 3 groups (3 + 1 pages of 5)"

pw3=$(net_ns getent passwd user0003) || fail "getent passwd user0003"
pw7=$(net_ns getent passwd user0007) || fail "getent passwd user0007"
uid7=$(echo "$pw7" | cut -d: -f3)
check "user0003 through the module" "user0003:*:$(echo "$pw3" | cut -d: -f3):$(echo "$pw3" | cut -d: -f3):Test User 0003:/home/user0003:/bin/bash" "$pw3"
net_ns getent passwd user0009 >/dev/null || fail "user0009 before deletion"
# team001 has members u-0008..u-0011 (scim_seed.py: 7*g + k)
check "group members through the module" "user0008,user0009,user0010,user0011" "$(net_ns getent group team001 | cut -d: -f4)"
net_ns id user0010 | grep -q "(team001)" || fail "id user0010 lacks team001"
ok "id user0010 lists team001"

check "PATCH active:false" 200 "$(patch u-0003 active false)"
check "PATCH userName" 200 "$(patch u-0007 userName '"renamed7"')"
check "DELETE" 204 "$(api DELETE /Users/u-0009)"

net_once
[ $RC = 0 ] || fail "second sync: rc=$RC: $(cat "$T/out")"
grep -q "published: users=11 .* removed=1 renamed=1 suspended=1 " "$T/out" || fail "second sync summary: $(cat "$T/out")"
grep -q "user user0003 (uid [0-9]*) suspended" "$T/out" || fail "the suspension is not logged by name"
ok "second sync: 1 removed, 1 renamed, 1 suspended (logged by name)"

check "suspended user still resolves" "$pw3" "$(net_ns getent passwd user0003)"
net_ns getent passwd user0007 >/dev/null && fail "old name still resolves"
check "renamed user keeps the uid" "$uid7" "$(net_ns getent passwd renamed7 | cut -d: -f3)"
check "uid resolves to the new name" renamed7 "$(net_ns getent passwd "$uid7" | cut -d: -f1)"
net_ns getent passwd user0009 >/dev/null && fail "deleted user still resolves"
ok "deleted user gone"
check "deleted member dropped from its group" "user0008,user0010,user0011" "$(net_ns getent group team001 | cut -d: -f4)"
check "id of the renamed user" "uid=$uid7(renamed7)" "$(net_ns id renamed7 | cut -d' ' -f1)"
