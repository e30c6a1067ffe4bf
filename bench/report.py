#!/usr/bin/env python3
"""report.py RESULTS_DIR - the table from bench/run.sh's raw nssbench output.

Reads RESULTS_DIR/n<N>-<backend>-r<rep>.txt and mkcache-n<N>.txt, takes for
every (N, backend, op) the median over repetitions of the per-run medians,
and prints (markdown) each op's figure for scim beside bnull, bfloor, files
and cache, the ratios scim/bnull, bfloor/bnull, scim/files, scim/cache, the
scaling of scim
from the smallest to the largest N, and the issue's targets as PASS/MISS
lines.  Exit status 1 only if some answer was wrong (errors > 0) or a run
produced nothing.
"""

import glob
import os
import re
import statistics
import sys

OPS = ["getpwnam_hit", "getpwnam_miss", "getpwuid_hit", "getpwuid_miss", "getgrnam_hit", "getgrnam_miss",
       "getgrgid_hit", "getgrgid_miss", "getgrouplist_hit", "getgrouplist_miss", "getgrouplist_heavy",
       "enum_pw", "enum_gr"]
BACKENDS = ["scim", "bnull", "bfloor", "files", "cache"]
LOOKUPS = OPS[:9]  # what "lookup time at 100k <= 1.2x 1k" covers


def fmt(ns):
    if ns is None:
        return "-"
    if ns < 1e3:
        return "%.0f ns" % ns
    if ns < 1e6:
        return "%.2f µs" % (ns / 1e3) if ns < 1e4 else "%.1f µs" % (ns / 1e3)
    return "%.2f ms" % (ns / 1e6) if ns < 1e7 else "%.1f ms" % (ns / 1e6)


def ratio(a, b):
    return "%.2f×" % (a / b) if a is not None and b else "-"


def main(d):
    runs = {}      # (n, backend, op) -> [ns, ...]
    errors = []    # descriptions
    costs = []
    spread = {}    # (n, backend, op) -> (min, max) over reps
    for path in sorted(glob.glob(os.path.join(d, "n*-*-r*.txt"))):
        m = re.match(r"n(\d+)-(\w+)-r(\d+)\.txt$", os.path.basename(path))
        if not m:
            continue
        n, backend = int(m.group(1)), m.group(2)
        seen = 0
        for line in open(path):
            if line.startswith("# costs"):
                costs.append(float(re.search(r"stat_ns=(\d+)", line).group(1)))
                continue
            if not line.startswith("op="):
                continue
            kv = dict(x.split("=", 1) for x in line.split() if "=" in x)
            op = kv["op"]
            ns = float(kv["median_ms"]) * 1e6 if "median_ms" in kv else float(kv["median_ns"])
            runs.setdefault((n, backend, op), []).append(ns)
            seen += 1
            if int(kv.get("errors", "0")):
                errors.append("N=%d %s %s: errors=%s" % (n, backend, op, kv["errors"]))
        if not seen:
            errors.append("%s: no results" % os.path.basename(path))
    med = {k: statistics.median(v) for k, v in runs.items()}
    ns_list = sorted({k[0] for k in runs})
    if not ns_list:
        print("report.py: no results in %s" % d)
        return 1

    print("## NSS lookups through glibc, median per call (enumeration: per full pass)\n")
    if os.path.exists(os.path.join(d, "meta.txt")):
        print("Measured: %s\n" % open(os.path.join(d, "meta.txt")).read().strip())
    if costs:
        print("stat() on this machine: %.0f ns (median over runs); glibc stat()s nsswitch.conf on every lookup.\n"
              % statistics.median(costs))
    for path in sorted(glob.glob(os.path.join(d, "mkcache-n*.txt"))):
        kv = dict(x.split("=", 1) for x in open(path).read().split() if "=" in x)
        print("- cache N=%s: %s users, %s groups, %s memberships; writer %s ms (parse %s ms), file %.1f MB"
              % (os.path.basename(path)[9:-4], kv.get("users"), kv.get("groups"), kv.get("memberships"),
                 kv.get("write_ms"), kv.get("parse_ms"), int(kv.get("bytes", 0)) / 1e6))
    print()
    for n in ns_list:
        print("### N = %d users, %d groups\n" % (n, max(1, n // 10)))
        print("| op | scim | bnull | bfloor | files | cache | scim/bnull | bfloor/bnull | scim/files | scim/cache |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for op in OPS:
            v = {b: med.get((n, b, op)) for b in BACKENDS}
            if all(x is None for x in v.values()):
                continue
            reps = runs.get((n, "scim", op), [])
            star = "*" if len(reps) > 1 and max(reps) > 1.5 * min(reps) else ""
            print("| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                op, fmt(v["scim"]), star, fmt(v["bnull"]), fmt(v["bfloor"]), fmt(v["files"]), fmt(v["cache"]),
                ratio(v["scim"], v["bnull"]), ratio(v["bfloor"], v["bnull"]), ratio(v["scim"], v["files"]),
                ratio(v["scim"], v["cache"])))
        print()
    lo, hi = ns_list[0], ns_list[-1]
    if hi != lo:
        print("### scim scaling: N=%d vs N=%d\n" % (hi, lo))
        print("| op | scim@%d | scim@%d | ratio | bnull ratio | bfloor ratio |" % (lo, hi))
        print("|---|---:|---:|---:|---:|---:|")
        for op in OPS:
            a, b = med.get((lo, "scim", op)), med.get((hi, "scim", op))
            if a is None or b is None:
                continue
            print("| %s | %s | %s | %s | %s | %s |" % (
                op, fmt(a), fmt(b), ratio(b, a), ratio(med.get((hi, "bnull", op)), med.get((lo, "bnull", op))),
                ratio(med.get((hi, "bfloor", op)), med.get((lo, "bfloor", op)))))
        print()
    print("* scim cell whose repetitions differ by more than 1.5×.\n")

    print("### Targets (issue 2, at N=%d; informational)\n" % hi)
    print("```")

    def target(label, value, limit, what):
        if value is None or limit is None:
            print("SKIP %s (not measured)" % label)
            return
        print("%s %-44s %s vs limit %s (%s)" % ("PASS" if value <= limit else "MISS", label, fmt(value),
                                                fmt(limit), what))

    for op in ("getpwnam_hit", "getpwuid_hit"):
        b = med.get((hi, "bnull", op))
        target("%s <= 1.25x bnull" % op, med.get((hi, "scim", op)), b and 1.25 * b,
               ratio(med.get((hi, "scim", op)), b) + " of bnull")
        f = med.get((hi, "bfloor", op))
        if f is not None:
            # the same target for a plain in-memory table on this machine
            target("  (floor) bfloor %s <= 1.25x bnull" % op, f, b and 1.25 * b,
                   ratio(f, b) + " of bnull; scim is " + ratio(med.get((hi, "scim", op)), f) + " of bfloor")
    b = med.get((hi, "bnull", "getgrouplist_hit"))
    target("getgrouplist_hit <= 1.5x bnull", med.get((hi, "scim", "getgrouplist_hit")), b and 1.5 * b,
           ratio(med.get((hi, "scim", "getgrouplist_hit")), b) + " of bnull")
    f = med.get((hi, "files", "enum_pw"))
    target("enum_pw pass <= files", med.get((hi, "scim", "enum_pw")), f,
           ratio(med.get((hi, "scim", "enum_pw")), f) + " of files")
    if hi != lo:
        for op in LOOKUPS:
            a = med.get((lo, "scim", op))
            target("%s @%d <= 1.2x @%d" % (op, hi, lo), med.get((hi, "scim", op)), a and 1.2 * a,
                   ratio(med.get((hi, "scim", op)), a) + " of @%d" % lo)
            fa = med.get((lo, "bfloor", op))
            if fa is not None:
                target("  (floor) bfloor %s @%d <= 1.2x @%d" % (op, hi, lo), med.get((hi, "bfloor", op)),
                       1.2 * fa, ratio(med.get((hi, "bfloor", op)), fa) + " of @%d" % lo)
    print("```")
    if errors:
        print("\nWRONG ANSWERS / FAILED RUNS:")
        for e in errors:
            print("  " + e)
        return 1
    print("\nAll answers verified (errors=0 everywhere; bnull is not verified: it answers every key).")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
