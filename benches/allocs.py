#!/usr/bin/env python3
"""Heap allocations per request: calls to malloc (and realloc) in two
callgrind runs (N1 and N2 requests), (C(N2) - C(N1)) / (N2 - N1), all threads.

usage: allocs.py SMALL.out LARGE.out N1 N2
"""
import re
import subprocess
import sys

COUNT = re.compile(r"\(([\d,]+)x\)")


def calls(out_file, function):
    """Calls of `function` (a libc symbol), summed over its callers."""
    text = subprocess.run(
        ["callgrind_annotate", "--auto=no", "--tree=caller", "--threshold=100", out_file],
        capture_output=True, text=True, errors="replace", check=True,
    ).stdout.split("\n")
    total = 0
    for i, line in enumerate(text):
        if "*  " in line and f"malloc.c:{function} [" in line:
            j = i - 1
            while j >= 0 and text[j].strip() and "*  " not in text[j]:
                m = COUNT.search(text[j])
                if m:
                    total += int(m.group(1).replace(",", ""))
                j -= 1
    return total


def main():
    small, large, n1, n2 = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    per_req = sum(calls(large, f) - calls(small, f) for f in ("malloc", "realloc")) / (n2 - n1)
    print(f"{per_req:.1f}")


if __name__ == "__main__":
    main()
