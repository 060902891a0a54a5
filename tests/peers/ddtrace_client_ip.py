"""Reference client-IP resolution by DataDog's Python tracer (ddtrace), for
the differential test of treebeard's `http.client_ip`.

Reads a JSON list of `{"headers": {name: value}, "peer": str}` on stdin
(header names lower-case) and writes the JSON list of resolved addresses
("" for none) on stdout.
"""

import json
import sys

from ddtrace.contrib.internal.trace_utils import _get_request_header_client_ip


def main():
    out = [
        _get_request_header_client_ip(case["headers"], case["peer"], False) or ""
        for case in json.load(sys.stdin)
    ]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
