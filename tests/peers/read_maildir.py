"""Print the messages of a Maildir (as written by aiosmtpd's Mailbox handler) as JSON.

Usage: read_maildir.py DIR

`body` is the text of a plain message, or the text/plain part of a
multipart one; `html` is the text/html part ("" when there is none).
"""
import json
import mailbox
import sys
from email.header import decode_header, make_header


def main():
    box = mailbox.Maildir(sys.argv[1], create=False)
    out = []
    for message in box:
        parts = {"text/plain": "", "text/html": ""}
        for part in message.walk():
            if part.is_multipart() or part.get_content_type() not in parts:
                continue
            payload = part.get_payload(decode=True)
            charset = part.get_content_charset() or "utf-8"
            if payload is not None and not parts[part.get_content_type()]:
                parts[part.get_content_type()] = payload.decode(charset)
        out.append({
            "from": message["From"],
            "to": message["To"],
            "subject": str(make_header(decode_header(message["Subject"]))),
            "content_type": message.get_content_type(),
            "body": parts["text/plain"],
            "html": parts["text/html"],
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
