#!/usr/bin/env python3
"""report.py RAW JSON: turns bench/run's raw measurements into the table (stdout) and JSON.

RAW has one measurement per line, `KEY VALUE`; a key repeated over repetitions is reduced
to its median. Lines `meta.NAME TEXT...` are copied into the JSON as run information.
The scenario rows, their ratios and the targets (from issue #2) are defined here, in ROWS.
"""
import json
import statistics
import sys

# (label, unit, berth key, reference key, ratio, comparison, target)
#   ratio "b/r": Berth / reference (bigger-is-better figures like req/s, or RSS where
#   smaller is better); "r/b": reference / Berth (times: > 1 means Berth is faster);
#   "pct": Berth as a percentage of the reference.
ROWS = [
    ("1. manifest GET c=16 throughput", "req/s", "m16.rps.berth", "m16.rps.dist", "b/r", ">=", 10.0),
    ("1. manifest GET c=16 p99 latency", "ms", "m16.p99.berth", "m16.p99.dist", "b/r", "<=", 0.2),
    ("1. manifest GET c=64 throughput", "req/s", "m64.rps.berth", "m64.rps.dist", "b/r", ">=", 10.0),
    ("1. manifest GET c=64 p99 latency", "ms", "m64.p99.berth", "m64.p99.dist", "b/r", "<=", 0.2),
    ("2. blob GET 256 MiB", "MB/s", "blob.mbps.berth", "blob.mbps.dist", "b/r", ">=", 1.0),
    ("2. blob GET vs plain sendfile copy (ref)", "MB/s", "blob.mbps.berth", "blob.mbps.plain", "pct", ">=", 80.0),
    ("3. skopeo push 1 GiB (dist/Berth)", "s", "push.s.berth", "push.s.dist", "r/b", ">=", 1.0),
    ("3. skopeo pull 1 GiB (dist/Berth)", "s", "pull.s.berth", "pull.s.dist", "r/b", ">=", 1.0),
    ("4. 8 concurrent pulls, wall (dist/Berth)", "s", "pull8.s.berth", "pull8.s.dist", "r/b", ">=", 1.0),
    ("4. 8 concurrent pulls, peak RSS (VmHWM)", "MiB", "pull8.hwm.berth", "pull8.hwm.dist", "b/r", "<=", 0.25),
    ("5. idle RSS after start", "MiB", "idle.start.berth", "idle.start.dist", "b/r", "<=", 1.0),
    ("5. idle RSS after the scenarios", "MiB", "idle.after.berth", "idle.after.dist", "b/r", "<=", 1.0),
    # No target: server CPU time (utime+stime from /proc/PID/stat) spent on each scenario,
    # which explains the figures above and is less disturbed by other load than wall time.
    ("cpu: manifest GET c=16, per request", "us", "m16.cpu_us.berth", "m16.cpu_us.dist", "b/r", None, None),
    ("cpu: manifest GET c=64, per request", "us", "m64.cpu_us.berth", "m64.cpu_us.dist", "b/r", None, None),
    ("cpu: blob GET 256 MiB (ref = sendfile)", "ms", "blob.cpu_ms.berth", "blob.cpu_ms.plain", "b/r", None, None),
    ("cpu: blob GET 256 MiB", "ms", "blob.cpu_ms.berth", "blob.cpu_ms.dist", "b/r", None, None),
    ("cpu: skopeo push 1 GiB", "s", "push.cpu.berth", "push.cpu.dist", "b/r", None, None),
    ("cpu: skopeo pull 1 GiB", "s", "pull.cpu.berth", "pull.cpu.dist", "b/r", None, None),
    ("cpu: 8 concurrent pulls (whole process)", "s", "pull8.cpu.berth", "pull8.cpu.dist", "b/r", None, None),
]


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


def main(raw_path, json_path):
    raw, meta = load(raw_path)
    med = {k: statistics.median(v) for k, v in raw.items()}
    rows = []
    for label, unit, bk, rk, mode, op, target in ROWS:
        b, r = med.get(bk), med.get(rk)
        ratio = None
        if b is not None and r is not None and b > 0 and r > 0:
            ratio = {"b/r": b / r, "r/b": r / b, "pct": 100.0 * b / r}[mode]
        ok = None if ratio is None or op is None else (ratio >= target if op == ">=" else ratio <= target)
        rows.append({
            "scenario": label, "unit": unit, "berth": b, "reference": r,
            "reference_is": "plain sendfile copy" if mode == "pct" or "sendfile" in label else "distribution 2.8.2",
            "ratio": ratio, "ratio_kind": {"b/r": "berth/dist", "r/b": "dist/berth", "pct": "% of plain"}[mode],
            "target": "-" if op is None else f"{op} {target:g}{' %' if mode == 'pct' else ''}",
            "result": "info" if op is None else "-" if ok is None else ("PASS" if ok else "MISS"),
            "samples": {"berth": raw.get(bk, []), "reference": raw.get(rk, [])},
        })
    w = max(len(r["scenario"]) for r in rows)
    head = f"{'scenario':<{w}}  {'unit':<5} {'Berth':>10} {'dist/ref':>10} {'ratio':>8}  {'target':<8} result"
    print(head)
    print("-" * len(head))
    for r in rows:
        if r["result"] == "info" and rows[rows.index(r) - 1]["result"] != "info":
            print("-" * len(head) + "\nserver CPU time, for diagnosis (ratio Berth/other, no target)")
        ratio = "-" if r["ratio"] is None else (f"{r['ratio']:.1f}%" if r["ratio_kind"] == "% of plain" else f"{r['ratio']:.3g}x")
        print(f"{r['scenario']:<{w}}  {r['unit']:<5} {fmt(r['berth']):>10} {fmt(r['reference']):>10} "
              f"{ratio:>8}  {r['target']:<8} {r['result']}")
    with open(json_path, "w") as f:
        json.dump({"meta": meta, "rows": rows, "medians": med, "raw": raw}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
