"""Runs Sentry's own event normaliser (sentry-relay's StoreNormalizer) over
events: one JSON event per line on stdin. Prints one JSON line per event:
{"errors": [...]} (empty when the event is valid)."""
import json
import sys

from sentry_relay.processing import StoreNormalizer

normalizer = StoreNormalizer()
for line in sys.stdin:
    if line.strip():
        normalized = normalizer.normalize_event(json.loads(line))
        print(json.dumps({"errors": normalized.get("errors") or []}))
