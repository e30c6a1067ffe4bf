#!/usr/bin/env python3
"""A minimal HTTP CONNECT proxy for tests (python3 stdlib): tunnels to any
127.0.0.1 port, logs one line per CONNECT target, refuses everything else.

  connect_proxy.py --port-file F --log F [--max-seconds N]
"""
import argparse
import os
import select
import socket
import socketserver
import threading


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        line = self.rfile.readline(4096).decode("latin-1").strip()
        while True:  # the rest of the request head
            h = self.rfile.readline(4096)
            if h in (b"\r\n", b"\n", b""):
                break
        parts = line.split()
        with self.server.lock:
            with open(self.server.log, "a") as f:
                f.write(line + "\n")
        if len(parts) < 2 or parts[0] != "CONNECT" or not parts[1].startswith("127.0.0.1:"):
            self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
            return
        up = socket.create_connection(("127.0.0.1", int(parts[1].split(":")[1])), timeout=30)
        self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.wfile.flush()
        a, b = self.connection, up
        try:
            while True:
                r, _, _ = select.select([a, b], [], [], 30)
                if not r:
                    return
                for s in r:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        finally:
            up.close()


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--max-seconds", type=float, default=300)
    a = p.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.log, srv.lock = a.log, threading.Lock()
    with open(a.port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(a.port_file + ".tmp", a.port_file)
    threading.Timer(a.max_seconds, lambda: os._exit(0)).start()
    srv.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
