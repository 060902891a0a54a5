#!/usr/bin/env python3
"""wrk --latency output + CPU ticks + peak RSS -> one tab-separated row:
cpu_us_per_request  requests_per_s  p50_ms  p99_ms  peak_rss_kb  errors  requests
"""
import re
import sys

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(value) * UNITS[unit]


def main():
    path, ticks, clk_tck, peak_kb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    text = open(path).read()
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    p50 = ms(re.search(r"^\s+50%\s+(\S+)", text, re.M).group(1))
    p99 = ms(re.search(r"^\s+99%\s+(\S+)", text, re.M).group(1))
    errors = 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket:
        errors += sum(int(g) for g in socket.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        errors += int(non2xx.group(1))
    cpu_us = ticks / clk_tck * 1e6 / max(requests, 1)
    print(f"{cpu_us:.1f}\t{rps:.0f}\t{p50:.3f}\t{p99:.3f}\t{peak_kb}\t{errors}\t{requests}")


if __name__ == "__main__":
    main()
