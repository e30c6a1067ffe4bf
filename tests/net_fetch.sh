#!/bin/sh
# Paging and request hygiene through http.c + fetch.c (tests/net_fetch), no
# mapping: index paging, RFC 9865 cursors, a cursor-only server that refuses
# startIndex, a capped page size, a totalResults that moves, an expired cursor,
# the request headers, gzip, one connection for every page, no redirects.
. "$top_srcdir/tests/net_lib.sh"
FETCH=$top_builddir/tests/net_fetch

net_token
net_seed 47 5 4
net_start_server

fetch() { # TYPE PAGE_SIZE [TIMEOUT [MAX_BYTES]]
	RC=0
	"$FETCH" "$URL" "$T/token" "$T/certs/ca.pem" "$@" >"$T/out" 2>&1 || RC=$?
}

# Index paging: 47 users in pages of 10 (5 pages), one connection, headers right.
fetch Users 10
[ $RC = 0 ] || fail "index paging"
grep -q "resources=47 duplicates=0 pages=5 total=47 cursor=0 requests=5" "$T/out" || fail "index paging: $(cat "$T/out")"
python3 - "$T/server.log" <<'PY' || fail "request headers"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert len(reqs) == 5, reqs
assert len({r["port"] for r in reqs}) == 1, "one connection for every page"
for i, r in enumerate(reqs):
    assert r["auth"] == "ok"
    assert r["accept"] == "application/scim+json, application/json", r["accept"]
    assert r["ua"].startswith("scim-refreshd/"), r["ua"]
    assert "gzip" in (r["ae"] or ""), r["ae"]
    assert r["query"] == "startIndex=%d&count=10" % (1 + 10 * i), r["query"]
PY
ok "index paging, one connection, Accept, User-Agent, gzip offered"

fetch Groups 2
grep -q "resources=5 .*pages=3 total=5 cursor=0" "$T/out" || fail "groups: $(cat "$T/out")"
ok "groups listing"

# The server caps the page at 3 whatever count says: advance by what arrived.
net_control '{"max_page": 3}'
fetch Users 10
grep -q "rc=0 resources=47 duplicates=0 pages=16 total=47" "$T/out" || fail "capped page: $(cat "$T/out")"
ok "capped page size"

# RFC 9865: the server answers with nextCursor and the listing follows it.
net_control '{"paging": "cursor", "omit_total": true}'
fetch Users 10
grep -q "rc=0 resources=47 duplicates=0 pages=5 total=-1 cursor=1" "$T/out" || fail "cursor: $(cat "$T/out")"
tail -n 1 "$T/server.log" | grep -q '"query": "cursor=[A-Za-z0-9_-]*&count=10"' || fail "cursor request"
ok "cursor paging"

# A cursor-only server that refuses startIndex: fall back to cursor=.
net_control '{"paging": "cursor-strict"}'
fetch Users 10
grep -q "rc=0 resources=47 .*cursor=1" "$T/out" || fail "cursor-strict: $(cat "$T/out")"
grep -q "trying cursor paging" "$T/out" || fail "cursor-strict: no log"
ok "cursor-only server"

# A server that ignores startIndex: with totalResults the listing is
# incomplete; without it, repeated pages are refused instead of looping.
net_control '{"ignore_start": true}'
fetch Users 10
grep -q "rc=-116" "$T/out" && grep -q "listing incomplete: 10 unique resources, totalResults 47" "$T/out" ||
	fail "ignored startIndex: $(cat "$T/out")"
net_control '{"ignore_start": true, "omit_total": true}'
fetch Users 10
grep -q "rc=-71 .*pages=2 " "$T/out" && grep -q "the server repeats pages" "$T/out" ||
	fail "repeated pages: $(cat "$T/out")"
ok "a server ignoring startIndex: incomplete, or refused when it repeats pages"

# An expired cursor ends the listing with -ESTALE (the sync starts over).
net_control '{"paging": "cursor", "faults": [{"kind": "cursor_error", "scimType": "expiredCursor", "page": 3}]}'
fetch Users 10
[ $RC = 1 ] && grep -q "rc=-116" "$T/out" && grep -q "expiredCursor" "$T/out" || fail "expired cursor: $(cat "$T/out")"
ok "expired cursor: listing must start over"

# totalResults that changes mid-listing: incomplete.
net_control '{"faults": [{"kind": "total_delta", "page": 3, "delta": 2}]}'
fetch Users 10
grep -q "rc=-116" "$T/out" && grep -q "totalResults changed from 47 to 49" "$T/out" || fail "total change: $(cat "$T/out")"
ok "totalResults changed mid-listing"

# A redirect to another host is never followed, so the token never goes there.
net_start_server other
net_control "{\"faults\": [{\"kind\": \"redirect\", \"location\": \"https://localhost:$other_PORT/scim/v2/Users\"}]}"
URL="https://127.0.0.1:$server_PORT/scim/v2"
fetch Users 10
grep -q "rc=-71" "$T/out" && grep -q "redirects are not followed" "$T/out" || fail "redirect: $(cat "$T/out")"
[ ! -s "$T/other.log" ] || fail "the redirect target got a request: $(cat "$T/other.log")"
ok "redirect not followed, nothing sent to the other host"

# https_proxy is honoured: the request goes through a CONNECT tunnel (the
# token stays inside TLS, end to end with the server).
python3 "$TESTS_SRC/connect_proxy.py" --port-file "$T/proxy.port" --log "$T/proxy.log" --max-seconds 120 &
NET_PIDS="$NET_PIDS $!"
i=0
while [ ! -s "$T/proxy.port" ]; do
	i=$((i + 1))
	[ $i -gt 200 ] && fail "proxy did not start"
	sleep 0.05
done
net_control '{}'
n=$(net_requests)
RC=0
https_proxy="http://127.0.0.1:$(cat "$T/proxy.port")" no_proxy= NO_PROXY= \
	"$FETCH" "$URL" "$T/token" "$T/certs/ca.pem" Users 10 >"$T/out" 2>&1 || RC=$?
[ $RC = 0 ] && grep -q "rc=0 resources=47 " "$T/out" || fail "through the proxy: $(cat "$T/out")"
grep -q "^CONNECT 127.0.0.1:$server_PORT HTTP/1.1$" "$T/proxy.log" || fail "no CONNECT: $(cat "$T/proxy.log")"
[ "$(grep -c CONNECT "$T/proxy.log")" = 1 ] || fail "one tunnel expected: $(cat "$T/proxy.log")"
[ "$(($(net_requests) - n))" = 5 ] || fail "the server did not get the pages through the proxy"
ok "https_proxy honoured (one CONNECT tunnel for all pages)"

# TLS verification cannot be turned off: another CA fails.
net_control '{}'
mkdir -p "$T/certs2"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/certs2/k" -out "$T/certs2/ca.pem" -days 1 \
	-subj /CN=other-ca >/dev/null 2>&1
RC=0
"$FETCH" "$URL" "$T/token" "$T/certs2/ca.pem" Users 10 >"$T/out" 2>&1 || RC=$?
[ $RC = 1 ] && grep -q "rc=-71" "$T/out" || fail "wrong CA accepted: $(cat "$T/out")"
ok "server certificate from another CA refused"

# A token file that group or others can read is refused before any request.
n=$(net_requests)
chmod 640 "$T/token"
fetch Users 10
[ $RC = 1 ] && grep -q "lets group or others read" "$T/out" || fail "loose token file: $(cat "$T/out")"
[ "$(net_requests)" = "$n" ] || fail "a request was sent with a refused token file"
ok "token file readable by group refused"
