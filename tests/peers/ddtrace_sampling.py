"""Reference sampling decisions by DataDog's Python tracer (ddtrace), for
the differential test of treebeard's sampler.

Reads a JSON list of cases on stdin, each `{"trace_id": int, "service": str,
"env": str, "name": str, "resource": str, "rules": [{"sample_rate": float,
"service"?: str, "name"?: str}], "agent": {"service:a,env:b": rate}}`,
decides each with a `DatadogSampler` (rules as DD_TRACE_SAMPLING_RULES and
DD_TRACE_SAMPLE_RATE give them, the agent's rates as its answers set them,
no effective rate limit) and writes a JSON list of
`{"priority", "dm", "agent_psr", "rule_psr", "ksr"}` on stdout.
"""

import json
import sys

from ddtrace._trace.sampler import DatadogSampler
from ddtrace._trace.sampling_rule import SamplingRule
from ddtrace.trace import Span


def main():
    out = []
    for case in json.load(sys.stdin):
        rules = [SamplingRule(**rule) for rule in case["rules"]]
        sampler = DatadogSampler(rules=rules, rate_limit=1_000_000_000)
        sampler.update_rate_by_service_sample_rates(case["agent"])
        span = Span(
            case["name"],
            service=case["service"],
            resource=case["resource"],
            trace_id=case["trace_id"],
        )
        if case["env"]:
            span.set_tag("env", case["env"])
        sampler.sample(span)
        out.append(
            {
                "priority": span.context.sampling_priority,
                "dm": span.context._meta.get("_dd.p.dm"),
                "agent_psr": span.get_metric("_dd.agent_psr"),
                "rule_psr": span.get_metric("_dd.rule_psr"),
                "ksr": span.get_tag("_dd.p.ksr"),
            }
        )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
