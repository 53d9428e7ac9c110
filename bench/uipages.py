#!/usr/bin/env python3
"""uipages.py: the browser side of bench/ui.

  uipages.py sign-in BASE USER PASSWORD
      GET /ui/sign-in (its berth_signin cookie and the form's csrf), POST /ui/sign-in with
      them; prints the berth_session cookie's value.
  uipages.py time BASE PATH N SESSION MARKER COUNT
      GETs PATH once on a keep-alive connection (the warm-up), then N times more on it, as a
      browser holding berth_session=SESSION does; every answer must be 200 and its body must
      hold MARKER exactly COUNT times (the rows the page should show). Prints the median and
      the 95th percentile of the N times to the last byte, in ms, and the body's size.
  uipages.py histogram BEFORE AFTER ROUTE METHOD
      From two /metrics texts: what berth_http_request_duration_seconds{route, method} gained
      in between: the mean in ms (sum / count), and the upper bounds of the buckets holding
      the median and the 95th percentile, in ms; and how many observations.
"""
import http.client
import re
import sys
import time
import urllib.parse


def conn(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=120)


def cookie_of(response, name):
    for k, v in response.getheaders():
        if k.lower() == "set-cookie" and v.startswith(name + "="):
            return v.split(";", 1)[0].split("=", 1)[1]
    sys.exit(f"uipages.py: the answer set no {name} cookie")


def sign_in(base, user, password):
    c = conn(base)
    c.request("GET", "/ui/sign-in")
    r = c.getresponse()
    page = r.read().decode()
    if r.status != 200:
        sys.exit(f"uipages.py: GET /ui/sign-in answered {r.status}")
    nonce = cookie_of(r, "berth_signin")
    m = re.search(r'name="csrf" value="([^"]+)"', page)
    if not m:
        sys.exit("uipages.py: the sign-in form carries no csrf field")
    form = urllib.parse.urlencode({"csrf": m.group(1), "username": user, "password": password})
    c.request("POST", "/ui/sign-in", body=form, headers={
        "Content-Type": "application/x-www-form-urlencoded", "Cookie": f"berth_signin={nonce}"})
    r = c.getresponse()
    body = r.read()
    if r.status not in (302, 303):
        sys.exit(f"uipages.py: POST /ui/sign-in answered {r.status}: {body[:300]!r}")
    print(cookie_of(r, "berth_session"))


def percentile(sorted_values, p):
    """The nearest-rank percentile p (0-100) of sorted values."""
    k = max(0, min(len(sorted_values) - 1, -(-len(sorted_values) * p // 100) - 1))
    return sorted_values[int(k)]


def timed(base, path, n, session, marker, count):
    c = conn(base)
    h = {"Cookie": f"berth_session={session}", "Accept": "text/html"}

    def once():
        t0 = time.perf_counter()
        c.request("GET", path, headers=h)
        r = c.getresponse()
        body = r.read()
        dt = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            sys.exit(f"uipages.py: GET {path} answered {r.status}: {body[:300]!r}")
        return dt, body

    _, body = once()
    seen = body.count(marker.encode())
    if seen != count:
        sys.exit(f"uipages.py: GET {path} shows {marker!r} {seen} times, not {count}")
    times = sorted(once()[0] for _ in range(n))
    median = times[len(times) // 2] if len(times) % 2 else (times[len(times) // 2 - 1] + times[len(times) // 2]) / 2
    print(f"{median:.3f} {percentile(times, 95):.3f} {len(body)}")


def buckets(text, route, method):
    """(cumulative [(le, count)], sum, count) of the duration histogram for route and method."""
    labels = f'method="{method}",route="{route}"'
    alt = f'route="{route}",method="{method}"'
    out, total, n = [], 0.0, 0
    for line in text.splitlines():
        if not line.startswith("berth_http_request_duration_seconds") or (labels not in line and alt not in line):
            continue
        name, value = line.rsplit(" ", 1)
        if name.startswith("berth_http_request_duration_seconds_bucket"):
            le = re.search(r'le="([^"]+)"', name).group(1)
            out.append((float("inf") if le == "+Inf" else float(le), float(value)))
        elif name.startswith("berth_http_request_duration_seconds_sum"):
            total = float(value)
        elif name.startswith("berth_http_request_duration_seconds_count"):
            n = int(float(value))
    return sorted(out), total, n


def histogram(before, after, route, method):
    b, bsum, bn = buckets(open(before).read(), route, method)
    a, asum, an = buckets(open(after).read(), route, method)
    was = dict(b)
    gained = [(le, c - was.get(le, 0)) for le, c in a]
    n = an - bn
    if n <= 0:
        sys.exit(f"uipages.py: no {method} {route} request was observed between the two /metrics texts")

    def bound(p):
        for le, c in gained:
            if c >= n * p / 100:
                return le * 1000
        return float("inf")

    print(f"{(asum - bsum) / n * 1000:.3f} {bound(50):.3f} {bound(95):.3f} {n}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "sign-in":
        sign_in(*args)
    elif cmd == "time":
        timed(args[0], args[1], int(args[2]), args[3], args[4], int(args[5]))
    elif cmd == "histogram":
        histogram(*args)
    else:
        sys.exit(__doc__)
