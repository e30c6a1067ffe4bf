#!/bin/sh
# ssh_keys_attribute (issue 13, part D): which key lines reach the cache,
# what scim-authorized-keys prints for whom, and the fingerprints scimctl
# shows (the same as ssh-keygen -l).
. "${top_srcdir:-.}/tests/import_lib.sh"
command -v ssh-keygen >/dev/null || { echo "SKIP: no ssh-keygen"; exit 77; }
AK=$top_builddir/scimctl/scim-authorized-keys
CTL=$top_builddir/scimctl/scimctl
ATTR=urn:example:ssh:2.0:User:sshPublicKeys

for k in ed25519 rsa; do ssh-keygen -q -t $k -N '' -C "c-$k" -f "$T/k$k"; done
ssh-keygen -q -t ecdsa -b 256 -N '' -C c-p256 -f "$T/kp256"
ssh-keygen -q -t ecdsa -b 384 -N '' -f "$T/kp384"
ssh-keygen -q -t ecdsa -b 521 -N '' -C 'a comment  with   blanks' -f "$T/kp521"
for i in $(seq 1 40); do ssh-keygen -q -t ed25519 -N '' -C "many-$i" -f "$T/many$i"; done

# users.json: the directory, built by python from the key files.
python3 - "$T" "$ATTR" <<'PY'
import base64, json, os, struct, sys
T, attr = sys.argv[1], sys.argv[2]
ext, name = attr.rsplit(":", 1)
def pub(f):
    return open(os.path.join(T, f + ".pub")).read().strip()
def sstr(b):
    return struct.pack(">I", len(b)) + b
# A security-key ed25519 key: type, 32 bytes of key, the application.
sk = b"sk-ssh-ed25519@openssh.com"
sk_line = "%s %s sk-key" % (sk.decode(), base64.b64encode(sstr(sk) + sstr(b"\x11" * 32) + sstr(b"ssh:")).decode())
ed = pub("ked25519")
ed_b64 = ed.split()[1]
rsa_b64 = pub("krsa").split()[1]
bad = [
    'command="/bin/sh" ' + ed,                       # options
    'from="10.0.0.0/8",no-pty ' + ed,                # options
    "ssh-dss " + ed_b64,                              # unknown type
    "ssh-rsa " + ed_b64 + " lies about its type",     # embedded type differs
    "ssh-ed25519 not*base64",                         # not base64
    "ssh-ed25519 " + ed_b64[:-4],                     # cut short, padding wrong
    "ssh-ed25519",                                    # no key
    ed + "\nssh-ed25519 " + ed_b64 + " second line",  # a line break
    "",
    42,                                               # not a string
]
users = [
    {"id": "k-ann", "userName": "ann", ext: {name: [{"value": ed}, {"value": "  " + pub("krsa") + "  \t"},
        {"value": pub("kp256"), "primary": True}, {"value": pub("kp384")}, {"value": pub("kp521")},
        {"value": sk_line}] + [{"value": b} for b in bad]}},
    {"id": "k-ben", "userName": "ben", ext: {name: [pub("kp256")]}},
    {"id": "k-carl", "userName": "carl", "active": False, ext: {name: [ed]}},
    {"id": "k-dan", "userName": "dan"},
    {"id": "k-eve", "userName": "eve", ext: {name: [pub("many%d" % i) for i in range(1, 41)]}},
    {"id": "k-fay", "userName": "fay", ext: {name: pub("krsa")}},
    {"id": "k-gus", "userName": "gus", ext: {name: [pub("krsa").split()[0] + " " + rsa_b64 + " " + "x" * 7000] * 3}},
]
for u in users:
    u["schemas"] = ["urn:ietf:params:scim:schemas:core:2.0:User"]
os.makedirs(T + "/d1", exist_ok=True)
json.dump({"Resources": users}, open(T + "/d1/Users.json", "w"))
json.dump({"Resources": []}, open(T + "/d1/Groups.json", "w"))
open(T + "/sk.pub", "w").write(sk_line + "\n")
PY
config "ssh_keys_attribute = $ATTR" "max_removed_percent = 100"
run_import "$T/d1"
check "import with keys: exits 0" 0 "$rc"
ak() { in_ns "$AK" --cache "$CACHE" "$@" 2>/dev/null; }

expect=$(for f in ked25519 krsa kp256 kp384 kp521 sk; do cat "$T/$f.pub"; done)
check "ann: every good key, in order, blanks around trimmed, comments kept" "$expect" "$(ak ann)"
check_log "options are refused, by SCIM id" "user id=k-ann: $ATTR\[6\]: SSH key dropped: key options \(command=, from=, ...\) are not accepted"
check_log "from= too" "user id=k-ann: $ATTR\[7\]: SSH key dropped: key options"
check_log "an unknown type" "user id=k-ann: $ATTR\[8\]: SSH key dropped: unknown key type"
check_log "a blob of another type" "user id=k-ann: $ATTR\[9\]: SSH key dropped: the key blob is of another type than the line says"
check_log "not base64" "user id=k-ann: $ATTR\[10\]: SSH key dropped: the key is not base64"
check_log "cut short" "user id=k-ann: $ATTR\[11\]: SSH key dropped: the key blob is not a key of its type"
check_log "no key" "user id=k-ann: $ATTR\[12\]: SSH key dropped: the key is not base64"
check_log "a line break" "user id=k-ann: $ATTR\[13\]: SSH key dropped: it holds a control character or a line break"
check_log "empty" "user id=k-ann: $ATTR\[14\]: SSH key dropped: it is empty"
check_log "not a string" "user id=k-ann: $ATTR\[15\] is not a string; SSH key dropped"
check "ben: a plain array of strings" "$(cat "$T/kp256.pub")" "$(ak ben)"
check "carl is suspended: nothing" "" "$(ak carl)"
check "dan has no keys: nothing" "" "$(ak dan)"
check "eve: at most 32 keys" 32 "$(ak eve | wc -l)"
check "eve: the first 32" "$(for i in $(seq 1 32); do cat "$T/many$i.pub"; done)" "$(ak eve)"
check_log "eve: the rest is logged" "user id=k-eve: $ATTR: 8 SSH keys dropped, over 32 keys or 16384 bytes a user"
check "fay: a single string" "$(cat "$T/krsa.pub")" "$(ak fay)"
check "gus: at most 16 KiB a user" 2 "$(ak gus | wc -l)"
check "nosuch: nothing" "" "$(ak nosuch)"
check "root (local): nothing" "" "$(ak root)"
check "localuser (local): nothing" "" "$(ak localuser)"
in_ns "$AK" --cache "$CACHE" carl >/dev/null 2>&1 && rc=0 || rc=$?
check "nothing is still exit 0" 0 "$rc"

# scimctl shows types and fingerprints, never the keys.
out=$(in_ns "$CTL" --cache "$CACHE" user ann)
want=$(for f in ked25519 krsa kp256 kp384 kp521 sk; do
	printf '%s %s\n' "$(cut -d' ' -f1 "$T/$f.pub")" "$(ssh-keygen -lf "$T/$f.pub" | cut -d' ' -f2)"; done)
check "scimctl user: types and fingerprints as ssh-keygen -l has them" "$want" \
	"$(printf '%s\n' "$out" | sed -n 's/^ssh keys: *//p; s/^ \{13\}\([a-z]\)/\1/p')"
check "scimctl user: no key material" "" "$(printf '%s\n' "$out" | grep -F "$(cut -d' ' -f2 "$T/ked25519.pub")" || true)"
out=$(in_ns "$CTL" --cache "$CACHE" user dan)
check "scimctl user: none" "ssh keys:    none" "$(printf '%s\n' "$out" | grep '^ssh keys:')"
out=$(in_ns "$CTL" --cache "$CACHE" --json user ben)
check "scimctl --json: ssh_keys" "[{'type': 'ecdsa-sha2-nistp256', 'fingerprint': '$(ssh-keygen -lf "$T/kp256.pub" | cut -d' ' -f2)'}]" \
	"$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["ssh_keys"])')"

# Stale, unsafe, missing.
check "--max-age: a fresh cache answers" "$(cat "$T/kp256.pub")" "$(ak --max-age 3600 ben)"
sleep 2
check "--max-age: a stale cache answers nothing" "" "$(ak --max-age 1 ben)"
chmod 666 "$CACHE"
check "an unsafe cache: nothing" "" "$(ak ben)"
chmod 644 "$CACHE"
check "a missing cache: nothing" "" "$(in_ns "$AK" --cache "$T/missing.tdb" ben 2>/dev/null)"
"$AK" >/dev/null 2>&1 && rc=0 || rc=$?
check "no user: usage, exit 2" 2 "$rc"
"$AK" --max-age 0 ben >/dev/null 2>&1 && rc=0 || rc=$?
check "--max-age 0: exit 2" 2 "$rc"

# Without ssh_keys_attribute, no keys are kept.
config "max_removed_percent = 100"
run_import "$T/d1"
check "no ssh_keys_attribute: no keys" "" "$(ak ann)"
finish
