#!/bin/sh
# Keys the mapping reads, given twice in any letter case, and "active" values
# that are not plainly true or false (issue 10, findings 2 and 3).  The same
# resources come as one ListResponse per type (ambiguous/list) and as one
# single-resource file each (ambiguous/single): both must give the same
# cache, whether the scanner streams them or not.
. "${top_srcdir:-.}/tests/import_lib.sh"

for form in list single; do
	rm -rf "$T/state"
	mkdir "$T/state"
	config
	run_import "$FIX/ambiguous/$form"
	check "$form: import exits 0" 0 "$rc"
	check "$form: users published, and which are suspended" \
		"absent:active low:suspended mem1:active mem2:active nil:suspended nul:suspended obj:suspended ok1:active one:suspended up:active" \
		"$($MAPTOOL dump "$CACHE" | awk '$1 == "user" { print $2 ":" $5 }' | sort | paste -sd' ' -)"
	check "$form: of the groups only gok is published (members twice: skipped)" "gok" \
		"$($MAPTOOL dump "$CACHE" | awk '$1 == "group" && $2 ~ /^g/ { print $2 }' | sort | paste -sd' ' -)"
	check "$form: an unread key twice changes nothing" "mem1,mem2" "$(members gok)"
	check_log "$form: members then members null" "skipping group id=g-null: 'members' appears twice \(in some letter case\)"
	check_log "$form: members then Members" "skipping group id=g-case: 'members' appears twice"
	check_log "$form: value and VALUE in a member" "skipping group id=g-mval: 'members.value' appears twice"
	check_log "$form: \$ref and \$Ref in a member" "skipping group id=g-mref: 'members.\\\$ref' appears twice"
	check_log "$form: active and Active" "skipping user id=d-active: 'active' appears twice"
	check_log "$form: userName twice" "skipping user id=d-name: 'userName' appears twice"
	check_log "$form: id and ID: no usable id" "skipping a user without a usable SCIM id \('dupid'\): 'id' appears twice"
	check_log "$form: name.formatted twice" "skipping user id=d-formatted: 'name.formatted' appears twice"
	check_log "$form: \"true\\\\u0000x\" is not true" "user id=a-nul: 'active' is another string, neither true nor false"
	check_log "$form: 1 is not true" "user id=a-one: 'active' is not a boolean"
	check_log "$form: null is not absent" "user id=a-nil: 'active' is null"
	check_log "$form: an object is not true" "user id=a-obj: 'active' is not a boolean"
	check_log "$form: summary" "users=10 groups=11 suspended_total=5 .*skipped=8 \(ambiguous=8\)"
	$MAPTOOL dump "$CACHE" | sed 1d >"$T/$form.dump"
done
check "a ListResponse and single-resource files give the same cache" "" "$(diff "$T/list.dump" "$T/single.dump")"

# A page whose own keys come twice fails the import: nothing is published.
before=$(sha256sum <"$CACHE")
page() { # page NAME TEXT PATTERN
	rm -rf "$T/page"
	mkdir "$T/page"
	printf '%s\n' "$2" >"$T/page/Users.json"
	run_import "$T/page"
	check "$1: the import fails" 1 "$rc"
	check_log "$1: logged" "$3"
	check "$1: the cache is byte-identical" "$before" "$(sha256sum <"$CACHE")"
}
page "Resources twice" '{"Resources":[{"id":"p-1","userName":"pone"}],"Resources":[]}' \
	"Users.json: 'Resources' appears twice \(in some letter case\): the document is ambiguous; refused"
page "Resources and resources" '{"Resources":[],"resources":[{"id":"p-1","userName":"pone"}]}' \
	"'Resources' appears twice"
page "totalResults and TOTALRESULTS" '{"totalResults":1,"TOTALRESULTS":2,"Resources":[{"id":"p-1","userName":"pone"}]}' \
	"'totalResults' appears twice"
page "schemas twice: error or not?" '{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"Schemas":[],"id":"p-1","userName":"pone"}' \
	"'schemas' appears twice"
finish
