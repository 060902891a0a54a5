"""Validate Slack messages with Slack's own SDK (Block Kit models).

Usage: validate_slack.py FILE.json

FILE holds a list of messages `{"text": ..., "blocks": [...]}`. Every block
is parsed with slack_sdk and validated (lengths, required fields, types);
an unknown block type parses to None and is an error too.
"""
import json
import sys

from slack_sdk.models.blocks import Block


def main():
    with open(sys.argv[1]) as f:
        messages = json.load(f)
    errors = []
    for m, message in enumerate(messages):
        if not message.get("text"):
            errors.append(f"message {m}: no fallback `text`")
        blocks = message.get("blocks") or []
        if not blocks or len(blocks) > 50:
            errors.append(f"message {m}: {len(blocks)} blocks (1 to 50 allowed)")
        for b, raw in enumerate(blocks):
            try:
                block = Block.parse(raw)
                if block is None:
                    raise ValueError(f"unknown block type {raw.get('type')!r}")
                block.validate_json()
                if block.to_dict() != raw:
                    raise ValueError(f"round trip differs: {block.to_dict()} != {raw}")
            except Exception as e:
                errors.append(f"message {m} block {b}: {type(e).__name__}: {e}")
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)
    print(f"{len(messages)} message(s) OK")


if __name__ == "__main__":
    main()
