#!/usr/bin/env python3
"""Turns the fio JSON files written by run.sh into the benchmark table.

Reads results/<target>.<workload>.<round>.json (fio --output-format=json, one job
each; with several rounds the round of median IOPS stands for the job),
prints target, workload, IOPS, MiB/s, mean and p99 latency and the IOPS ratio to
the nbdkit baseline for the same workload, and optionally writes the same rows as
JSON. Exits 1 if a result is missing, unreadable or reports an fio error, so that a
broken job is never shown as a figure. Standard library only.
"""

import argparse
import json
import os
import sys

WORKLOADS = [
    # (name in run.sh, fio direction read or write)
    ("randwrite-4k-qd1", "write"),
    ("randwrite-4k-qd32", "write"),
    ("randread-4k-qd32", "read"),
    ("seqwrite-1m-qd8", "write"),
]
BASELINE = "nbdkit"


class ResultError(Exception):
    pass


def load_round(path, target, workload, direction):
    try:
        with open(path) as f:
            text = f.read()
        # fio may print warnings before the JSON document.
        doc = json.loads(text[text.index("{"):])
        job = doc["jobs"][0]
    except (OSError, ValueError, KeyError, IndexError) as e:
        raise ResultError(f"{path}: {e}")
    if job.get("error", 0) != 0:
        raise ResultError(f"{path}: fio error {job['error']}")
    side = job[direction]
    if side.get("total_ios", 0) == 0:
        raise ResultError(f"{path}: no {direction} completed")
    lat = side["lat_ns"]
    percentiles = lat.get("percentile") or side["clat_ns"].get("percentile", {})
    p99 = percentiles.get("99.000000")
    cpu_us_per_io = None
    try:
        with open(path[: -len(".json")] + ".cpu") as f:
            ticks, hz, t0, t1 = f.read().split()
        cores = int(ticks) / int(hz) / (float(t1) - float(t0))
        if side["iops"] > 0:
            cpu_us_per_io = cores / side["iops"] * 1e6
    except (OSError, ValueError, ZeroDivisionError):
        pass
    return {
        "target": target,
        "workload": workload,
        "iops": side["iops"],
        "mib_per_s": side["bw_bytes"] / (1 << 20),
        "mean_latency_us": lat["mean"] / 1000.0,
        "p99_latency_us": p99 / 1000.0 if p99 is not None else None,
        "total_ios": side["total_ios"],
        # CPU time of the serving processes (all storage nodes for syncblock) per IO;
        # less sensitive than IOPS to other load on a shared machine.
        "server_cpu_us_per_io": cpu_us_per_io,
    }


def load_row(results, target, workload, direction, rounds):
    """The median-IOPS round of a job; every round must have succeeded."""
    runs = [
        load_round(os.path.join(results, f"{target}.{workload}.{r}.json"), target, workload,
                   direction)
        for r in range(1, rounds + 1)
    ]
    runs.sort(key=lambda row: row["iops"])
    row = dict(runs[(len(runs) - 1) // 2])
    row["iops_per_round"] = [round(r["iops"]) for r in runs]
    return row


def fmt_latency(us):
    if us is None:
        return "-"
    if us >= 1000:
        return f"{us / 1000:.2f} ms"
    return f"{us:.0f} us"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--targets", required=True)
    ap.add_argument("--machine", default="")
    ap.add_argument("--version", default="")
    ap.add_argument("--runtime", default="")
    ap.add_argument("--area", default="")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json-out")
    args = ap.parse_args()

    rows = []
    try:
        for target in args.targets.split():
            for workload, direction in WORKLOADS:
                rows.append(load_row(args.results, target, workload, direction, args.rounds))
    except ResultError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1

    baseline = {r["workload"]: r["iops"] for r in rows if r["target"] == BASELINE}
    for r in rows:
        base = baseline.get(r["workload"])
        r["iops_ratio_to_nbdkit"] = r["iops"] / base if base else None

    header = ["TARGET", "WORKLOAD", "IOPS", "MiB/s", "MEAN LAT", "P99 LAT", "vs nbdkit",
              "SERVER CPU/IO"]
    table = [header]
    for r in rows:
        ratio = r["iops_ratio_to_nbdkit"]
        table.append([
            r["target"], r["workload"], f"{r['iops']:.0f}", f"{r['mib_per_s']:.1f}",
            fmt_latency(r["mean_latency_us"]), fmt_latency(r["p99_latency_us"]),
            f"{ratio * 100:.0f}%" if ratio is not None else "-",
            fmt_latency(r["server_cpu_us_per_io"]),
        ])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [c.rjust(w) for c, w in zip(row[2:], widths[2:])]
        print("  ".join(cells))

    if args.json_out:
        doc = {
            "machine": args.machine,
            "syncblock_version": args.version,
            "runtime_s": args.runtime,
            "area": args.area,
            "rounds": args.rounds,
            "rows": rows,
        }
        with open(args.json_out, "w") as f:
            json.dump(doc, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
