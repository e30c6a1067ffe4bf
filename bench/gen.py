#!/usr/bin/env python3
"""gen.py - a synthetic, reproducible user directory for the NSS benchmark.

    gen.py --users N [--groups G] [--per-user K] [--seed S] --out DIR

Writes into DIR (python3 standard library only):

  passwd, group            /etc/passwd and /etc/group format (libnss_files);
                           bench/mkbenchcache turns these two into our cache
  passwd.cache,            Debian libnss-cache maps (same lines) and their
  group.cache              sorted indexes .ixname/.ixuid (passwd) and
  *.cache.ix*              .ixname/.ixgid (group), with the maps' mtime
  users.txt                "name uid gid ngroups": the bench's key list;
                           ngroups is what getgrouplist(name, gid) must return
  groups.txt               "name gid nmembers"
  info.json                parameters and size statistics
  scim/Users.json,         with --scim: the same directory as SCIM resources
  scim/Groups.json,        (one RFC 7644 ListResponse each, for --import),
  scim/seed.json           and both lists for tests/scim_server.py; the
                           numbers ride in a POSIX extension
                           (urn:example:params:scim:schemas:extension:posix:2.0)
                           so a sync gives the same uids and gids as the files

The shape (defaults): N users "u" + number, uids from 200000; G = N/10 groups
"g" + number, gids from 100000; every user in K = 10 groups; BIG = 3 groups of
20000, 25000 and 30000 members (each capped at N/3); the other memberships
follow a power law over the remaining groups (popularity ~ 1/rank^0.8), so
most groups are small and a few are large; HEAVY = 5 users are in 200 groups
(capped at G); a user's primary gid is one of its groups.  Which gid is big
or popular is shuffled, so big groups sit anywhere in the files.  The same
seed always gives the same bytes.
"""

import argparse
import json
import os
import random
import sys
import time
import uuid

UID_BASE = 200000
GID_BASE = 100000
BIG_SIZES = (20000, 25000, 30000)
HEAVY_USERS = 5
HEAVY_GROUPS = 200
SKEW = 0.8


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--groups", type=int, default=0, help="default N/10 (at least 1)")
    ap.add_argument("--per-user", type=int, default=10, help="groups per user (default 10)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--scim", action="store_true", help="also write scim/ (SCIM JSON, for bench/sync_bench.sh)")
    a = ap.parse_args(argv)
    if a.users < 1 or a.per_user < 1 or a.groups < 0:
        ap.error("--users and --per-user must be >= 1, --groups >= 0")
    a.groups = a.groups or max(1, a.users // 10)
    return a


def memberships(a, rng):
    """Returns (groups_of_user, primary_of_user): lists indexed by user."""
    n, g = a.users, a.groups
    order = list(range(g))
    rng.shuffle(order)  # order[rank] = group index
    nbig = min(len(BIG_SIZES), g)
    big, ranked = order[:nbig], order[nbig:]

    sets = [set() for _ in range(n)]
    for i, gi in enumerate(big):
        size = min(BIG_SIZES[i], max(1, n // 3))
        for u in rng.sample(range(n), size):
            sets[u].add(gi)

    heavy = set(rng.sample(range(n), min(HEAVY_USERS, n)))
    weights, acc = [], 0.0
    for r in range(len(ranked)):
        acc += 1.0 / (r + 1) ** SKEW
        weights.append(acc)

    for u in range(n):
        want = min(HEAVY_GROUPS if u in heavy else a.per_user, g)
        s = sets[u]
        missing = want - len(s)
        if missing <= 0 or not ranked:
            continue
        if missing * 3 >= len(ranked):
            # dense: draw without weights from what is left
            free = [x for x in ranked if x not in s]
            s.update(rng.sample(free, min(missing, len(free))))
            continue
        while len(s) < want:
            for x in rng.choices(ranked, cum_weights=weights, k=want - len(s)):
                s.add(x)
    groups_of = [sorted(s) for s in sets]
    primary = [rng.choice(gl) if gl else order[0] for gl in groups_of]
    return groups_of, primary


def ix_write(path, pairs):
    """A libnss-cache index: records sorted by strcmp() of the key text (numbers
    too), each "KEY\\0OFFSET\\0" padded with NULs to one common width and ended by
    "\\n"; OFFSET is the decimal byte offset of the line in the .cache map.  The
    reader learns the width from the first newline and bsearch()es the file."""
    recs = sorted((k.encode(), b"%d" % off) for k, off in pairs)
    width = max(len(k) for k, _ in recs) + max(len(o) for _, o in recs) + 2
    with open(path, "wb") as f:
        for k, o in recs:
            body = k + b"\0" + o + b"\0"
            f.write(body + b"\0" * (width - len(body)) + b"\n")


def write_map(out, name, lines, keys):
    """name and name.cache hold the same lines; keys: [(suffix, key_of_line_index)]."""
    blob = "".join(lines).encode()
    for fn in (name, name + ".cache"):
        with open(os.path.join(out, fn), "wb") as f:
            f.write(blob)
    offsets, pos = [], 0
    for ln in lines:
        offsets.append(pos)
        pos += len(ln.encode())
    stamped = [os.path.join(out, name + ".cache")]
    for suffix, key in keys:
        p = os.path.join(out, "%s.cache.ix%s" % (name, suffix))
        ix_write(p, ((key(i), offsets[i]) for i in range(len(lines))))
        stamped.append(p)
    # libnss-cache silently ignores an index older than its map and scans the
    # map instead: give them all one mtime.
    t = int(time.time())
    for p in stamped:
        os.utime(p, (t, t))
    return len(blob)


POSIX = "urn:example:params:scim:schemas:extension:posix:2.0"


def write_scim(out, uname, gname, primary, members):
    """scim/: Users.json and Groups.json (ListResponses) and seed.json ({"Users", "Groups"}).
    Ids are name-based UUIDs, so the same seed gives the same ids."""
    d = os.path.join(out, "scim")
    os.makedirs(d, exist_ok=True)
    ns = uuid.UUID("6b1e3c1e-3d5e-4a53-9d0b-2f5b7c1a0000")
    uid_of = [str(uuid.uuid5(ns, "user:" + n)) for n in uname]
    users = [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", POSIX + ":User"],
              "id": uid_of[u], "userName": uname[u], "displayName": "Bench User %d" % u, "active": True,
              POSIX + ":User": {"uidNumber": UID_BASE + u, "gidNumber": GID_BASE + primary[u]}}
             for u in range(len(uname))]
    groups = [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", POSIX + ":Group"],
               "id": str(uuid.uuid5(ns, "group:" + gname[x])), "displayName": gname[x],
               POSIX + ":Group": {"gidNumber": GID_BASE + x},
               "members": [{"value": uid_of[u], "display": uname[u]} for u in members[x]]}
              for x in range(len(gname))]
    lr = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    for name, recs in (("Users.json", users), ("Groups.json", groups)):
        with open(os.path.join(d, name), "w") as f:
            json.dump({"schemas": [lr], "totalResults": len(recs), "startIndex": 1,
                       "itemsPerPage": len(recs), "Resources": recs}, f, separators=(",", ":"))
    with open(os.path.join(d, "seed.json"), "w") as f:
        json.dump({"Users": users, "Groups": groups}, f, separators=(",", ":"))


def main(argv):
    a = parse_args(argv)
    t0 = time.time()
    rng = random.Random(a.seed)
    os.makedirs(a.out, exist_ok=True)
    n, g = a.users, a.groups
    uname = ["u%06d" % i for i in range(n)]
    gname = ["g%05d" % j for j in range(g)]
    groups_of, primary = memberships(a, rng)
    members = [[] for _ in range(g)]
    for u, gl in enumerate(groups_of):
        for x in gl:
            members[x].append(u)

    pw = ["%s:x:%d:%d:Bench User %d:/home/%s:/bin/bash\n" % (uname[u], UID_BASE + u, GID_BASE + primary[u], u, uname[u])
          for u in range(n)]
    gr = ["%s:x:%d:%s\n" % (gname[x], GID_BASE + x, ",".join(uname[u] for u in members[x])) for x in range(g)]
    pw_bytes = write_map(a.out, "passwd", pw, [("name", lambda i: uname[i]), ("uid", lambda i: str(UID_BASE + i))])
    gr_bytes = write_map(a.out, "group", gr, [("name", lambda i: gname[i]), ("gid", lambda i: str(GID_BASE + i))])

    with open(os.path.join(a.out, "users.txt"), "w") as f:
        for u in range(n):
            f.write("%s %d %d %d\n" % (uname[u], UID_BASE + u, GID_BASE + primary[u], len(set(groups_of[u]) | {primary[u]})))
    with open(os.path.join(a.out, "groups.txt"), "w") as f:
        for x in range(g):
            f.write("%s %d %d\n" % (gname[x], GID_BASE + x, len(members[x])))

    if a.scim:
        write_scim(a.out, uname, gname, primary, members)

    sizes = sorted(len(m) for m in members)
    per_user = sorted(len(gl) for gl in groups_of)
    info = {"users": n, "groups": g, "per_user": a.per_user, "seed": a.seed,
            "memberships": sum(sizes),
            "group_size": {"max": sizes[-1], "median": sizes[len(sizes) // 2], "top": sizes[-5:][::-1]},
            "groups_per_user": {"min": per_user[0], "median": per_user[len(per_user) // 2], "max": per_user[-1]},
            "bytes": {"passwd": pw_bytes, "group": gr_bytes},
            "seconds": round(time.time() - t0, 1)}
    with open(os.path.join(a.out, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print("gen.py: %d users, %d groups, %d memberships, largest group %d, %.1fs -> %s"
          % (n, g, info["memberships"], sizes[-1], info["seconds"], a.out), file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
