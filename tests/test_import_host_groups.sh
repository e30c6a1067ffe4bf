#!/bin/sh
# host_groups (issue 13): only members of the host's directory groups, direct
# or through nested groups, become users; groups keep only those members and
# vanish when none is left; numbers are the same as on a host that selects
# everyone; a user who leaves the groups is removed from the host; a
# selection that keeps nobody is refused.
. "${top_srcdir:-.}/tests/import_lib.sh"

# hosta holds ann and the nested group team (ben); mixed holds ben and carl;
# other holds carl alone; dan is in no group.
dir1() {
	scim_dir "$T/d1" u:hg-ann:ann u:hg-ben:ben u:hg-carl:carl u:hg-dan:dan \
		g:hg-hosta:hosta:hg-ann,hg-team g:hg-team:team:hg-ben g:hg-mixed:mixed:hg-ben,hg-carl \
		g:hg-other:other:hg-carl
}
dir1

# ---- A host that selects everyone: the reference numbers.
config "max_removed_percent = 100"
run_import "$T/d1"
check "everyone: import exits 0" 0 "$rc"
all_users=$(dir_users)
check "everyone: 4 users" 4 "$(echo "$all_users" | wc -l)"
check_log "everyone: no not_selected count without host_groups" "removed_kept=[0-9]+ generation="

# ---- A host with host_groups = hosta, from scratch.
rm -rf "$T/state"; mkdir "$T/state"
config "max_removed_percent = 100" "host_groups = hosta"
run_import "$T/d1"
check "host_groups: import exits 0" 0 "$rc"
check "host_groups: ann (direct) and ben (nested) only, with the numbers of the other host" \
	"$(echo "$all_users" | grep -E '^(ann|ben):')" "$(dir_users)"
check "host_groups: carl is no user here" "" "$(pw carl)"
check "host_groups: dan is no user here" "" "$(pw dan)"
check_log "host_groups: the summary counts the users left out" "users=2 .* not_selected=2 generation="
check "host_groups: hosta has ann and ben" "ann,ben" "$(members hosta)"
check "host_groups: team is kept (ben)" "ben" "$(members team)"
check "host_groups: mixed keeps ben, leaves carl out" "ben" "$(members mixed)"
check "host_groups: other has no member here: not a group" "" "$(gr other)"
check "host_groups: ben's groups" "ben hosta mixed team" "$(groups_of ben)"
check_log "host_groups: the groups left out are counted" "host_groups: 1 directory groups have no member on this host"

# ---- Unselected users keep their numbers: they get the same uid on a host
# that selects them later.
config "max_removed_percent = 100"
run_import "$T/d1"
check "host_groups dropped: everyone, with the reference numbers" "$all_users" "$(dir_users)"

# ---- A user who leaves (dan left when the selection came back, and is kept
# as a removed user too) the host's groups is removed from the host.
config "max_removed_percent = 100" "host_groups = hosta, other"
run_import "$T/d1"
check "two host groups: everyone but dan" "$(echo "$all_users" | grep -v '^dan:')" "$(dir_users)"
scim_dir "$T/d2" u:hg-ann:ann u:hg-ben:ben u:hg-carl:carl u:hg-dan:dan \
	g:hg-hosta:hosta:hg-ann,hg-team g:hg-team:team: g:hg-mixed:mixed:hg-ben,hg-carl g:hg-other:other:hg-carl
run_import "$T/d2"
check "ben leaves team: import exits 0" 0 "$rc"
check "ben leaves team: ben is no user here" "" "$(pw ben)"
check_log "ben leaves team: logged as removed from the host" "user ben removed \(uid [0-9]+\): in none of host_groups"
check_log "ben leaves team: counted as removed, kept for pam_scim" "removed=1 .*removed_kept=2 not_selected=2 generation="
check "ben leaves team: mixed keeps carl only" "carl" "$(members mixed)"
check "ben leaves team: the empty team is gone" "" "$(gr team)"
ctl=$(in_ns "$top_builddir/scimctl/scimctl" user ben 2>&1 || true)
check "ben leaves team: scimctl shows him removed, with his uid" \
	"removed $(echo "$all_users" | grep '^ben:' | cut -d: -f2)" \
	"$(echo "$ctl" | sed -n 's/^state: *\(removed\).*/\1/p') $(echo "$ctl" | sed -n 's/^uid: *\([0-9]*\).*/\1/p')"

# ---- A selection that keeps nobody is refused; the cache is untouched.
before=$(dir_users)
config "max_removed_percent = 100" "host_groups = nosuch"
run_import "$T/d2"
check "empty selection: refused with exit 3" 3 "$rc"
check_log "empty selection: says why" "refusing to publish: host_groups selects none of the 4 directory users"
check_log "empty selection: names the group that is not there" "host_groups: 'nosuch' is not a group of the directory"
check "empty selection: the cache still has its users" "$before" "$(dir_users)"
run_import "$T/d2" --force
check "empty selection with --force: published" 0 "$rc"
check "empty selection with --force: no user" "" "$(dir_users)"

# ---- Bad values are config errors.
config "host_groups = Hosta"
run_import "$T/d2"
check "bad group name: exit 2" 2 "$rc"
check_log "bad group name: named" "host_groups: 'Hosta' is not a valid group name"
config "host_groups = ,"
run_import "$T/d2"
check "empty list: exit 2" 2 "$rc"
check_log "empty list: named" "host_groups: names no group"
finish
