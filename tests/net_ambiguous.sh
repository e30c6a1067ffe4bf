#!/bin/sh
# A key the mapping reads, given twice in any letter case, over the network:
# in a page it fails the sync (the cache is untouched); in a resource it
# skips that resource, counted as "ambiguous" in the summary.
. "$top_srcdir/tests/net_lib.sh"

net_token
net_seed 20 3 4
net_start_server
net_config
CACHE=$T/cache/cache.tdb

net_once
[ $RC = 0 ] || fail "first sync: rc=$RC: $(cat "$T/out")"
ok "first sync published"

# page_fault NAME OLD NEW PATTERN: the replacement on page 2 of Users fails
# the sync with PATTERN logged, and the cache stays byte-identical.
page_fault() {
	cp "$CACHE" "$T/before"
	net_control "{\"faults\": [{\"kind\": \"replace\", \"resource\": \"Users\", \"page\": 2, \"old\": \"$2\", \"new\": \"$3\"}]}"
	net_once
	cat "$T/out" >>"$T/all.log"
	[ $RC = 1 ] || fail "$1: exit status $RC, expected 1: $(cat "$T/out")"
	cmp -s "$CACHE" "$T/before" || fail "$1: the published cache changed"
	grep -q -- "$4" "$T/out" || fail "$1: the log does not say '$4': $(cat "$T/out")"
	grep -q "nothing published" "$T/out" || fail "$1: the log does not say nothing was published"
	ok "$1: sync failed, cache untouched"
}

page_fault "totalResults twice (other case)" '{\"schemas\"' '{\"TotalResults\":99,\"schemas\"' \
	"Users page 2: 'totalResults' appears twice (in some letter case): the document is ambiguous; refused"
page_fault "Resources twice (same case)" '\"Resources\":[' '\"Resources\":[],\"Resources\":[' \
	"Users page 2: 'Resources' appears twice"
page_fault "nextCursor twice" '{\"schemas\"' '{\"nextCursor\":\"a\",\"nextcursor\":\"b\",\"schemas\"' \
	"'nextCursor' appears twice"

# A group whose "members" comes twice: that group alone is skipped.
net_control '{"faults": [{"kind": "replace", "resource": "Groups", "old": "\"members\":[", "new": "\"members\":null,\"members\":["}]}'
net_once
cat "$T/out" >>"$T/all.log"
[ $RC = 0 ] || fail "ambiguous group: rc=$RC: $(cat "$T/out")"
grep -q "skipping group id=g-001: 'members' appears twice" "$T/out" || fail "ambiguous group not named: $(cat "$T/out")"
grep -q "published: users=20 groups=22 .*skipped=1 (ambiguous=1)" "$T/out" || fail "summary: $(cat "$T/out")"
ok "a group with 'members' twice is skipped as ambiguous, the rest published"

# A user whose "active" comes twice (true, then FALSE): skipped, not published.
net_control '{"faults": [{"kind": "replace", "resource": "Users", "page": 1, "old": "\"active\":true", "new": "\"active\":true,\"ACTIVE\":false"}]}'
net_once
cat "$T/out" >>"$T/all.log"
[ $RC = 0 ] || fail "ambiguous user: rc=$RC: $(cat "$T/out")"
grep -q "skipping user id=u-0001: 'active' appears twice" "$T/out" || fail "ambiguous user not named: $(cat "$T/out")"
grep -q "published: users=19 .*skipped=1 (ambiguous=1)" "$T/out" || fail "summary: $(cat "$T/out")"
ok "a user with 'active' twice is skipped as ambiguous"
echo PASS
