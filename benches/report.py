#!/usr/bin/env python3
"""rows.tsv (from run.sh) -> the results table in Markdown, with the machine."""
import datetime
import os
import platform
import subprocess
import sys


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def spans_cell(spans):
    return "-" if float(spans) == 0 else f"{float(spans):.2f}"


def main():
    rows_path, n1, n2, duration, connections, elapsed, loadavg, repeat = sys.argv[1:9]
    rows = [line.rstrip("\n").split("\t") for line in open(rows_path) if line.strip()]
    by_name = {r[0]: r for r in rows}
    allocs_path = os.path.join(os.path.dirname(rows_path), "allocs.tsv")
    allocs = {}
    if os.path.exists(allocs_path):
        allocs = dict(line.rstrip("\n").split("\t")[:2] for line in open(allocs_path) if line.strip())
    bare = by_name.get("bare")
    bare_instr = float(bare[1]) if bare else None
    bare_rps = float(bare[3]) if bare else None
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    out = []
    out.append("# TreeBeard benchmark results\n")
    out.append(f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    out.append(f"- machine: {nproc} cores (nproc), {cpu_model()}, kernel {platform.release()}; load average before the run: {loadavg}")
    out.append(f"- instr/req: callgrind, all threads, (I({n2}) - I({n1})) / {int(n2) - int(n1)}, in-process `GET /json`")
    out.append(f"- allocs/req: calls to malloc and realloc in the same two runs, (C({n2}) - C({n1})) / {int(n2) - int(n1)}")
    out.append(f"- load: server on core 0, `wrk -t1 -c{connections} -d{duration} --latency` on core 1 (after a 1 s warm-up), "
               f"{repeat} runs, the one with the median req/s kept; "
               "bench-sink (trace intake, Sentry, DogStatsD) on core 1; CPU = server utime+stime / requests; "
               "spans/req = spans bench-sink received / requests served")
    out.append(f"- `make bench` took {elapsed} s\n")
    out.append("| variant | instr/req | × bare | allocs/req | CPU µs/req | req/s | × bare | p50 ms | p99 ms | peak RSS MB | errors | spans/req |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        name, instr, cpu, rps, p50, p99, rss, errors, _requests, spans = r[:10]
        if name.startswith("example-"):
            continue
        instr_ratio = f"{float(instr) / bare_instr:.2f}" if bare_instr else "-"
        rps_ratio = f"{float(rps) / bare_rps:.2f}" if bare_rps else "-"
        out.append(f"| {name} | {int(instr):,} | {instr_ratio} | {allocs.get(name, '-')} | {cpu} | {float(rps):,.0f} | {rps_ratio} | "
                   f"{float(p50):.2f} | {float(p99):.2f} | {int(rss) / 1024:.1f} | {errors} | {spans_cell(spans)} |")
    on, off = by_name.get("example-monitoring-on"), by_name.get("example-monitoring-off")
    if on and off:
        out.append("\nexample-api `GET /users/{id}`, same binary:\n")
        out.append("| | instr/req | allocs/req | CPU µs/req | req/s | p50 ms | p99 ms | peak RSS MB | errors | spans/req |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for label, r in (("monitoring on", on), ("MONITORING_ENABLED=false", off)):
            out.append(f"| {label} | {int(r[1]):,} | {allocs.get(r[0], '-')} | {r[2]} | {float(r[3]):,.0f} | "
                       f"{float(r[4]):.2f} | {float(r[5]):.2f} | {int(r[6]) / 1024:.1f} | {r[7]} | {spans_cell(r[9])} |")
        ratio = float(on[3]) / float(off[3])
        p99 = float(on[5]) / float(off[5])
        out.append(f"\nthroughput on/off: **{ratio:.2f}** (target ≥ 0.95); p99 on/off: **{p99:.2f}** (target ≤ 1.05); "
                   f"monitoring adds **{int(on[1]) - int(off[1]):,} instructions** and "
                   f"**{float(on[2]) - float(off[2]):.1f} µs of CPU** per request")
    print("\n".join(out))


if __name__ == "__main__":
    main()
