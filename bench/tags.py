#!/usr/bin/env python3
"""tags.py: the tags-list scenario of bench/scaleout.

  tags.py put BASE REPO N [USER:PASSWORD]   tags the manifest already under REPO:v1 as t00000..tN
                                            (PUT by tag, one keep-alive connection)
  tags.py repos BASE REPO N [USER:PASSWORD] makes N repositories r0000..rN, each REPO:v1 by
                                            mounting its blobs and PUTting its manifest
  tags.py time URL REPS [CREDS]             GETs URL once, then REPS times on the same
                                            keep-alive connection, as a client listing tags
                                            does; prints the first time and the median of the
                                            rest, in seconds (CREDS: USER:PASSWORD or "Bearer TOKEN")
"""
import json
import base64
import http.client
import statistics
import sys
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


def put(base, repo, n, creds=None):
    c = conn(base)
    body, ctype = source(c, repo, creds)
    h = headers(creds)
    h["Content-Type"] = ctype
    for i in range(n):
        c.request("PUT", f"/v2/{repo}/manifests/t{i:05d}", body=body, headers=h)
        r = c.getresponse()
        r.read()
        if r.status != 201:
            sys.exit(f"tags.py: PUT tag {i} answered {r.status}")


def repos(base, repo, n, creds=None):
    c = conn(base)
    body, ctype = source(c, repo, creds)
    m = json.loads(body)
    digests = [m["config"]["digest"]] + [layer["digest"] for layer in m["layers"]]
    h = headers(creds)
    for i in range(n):
        for d in digests:
            c.request("POST", f"/v2/r{i:04d}/blobs/uploads/?mount={d}&from={repo}", headers=h)
            r = c.getresponse()
            r.read()
            if r.status != 201:
                sys.exit(f"tags.py: mount into r{i:04d} answered {r.status}")
        c.request("PUT", f"/v2/r{i:04d}/manifests/v1", body=body, headers={**h, "Content-Type": ctype})
        r = c.getresponse()
        r.read()
        if r.status != 201:
            sys.exit(f"tags.py: PUT r{i:04d}:v1 answered {r.status}")


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


if __name__ == "__main__":
    if sys.argv[1] in ("put", "repos"):
        make = put if sys.argv[1] == "put" else repos
        make(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] if len(sys.argv) > 5 else None)
    else:
        timed(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None)
