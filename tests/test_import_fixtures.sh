#!/bin/sh
# Imports of the SCIM fixtures (GitHub EMU pages, RFC 7643 examples, hostile
# names, nested groups), checked through getent and id with the real module.
. "${top_srcdir:-.}/tests/import_lib.sh"
LO=1879048192 HI=2147483646

# ---- GitHub EMU: IdP-style userNames, "$+ref"/"displayName" members, a suspended user.
config
run_import "$FIX/github-emu"
check "github-emu: import exits 0" 0 "$rc"
mona=$($MAPTOOL hash 7fce0092-d52e-4f76-b727-3955bd72c939 $LO $HI)
check "github-emu: E012345 lower-cased, uid hashed from the SCIM id, gecos from displayName" \
	"e012345:*:$mona:$mona:Mona Lisa:/home/e012345:/bin/bash" "$(pw e012345)"
check "github-emu: by uid" "e012345" "$(pw "$mona" | cut -d: -f1)"
check "github-emu: gecos loses ',' (\"Hubot, the robot\")" "Hubot the robot" "$(pw e012346 | cut -d: -f5)"
check "github-emu: no displayName: gecos empty without name.formatted" "" "$(pw e012348 | cut -d: -f5)"
check "github-emu: the suspended user still resolves" "e012347" "$(pw e012347 | cut -d: -f1)"
check "github-emu: suspended flag in the cache" "suspended" "$($MAPTOOL dump "$CACHE" | awk '$2 == "e012347" { print $5 }')"
check "github-emu: missing 'active' counts as active" "active" "$($MAPTOOL dump "$CACHE" | awk '$2 == "e012348" { print $5 }')"
check "github-emu: user-private group" "e012345:*:$mona:" "$(gr e012345)"
check "github-emu: group members from \$+ref/displayName entries" "e012346,e012347" "$(members engineering)"
check "github-emu: group members from \$ref/display entries" "e012345" "$(members octo-admins)"
check "github-emu: id" "e012345 octo-admins" "$(groups_of e012345)"
check "github-emu: source recorded" "source=import:$FIX/github-emu" "$($MAPTOOL dump "$CACHE" | head -1 | sed 's/.* source=/source=/')"
check_log "github-emu: summary line" "imported .*users=4 groups=6 suspended_total=1 added=4 .*skipped=0"

# ---- RFC 7643 8.3 (enterprise user, single resource) and 8.4 (group "Tour Guides").
rm -rf "$T/state"; mkdir "$T/state"
config "strip_domain = yes" "uid_attribute = urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber" \
	"uid_min = 100000" "uid_max = 999999" "home = /srv/home/%U-%u" "shell = /bin/zsh"
run_import "$FIX/rfc7643"
check "rfc7643: import exits 0" 0 "$rc"
check "rfc7643: bjensen@example.com stripped; employeeNumber \"701984\" is the uid; gecos; home template" \
	"bjensen:*:701984:701984:Babs Jensen:/srv/home/701984-bjensen:/bin/zsh" "$(pw bjensen)"
check_log "rfc7643: 'Tour Guides' is skipped, naming its id" \
	"skipping group id=e9e30dba-f08f-4109-8486-d5c6a331660a: name 'Tour Guides' is not a valid POSIX name"
check "rfc7643: the skipped group is not published" "" "$(gr 'tour guides')"
# Without strip_domain, "bjensen@example.com" is no POSIX name: skipped, never mangled.
rm -rf "$T/state"; mkdir "$T/state"
config
run_import "$FIX/rfc7643"
check "rfc7643 without strip_domain: exits 0" 0 "$rc"
check_log "rfc7643 without strip_domain: skipped by id" \
	"skipping user id=2819c223-7f76-453a-919d-413861904646: name 'bjensen@example.com' is not a valid POSIX name"
check "rfc7643 without strip_domain: nothing published for bjensen" "" "$(pw bjensen)$(pw bjensen@example.com)"

# ---- Hostile names.
rm -rf "$T/state"; mkdir "$T/state"
config "deny_names = admin, operator"
run_import "$FIX/hostile"
check "hostile: import exits 0" 0 "$rc"
check "hostile: exactly the valid, unclaimed names are published" \
	"alice bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb bell erin frank x.y-z_1" \
	"$(dir_users 1879048192 | cut -d: -f1 | paste -sd' ' -)"
check "hostile: root is still the local root" "root:x:0:0:root:/root:/bin/bash" "$(pw root)"
check "hostile: daemon is still the local daemon" "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin" "$(pw daemon)"
check "hostile: users is still the local group" "users:x:100:" "$(gr users)"
check "hostile: no directory user named after a local group" "" "$(pw localgrp)"
check "hostile: gecos without ':' ',' or control characters" "AliceLiddellofWonderland" "$(pw alice | cut -d: -f5)"
check "hostile: passwd lines keep 7 fields" "7" "$(in_ns getent passwd | awk -F: '{ print NF }' | sort -u | paste -sd' ' -)"
check "hostile: duplicate 'carol'/'Carol': neither published" "" "$(pw carol)"
check "hostile: 'active' of \"false\" (a string) suspends" "suspended" "$($MAPTOOL dump "$CACHE" | awk '$2 == "erin" { print $5 }')"
check "hostile: an unreadable 'active' fails closed" "suspended" "$($MAPTOOL dump "$CACHE" | awk '$2 == "frank" { print $5 }')"
check "hostile: group named like a user's private group is skipped" "alice:*:$(uid_of alice):" "$(gr alice)"
check "hostile: group members: skipped, unknown and value-less members dropped" "alice" "$(members staff-ok)"
check_log "hostile: reserved names logged by id" "skipping user id=h-ROOT: name 'root' is reserved"
check_log "hostile: deny_names" "skipping user id=h-admin: name 'admin' is reserved"
check_log "hostile: a name starting with _ is reserved" "skipping user id=h-svc: name '_svc' is reserved"
check_log "hostile: base-passwd's daemon is reserved before it is local" "skipping user id=h-daemon: name 'daemon' is reserved"
check_log "hostile: local names" "skipping user id=h-localgrp: name 'localgrp' exists in /etc/passwd or /etc/group"
check_log "hostile: a newline in a name is logged as '?', on one line" "skipping user id=h-newline: name 'evil\?root::0:0::/:/bin/sh' is not a valid POSIX name"
check_log "hostile: too long" "skipping user id=h-long: name 'a{33}' is not a valid"
check_log "hostile: duplicates, both named" "skipping user id=h-dup2: name 'carol' is also the name of user id=h-dup1 \(both are skipped\)"
check_log "hostile: no id" "skipping a user without a usable SCIM id \('EXT-NOID'\)"
check_log "hostile: no name" "skipping user id=h-noname: no name"
check_log "hostile: not an object" "skipping a user resource: not a JSON object"
check_log "hostile: summary counts skips by reason" \
	"skipped=25 \(bad_resource=3 no_id=1 no_name=2 invalid_name=9 reserved_name=6 local_name=1 duplicate_name=3\)"

# ---- Built-in reserved names: absent from /etc here, taken later by a package
# or granted rights by sudoers/polkit; users, groups and private groups alike.
rm -rf "$T/state"; mkdir "$T/state"
config
scim_dir "$T/reserved" "u:r-ok:okuser" "u:r-docker:docker" "u:r-sd:systemd-coredump" "u:r-us:_chrony" \
	"u:r-lxd:LXD" "u:r-sshd:sshd" "u:r-exim:Debian-exim" "u:r-nobody:nobody" \
	"g:rg-sudo:sudo:r-ok" "g:rg-wheel:wheel:r-ok" "g:rg-lpadmin:lpadmin:r-ok" "g:rg-ok:okgroup:r-ok"
run_import "$T/reserved"
check "reserved: import exits 0" 0 "$rc"
check "reserved: only the unreserved user is published" "okuser" "$(dir_users 1879048192 | cut -d: -f1 | paste -sd' ' -)"
check "reserved: no directory docker, lxd, sudo, wheel, lpadmin" "" "$(pw docker)$(gr docker)$(pw lxd)$(gr sudo)$(gr wheel)$(gr lpadmin)"
check "reserved: okuser is in okgroup only" "okgroup okuser" "$(groups_of okuser)"
check_log "reserved: systemd-* by id" "skipping user id=r-sd: name 'systemd-coredump' is reserved"
check_log "reserved: a group by id" "skipping group id=rg-wheel: name 'wheel' is reserved"
check_log "reserved: summary" "skipped=10 \(reserved_name=10\)"

# ---- Groups: unknown members, nesting, a cycle; primary_group from /etc/group.
rm -rf "$T/state"; mkdir "$T/state"
config "primary_group = users"
run_import "$FIX/groups"
check "groups: import exits 0" 0 "$rc"
check "groups: primary_group = users gives gid 100" "100" "$(pw ann | cut -d: -f4)"
check "groups: no user-private groups" "" "$(gr ann)"
check "groups: nested groups are flattened" "ben,cat,dan" "$(members top)"
check "groups: a value that is a group id nests (no type)" "cat,dan" "$(members mid)"
check "groups: unknown member dropped" "dan" "$(members leaf)"
check "groups: a cycle gets the members of every group in it (a)" "ann,ben" "$(members cyc-a)"
check "groups: a cycle gets the members of every group in it (b)" "ann,ben" "$(members cyc-b)"
check "groups: members null / absent" "solo:*:|empty:*:" "$(gr solo | cut -d: -f1,2):|$(gr empty | cut -d: -f1,2):"
check "groups: id -Gn through nesting" "leaf mid top users" "$(groups_of dan)"
check "groups: id -Gn through a cycle" "cyc-a cyc-b top users" "$(groups_of ben)"
check_log "groups: the cycle is logged" "group 'cyc-a' \(id=gg-cyc-a\) contains itself through nested groups"
check_log "groups: summary" "members_dropped=1 cycles=2"

# A primary_group that exists nowhere: nothing is published.
config "primary_group = nosuchgroup"
before=$(sha256sum <"$CACHE")
run_import "$FIX/groups"
check "groups: unknown primary_group fails" 1 "$rc"
check_log "groups: unknown primary_group is explained" "primary_group 'nosuchgroup' is neither in /etc/group nor a group of the directory"
check "groups: unknown primary_group leaves the cache byte-identical" "$before" "$(sha256sum <"$CACHE")"
finish
