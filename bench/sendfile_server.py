#!/usr/bin/env python3
"""The "plain loopback copy" reference for the blob GET scenario.

  sendfile_server.py FILE    listens on 127.0.0.1:<free port>, prints the port, then answers
                             every HTTP request with `200 OK` + FILE, sent with
                             socket.sendfile (kernel sendfile(2): page cache -> socket, no
                             user-space copy).

The client is the same `curl -o /dev/null` used against the registries, so the reference
includes the same HTTP framing, TCP loopback path and receiver cost; it is the ceiling a
registry streaming a page-cached file over HTTP/1.1 on this machine can reach. One
connection at a time, which is all the benchmark needs.
"""
import os
import socket
import sys


def main(path):
    size = os.path.getsize(path)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    print(srv.getsockname()[1], flush=True)
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n").encode()
    while True:
        conn, _ = srv.accept()
        with conn:
            req = b""
            while b"\r\n\r\n" not in req:
                got = conn.recv(4096)
                if not got:
                    break
                req += got
            else:
                conn.sendall(head)
                with open(path, "rb") as f:
                    conn.sendfile(f)


if __name__ == "__main__":
    main(sys.argv[1])
