#!/usr/bin/env python3
"""tags.py: the tags-list scenario of bench/scaleout, and the seeding of bench/ui.

  tags.py push BASE LAYOUT REPO [USER:PASSWORD]
                                            pushes the image of OCI layout LAYOUT (mkimage.py
                                            layout) as REPO:v1: each blob in one monolithic
                                            POST ?digest=, then the manifest
  tags.py put BASE REPO N [USER:PASSWORD]   tags the manifest already under REPO:v1 as t00000..tN
                                            (PUT by tag, one keep-alive connection)
  tags.py repos BASE REPO N [USER:PASSWORD] makes N repositories r0000..rN, each REPO:v1 by
                                            mounting its blobs and PUTting its manifest
  tags.py time URL REPS [CREDS]             GETs URL once, then REPS times on the same
                                            keep-alive connection, as a client listing tags
                                            does; prints the first time and the median of the
                                            rest, in seconds (CREDS: USER:PASSWORD or "Bearer TOKEN")

Options of put and repos (before the positional arguments), for bench/ui:
  --threads K   K keep-alive connections at once, each doing every K-th item (default 1)
  --distinct    put: each tag its own manifest (REPO:v1's with an annotation naming the tag),
                as CI tags usually are, instead of one manifest under every tag
  --tags K      repos: tags v1..vK in each repository (default 1: v1 only)
"""
import json
import base64
import http.client
import statistics
import sys
import os
import threading
import time
import urllib.parse

ACCEPT = "application/vnd.oci.image.manifest.v1+json"


def conn(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=300)


def headers(creds):
    """`USER:PASSWORD` becomes Basic; `Bearer TOKEN` is sent as it is."""
    h = {"Accept": ACCEPT}
    if creds and creds.startswith("Bearer "):
        h["Authorization"] = creds
    elif creds:
        h["Authorization"] = "Basic " + base64.b64encode(creds.encode()).decode()
    return h


def source(c, repo, creds):
    """The manifest under REPO:v1 and its media type."""
    c.request("GET", f"/v2/{repo}/manifests/v1", headers=headers(creds))
    r = c.getresponse()
    body, ctype = r.read(), r.getheader("Content-Type")
    if r.status != 200:
        sys.exit(f"tags.py: GET {repo}:v1 answered {r.status}")
    return body, ctype


def parallel(threads, n, work):
    """Runs work(conn_index, i) for i in 0..n over `threads` threads, thread k doing i = k,
    k + threads, ...; exits with the first failure."""
    errors = []

    def run(k):
        try:
            for i in range(k, n, threads):
                if errors:
                    return
                work(k, i)
        except BaseException as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        e = errors[0]
        sys.exit(e.code if isinstance(e, SystemExit) else f"tags.py: {e!r}")


def send(c, method, path, body=None, headers=None, want=201):
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    if r.status != want:
        sys.exit(f"tags.py: {method} {path} answered {r.status}: {data[:300]!r}")
    return r


def push(base, layout, repo, creds=None):
    c = conn(base)
    h = headers(creds)
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)["manifests"][0]
    blobs = os.path.join(layout, "blobs", "sha256")
    with open(os.path.join(blobs, top["digest"].split(":", 1)[1]), "rb") as f:
        body = f.read()
    m = json.loads(body)
    for d in [m["config"]["digest"]] + [layer["digest"] for layer in m["layers"]]:
        with open(os.path.join(blobs, d.split(":", 1)[1]), "rb") as f:
            data = f.read()
        send(c, "POST", f"/v2/{repo}/blobs/uploads/?digest={d}", data,
             {**h, "Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
    send(c, "PUT", f"/v2/{repo}/manifests/v1", body, {**h, "Content-Type": top["mediaType"]})


def put(base, repo, n, creds=None, threads=1, distinct=False):
    body, ctype = source(conn(base), repo, creds)
    h = headers(creds)
    h["Content-Type"] = ctype
    conns = [conn(base) for _ in range(threads)]
    m = json.loads(body)

    def one(k, i):
        tag = f"t{i:05d}"
        b = body
        if distinct:
            b = json.dumps({**m, "annotations": {"bench.tag": tag}}, separators=(",", ":")).encode()
        send(conns[k], "PUT", f"/v2/{repo}/manifests/{tag}", b, h)

    parallel(threads, n, one)


def repos(base, repo, n, creds=None, threads=1, tags=1):
    body, ctype = source(conn(base), repo, creds)
    m = json.loads(body)
    digests = [m["config"]["digest"]] + [layer["digest"] for layer in m["layers"]]
    h = headers(creds)
    conns = [conn(base) for _ in range(threads)]

    def one(k, i):
        c = conns[k]
        for d in digests:
            send(c, "POST", f"/v2/r{i:04d}/blobs/uploads/?mount={d}&from={repo}", headers=h)
        for t in range(1, tags + 1):
            send(c, "PUT", f"/v2/r{i:04d}/manifests/v{t}", body, {**h, "Content-Type": ctype})

    parallel(threads, n, one)


def timed(url, reps, creds=None):
    u = urllib.parse.urlparse(url)
    path = u.path + ("?" + u.query if u.query else "")
    c = conn(f"{u.scheme}://{u.netloc}")
    h = headers(creds)

    def once():
        t0 = time.perf_counter()
        c.request("GET", path, headers=h)
        r = c.getresponse()
        r.read()
        elapsed = time.perf_counter() - t0
        if r.status != 200:
            sys.exit(f"tags.py: GET {url} answered {r.status}")
        return elapsed

    first = once()
    print(f"{first:.6f} {statistics.median(once() for _ in range(reps)):.6f}")


def options(args):
    """The --threads/--distinct/--tags options before the positional arguments."""
    opts = {}
    while args and args[0].startswith("--"):
        flag = args.pop(0)
        if flag == "--distinct":
            opts["distinct"] = True
        elif flag in ("--threads", "--tags"):
            opts[flag[2:]] = int(args.pop(0))
        else:
            sys.exit(f"tags.py: unknown option {flag}\n{__doc__}")
    return opts, args


if __name__ == "__main__":
    cmd = sys.argv[1]
    opts, args = options(sys.argv[2:])
    if cmd == "push":
        push(args[0], args[1], args[2], args[3] if len(args) > 3 else None)
    elif cmd in ("put", "repos"):
        make = put if cmd == "put" else repos
        make(args[0], args[1], int(args[2]), args[3] if len(args) > 3 else None, **opts)
    elif cmd == "time":
        timed(args[0], int(args[1]), args[2] if len(args) > 2 else None)
    else:
        sys.exit(__doc__)
