#!/bin/sh
# The snapshot unit against the real tools: minisign signatures both ways
# (keys from minisign -G -W and from scim-snaptool keygen), and zstd
# patch-from deltas both ways.  Skips (77) without minisign or zstd.
set -eu
tool="$top_builddir/tests/scim-snaptool"
command -v minisign >/dev/null || { echo "SKIP: no minisign"; exit 77; }
command -v zstd >/dev/null || { echo "SKIP: no zstd"; exit 77; }
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
fail=0
check() {
	if [ "$2" = "$3" ]; then echo "ok   $1"; else echo "FAIL $1"; echo "  want: $2"; echo "  got:  $3"; fail=1; fi
}
# ok NAME CMD...: the command must succeed; no NAME CMD...: it must fail.
ok() { n=$1; shift; if "$@" >"$t/out" 2>"$t/err"; then echo "ok   $n"; else echo "FAIL $n"; cat "$t/err"; fail=1; fi; }
no() { n=$1; shift; if "$@" >"$t/out" 2>"$t/err"; then echo "FAIL $n (accepted)"; fail=1; else echo "ok   $n: $(head -c 200 "$t/err" | tr '\n' ' ')"; fi; }

# A stream-like file: 20,000 sorted lines, and the same with 1% changed.
awk 'BEGIN { for (i = 0; i < 20000; i++) printf "U\t%08x-aaaa-4bbb-8ccc-%012d\tuser%d\t%d\t%d\tUser %d\t/home/user%d\t/bin/bash\tactive\n", i * 2654435761 % 4294967291, i, i, 200000 + i, 200000 + i, i, i, i }' >"$t/old"
awk 'NR % 100 == 7 { sub(/active$/, "suspended") } { print }' "$t/old" >"$t/new"
comment="scim-fleet=1 fleet=test serial=1764539000123 deltas=-"

# ---- minisign's keys, our signature -----------------------------------
minisign -G -W -p "$t/m.pub" -s "$t/m.key" >/dev/null
ok "our signature with a minisign -G -W key" "$tool" sign "$t/m.key" "$t/new" "$comment"
cp "$t/out" "$t/ours.minisig"
ok "minisign -V accepts our signature" minisign -V -p "$t/m.pub" -m "$t/new" -x "$t/ours.minisig"
check "minisign -V -Q prints our trusted comment" "$comment" \
	"$(minisign -V -Q -p "$t/m.pub" -m "$t/new" -x "$t/ours.minisig")"
no "minisign -V refuses our signature over other data" minisign -V -p "$t/m.pub" -m "$t/old" -x "$t/ours.minisig"

# ---- minisign's signature, our verifier --------------------------------
minisign -S -s "$t/m.key" -m "$t/new" -x "$t/theirs.minisig" -t "$comment" >/dev/null
ok "we verify minisign -S" "$tool" verify "$t/m.pub" "$t/new" "$t/theirs.minisig"
check "the trusted comment we read" "$comment" "$(cat "$t/out")"
ok "we verify with the key line (snapshot_pubkey = RW...)" "$tool" verify "$(sed -n 2p "$t/m.pub")" "$t/new" \
	"$t/theirs.minisig"
no "we refuse minisign's signature over other data" "$tool" verify "$t/m.pub" "$t/old" "$t/theirs.minisig"
sed 's/fleet=test/fleet=prod/' "$t/theirs.minisig" >"$t/edited.minisig"
no "we refuse an edited trusted comment" "$tool" verify "$t/m.pub" "$t/new" "$t/edited.minisig"
no "minisign refuses it too" minisign -V -p "$t/m.pub" -m "$t/new" -x "$t/edited.minisig"

# ---- our keys, minisign's signature and verifier ------------------------
ok "scim-snaptool keygen" "$tool" keygen "$t/o"
check "secret key mode" "600" "$(stat -c %a "$t/o.key")"
no "keygen refuses to overwrite" "$tool" keygen "$t/o"
ok "minisign -S signs with our key" minisign -S -s "$t/o.key" -m "$t/new" -x "$t/o.minisig" -t "$comment"
ok "minisign -V verifies with our public key" minisign -V -p "$t/o.pub" -m "$t/new" -x "$t/o.minisig"
ok "we verify it" "$tool" verify "$t/o.pub" "$t/new" "$t/o.minisig"
ok "we sign with our key" "$tool" sign "$t/o.key" "$t/new" "$comment"
cp "$t/out" "$t/o2.minisig"
ok "minisign -V verifies that" minisign -V -p "$t/o.pub" -m "$t/new" -x "$t/o2.minisig"

# ---- the wrong key --------------------------------------------------------
no "we refuse a signature by an unpinned key" "$tool" verify "$t/o.pub" "$t/new" "$t/theirs.minisig"
no "minisign refuses it too" minisign -V -p "$t/o.pub" -m "$t/new" -x "$t/theirs.minisig"
chmod 644 "$t/o.key"
no "we refuse a secret key readable by others" "$tool" sign "$t/o.key" "$t/new" "$comment"

# ---- an encrypted minisign key: refused with a clear message ------------
printf 'pw\npw\n' | minisign -G -p "$t/e.pub" -s "$t/e.key" >/dev/null 2>&1 || true
if [ -s "$t/e.key" ]; then
	no "we refuse a password-protected key" "$tool" sign "$t/e.key" "$t/new" "$comment"
	check "and say why" yes "$(grep -q 'encrypted with a password' "$t/err" && echo yes || echo no)"
fi

# ---- zstd patch-from both ways ---------------------------------------------
size=$(stat -c %s "$t/new")
zstd -q -19 --patch-from="$t/old" "$t/new" -o "$t/cli.delta" 2>/dev/null
ok "we apply a delta made by zstd --patch-from" "$tool" delta-apply "$t/old" "$t/cli.delta" "$size" "$t/back1"
ok "  to the same bytes" cmp "$t/new" "$t/back1"
no "we refuse it with the wrong signed size" "$tool" delta-apply "$t/old" "$t/cli.delta" $((size - 1)) "$t/x"
ok "scim-snaptool delta-make" "$tool" delta-make "$t/old" "$t/new" "$t/our.delta"
ok "zstd -d --patch-from applies our delta" zstd -q -d --patch-from="$t/old" "$t/our.delta" -o "$t/back2"
ok "  to the same bytes" cmp "$t/new" "$t/back2"
echo "     delta sizes: zstd CLI $(stat -c %s "$t/cli.delta"), ours $(stat -c %s "$t/our.delta"), full $(zstd -q -19 -c "$t/new" | wc -c) bytes"
zstd -q -3 "$t/new" -o "$t/new.zst"
ok "we decompress a zstd CLI frame" "$tool" decompress "$t/new.zst" "$size" "$t/back3"
ok "  to the same bytes" cmp "$t/new" "$t/back3"
no "we refuse a frame bigger than signed" "$tool" decompress "$t/new.zst" 1000 "$t/x"

exit $fail
