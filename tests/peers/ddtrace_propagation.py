"""Reference propagation by DataDog's Python tracer (ddtrace), for the
differential test of treebeard's propagation.

Reads a JSON list of header maps on stdin; for each, extracts a context with
`HTTPPropagator.extract`, starts a child span of it (as a service handling
the request does) and injects that span into fresh headers. Writes a JSON
list of results on stdout. The propagation styles come from the environment
(DD_TRACE_PROPAGATION_STYLE, ..._EXTRACT, ..._INJECT), read at import.
"""

import json
import sys

from ddtrace.propagation.http import HTTPPropagator
from ddtrace.trace import tracer


def main():
    cases = json.load(sys.stdin)
    out = []
    for headers in cases:
        ctx = HTTPPropagator.extract(headers)
        meta = {k: v for k, v in ctx._meta.items() if k.startswith("_dd.")}
        links = [
            {
                "trace_id": f"{link.trace_id:032x}",
                "span_id": f"{link.span_id:016x}",
                "flags": link.flags,
                "tracestate": link.tracestate,
                "attributes": link.attributes,
            }
            for link in ctx._span_links
        ]
        result = {
            "trace_id": f"{ctx.trace_id:032x}" if ctx.trace_id else None,
            "parent_id": f"{ctx.span_id:016x}" if ctx.span_id else None,
            "priority": ctx.sampling_priority,
            "origin": ctx.dd_origin,
            "meta": meta,
            "tracestate": ctx._meta.get("tracestate"),
            "baggage": ctx.get_all_baggage_items(),
            "links": links,
        }
        span = tracer.start_span("request", child_of=ctx, activate=False)
        injected = {}
        HTTPPropagator.inject(span, injected)
        result["span_id"] = span.span_id
        result["injected"] = injected
        result["span_meta"] = {k: v for k, v in span.get_tags().items() if k.startswith("_dd.")}
        out.append(result)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
