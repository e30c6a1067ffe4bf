#!/usr/bin/env python3
"""kill -9 scim-refreshd during publishes, ROUNDS times (driven by tests/fault_kill.sh).

  fault_kill.py REFRESHD FAULTCHECK WORKDIR ROUNDS

Round v writes directory version v (three users added, one removed, two renamed, two
suspended or reactivated, group members reshuffled, every displayName starting "V<v>"),
starts `scim-refreshd --once --import` on it and kill -9s it after a random delay:
  blind   a delay drawn log-uniformly from 0.05 ms to the length of a whole run;
  idmap   a random delay after the id map's first write, up to twice the time until the
          cache writer starts;
  cache   a random part of the cache writer's window after cache.tdb.new appears.
(inotify gives the two triggers; every delay is random, the triggers only make a good
share of the kills land inside the publish, which a blind delay mostly misses.)

After each kill:
  - the cache is one complete, valid snapshot (scim-faultcheck), and it is either the
    previously published one, byte for byte, or exactly version v;
  - the id map (opened on a copy, as the next start would) holds every (SCIM id, number)
    the cache holds: it is never behind the cache;
  - every (SCIM id -> number) pair ever seen in a published cache or in the id map is
    the same as the first time it was seen, and no number ever belonged to two ids;
  - the next start (an import that fails: the directory holds no files) leaves no file
    but cache.tdb, cache.tdb.lock and idmap.tdb behind.
Where each kill landed is told from what it left: a .new file (writing the cache), an
id map changed while the cache is not (between the id map's commit and the rename), a
new cache (after the rename, before exit), nothing changed (before the publish), or
the run finished first.  At the end one unkilled import publishes the last version.
"""

import ctypes
import json
import math
import os
import random
import select
import shutil
import signal
import struct
import subprocess
import sys
import time

REFRESHD, CHECK, W, ROUNDS = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
STATE = W + "/state"
CACHE = STATE + "/cache.tdb"
NEW = CACHE + ".new"
IDMAP = STATE + "/idmap.tdb"
CONF = W + "/conf"
ALLOWED = {"cache.tdb", "cache.tdb.lock", "idmap.tdb"}
MAX_REMOVED_PERCENT = 10

IN_MODIFY, IN_CREATE, IN_MOVED_TO = 0x2, 0x100, 0x80
libc = ctypes.CDLL(None, use_errno=True)

seed = int(os.environ.get("FAULT_SEED", str(int(time.time()))))
rng = random.Random(seed)
print("seed %d (FAULT_SEED=%d reproduces the run)" % (seed, seed), flush=True)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    for f in ("run.log", "next.log"):
        p = W + "/" + f
        if os.path.exists(p):
            print("--- " + f)
            with open(p) as fh:
                sys.stdout.write(fh.read()[-3000:])
    sys.exit(1)


# ---- the directory and its versions -------------------------------------------------
users = {}   # id -> {"name", "active"}
groups = {}  # id -> {"name", "members"}
counter = [0]


def add_user():
    counter[0] += 1
    i = counter[0]
    users["k-%05d" % i] = {"name": "ku%05d" % i, "active": True, "renames": 0}


for _ in range(1000):
    add_user()
for g in range(1, 9):
    groups["kg-%02d" % g] = {"name": "kgrp%02d" % g, "members": []}


def mutate(v):
    ids = sorted(users)
    for _ in range(3):
        add_user()
    del users[rng.choice(ids[:-3] if len(ids) > 3 else ids)]
    ids = sorted(users)
    for uid in rng.sample(ids, 2):
        u = users[uid]
        u["renames"] += 1
        u["name"] = "ku%sr%d" % (uid[2:], u["renames"])
    for uid in rng.sample(ids, 2):
        users[uid]["active"] = not users[uid]["active"]
    if v % 10 == 0:
        n = len(groups) + 1
        groups["kg-%02d" % n] = {"name": "kgrp%02d" % n, "members": []}
    for g in groups.values():
        g["members"] = rng.sample(ids, 5)


def write_version(v, d):
    os.makedirs(d)
    lr = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    ures = [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "id": i, "userName": u["name"],
             "displayName": "V%d %s" % (v, u["name"]), "active": u["active"]} for i, u in users.items()]
    gres = [{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": i, "displayName": g["name"],
             "members": [{"value": m} for m in g["members"]]} for i, g in groups.items()]
    for name, res in (("Users.json", ures), ("Groups.json", gres)):
        with open(d + "/" + name, "w") as f:
            json.dump({"schemas": [lr], "totalResults": len(res), "Resources": res}, f)
    return ({i: (u["name"], "a" if u["active"] else "s") for i, u in users.items()},
            {i: g["name"] for i, g in groups.items()})


# ---- checks --------------------------------------------------------------------------
def read_bytes(p):
    try:
        with open(p, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def dump_cache():
    p = subprocess.run([CHECK, "cache", CACHE], capture_output=True, text=True)
    if p.returncode != 0:
        return None, p.stderr.strip()
    out = {"users": {}, "groups": {}, "upgs": {}, "words": set(), "generation": None}
    for line in p.stdout.splitlines():
        f = line.split(" ", 5)
        if f[0] == "header":
            out["generation"] = int(f[1].split("=")[1])
        elif f[0] == "U":
            out["users"][f[1]] = (int(f[2]), f[3], f[4])
            out["words"].add(f[5].split(" ")[0])
        elif f[0] == "G" and f[1] in out["users"]:
            out["upgs"][f[1]] = (int(f[2]), f[3])
        elif f[0] == "G":
            out["groups"][f[1]] = (int(f[2]), f[3])
    # Each user's private group: same name and number as the user.
    for sid, (num, name, _) in out["users"].items():
        if out["upgs"].get(sid) != (num, name):
            return None, "user %s %s %d: private group %s" % (sid, name, num, out["upgs"].get(sid))
    if len(out["upgs"]) != len(out["users"]):
        return None, "a private group without its user"
    return out, None


def dump_idmap():
    chk = W + "/chk"
    shutil.rmtree(chk, ignore_errors=True)
    os.makedirs(chk)
    shutil.copyfile(IDMAP, chk + "/idmap.tdb")
    p = subprocess.run([CHECK, "idmap", chk], capture_output=True, text=True)
    if p.returncode != 0:
        fail("the id map cannot be opened: " + p.stderr.strip())
    m = {}
    for line in p.stdout.splitlines():
        kind, sid, num, _ = line.split(" ")
        m[(kind, sid)] = int(num)
    return m


history = {}   # (kind, id) -> number, first seen
owner = {}     # (kind, number) -> id, first seen


def remember(kind, sid, num, where):
    first = history.setdefault((kind, sid), num)
    if first != num:
        fail("%s: %s %s has number %d, it had %d before" % (where, kind, sid, num, first))
    o = owner.setdefault((kind, num), sid)
    if o != sid:
        fail("%s: number %d of %s was %s's before" % (where, num, sid, o))


def check_state(where, cache):
    idmap = dump_idmap()
    for sid, (num, _, _) in cache["users"].items():
        if idmap.get(("U", sid)) != num:
            fail("%s: the cache gives user %s uid %d, the id map %s: the id map is behind the cache"
                 % (where, sid, num, idmap.get(("U", sid))))
        remember("U", sid, num, where)
    for sid, (num, _) in cache["groups"].items():
        if idmap.get(("G", sid)) != num:
            fail("%s: the cache gives group %s gid %d, the id map %s" % (where, sid, num, idmap.get(("G", sid))))
        remember("G", sid, num, where)
    for (kind, sid), num in idmap.items():
        remember(kind, sid, num, where + " (id map)")
    # An id seen once is never forgotten by the id map.
    for (kind, sid), num in history.items():
        if idmap.get((kind, sid)) != num:
            fail("%s: the id map lost or changed %s %s (was %d, now %s)" % (where, kind, sid, num,
                                                                            idmap.get((kind, sid))))


def matches(cache, expect):
    eu, eg = expect
    return ({sid: (n, s) for sid, (_, n, s) in cache["users"].items()} == eu
            and {sid: n for sid, (_, n) in cache["groups"].items()} == eg)


# ---- the runs ------------------------------------------------------------------------
class Watch:
    def __init__(self):
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, STATE.encode(), IN_MODIFY | IN_CREATE | IN_MOVED_TO) < 0:
            fail("inotify: %s" % os.strerror(ctypes.get_errno()))

    def drain(self):
        self.pending = []
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def wait(self, want, deadline):
        """Waits for one of want, [(mask, name)]; True when it came before the deadline.
        Events read past the one waited for are kept for the next wait."""
        while True:
            while self.pending:
                mask, name = self.pending.pop(0)
                if any(mask & m and name == n for m, n in want):
                    return True
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return False
            try:
                buf = os.read(self.fd, 65536)
            except BlockingIOError:
                continue
            off = 0
            while off < len(buf):
                _, mask, _, ln = struct.unpack_from("iIII", buf, off)
                self.pending.append((mask, buf[off + 16:off + 16 + ln].rstrip(b"\0").decode()))
                off += 16 + ln


def start(d, force):
    args = [REFRESHD, "--config", CONF, "--once", "--import", d] + (["--force"] if force else [])
    log = open(W + "/run.log", "w")
    p = subprocess.Popen(args, stdout=log, stderr=log)
    log.close()
    return p


def calibrate(d):
    """One undisturbed run: when the id map is first written, .new appears, the rename."""
    watch.drain()
    t0 = time.monotonic()
    p = start(d, False)
    marks = {}
    for key, want in (("idmap", [(IN_MODIFY, "idmap.tdb")]), ("new", [(IN_CREATE, "cache.tdb.new")]),
                      ("rename", [(IN_MOVED_TO, "cache.tdb")])):
        if not watch.wait(want, t0 + 30):
            fail("calibration: no %s event" % key)
        marks[key] = time.monotonic() - t0
    if p.wait() != 0:
        fail("calibration run failed")
    marks["exit"] = time.monotonic() - t0
    return marks


# ---- main ----------------------------------------------------------------------------
with open(CONF, "w") as f:
    f.write("state_dir = %s\ncache_file = %s\n" % (STATE, CACHE))
os.chmod(CONF, 0o644)
os.makedirs(STATE)
watch = Watch()
os.makedirs(W + "/nothing")
expected = {0: write_version(0, W + "/v0")}
if subprocess.run([REFRESHD, "--config", CONF, "--once", "--import", W + "/v0"],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
    fail("the first import failed")
cache, err = dump_cache()
if not cache or not matches(cache, expected[0]):
    fail("the first import: %s" % err)
check_state("setup", cache)
published = 0

# Calibrate on two versions (the first grows the id map file, later ones do not).
windows = []
for v in (1, 2):
    mutate(v)
    expected[v] = write_version(v, W + "/v%d" % v)
    windows.append(calibrate(W + "/v%d" % v))
    published = v
m = windows[-1]
run_s = m["exit"]
idmap_window = m["new"] - m["idmap"]
cache_window = m["rename"] - m["new"]
print("calibration: a run takes %.1f ms; the id map is first written at %.1f ms, cache.tdb.new appears at "
      "%.1f ms, the rename at %.1f ms" % (run_s * 1e3, m["idmap"] * 1e3, m["new"] * 1e3, m["rename"] * 1e3),
      flush=True)
cache, _ = dump_cache()
check_state("calibration", cache)

landed = {"before the publish": 0, "id map ahead of the cache": 0, "writing cache.tdb.new": 0,
          "after the rename": 0, "finished before the kill": 0}
modes = {"blind": 0, "idmap": 0, "cache": 0}
delays = []
t_start = time.monotonic()
first = 3
for v in range(first, first + ROUNDS):
    mutate(v)
    d = W + "/v%d" % v
    expected[v] = write_version(v, d)
    shutil.rmtree(W + "/v%d" % (v - 2), ignore_errors=True)
    before_cache, before_idmap = read_bytes(CACHE), read_bytes(IDMAP)
    old_users = set(expected[published][0])
    removed = len(old_users - set(expected[v][0]))
    force = removed * 100 > MAX_REMOVED_PERCENT * len(old_users)

    mode = ("blind", "idmap", "cache")[v % 3]
    modes[mode] += 1
    watch.drain()
    t0 = time.monotonic()
    p = start(d, force)
    if mode == "blind":
        delay = math.exp(rng.uniform(math.log(50e-6), math.log(run_s)))
    elif mode == "idmap":
        watch.wait([(IN_MODIFY, "idmap.tdb")], t0 + 30)
        delay = rng.uniform(0, 2 * idmap_window)
    else:
        watch.wait([(IN_CREATE, "cache.tdb.new")], t0 + 30)
        delay = rng.uniform(0, cache_window)
    time.sleep(delay)
    delays.append(time.monotonic() - t0)
    p.send_signal(signal.SIGKILL)
    rc = p.wait()

    where = "round %d (%s kill at %.2f ms, exit %d)" % (v, mode, delays[-1] * 1e3, rc)
    new_left = os.path.exists(NEW)
    cache, err = dump_cache()
    if not cache:
        fail("%s: the cache is not one complete snapshot: %s" % (where, err))
    now_cache, now_idmap = read_bytes(CACHE), read_bytes(IDMAP)
    if rc != -signal.SIGKILL:
        if rc != 0:
            fail("%s: the import failed" % where)
        landed["finished before the kill"] += 1
    elif new_left:
        landed["writing cache.tdb.new"] += 1
    elif now_cache != before_cache:
        landed["after the rename"] += 1
    elif now_idmap != before_idmap:
        landed["id map ahead of the cache"] += 1
    else:
        landed["before the publish"] += 1

    if now_cache == before_cache:
        pass  # the old one, byte for byte
    elif matches(cache, expected[v]) and cache["words"] == {"V%d" % v}:
        published = v
    else:
        fail("%s: the cache is neither the old one nor version %d (gecos words %s)"
             % (where, v, sorted(cache["words"])[:5]))
    check_state(where, cache)

    # The next start, one that publishes nothing, cleans up after the killed one.
    with open(W + "/next.log", "w") as log:
        rc2 = subprocess.run([REFRESHD, "--config", CONF, "--once", "--import", W + "/nothing"],
                             stdout=log, stderr=log).returncode
    if rc2 != 1:
        fail("%s: the next start (an import of an empty directory) exited %d, not 1" % (where, rc2))
    left = sorted(set(os.listdir(STATE)) - ALLOWED)
    if left:
        fail("%s: after the next start, %s %s still there (%s)" % (
            where, ", ".join(left), "is" if len(left) == 1 else "are",
            "a .new file left by the kill" if new_left else "not left by the kill"))
    if new_left:
        with open(W + "/next.log") as log:
            if "left by an interrupted publish" not in log.read():
                fail("%s: the next start removed cache.tdb.new without a log line" % where)
    if read_bytes(CACHE) != now_cache:
        fail("%s: the next start changed the cache" % where)

elapsed = time.monotonic() - t_start
in_publish = landed["id map ahead of the cache"] + landed["writing cache.tdb.new"]
print("%d kills in %.1f s (%s); delays %.2f..%.2f ms after the start" % (
    ROUNDS, elapsed, ", ".join("%d %s" % (n, k) for k, n in modes.items()), min(delays) * 1e3, max(delays) * 1e3))
for k, n in landed.items():
    print("  %4d %s" % (n, k))
print("  %4d inside the publish (id map ahead of the cache, or writing cache.tdb.new)" % in_publish)
print("  %4d distinct (SCIM id, number) pairs seen, none ever changed" % len(history), flush=True)

# Afterwards: one undisturbed import of the last version publishes it, same numbers.
v = first + ROUNDS - 1
old_users = set(expected[published][0])
force = len(old_users - set(expected[v][0])) * 100 > MAX_REMOVED_PERCENT * len(old_users)
with open(W + "/run.log", "w") as log:
    rc = subprocess.run([REFRESHD, "--config", CONF, "--once", "--import", W + "/v%d" % v]
                        + (["--force"] if force else []), stdout=log, stderr=log).returncode
cache, err = dump_cache()
if rc != 0 or not cache or not matches(cache, expected[v]):
    fail("the last import after the kills did not publish version %d: %s" % (v, err))
check_state("after the kills", cache)
if in_publish < ROUNDS // 4:
    fail("only %d of %d kills landed inside the publish" % (in_publish, ROUNDS))
print("ok: after %d kill -9, the last version publishes; every id kept its number" % ROUNDS)
