#!/usr/bin/env python3
"""report.py RAW JSON [SET]: turns a benchmark's raw measurements into the table (stdout) and JSON.

RAW has one measurement per line, `KEY VALUE`; a key repeated over repetitions is reduced
to its median. Lines `meta.NAME TEXT...` are copied into the JSON as run information.
The scenario rows, their ratios and the targets are defined here, per SET: "run" (the
default: bench/run, issues #2, #3, #4 and 12, in ROWS), "pull-through" (bench/pull-through,
issue 14, in PULL_THROUGH_ROWS), "federation" (bench/federation, issue 15, in FEDERATION_ROWS)
or "ui" (bench/ui, issue 16, in UI_ROWS).
"""
import json
import statistics
import sys

# (label, unit, berth key, reference key, ratio, comparison, target)
#   ratio "b/r": Berth / reference (bigger-is-better figures like req/s, or RSS where
#   smaller is better); "r/b": reference / Berth (times: > 1 means Berth is faster);
#   "pct": Berth as a percentage of the reference; "abs": the target applies to Berth's own
#   figure (the reference, if any, is shown beside it, with no ratio). A row without a target is
#   information ("info").
ROWS = [
    ("1. manifest GET c=16 throughput", "req/s", "m16.rps.berth", "m16.rps.dist", "b/r", ">=", 10.0),
    ("1. manifest GET c=16 p99 latency", "ms", "m16.p99.berth", "m16.p99.dist", "b/r", "<=", 0.2),
    ("1. manifest GET c=64 throughput", "req/s", "m64.rps.berth", "m64.rps.dist", "b/r", ">=", 10.0),
    ("1. manifest GET c=64 p99 latency", "ms", "m64.p99.berth", "m64.p99.dist", "b/r", "<=", 0.2),
    ("2. blob GET 256 MiB", "MB/s", "blob.mbps.berth", "blob.mbps.dist", "b/r", ">=", 1.0),
    ("2. blob GET vs plain sendfile copy (ref)", "MB/s", "blob.mbps.berth", "blob.mbps.plain", "pct", ">=", 85.0),
    ("3. skopeo push 1 GiB (dist/Berth)", "s", "push.s.berth", "push.s.dist", "r/b", ">=", 1.0),
    ("3. skopeo pull 1 GiB (dist/Berth)", "s", "pull.s.berth", "pull.s.dist", "r/b", ">=", 1.0),
    ("4. 8 concurrent pulls, wall (dist/Berth)", "s", "pull8.s.berth", "pull8.s.dist", "r/b", ">=", 1.0),
    ("4. 8 concurrent pulls, peak RSS (VmHWM)", "MiB", "pull8.hwm.berth", "pull8.hwm.dist", "b/r", "<=", 0.125),
    ("4. 8 concurrent pulls, sampled peak RSS", "MiB", "pull8.sampled_peak.berth", "pull8.sampled_peak.dist", "b/r", None, None),
    ("5. idle RSS after start", "MiB", "idle.start.berth", "idle.start.dist", "b/r", "<=", 1.0),
    ("5. idle RSS after the scenarios", "MiB", "idle.after.berth", "idle.after.dist", "b/r", "<=", 1.0),
    # Issue 12: an absolute bound on a fresh server's idle RSS (the main one at start, and
    # each fresh process of scenario 4 before its pulls).
    ("5. idle RSS after start (absolute)", "MiB", "idle.start.berth", None, "abs", "<=", 12.0),
    ("5. idle RSS, fresh restart (absolute)", "MiB", "idle.restart.berth", None, "abs", "<=", 12.0),
    # Issue #3: Berth with a Bearer token from /oauth2/token, distribution with htpasswd
    # (bcrypt) and Basic on every request.
    ("6. auth manifest GET c=16 throughput", "req/s", "m16auth.rps.berth", "m16auth.rps.dist", "b/r", ">=", 20.0),
    ("6. auth manifest GET c=16 p99 latency", "ms", "m16auth.p99.berth", "m16auth.p99.dist", "b/r", "<=", 0.2),
    ("7. token issuance c=16, Basic", "tok/s", "tok.rps.berth", None, "abs", ">=", 5000.0),
    ("7. token issuance c=16, Basic, p99", "ms", "tok.p99.berth", None, "abs", None, None),
    ("7. token issuance vs no-credential token", "tok/s", "tok.rps.berth", "tokanon.rps.berth", "pct", None, None),
    # Issue #4: Berth's client against skopeo, same registry (Berth); times, so r/b = skopeo/berth.
    ("8. push 20 x 5 MiB (skopeo/berth copy)", "s", "client.push.layers20.berth", "client.push.layers20.skopeo", "r/b", ">=", 1.5),
    ("8. pull 20 x 5 MiB (skopeo/berth copy)", "s", "client.pull.layers20.berth", "client.pull.layers20.skopeo", "r/b", ">=", 1.5),
    ("8. push 20 x 5 MiB into a new repository (skopeo/berth copy)", "s", "client.repush.layers20.berth", "client.repush.layers20.skopeo", "r/b", ">=", 1.0),
    ("8. push 1 GiB (skopeo/berth copy)", "s", "client.push.big.berth", "client.push.big.skopeo", "r/b", ">=", 1.0),
    ("8. push 1 GiB into a new repository (skopeo/berth copy)", "s", "client.repush.big.berth", "client.repush.big.skopeo", "r/b", ">=", 1.0),
    ("8. pull 1 GiB (skopeo/berth copy)", "s", "client.pull.big.berth", "client.pull.big.skopeo", "r/b", ">=", 1.0),
    # No target: server CPU time (utime+stime from /proc/PID/stat) spent on each scenario,
    # which explains the figures above and is less disturbed by other load than wall time.
    ("cpu: manifest GET c=16, per request", "us", "m16.cpu_us.berth", "m16.cpu_us.dist", "b/r", None, None),
    ("cpu: manifest GET c=64, per request", "us", "m64.cpu_us.berth", "m64.cpu_us.dist", "b/r", None, None),
    ("cpu: blob GET 256 MiB (ref = sendfile)", "ms", "blob.cpu_ms.berth", "blob.cpu_ms.plain", "b/r", None, None),
    ("cpu: blob GET 256 MiB", "ms", "blob.cpu_ms.berth", "blob.cpu_ms.dist", "b/r", None, None),
    ("cpu: skopeo push 1 GiB", "s", "push.cpu.berth", "push.cpu.dist", "b/r", None, None),
    ("cpu: skopeo pull 1 GiB", "s", "pull.cpu.berth", "pull.cpu.dist", "b/r", None, None),
    ("cpu: 8 concurrent pulls (whole process)", "s", "pull8.cpu.berth", "pull8.cpu.dist", "b/r", None, None),
    ("cpu: auth manifest GET c=16, per request", "us", "m16auth.cpu_us.berth", "m16auth.cpu_us.dist", "b/r", None, None),
    ("cpu: token, Basic (ref = no credential)", "us", "tok.cpu_us.berth", "tokanon.cpu_us.berth", "b/r", None, None),
    ("ctx switches per token (ref = no cred.)", "n", "tok.ctxsw.berth", "tokanon.ctxsw.berth", "b/r", None, None),
]

# Issue 14: Berth's pull-through cache and distribution in proxy mode, in front of the same
# upstream; "upstream" figures are what the upstream's access log shows it sent.
PULL_THROUGH_ROWS = [
    ("1. cold pull 20 x 5 MiB (dist/Berth)", "s", "cold.s.berth", "cold.s.dist", "r/b", ">=", 1.5),
    ("1. warm pull 20 x 5 MiB (dist/Berth)", "s", "warm.s.berth", "warm.s.dist", "r/b", ">=", 1.5),
    ("1. cold pull: upstream bytes / image size", "x", "cold.up.berth", "cold.up.dist", "abs", None, None),
    ("1. warm pull: upstream requests", "n", "warm.upreq.berth", "warm.upreq.dist", "abs", None, None),
    ("2. cold 256 MiB blob: first byte (dist/Berth)", "s", "ttfb.s.berth", "ttfb.s.dist", "r/b", None, None),
    ("2. cold 256 MiB blob: whole blob (dist/Berth)", "s", "blob.s.berth", "blob.s.dist", "r/b", None, None),
    ("2. cold 256 MiB blob: first byte / whole blob", "x", "ttfb.frac.berth", "ttfb.frac.dist", "abs", "<=", 0.1),
    ("3. 16 concurrent cold pulls: upstream bytes / image size", "x", "pull16.up.berth", "pull16.up.dist", "abs", "<=", 1.05),
    ("3. 16 concurrent cold pulls: upstream MiB (dist/Berth)", "MiB", "pull16.mib.berth", "pull16.mib.dist", "r/b", None, None),
    ("3. 16 concurrent cold pulls: wall (dist/Berth)", "s", "pull16.s.berth", "pull16.s.dist", "r/b", None, None),
    ("3. berth_cache_fetched_bytes / upstream's count", "x", "pull16.metric.berth", None, "abs", None, None),
]

# Issue 15: the federated exchange (wrk, warm JWKS) and the kubelet credential provider (a
# fresh process per call; the reference is the same call with static credentials).
FEDERATION_ROWS = [
    ("1. token exchanges, warm JWKS", "req/s", "exchange.rps.berth", None, "abs", ">=", 2000.0),
    ("1. token exchange p99 latency", "ms", "exchange.p99.berth", None, "abs", None, None),
    ("1. issuer JWKS fetches during the run", "n", "exchange.jwks_fetches.berth", None, "abs", "<=", 0.0),
    ("2. credential provider call, token (ref = static creds)", "ms", "provider.token.berth", "provider.static.berth", "b/r", None, None),
    ("2. credential provider call, other host (process only)", "ms", "provider.exec.berth", None, "abs", None, None),
    ("2. provider call with a token, minus the process alone", "ms", "provider.added.berth", None, "abs", None, None),
    ("cpu: token exchange, per request", "us", "exchange.cpu_us.berth", None, "abs", None, None),
    ("ctx switches per exchange", "n", "exchange.ctxsw.berth", None, "abs", None, None),
]

# Issue 16: the web UI's pages, on each backend: the client's time to the last byte (median,
# p95) against 50 ms; beside it the server's own request-duration histogram over the same
# requests (mean; upper bound of the p95 bucket). The ratios compare the 10,000-tag
# repository's first page with a small repository's.
UI_PAGES = [
    ("list", "GET /ui/ (1,004 repositories, first 100)"),
    ("search", "GET /ui/?q=r05 (100 matches)"),
    ("tags10k", "tags, 10,000-tag repo, first page"),
    ("tags10k_later", "tags, 10,000-tag repo, after=t05000"),
    ("tags100", "tags, 100-tag repo (same 100 rows)"),
    ("tags10", "tags, 10-tag repo"),
]
UI_ROWS = [
    row
    for db in ("sqlite", "postgres")
    for key, label in UI_PAGES
    for row in (
        (f"{db}: {label}, median", "ms", f"{key}.med.{db}", f"{key}.srv.{db}", "abs", "<=", 50.0),
        (f"{db}: {label}, p95", "ms", f"{key}.p95.{db}", f"{key}.srvp95.{db}", "abs", "<=", 50.0),
    )
] + [
    row
    for db in ("sqlite", "postgres")
    for row in (
        (f"{db}: 10,000-tag first page / 10-tag page", "ms", f"tags10k.med.{db}", f"tags10.med.{db}", "b/r", None, None),
        (f"{db}: 10,000-tag first page / 100-tag page", "ms", f"tags10k.med.{db}", f"tags100.med.{db}", "b/r", "<=", 1.25),
        (f"{db}: seeding through the OCI API", "s", f"seed.s.{db}", None, "abs", None, None),
    )
]


def ui_reference_is(label, rk):
    if rk is None:
        return None
    if ".srv" in rk:
        return "server's berth_http_request_duration_seconds over the same requests (time to headers): mean; p95 bucket bound"
    return "the same page of a small repository"


def federation_reference_is(label, rk):
    return None if rk is None else "the same provider call with static credentials (--credentials-file, password grant)"


def pull_through_reference_is(label, rk):
    return None if rk is None else "distribution 2.8.2 in proxy mode (proxy.remoteurl), same upstream"


def reference_is(label, rk):
    if rk is None:
        return None
    if rk.endswith(".plain"):
        return "plain sendfile copy"
    if rk.endswith(".skopeo"):
        return "skopeo copy 1.9 against the same Berth"
    if rk.startswith("tokanon."):
        return "Berth, token request without credentials"
    if rk.startswith("m16auth."):
        return "distribution 2.8.2 with htpasswd (bcrypt), Basic on every request"
    return "distribution 2.8.2"


def load(path):
    raw, meta = {}, {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition(" ")
            if not key:
                continue
            if key.startswith("meta."):
                meta[key[5:]] = value
            else:
                raw.setdefault(key, []).append(float(value))
    return raw, meta


def fmt(v):
    if v is None:
        return "-"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}"


# SET: (rows, the reference's description by row).
SETS = {
    "run": (ROWS, reference_is),
    "pull-through": (PULL_THROUGH_ROWS, pull_through_reference_is),
    "federation": (FEDERATION_ROWS, federation_reference_is),
    "ui": (UI_ROWS, ui_reference_is),
}


def main(raw_path, json_path, row_set="run"):
    raw, meta = load(raw_path)
    med = {k: statistics.median(v) for k, v in raw.items()}
    table, describe = SETS[row_set]
    rows = []
    for label, unit, bk, rk, mode, op, target in table:
        b, r = med.get(bk), med.get(rk) if rk else None
        ratio = None
        if mode != "abs" and b is not None and r is not None and b > 0 and r > 0:
            ratio = {"b/r": b / r, "r/b": r / b, "pct": 100.0 * b / r}[mode]
        judged = b if mode == "abs" else ratio
        ref = next((r for r in ("dist", "plain", "skopeo") if rk and rk.endswith("." + r)), "ref")
        ok = None if judged is None or op is None else (judged >= target if op == ">=" else judged <= target)
        rows.append({
            "scenario": label, "unit": unit, "berth": b, "reference": r,
            "reference_is": describe(label, rk),
            "ratio": ratio,
            "ratio_kind": None if rk is None or mode == "abs" else {"b/r": f"berth/{ref}", "r/b": f"{ref}/berth", "pct": f"% of {ref}"}[mode],
            "target": "-" if op is None else f"{op} {fmt(target) if mode == 'abs' else f'{target:g}'}{' %' if mode == 'pct' else ''}",
            "result": "info" if op is None else "-" if ok is None else ("PASS" if ok else "MISS"),
            "samples": {"berth": raw.get(bk, []), "reference": raw.get(rk, []) if rk else []},
        })
    w = max(len(r["scenario"]) for r in rows)
    head = f"{'scenario':<{w}}  {'unit':<5} {'Berth':>10} {'dist/ref':>10} {'ratio':>8}  {'target':<8} result"
    print(head)
    print("-" * len(head))
    for i, r in enumerate(rows):
        if r["scenario"].startswith(("cpu:", "ctx")) and not rows[i - 1]["scenario"].startswith(("cpu:", "ctx")):
            print("-" * len(head) + "\nserver CPU time (and context switches), for diagnosis (ratio Berth/other, no target)")
        ratio = "-" if r["ratio"] is None else (f"{r['ratio']:.1f}%" if r["ratio_kind"].startswith("% of") else f"{r['ratio']:.3g}x")
        print(f"{r['scenario']:<{w}}  {r['unit']:<5} {fmt(r['berth']):>10} {fmt(r['reference']):>10} "
              f"{ratio:>8}  {r['target']:<8} {r['result']}")
    with open(json_path, "w") as f:
        json.dump({"meta": meta, "rows": rows, "medians": med, "raw": raw}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
