#!/bin/sh
# on_suspend (issue 13, part B): after a publish, the program runs once for
# every user newly suspended or removed, as PROGRAM NAME UID, without a
# shell, with PATH alone in its environment and /dev/null as stdin, and is
# killed after on_suspend_timeout; nothing runs when nothing was published.
# scim-end-sessions refuses bad arguments and system uids.
. "${top_srcdir:-.}/tests/import_lib.sh"
END=$top_srcdir/refreshd/scim-end-sessions

# A hook that records its arguments, environment and stdin.
cat >"$T/hook" <<HOOK
#!/bin/sh
{ printf 'args:'; printf ' [%s]' "\$@"; echo; printf 'env: %s\n' "\$(env | grep -v '^PWD=' | sort | tr '\n' ' ')"
  printf 'cwd: %s\n' "\$(pwd)"
  printf 'stdin: %s\n' "\$(readlink /proc/self/fd/0)"; } >>"$T/hook.out"
echo "hook says hello to \$1"
HOOK
chmod 755 "$T/hook"
config "max_removed_percent = 100" "on_suspend = $T/hook"
scim_dir "$T/d1" u:os-ann:ann:active u:os-ben:ben:active u:os-carl:carl:active u:os-dan:dan:suspended
run_import "$T/d1"
check "first import: exits 0" 0 "$rc"
check "first import: nobody is newly suspended, nothing runs" "no" "$([ -e "$T/hook.out" ] && echo yes || echo no)"
ann=$(uid_of ann)
ben=$(uid_of ben)
carl=$(uid_of carl)

# ann is suspended, ben deleted, carl renamed (not ended), dan stays suspended.
scim_dir "$T/d2" u:os-ann:ann:suspended u:os-carl:carl2:active u:os-dan:dan:suspended
run_import "$T/d2"
check "suspend and delete: exits 0" 0 "$rc"
check "the hook ran once for ann and once for ben, with name and uid, no shell quoting" \
	"args: [ann] [$ann]
args: [ben] [$ben]" "$(grep '^args:' "$T/hook.out" | sort)"
check "a clean environment: PATH alone" "env: PATH=/usr/sbin:/usr/bin:/sbin:/bin " \
	"$(grep '^env:' "$T/hook.out" | sort -u)"
check "cwd is /" "cwd: /" "$(grep '^cwd:' "$T/hook.out" | sort -u)"
check "stdin is /dev/null" "stdin: /dev/null" "$(grep '^stdin:' "$T/hook.out" | sort -u)"
check_log "its output goes to the daemon's log" "^hook says hello to ann$"
check_log "each run is logged" "on_suspend $T/hook ann $ann: done"
check_log "a summary" "on_suspend: ran for 2 users, 0 failed"

# Nothing new: nothing runs.
: >"$T/hook.out"
run_import "$T/d2"
check "nothing new: the hook does not run" "" "$(cat "$T/hook.out")"

# A refused publish runs nothing; the next publish still ends the user.
config "max_removed_percent = 10" "on_suspend = $T/hook"
scim_dir "$T/d3" u:os-ann:ann:suspended u:os-dan:dan:suspended
run_import "$T/d3"
check "a publish refused by a guard: exit 3" 3 "$rc"
check "a publish refused by a guard: the hook does not run" "" "$(cat "$T/hook.out")"
run_import "$T/d3" --force
check "then published: the hook runs for carl2, with carl's uid" "args: [carl2] [$carl]" \
	"$(grep '^args:' "$T/hook.out")"

# A hook that hangs is killed after on_suspend_timeout, with what it started.
cat >"$T/hang" <<HANG
#!/bin/sh
sleep 300 &
echo \$! >"$T/hang.child"
sleep 300
HANG
chmod 755 "$T/hang"
config "max_removed_percent = 100" "on_suspend = $T/hang" "on_suspend_timeout = 1"
scim_dir "$T/d4" u:os-dan:dan:active
run_import "$T/d4"
scim_dir "$T/d5" u:os-dan:dan:suspended
t0=$(date +%s)
run_import "$T/d5"
t1=$(date +%s)
check "a hanging hook: the import still exits 0" 0 "$rc"
check "a hanging hook: killed within a few seconds" yes "$([ $((t1 - t0)) -le 5 ] && echo yes || echo "no ($((t1 - t0)) s)")"
check_log "a hanging hook: the kill is logged" "on_suspend $T/hang dan [0-9]+: killed after 1 s"
# (Gone, or a zombie whose parent was killed with it.)
check "a hanging hook: its child is killed too" gone \
	"$(case $(ps -o stat= -p "$(cat "$T/hang.child")") in '' | Z*) echo gone ;; *) echo alive ;; esac)"

# A program that cannot run, or fails, is logged; the publish stands.
config "max_removed_percent = 100" "on_suspend = $T/nosuch"
scim_dir "$T/d6" u:os-dan:dan:active
run_import "$T/d6"
run_import "$T/d5"
check "a missing program: the import exits 0" 0 "$rc"
check_log "a missing program: logged" "on_suspend $T/nosuch dan [0-9]+: cannot run the program \(exit 127\)"
check_log "a missing program: counted" "on_suspend: ran for 1 users, 1 failed"

# Config errors.
config "on_suspend = relative/path"
run_import "$T/d5"
check "on_suspend needs an absolute path" 2 "$rc"
config "on_suspend = /bin/true" "on_suspend_timeout = 0"
run_import "$T/d5"
check "on_suspend_timeout 0 is refused" 2 "$rc"

# ---- scim-end-sessions refuses what is not a directory uid.
for args in "" "ann" "ann 0" "ann 999" "ann 65534" "ann abc" "ann 1000x" "ann -1000" "ann 01000" \
	"ann 99999999999" "ann 4294967295" "a;b 5000" "ann 5000 extra"; do
	# shellcheck disable=SC2086
	"$END" $args >/dev/null 2>&1 && rc=0 || rc=$?
	check "scim-end-sessions '$args': refused with exit 2" 2 "$rc"
done
# A uid with processes: they are killed, others are not.
useruid=4242420
setpriv --reuid $useruid --regid $useruid --clear-groups sleep 300 &
victim=$!
sleep 300 &
bystander=$!
sleep 0.3
"$END" someone $useruid 2>"$T/end.err" && rc=0 || rc=$?
check "scim-end-sessions: exit 0" 0 "$rc"
wait $victim 2>/dev/null
check "scim-end-sessions: the uid's process is gone" gone "$(kill -0 $victim 2>/dev/null && echo alive || echo gone)"
check "scim-end-sessions: another uid's process is untouched" alive \
	"$(kill -0 $bystander 2>/dev/null && echo alive || echo gone)"
kill $bystander
"$END" someone $useruid 2>/dev/null && rc=0 || rc=$?
check "scim-end-sessions: a uid without processes is fine" 0 "$rc"
finish
