"""Deserialise monitor or dashboard JSON into datadog-api-client models.

Usage: validate_datadog.py monitor|dashboard|events_list_request|events_list_response FILE.json

FILE holds one object or a list. Type checking is on, and any part the
client could not match to its model (an UnparsedObject, for example an
unknown widget type) is an error. Exits non-zero with the reasons.
"""
import json
import sys

from datadog_api_client import ApiClient, Configuration
from datadog_api_client.model_utils import ModelNormal, ModelComposed, ModelSimple, UnparsedObject
from datadog_api_client.v1.model.dashboard import Dashboard
from datadog_api_client.v1.model.monitor import Monitor
from datadog_api_client.v2.model.events_list_request import EventsListRequest
from datadog_api_client.v2.model.events_list_response import EventsListResponse

MODELS = {
    "monitor": Monitor,
    "dashboard": Dashboard,
    # Events API v2 search (POST /api/v2/events/search): the digest's
    # request bodies and the stand-in's answers.
    "events_list_request": EventsListRequest,
    "events_list_response": EventsListResponse,
}


def unparsed(obj, path="$"):
    """Yields the paths of parts the client kept unparsed."""
    if isinstance(obj, UnparsedObject) or getattr(obj, "_unparsed", False):
        yield path
        return
    if isinstance(obj, (ModelNormal, ModelComposed)):
        for key, value in obj._data_store.items():
            yield from unparsed(value, f"{path}.{key}")
        composed = getattr(obj, "_composed_instances", None) or []
        for inner in composed:
            yield from unparsed(inner, path)
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from unparsed(value, f"{path}[{i}]")
    elif isinstance(obj, dict):
        for key, value in obj.items():
            yield from unparsed(value, f"{path}.{key}")


def main():
    kind, path = sys.argv[1], sys.argv[2]
    model = MODELS[kind]
    with open(path) as f:
        data = json.load(f)
    items = data if isinstance(data, list) else [data]
    client = ApiClient(Configuration())
    errors = []
    for i, item in enumerate(items):
        try:
            obj = client.deserialize(json.dumps(item), (model,), True)
        except Exception as e:  # the client raises several type/value errors
            errors.append(f"{kind} {i}: {type(e).__name__}: {e}")
            continue
        bad = list(unparsed(obj))
        if bad:
            errors.append(f"{kind} {i}: not matched by the model at {', '.join(bad)}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    print(f"{len(items)} {kind}(s) OK")


if __name__ == "__main__":
    main()
