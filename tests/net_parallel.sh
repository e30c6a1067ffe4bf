#!/bin/sh
# Index paging with several pages in flight (max_parallel), and removals
# confirmed by id, through a real `scim-refreshd --once`:
#  - pages that complete out of order give the same cache as a sequential sync;
#  - a user deleted between page 3 and page 4 (offsets shift): nobody else is removed;
#  - a user missing from the listing but answering GET by id stays; a 404 confirms;
#  - a 429 on the pages in flight: every request waits, then the sync succeeds
#    with a bounded number of requests.
. "$top_srcdir/tests/net_lib.sh"
MAPTOOL=$top_builddir/tests/scim-maptool

net_token
net_seed 47 5 4
net_start_server
CACHE=$T/cache/cache.tdb

dump() { "$MAPTOOL" dump "$1" | sed 1d; }
users_requests() { grep -c '"path": "/scim/v2/Users", .*"status": [0-9]' "$T/server.log"; }

# The reference: a sequential sync into its own state.
net_config "max_parallel = 1"
net_once
[ $RC = 0 ] || fail "sequential sync: rc=$RC"
dump "$CACHE" >"$T/seq.dump"
[ "$(grep -c '^user ' "$T/seq.dump")" = 47 ] || fail "sequential sync: not 47 users"
python3 - "$T/server.log" <<'PY' || fail "sequential: more than one connection"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert len({r["port"] for r in reqs}) == 1
PY

# Pages 2 and 3 answer last: pages 4 and 5 complete first and wait their turn.
rm -rf "$T/state" "$T/cache"
: >"$T/server.log"
net_config "max_parallel = 4"
net_control '{"faults": [{"kind": "slow", "resource": "Users", "page": 2, "seconds": 0.8},
	{"kind": "slow", "resource": "Users", "page": 3, "seconds": 0.4}]}'
net_once
[ $RC = 0 ] || fail "parallel sync: rc=$RC"
dump "$CACHE" >"$T/par.dump"
cmp -s "$T/seq.dump" "$T/par.dump" || fail "out-of-order pages: the cache differs: $(diff "$T/seq.dump" "$T/par.dump")"
python3 - "$T/server.log" <<'PY' || fail "the pages were not in flight together"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if '"path": "/scim/v2/Users"' in l]
done = {r["query"].split("&")[0]: r["t"] for r in reqs if r["status"] == 200}
# Page 5 (startIndex=41) was answered before page 2 (startIndex=11), which was slowed.
assert done["startIndex=41"] < done["startIndex=11"], done
ports = {r["port"] for r in reqs}
assert 2 <= len(ports) <= 4, ports   # a few keep-alive connections (HTTP/1.1 server)
PY
grep -q "published: .*requests=" "$T/out" || fail "no summary: $(cat "$T/out")"
ok "pages completing out of order give the cache of a sequential sync"

# Cursor paging stays sequential whatever max_parallel says: one request at
# a time, on one connection, each following the cursor of the one before.
net_control '{"paging": "cursor", "omit_total": true}'
: >"$T/server.log"
RC=0
"$top_builddir/tests/net_fetch" "$URL" "$T/token" "$T/certs/ca.pem" Users 10 10 67108864 4 >"$T/fetch.out" 2>&1 || RC=$?
[ $RC = 0 ] && grep -q "resources=47 .*pages=5 .*cursor=1 requests=5" "$T/fetch.out" || fail "cursor paging: $(cat "$T/fetch.out")"
python3 - "$T/server.log" <<'PY' || fail "cursor paging was not sequential"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert len({r["port"] for r in reqs}) == 1, reqs
PY
net_control "{}"
ok "cursor paging stays sequential with max_parallel = 4"

# A user appears in front (u-0005) as one at the end goes (u-0047) after
# page 3: page 4 lists u-0031 again.  The shift is logged, the listing
# (45 unique ids for a totalResults of 46) starts over, and the removal of
# u-0047 is confirmed by id.
net_config "max_parallel = 1"
net_control '{"hide": ["u-0005"], "delete_after": {"resource": "Users", "page": 3, "id": "u-0047", "unhide": "u-0005"}}'
net_once
[ $RC = 0 ] || fail "shift by one: rc=$RC: $(cat "$T/out")"
grep -q "Users: id u-0031 listed again on page 4: the pages shifted during the listing" "$T/out" ||
	fail "shift by one: not logged: $(cat "$T/out")"
grep -q "listing incomplete: starting over once" "$T/out" || fail "shift by one: no start-over: $(cat "$T/out")"
grep -q "user u-0047: gone from the directory (404): removal confirmed" "$T/out" || fail "shift by one: $(cat "$T/out")"
grep -v ' user0047 ' "$T/seq.dump" | grep '^user ' >"$T/want"
dump "$CACHE" | grep '^user ' >"$T/got"
cmp -s "$T/want" "$T/got" || fail "shift by one: $(diff "$T/want" "$T/got")"
ok "a user listed twice (offsets shifted) is logged; only the deleted user goes"
net_config "max_parallel = 4"

# A user deleted between page 3 and page 4: the offsets shift and a user of
# page 4 would be skipped.  Nobody but the deleted user goes.
net_control '{"delete_after": {"resource": "Users", "page": 3, "id": "u-0015"}}'
net_once
[ $RC = 0 ] || fail "deletion between pages: rc=$RC: $(cat "$T/out")"
dump "$CACHE" >"$T/del.dump"
grep -v ' user0015 ' "$T/seq.dump" | grep '^user ' >"$T/want"
grep '^user ' "$T/del.dump" >"$T/got"
cmp -s "$T/want" "$T/got" || fail "deletion between pages: $(diff "$T/want" "$T/got")"
grep -q "published: .* removed=1 " "$T/out" || fail "deletion between pages: summary: $(grep published "$T/out")"
ok "a user deleted between page 3 and page 4: only that user is removed"

# The same with the offsets shifting while totalResults stays: u-0048 joins
# at the end as u-0015 (already listed on page 2) goes, so page 4 skips
# u-0031.  The listing looks complete; GET by id finds u-0031, which stays.
net_control "{}"
net_once
[ $RC = 0 ] || fail "restore: rc=$RC"
python3 - "$T/data/seed.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
u = dict(d["Users"][-1]); u["id"] = "u-0048"; u["userName"] = "user0048"
d["Users"].append(u)
json.dump(d, open(sys.argv[1] + ".tmp", "w"))
PY
mv "$T/data/seed.json.tmp" "$T/data/seed.json"
net_control '{"hide": ["u-0048"], "delete_after": {"resource": "Users", "page": 3, "id": "u-0015", "unhide": "u-0048"}}'
net_config "max_parallel = 1"
net_once
[ $RC = 0 ] || fail "shifted listing: rc=$RC: $(cat "$T/out")"
grep -q "user u-0031: missing from the listing, but the server still has it" "$T/out" ||
	fail "shifted listing: u-0031 not confirmed: $(cat "$T/out")"
dump "$CACHE" | grep -q ' user0031 ' || fail "shifted listing: user0031 was removed"
grep -q "published: .* removed=0 .* confirmations=1 (gone=0 came_back=1 unconfirmed=0)" "$T/out" ||
	fail "shifted listing: summary: $(grep published "$T/out")"
ok "offsets shifted under a complete-looking listing: the skipped user is fetched by id and stays"

# A user gone from the directory: the 404 of GET by id confirms the removal.
python3 - "$T/data/seed.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["Users"] = [u for u in d["Users"] if u["id"] != "u-0040"]
json.dump(d, open(sys.argv[1] + ".tmp", "w"))
PY
mv "$T/data/seed.json.tmp" "$T/data/seed.json"
net_control "{}"
net_config "max_parallel = 4"
net_once
[ $RC = 0 ] || fail "404: rc=$RC: $(cat "$T/out")"
grep -q "user u-0040: gone from the directory (404): removal confirmed" "$T/out" || fail "404: $(cat "$T/out")"
dump "$CACHE" | grep -q ' user0040 ' && fail "404: user0040 is still there"
grep -q "published: .* removed=1 .* confirmations=1 (gone=1 came_back=0 unconfirmed=0)" "$T/out" ||
	fail "404: summary: $(grep published "$T/out")"
ok "a removal confirmed by a 404"

# A user missing from the listing but answering GET by id stays.
net_config "max_parallel = 4"
net_control '{"hide": ["u-0020"]}'
net_once
[ $RC = 0 ] || fail "hidden user: rc=$RC: $(cat "$T/out")"
dump "$CACHE" | grep -q ' user0020 ' || fail "hidden user: removed although GET by id finds it"
grep -q "user u-0020: missing from the listing, but the server still has it: the listing was inconsistent" "$T/out" ||
	fail "hidden user: not logged: $(cat "$T/out")"
grep -q '"path": "/scim/v2/Users/u-0020"' "$T/server.log" || fail "hidden user: no GET by id"
ok "a user missing from the listing but answering GET by id stays"

# max_confirmations = 0: no GET by id; the removal goes to the publishing guards.
net_config "max_parallel = 4" "max_confirmations = 0"
n=$(grep -c '"path": "/scim/v2/Users/' "$T/server.log")
net_once
[ $RC = 0 ] || fail "max_confirmations=0: rc=$RC: $(cat "$T/out")"
[ "$(grep -c '"path": "/scim/v2/Users/' "$T/server.log")" = "$n" ] || fail "max_confirmations=0: a GET by id was sent"
dump "$CACHE" | grep -q ' user0020 ' && fail "max_confirmations=0: user0020 was kept"
ok "max_confirmations = 0: no confirmation, the removal is published"

# A 429 on every page in flight: each request waits, fewer run at once,
# the sync succeeds, and only the rate-limited pages are asked again.  (On a
# loaded machine a page's first request can arrive after another's retry
# and be cut again: the count of cuts is not checked, the requests are.)
net_control "{}"
net_config "max_parallel = 4"
net_once
[ $RC = 0 ] || fail "before 429: rc=$RC"
: >"$T/server.log"
net_control '{"faults": [{"kind": "status", "status": 429, "resource": "Users", "pages": [2, 3, 4, 5], "times": 4,
	"headers": {"Retry-After": "1"}}]}'
net_once
[ $RC = 0 ] || fail "429: rc=$RC: $(cat "$T/out")"
grep -q "rate limited (HTTP 429): waiting 1 s" "$T/out" || fail "429: no wait logged: $(cat "$T/out")"
grep -q "rate limited: at most 2 requests in flight from now on" "$T/out" || fail "429: parallelism not cut: $(cat "$T/out")"
python3 - "$T/server.log" <<'PY' || fail "429: requests not bounded or not held back"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if '"path": "/scim/v2/Users"' in l]
limited = [r for r in reqs if r["status"] == 429]
assert len(limited) == 4, limited
assert len(reqs) == 5 + 4, len(reqs)        # 5 pages, 4 asked again
assert all(r["status"] in (200, 429) for r in reqs), reqs
first429 = min(r["t"] for r in limited)
later = [r["t"] for r in reqs if r["status"] == 200 and r["t"] > first429]
assert len(later) == 4, later
assert min(later) - first429 >= 0.9, (first429, later)
PY
ok "429 during parallel paging: backed off, fewer in flight, succeeded, requests bounded"

# The wait is for every request: page 3's retry after a 500 (backoff under
# 1 s) waits for the 2 s that the 429 on page 2 asked for.
: >"$T/server.log"
net_control '{"faults": [{"kind": "status", "status": 429, "resource": "Users", "page": 2, "times": 1,
	"headers": {"Retry-After": "2"}}, {"kind": "status", "status": 500, "resource": "Users", "page": 3, "times": 1}]}'
net_once
[ $RC = 0 ] || fail "429 and 500: rc=$RC: $(cat "$T/out")"
python3 - "$T/server.log" <<'PY' || fail "429 and 500: the retry of page 3 did not wait for the rate limit"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if '"path": "/scim/v2/Users"' in l]
t429 = [r["t"] for r in reqs if r["status"] == 429][0]
p3 = [r["t"] for r in reqs if r["status"] == 200 and r["query"].startswith("startIndex=21&")]
assert len(p3) == 1 and p3[0] - t429 >= 1.9, (t429, p3)
PY
ok "a rate limit holds back the other requests' retries too"

# attributes=: asked for on every page when a probe shows the server honours
# it (fewer keys, the same values for the keys the mapping reads); otherwise
# whole resources, without a word in the log.  Users get emails, which the
# mapping does not read.
python3 - "$T/data/seed.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for u in d["Users"]:
    u["emails"] = [{"value": u["userName"] + "@example.com", "primary": True}]
json.dump(d, open(sys.argv[1] + ".tmp", "w"))
PY
mv "$T/data/seed.json.tmp" "$T/data/seed.json"
net_control '{"attributes": "honour"}'
net_config "max_parallel = 4"
: >"$T/server.log"
net_once
[ $RC = 0 ] || fail "attributes honoured: rc=$RC: $(cat "$T/out")"
grep -q "published: .* attributes=yes " "$T/out" || fail "attributes honoured: $(grep published "$T/out")"
python3 - "$T/server.log" <<'PY' || fail "attributes honoured: pages asked for without attributes="
import json, sys
pages = [json.loads(l) for l in open(sys.argv[1]) if '"path": "/scim/v2/Users"' in l]
pages = [r for r in pages if "count=1&" not in r["query"] and not r["query"].endswith("count=1")]
assert pages and all("attributes=userName%2CdisplayName%2Cname%2Cactive%2CexternalId" in r["query"] for r in pages), pages
groups = [json.loads(l) for l in open(sys.argv[1]) if '"path": "/scim/v2/Groups"' in l]
assert groups and not any("attributes=" in r["query"] for r in groups)
PY
dump "$CACHE" >"$T/attr.dump"
for mode in ignore refuse; do
	net_control "{\"attributes\": \"$mode\"}"
	: >"$T/server.log"
	net_once
	[ $RC = 0 ] || fail "attributes $mode: rc=$RC: $(cat "$T/out")"
	grep -q "attributes=yes" "$T/out" && fail "attributes $mode: still used: $(grep published "$T/out")"
	grep -q "error" "$T/out" && fail "attributes $mode: an error was logged: $(cat "$T/out")"
	[ "$(grep -c 'attributes=' "$T/server.log")" = 1 ] || fail "attributes $mode: more than the probe asked for attributes="
	dump "$CACHE" | cmp -s - "$T/attr.dump" || fail "attributes $mode: the cache differs"
done
ok "attributes= used when honoured, dropped silently when ignored or refused"

# A server that drops what the mapping reads (here the extension holding the
# uid) when attributes= is given: the probe sees it, whole resources it is.
ext=urn:example:params:scim:schemas:extension:posix:2.0:User
python3 - "$T/data/seed.json" "$ext" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
for i, u in enumerate(d["Users"]):
    u[sys.argv[2]] = {"uidNumber": 500000 + i}
json.dump(d, open(sys.argv[1] + ".tmp", "w"))
PY
mv "$T/data/seed.json.tmp" "$T/data/seed.json"
rm -rf "$T/state" "$T/cache"
net_config "max_parallel = 4" "uid_attribute = $ext:uidNumber" "uid_min = 100000"
net_control '{"attributes": "mangle"}'
net_once
[ $RC = 0 ] || fail "attributes mangled: rc=$RC: $(cat "$T/out")"
grep -q "attributes=yes" "$T/out" && fail "attributes mangled: still used"
dump "$CACHE" | grep -q '^user user0001 500000 ' || fail "attributes mangled: uid not from the extension: $(dump "$CACHE" | head -3)"
rm -rf "$T/state" "$T/cache"
mkdir -p "$T/state" "$T/cache"
net_control '{"attributes": "honour"}'
net_once
[ $RC = 0 ] || fail "attributes with an extension: rc=$RC: $(cat "$T/out")"
grep -q "attributes=yes" "$T/out" || fail "attributes with an extension: not used"
grep -q "$(echo "$ext" | sed 's/:/%3A/g')%3AuidNumber" "$T/server.log" || fail "attributes with an extension: uid_attribute not asked for"
dump "$CACHE" | grep -q '^user user0001 500000 ' || fail "attributes with an extension: uid not from the extension"
ok "attributes= not used when the server drops what the mapping reads; the uid attribute is asked for"
