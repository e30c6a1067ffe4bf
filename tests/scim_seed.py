#!/usr/bin/env python3
"""Writes a small SCIM directory for the network tests: seed.json for scim_server.py.

  scim_seed.py --users N [--groups G] [--members K] --out FILE

Users user0001.. (ids "u-0001".., active, displayName "Test User 0001"); groups
team001.. (ids "g-001"..), each with K members taken round-robin from the users.
"""

import argparse
import json


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--users", type=int, required=True)
    p.add_argument("--groups", type=int, default=3)
    p.add_argument("--members", type=int, default=3)
    p.add_argument("--gecos", default="Test", help="first word of every displayName")
    p.add_argument("--out", required=True)
    a = p.parse_args()
    core_u = "urn:ietf:params:scim:schemas:core:2.0:User"
    core_g = "urn:ietf:params:scim:schemas:core:2.0:Group"
    users = [{"schemas": [core_u], "id": "u-%04d" % i, "userName": "user%04d" % i,
              "displayName": "%s User %04d" % (a.gecos, i), "active": True,
              "meta": {"resourceType": "User"}} for i in range(1, a.users + 1)]
    groups = []
    for g in range(1, a.groups + 1):
        members = [{"value": users[(g * 7 + k) % len(users)]["id"], "type": "User"}
                   for k in range(min(a.members, len(users)))] if users else []
        groups.append({"schemas": [core_g], "id": "g-%03d" % g, "displayName": "team%03d" % g,
                       "members": members, "meta": {"resourceType": "Group"}})
    with open(a.out, "w") as f:
        json.dump({"Users": users, "Groups": groups}, f, indent=1)


if __name__ == "__main__":
    main()
