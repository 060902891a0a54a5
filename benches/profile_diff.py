#!/usr/bin/env python3
"""Per-request inclusive cost of each function: the difference of two
`callgrind_annotate --auto=no --inclusive=yes --threshold=100` outputs (N1 and N2
requests) divided by N2 - N1, so start-up and shutdown cancel out. Runtime and
plumbing frames that include the whole request are left out.

usage: profile_diff.py SMALL.txt LARGE.txt N1 N2 [TOP]
"""
import re
import sys

# Frames that contain everything (program start, runtimes, thread start,
# the driver's own loop, tower/axum plumbing around the whole stack).
SCAFFOLDING = re.compile(
    r"^(std::|core::ops::function|tokio::runtime|tokio::task::task_local|start_thread|\(below main\)|"
    r"\?\?\?|__libc|bench_driver::|<std::|<tower::util::oneshot|<axum::routing::route::RouteFuture|"
    r"<tower::util::map_future|<axum::util::MapIntoResponseFuture|<futures_util::future::future::map|"
    r"<alloc::boxed::Box<dyn libdd_shared_runtime)"
)
LINE = re.compile(r"^\s*([\d,]+) \([ \d.]+%\)\s+(.*)$")


def parse(path):
    costs = {}
    for line in open(path, errors="replace"):
        m = LINE.match(line)
        if m and "PROGRAM TOTALS" not in m.group(2):
            name = m.group(2).strip()
            costs[name] = costs.get(name, 0) + int(m.group(1).replace(",", ""))
    return costs


def short(name):
    # "file:function [object]" -> "function"
    name = re.sub(r"\s*\[[^\]]*\]$", "", name)
    if ":" in name and not name.startswith("???"):
        file, _, func = name.partition(".rs:") if ".rs:" in name else name.partition(":")
        name = func or name
    return name


def main():
    small, large, n1, n2 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    top = int(sys.argv[5]) if len(sys.argv) > 5 else 60
    a, b = parse(small), parse(large)
    per_request = {}
    for k in b:
        # One row per function (the same one can appear under two file names).
        name = short(k)
        cost = (b.get(k, 0) - a.get(k, 0)) / (n2 - n1)
        if not SCAFFOLDING.match(name):
            per_request[name] = max(per_request.get(name, 0), cost)
    rows = sorted(per_request.items(), key=lambda kv: -kv[1])[:top]
    print(f"# inclusive instructions per request, (I({n2}) - I({n1})) / {n2 - n1}")
    for name, cost in rows:
        print(f"{cost:12,.0f}  {name}")


if __name__ == "__main__":
    main()
