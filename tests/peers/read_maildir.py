"""Print the messages of a Maildir (as written by aiosmtpd's Mailbox handler) as JSON.

Usage: read_maildir.py DIR
"""
import json
import mailbox
import sys
from email.header import decode_header, make_header


def main():
    box = mailbox.Maildir(sys.argv[1], create=False)
    out = []
    for message in box:
        body = message.get_payload(decode=True)
        charset = message.get_content_charset() or "utf-8"
        out.append({
            "from": message["From"],
            "to": message["To"],
            "subject": str(make_header(decode_header(message["Subject"]))),
            "content_type": message.get_content_type(),
            "body": body.decode(charset) if body is not None else "",
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
