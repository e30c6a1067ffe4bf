#!/usr/bin/env python3
"""A small SCIM 2.0 service provider for scim-refreshd's tests (python3 stdlib only).

Serves GET <base>/Users, <base>/Groups and <base>/Users/{id}, <base>/Groups/{id} over HTTPS (HTTP/1.1 keep-alive, gzip when asked)
from a directory, with index paging (startIndex/count), RFC 9865 cursor paging, and fault
injection driven by a control file that the test rewrites between syncs.

  scim_server.py --data PATH --certdir DIR --port-file F [--token-file F] [--control F]
                 [--log F] [--base /scim/v2] [--max-seconds N]
  scim_server.py --certs-only --certdir DIR --data X --port-file X   (certificates only)

--data      seed.json ({"Users": [...], "Groups": [...]}) or a directory holding seed.json or
            Users*.json / Groups*.json (each a ListResponse or one resource).  Re-read when its
            modification time changes, so a test edits the directory between syncs.
--certdir   ca.pem, server.pem, server.key; generated here with openssl when missing
            (CA + a server certificate for 127.0.0.1 and localhost).
--port-file the listening port is written here once the server accepts connections.
--token-file  the bearer token expected; anything else gets a SCIM 401.
--log       one JSON line per request: method, path, query, whether the token matched, Accept,
            User-Agent, Accept-Encoding, the client's port (connection reuse), status, bytes.
--max-seconds the server exits by itself after this long (tests never leave it behind).
--latency   seconds every request waits before it is answered (a real server's latency; the
            control file's "latency" overrides it).

The control file is JSON, re-read whenever it changes (hit counters restart then):
  {"paging": "index" | "cursor" | "cursor-strict",   # cursor-strict: 400 when startIndex is sent
   "max_page": N,              # cap the page size whatever count asks
   "omit_total": true,         # no totalResults (cursor servers, or with ignore_start)
   "ignore_start": true,       # index paging that always returns the first page (broken)
   "shrink_percent": 90,       # serve only the first (100-p)% of the users
   "empty": true,              # serve empty listings
   "attributes": "ignore" | "honour" | "mangle" | "refuse",
                               # attributes=a,b on /Users: ignore it (default), honour it (only
                               # those top-level keys, id and schemas), mangle it (honour it but
                               # drop extension objects too), or refuse it (400)
   "latency": S,               # every request waits S seconds before it is answered
   "hide": ["id", ...],        # left out of listings (and totalResults); GET by id still finds them
   "delete_after": {"resource": "Users", "page": N, "id": "..."},
                               # once page N has been served, the id is gone (listings and GET
                               # by id) until the control file changes: the offsets shift;
                               # "unhide": "id" also brings a hidden id into the listing then
   "faults": [ {"resource": "Users"|"Groups"|"*", "page": N (1-based, default any; 0 is a GET by id),
                "pages": [N, ...] (any of these pages),
                "times": N (default: always), "kind": ...}, ... ]}
Fault kinds:
  status       "status": 500|503|429|401|403|..., "headers": {...}, "detail": "..."
  truncate     announce the full Content-Length, send half of the body, close
  invalid_json a complete response whose body is not JSON
  oversize     "bytes": N: a valid ListResponse padded to N bytes
  slow         "seconds": S before answering
  total_delta  "delta": D added to totalResults on the matching pages
  cursor_error "scimType": "expiredCursor"|"invalidCursor" (400) for a cursor request
  redirect     "location": URL (302)
  replace      "old": TEXT, "new": TEXT: the page's JSON text with its first
               "old" replaced (a key given twice, which no dict can hold)
"""

import argparse
import base64
import glob
import gzip
import http.server
import json
import os
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse

ERR = "urn:ietf:params:scim:api:messages:2.0:Error"
LR = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


def gen_certs(d):
    os.makedirs(d, exist_ok=True)
    ca, srv, key = (os.path.join(d, n) for n in ("ca.pem", "server.pem", "server.key"))
    if all(os.path.exists(p) for p in (ca, srv, key)):
        return
    try:
        gen_certs_in(d, ca, srv, key)
    finally:
        # scim-refreshd refuses a ca_file group or others may write (umask 002).
        if os.path.exists(ca):
            os.chmod(ca, 0o644)


def gen_certs_in(d, ca, srv, key):
    def run(*a):
        subprocess.run(a, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cakey = os.path.join(d, "ca.key")
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", cakey, "-out", ca,
        "-days", "2", "-subj", "/CN=scim-test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    csr = os.path.join(d, "server.csr")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
        "-subj", "/CN=localhost")
    ext = os.path.join(d, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", cakey, "-CAcreateserial",
        "-out", srv, "-days", "2", "-extfile", ext)


class Directory:
    """The served data, reloaded when the files change."""

    def __init__(self, path):
        self.path = path
        self.stamp = None
        self.users, self.groups = [], []
        self.lock = threading.Lock()

    def _files(self):
        if os.path.isfile(self.path):
            return [self.path]
        seed = os.path.join(self.path, "seed.json")
        if os.path.exists(seed):
            return [seed]
        return sorted(glob.glob(os.path.join(self.path, "Users*.json")) +
                      glob.glob(os.path.join(self.path, "Groups*.json")))

    def get(self):
        with self.lock:
            files = self._files()
            stamp = tuple((f, os.stat(f).st_mtime_ns, os.stat(f).st_size) for f in files)
            if stamp != self.stamp:
                users, groups = [], []
                for f in files:
                    with open(f) as fh:
                        doc = json.load(fh)
                    base = os.path.basename(f)
                    if base == "seed.json" or f == self.path and "Users" in doc:
                        users += doc.get("Users", [])
                        groups += doc.get("Groups", [])
                        continue
                    res = doc.get("Resources", doc.get("resources"))
                    items = res if res is not None else ([] if LR in doc.get("schemas", []) else [doc])
                    (users if base.startswith("Users") else groups).extend(items)
                self.users, self.groups, self.stamp = users, groups, stamp
            return self.users, self.groups


class Control:
    def __init__(self, path):
        self.path = path
        self.stamp = None
        self.doc = {}
        self.hits = {}
        self.deleted, self.revealed = set(), set()
        self.lock = threading.Lock()

    def get(self):
        with self.lock:
            if not self.path or not os.path.exists(self.path):
                if self.stamp is not None:
                    self.deleted, self.revealed = set(), set()
                self.doc, self.stamp = {}, None
                return self.doc
            st = os.stat(self.path)
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp != self.stamp:
                with open(self.path) as f:
                    text = f.read()
                self.doc = json.loads(text) if text.strip() else {}
                self.hits, self.stamp = {}, stamp
                self.deleted, self.revealed = set(), set()
            return self.doc

    def fault(self, resource, page, kinds):
        """The first fault matching this request that still has hits left (and count it)."""
        doc = self.get()
        with self.lock:
            for i, f in enumerate(doc.get("faults", [])):
                if f.get("kind") not in kinds:
                    continue
                if f.get("resource", "*") not in ("*", resource):
                    continue
                if "page" in f and f["page"] != page:
                    continue
                if "pages" in f and page not in f["pages"]:
                    continue
                if "times" in f and self.hits.get(i, 0) >= f["times"]:
                    continue
                self.hits[i] = self.hits.get(i, 0) + 1
                return f
        return None


def enc_cursor(offset):
    return base64.urlsafe_b64encode(("c%d" % offset).encode()).decode().rstrip("=")


def dec_cursor(c):
    try:
        s = base64.urlsafe_b64decode(c + "=" * (-len(c) % 4)).decode()
        return int(s[1:]) if s.startswith("c") else None
    except Exception:
        return None


def select_attributes(res, attrs, mangle):
    """A resource as a server returns it for attributes=attrs (RFC 7644 3.4.2.5)."""
    want = {"id", "schemas"}
    for a in attrs.split(","):
        a = a.strip()
        if a.lower().startswith("urn:"):
            want.add(a.rsplit(":", 1)[0].lower())     # the extension object's key
        else:
            want.add(a.split(".", 1)[0].lower())
    return {k: v for k, v in res.items()
            if k.lower() in want and not (mangle and k.lower().startswith("urn:"))}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scim-test-server/1"
    # Headers and body go out in two writes: with Nagle on, the body waits
    # for the client's delayed ACK (40 ms a request).
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # the JSON log replaces the default stderr chatter
        pass

    def _log(self, status, nbytes, auth):
        if not self.server.logf:
            return
        u = urllib.parse.urlsplit(self.path)
        rec = {"t": round(time.time(), 3), "method": self.command, "path": u.path, "query": u.query,
               "auth": auth, "accept": self.headers.get("Accept"),
               "ua": self.headers.get("User-Agent"), "ae": self.headers.get("Accept-Encoding"),
               "host": self.headers.get("Host"), "port": self.client_address[1],
               "status": status, "bytes": nbytes}
        for k, v in self.headers.items():
            if k.lower().startswith("x-"):
                rec.setdefault("x", {})[k] = v
        with self.server.log_lock:
            self.server.logf.write(json.dumps(rec) + "\n")
            self.server.logf.flush()

    def _send(self, status, body, headers=None, truncate=False, auth="ok", raw=False):
        data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
        ae = self.headers.get("Accept-Encoding") or ""
        hdrs = {"Content-Type": "application/scim+json"}
        if "gzip" in ae and len(data) > 64 and not raw:
            data = gzip.compress(data, 1)
            hdrs["Content-Encoding"] = "gzip"
        hdrs.update(headers or {})
        self.send_response(status)
        for k, v in hdrs.items():
            self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        try:
            if truncate:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
            else:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        self._log(status, len(data), auth)

    def _error(self, status, detail, scim_type=None, headers=None, auth="ok"):
        body = {"schemas": [ERR], "status": str(status), "detail": detail}
        if scim_type:
            body["scimType"] = scim_type
        self._send(status, body, headers, auth=auth)

    def do_GET(self):
        srv = self.server
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query, keep_blank_values=True))
        auth = "missing"
        got = self.headers.get("Authorization")
        if got is not None:
            auth = "ok" if got == "Bearer " + (srv.token or "") else "bad"
        if srv.token is not None and auth != "ok":
            return self._error(401, "Bad credentials", auth=auth)
        if not u.path.startswith(srv.base + "/"):
            return self._error(404, "no such endpoint", auth=auth)
        resource = u.path[len(srv.base) + 1:]
        rid = None
        if "/" in resource:
            resource, rid = resource.split("/", 1)
            rid = urllib.parse.unquote(rid)
        if resource not in ("Users", "Groups"):
            return self._error(404, "no such resource type", auth=auth)
        ctl = srv.control.get()
        latency = float(ctl.get("latency", srv.latency))
        if latency > 0:
            time.sleep(latency)
        users, groups = srv.directory.get()
        items = users if resource == "Users" else groups
        with srv.control.lock:
            gone = set(srv.control.deleted)
        if gone:
            items = [r for r in items if r.get("id") not in gone]
        # An empty or shrunk directory: gone from listings and GET by id alike.
        if ctl.get("empty"):
            items = []
        elif resource == "Users" and ctl.get("shrink_percent"):
            items = items[: len(items) * (100 - int(ctl["shrink_percent"])) // 100]
        if rid is not None:
            f = srv.control.fault(resource, 0, ("status",))
            if f:
                return self._error(int(f.get("status", 500)), f.get("detail", "injected failure"),
                                   f.get("scimType"), f.get("headers"))
            for r in items:
                if r.get("id") == rid:
                    return self._send(200, r)
            return self._error(404, "Resource %s not found" % rid)
        if ctl.get("hide"):
            with srv.control.lock:
                hidden = set(ctl["hide"]) - srv.control.revealed
            items = [r for r in items if r.get("id") not in hidden]
        paging = ctl.get("paging", "index")
        try:
            count = int(q.get("count", "100"))
        except ValueError:
            return self._error(400, "count is not a number", "invalidValue")
        if ctl.get("max_page"):
            count = min(count, int(ctl["max_page"]))
        count = max(count, 0)
        cursor_mode = "cursor" in q or paging.startswith("cursor")
        if paging == "cursor-strict" and "startIndex" in q:
            return self._error(400, "this provider pages with cursors only", "invalidValue")
        if cursor_mode:
            offset = 0
            if q.get("cursor"):
                offset = dec_cursor(q["cursor"])
                if offset is None:
                    return self._error(400, "cursor not recognised", "invalidCursor")
        elif ctl.get("ignore_start"):
            offset = 0          # a broken server: always the first page
        else:
            try:
                offset = max(int(q.get("startIndex", "1")), 1) - 1
            except ValueError:
                return self._error(400, "startIndex is not a number", "invalidValue")
        page = offset // count + 1 if count else 1

        f = srv.control.fault(resource, page, ("cursor_error",)) if q.get("cursor") else None
        if f:
            return self._error(400, "cursor is no longer valid", f.get("scimType", "expiredCursor"))
        f = srv.control.fault(resource, page, ("status", "truncate", "invalid_json", "oversize",
                                              "slow", "redirect", "replace"))
        if f and f["kind"] == "slow":
            # Logged before the wait, so a test knows a transfer is under way.
            self._log("slow", 0, auth)
            time.sleep(float(f.get("seconds", 5)))
            f = None
        if f and f["kind"] == "status":
            st = int(f.get("status", 500))
            return self._error(st, f.get("detail", "injected failure"), f.get("scimType"),
                               f.get("headers"))
        if f and f["kind"] == "redirect":
            return self._send(302, {"detail": "moved"}, {"Location": f["location"]})
        if f and f["kind"] == "invalid_json":
            return self._send(200, b'{"schemas":["' + LR.encode() + b'"],"totalResults":3,"Resources":[{"id":"x",}')

        chunk = items[offset: offset + count]
        if resource == "Users" and q.get("attributes") is not None:
            mode = ctl.get("attributes", "ignore")
            if mode == "refuse":
                return self._error(400, "attributes is not supported", "invalidValue")
            if mode != "ignore":
                chunk = [select_attributes(r, q["attributes"], mode == "mangle") for r in chunk]
        body = {"schemas": [LR], "itemsPerPage": len(chunk), "Resources": chunk}
        if not ((cursor_mode or ctl.get("ignore_start")) and ctl.get("omit_total")):
            total = len(items)
            d = srv.control.fault(resource, page, ("total_delta",))
            if d:
                total += int(d.get("delta", 1))
            body["totalResults"] = total
        if cursor_mode:
            if offset + len(chunk) < len(items):
                body["nextCursor"] = enc_cursor(offset + len(chunk))
            if offset:
                body["previousCursor"] = enc_cursor(max(offset - count, 0))
        else:
            body["startIndex"] = offset + 1
        if f and f["kind"] == "oversize":
            body["padding"] = "x" * int(f.get("bytes", 2 << 20))
        da = ctl.get("delete_after")
        if da and da.get("resource", "Users") == resource and da.get("page") == page:
            with srv.control.lock:
                srv.control.deleted.add(da["id"])
                if da.get("unhide"):
                    srv.control.revealed.add(da["unhide"])
        if f and f["kind"] == "replace":
            # Text no dict can hold (a key given twice): the page's JSON
            # with the first "old" replaced by "new".
            text = json.dumps(body, separators=(",", ":"))
            return self._send(200, text.replace(f["old"], f["new"], 1).encode())
        # Padding compresses to nothing: an oversize body goes out uncompressed.
        return self._send(200, body, truncate=bool(f and f["kind"] == "truncate"),
                          raw=bool(f and f["kind"] == "oversize"))

    def do_POST(self):
        self._error(501, "read-only test server")

    do_PUT = do_PATCH = do_DELETE = do_POST


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser(description="SCIM test server")
    p.add_argument("--data", required=True)
    p.add_argument("--certdir", required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--token-file")
    p.add_argument("--control")
    p.add_argument("--log")
    p.add_argument("--base", default="/scim/v2")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--max-seconds", type=float, default=600)
    p.add_argument("--latency", type=float, default=0)
    p.add_argument("--certs-only", action="store_true", help="make the certificates and exit")
    a = p.parse_args()

    gen_certs(a.certdir)
    if a.certs_only:
        return 0
    srv = Server((a.bind, a.port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(a.certdir, "server.pem"), os.path.join(a.certdir, "server.key"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.base = a.base.rstrip("/")
    srv.token = None
    srv.latency = a.latency
    if a.token_file:
        with open(a.token_file) as f:
            srv.token = f.read().strip()
    srv.directory = Directory(a.data)
    srv.directory.get()
    srv.control = Control(a.control)
    srv.logf = open(a.log, "a") if a.log else None
    srv.log_lock = threading.Lock()

    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, a.port_file)
    threading.Timer(a.max_seconds, lambda: os._exit(0)).start()
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
