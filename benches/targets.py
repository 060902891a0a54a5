#!/usr/bin/env python3
"""rows.tsv and allocs.tsv (from run.sh) -> the issue's targets, each with
the measured value and PASS, FAIL or "not measured" (a variant left out of
BENCH_VARIANTS, or a load figure in a BENCH_INSTR_ONLY run).

Usage: targets.py ROWS_TSV
"""
import os
import sys

# The performance issue's targets (docs/performance.md, "Status against the
# issue's targets").
FULL_MAX_INSTR = 25_000
FULL_MIN_THROUGHPUT = 0.7
EXAMPLE_MAX_ADDED_INSTR = 15_000
EXAMPLE_MAX_ADDED_ALLOCS = 25
SENTRY_TRACES_MAX_INSTR = 40_000
DISABLED_MAX_RATIO = 1.05


def load(rows_path):
    rows = {}
    for line in open(rows_path):
        if line.strip():
            fields = line.rstrip("\n").split("\t")
            rows[fields[0]] = fields
    allocs_path = os.path.join(os.path.dirname(rows_path), "allocs.tsv")
    allocs = {}
    if os.path.exists(allocs_path):
        for line in open(allocs_path):
            if line.strip():
                name, value = line.rstrip("\n").split("\t")[:2]
                allocs[name] = float(value)
    return rows, allocs


def main():
    rows, allocs = load(sys.argv[1])
    instr = {name: int(r[1]) for name, r in rows.items()}
    # Load columns exist only when the servers were loaded (not BENCH_INSTR_ONLY).
    rps = {name: float(r[3]) for name, r in rows.items() if len(r) > 3}
    # The example in-process: `example-on`/`-off` as variants, or the
    # example section of a full run.
    on = next((n for n in ("example-on", "example-monitoring-on") if n in instr), None)
    off = next((n for n in ("example-off", "example-monitoring-off") if n in instr), None)

    out = ["| target | measured | limit | status |", "|---|---:|---:|---|"]

    def row(what, value, limit, ok, fmt):
        if value is None:
            out.append(f"| {what} | - | {fmt(limit)} | not measured |")
        else:
            out.append(f"| {what} | {fmt(value)} | {fmt(limit)} | {'PASS' if ok(value) else 'FAIL'} |")

    ints = lambda v: f"{v:,.0f}"
    ratio = lambda v: f"{v:.2f}×"
    one = lambda v: f"{v:.1f}"
    row("full stack, `GET /json`, instr/req", instr.get("treebeard-full"), FULL_MAX_INSTR,
        lambda v: v <= FULL_MAX_INSTR, ints)
    throughput = (rps["treebeard-full"] / rps["bare"]
                  if "treebeard-full" in rps and rps.get("bare") else None)
    row("full stack throughput, × bare req/s", throughput, FULL_MIN_THROUGHPUT,
        lambda v: v >= FULL_MIN_THROUGHPUT, ratio)
    added = instr[on] - instr[off] if on and off else None
    row("example `GET /users/{id}`: monitoring adds, instr/req", added, EXAMPLE_MAX_ADDED_INSTR,
        lambda v: v <= EXAMPLE_MAX_ADDED_INSTR, ints)
    added_allocs = (allocs[on] - allocs[off]) if on in allocs and off in allocs else None
    row("example `GET /users/{id}`: monitoring adds, allocs/req", added_allocs,
        EXAMPLE_MAX_ADDED_ALLOCS, lambda v: v <= EXAMPLE_MAX_ADDED_ALLOCS, one)
    row("`SENTRY_TRACES_SAMPLE_RATE=1.0`, instr/req", instr.get("treebeard-sentry-traces"),
        SENTRY_TRACES_MAX_INSTR, lambda v: v <= SENTRY_TRACES_MAX_INSTR, ints)
    disabled = (instr["treebeard-disabled"] / instr["bare"]
                if "treebeard-disabled" in instr and instr.get("bare") else None)
    row("disabled (README wiring), × bare instr/req", disabled, DISABLED_MAX_RATIO,
        lambda v: v <= DISABLED_MAX_RATIO, ratio)
    print("\n".join(out))


if __name__ == "__main__":
    main()
