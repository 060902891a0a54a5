"""Sums the counters in ddapm-test-agent's /test/session/apmtelemetry answer.

Reads the JSON list of telemetry events on stdin and prints one JSON object
{"metric[,tag:value...]": total}, e.g. "spans_created",
"trace_chunks_dropped,reason:p0_drop", "spans_dropped,reason:overfull_buffer".
"""

import collections
import json
import sys

SKIP_TAGS = ("version", "lib_", "src_library")


def walk(event, totals):
    kind = event.get("request_type")
    payload = event.get("payload")
    if kind == "message-batch":
        for inner in payload or []:
            walk(inner, totals)
    elif kind == "generate-metrics":
        for series in payload.get("series", []):
            tags = sorted(t for t in series.get("tags", []) if not t.startswith(SKIP_TAGS))
            key = ",".join([series["metric"], *tags])
            totals[key] += sum(point[1] for point in series.get("points", []))


def main():
    totals = collections.Counter()
    for event in json.load(sys.stdin):
        walk(event, totals)
    print(json.dumps({k: int(v) for k, v in sorted(totals.items())}))


if __name__ == "__main__":
    main()
