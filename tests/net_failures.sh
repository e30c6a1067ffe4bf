#!/bin/sh
# Every failure of the issue's list, injected by the HTTPS test server into a
# real `scim-refreshd --once`: afterwards the published cache is byte-identical
# (cmp), no stray file is left, the log says what happened, and the next
# healthy sync publishes.  Then the paging variants that must simply work.
. "$top_srcdir/tests/net_lib.sh"

net_token
net_seed 40 4 5
net_start_server
net_config "max_response_bytes = 64K" "header = X-GitHub-Api-Version: 2022-11-28"
CACHE=$T/cache/cache.tdb

net_once
[ $RC = 0 ] || fail "first sync: rc=$RC"
grep -q '"x": {"X-GitHub-Api-Version": "2022-11-28"}' "$T/server.log" || fail "the configured header was not sent"
ok "configured header sent"
cat "$T/out" >>"$T/all.log"
gen() { sed -n 's/.* generation=\([0-9]*\).*/\1/p' "$T/out" | tail -n 1; }
last_gen=$(gen)
[ -n "$last_gen" ] || fail "no generation in the summary"

# check_fault NAME CONTROL PATTERN [RC]: the sync fails (with RC if given),
# the cache is untouched, PATTERN is logged; then a healthy sync publishes.
check_fault() {
	cp "$CACHE" "$T/before"
	net_control "$2"
	net_once
	cat "$T/out" >>"$T/all.log"
	[ $RC != 0 ] || fail "$1: the sync succeeded"
	[ -z "${4:-}" ] || [ $RC = "$4" ] || fail "$1: exit status $RC, expected $4"
	cmp -s "$CACHE" "$T/before" || fail "$1: the published cache changed"
	grep -q -- "$3" "$T/out" || fail "$1: the log does not say '$3'"
	grep -q "nothing published\|not published\|refus" "$T/out" || fail "$1: the log does not say nothing was published"
	left=$(ls "$T/cache" | grep -v '^cache\.tdb$' | grep -v '^cache\.tdb\.lock$' || true)
	[ -z "$left" ] || fail "$1: stray files: $left"
	net_control '{}'
	net_once
	cat "$T/out" >>"$T/all.log"
	[ $RC = 0 ] || fail "$1: the next healthy sync did not publish (rc=$RC)"
	g=$(gen)
	[ "$g" -gt "$last_gen" ] || fail "$1: generation did not advance ($last_gen -> $g)"
	last_gen=$g
	ok "$1: cache untouched, logged '$3', next sync published"
}

check_fault "500 on page 2" '{"faults": [{"kind": "status", "status": 500, "page": 2}]}' \
	"server error HTTP 500 (giving up after 4 attempts)" 1
check_fault "429 with Retry-After" \
	'{"faults": [{"kind": "status", "status": 429, "page": 2, "headers": {"Retry-After": "1"}}]}' \
	"rate limited (HTTP 429): waiting 1 s" 1
date=$(LC_ALL=C date -u -d "@$(($(date +%s) + 1))" '+%a, %d %b %Y %H:%M:%S GMT')
check_fault "503 with Retry-After as an HTTP date" \
	"{\"faults\": [{\"kind\": \"status\", \"status\": 503, \"headers\": {\"Retry-After\": \"$date\"}}]}" \
	"server error HTTP 503 (giving up after 4 attempts)" 1
grep -q "server error HTTP 503: retrying in [01] s (Retry-After)" "$T/all.log" || fail "503: Retry-After date not honoured"
check_fault "403 rate limit (x-ratelimit-remaining: 0) beyond the cap" \
	"{\"faults\": [{\"kind\": \"status\", \"status\": 403, \"headers\": {\"x-ratelimit-remaining\": \"0\", \"x-ratelimit-reset\": \"$(($(date +%s) + 7200))\"}}]}" \
	"rate limited (HTTP 403) for [0-9]* s more: giving up" 1

n=$(net_requests)
check_fault "401" '{"faults": [{"kind": "status", "status": 401, "detail": "token revoked by the IdP"}]}' \
	"authentication failed (HTTP 401): token revoked by the IdP" 1
# One request for the failed sync, then the healthy sync's own requests: no retry storm.
grep -c '"status": 401' "$T/server.log" | grep -qx 1 || fail "401 was retried"
check_fault "403 without rate-limit headers" '{"faults": [{"kind": "status", "status": 403, "detail": "Forbidden"}]}' \
	"authentication failed (HTTP 403): Forbidden" 1

check_fault "truncated body" '{"faults": [{"kind": "truncate", "page": 2}]}' "truncated response" 1
check_fault "invalid JSON" '{"faults": [{"kind": "invalid_json", "page": 3}]}' "invalid JSON" 1
check_fault "body over max_response_bytes" '{"faults": [{"kind": "oversize", "page": 2, "bytes": 200000}]}' \
	"larger than max_response_bytes (65536): transfer aborted" 1
check_fault "empty listing" '{"empty": true}' "refused by a publishing guard" 3
check_fault "listing shrinks by 90%" '{"shrink_percent": 90}' "refused by a publishing guard" 3
check_fault "totalResults changes mid-listing" '{"faults": [{"kind": "total_delta", "page": 3, "delta": 1}]}' \
	"totalResults changed from 40 to 41" 1
grep -q "listing incomplete: starting over once" "$T/all.log" || fail "no start-over before failing"

# A response slower than the timeout (1 s here): retried with backoff, then fails.
net_config "max_response_bytes = 64K" "timeout = 1"
grep -qx "timeout = 1" "$T/conf" && [ "$(grep -c '^timeout' "$T/conf")" = 1 ] || fail "net_config"
check_fault "response slower than the timeout" '{"faults": [{"kind": "slow", "page": 2, "seconds": 3}]}' \
	"timed out" 1
net_config "max_response_bytes = 64K"

# Transient faults are absorbed: a 500 twice, a 429 once, a moved total once,
# an expired cursor once.  Each sync publishes.
for c in '{"faults": [{"kind": "status", "status": 500, "page": 3, "times": 2}]}' \
	'{"faults": [{"kind": "status", "status": 429, "page": 1, "times": 1, "headers": {"Retry-After": "1"}}]}' \
	'{"faults": [{"kind": "total_delta", "page": 2, "delta": -1, "times": 1}]}' \
	'{"paging": "cursor", "faults": [{"kind": "cursor_error", "scimType": "expiredCursor", "page": 2, "times": 1}]}'; do
	net_control "$c"
	net_once
	cat "$T/out" >>"$T/all.log"
	[ $RC = 0 ] || fail "transient fault $c: rc=$RC"
done
grep -q "expiredCursor: the listing starts over" "$T/all.log" || fail "expired cursor not logged"
ok "transient 500, 429, moving total and expired cursor recovered and published"

# Paging variants that must just work: cursor-only server, capped page size.
net_control '{"paging": "cursor-strict", "omit_total": true}'
net_once
[ $RC = 0 ] && grep -q "users=40 .*paging=cursor" "$T/out" || fail "cursor-only paging: $(cat "$T/out")"
ok "cursor-only paging published all 40 users"
net_control '{"max_page": 3}'
net_once
[ $RC = 0 ] && grep -q "published: users=40 " "$T/out" || fail "capped page: $(cat "$T/out")"
grep -q "requests=16 " "$T/out" || fail "capped page: expected 14 + 2 requests: $(cat "$T/out")"
ok "capped page size (3 of 10 asked) published all 40 users in 14 + 2 requests"
cat "$T/out" >>"$T/all.log"

# The token never appears in any log line.
tok=$(cat "$T/token")
! grep -qF "$tok" "$T/all.log" || fail "the token appears in the log"
ok "token never logged"
