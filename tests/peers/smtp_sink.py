#!/usr/bin/env python3
"""A real SMTP server for the test suite (aiosmtpd), on 127.0.0.1.

Every message the server accepts is written, atomically, to the spool directory twice:
`<sequence>.eml`, the message exactly as received, and `<sequence>.json`, the envelope and
the decoded headers and text body (Python's email parser), which the tests read to see what
arrived and how many times. Prints `READY <port>` on stdout once it accepts connections.

Usage: smtp_sink.py --port PORT --spool DIR
"""
import argparse
import asyncio
import itertools
import os
import json
import signal
from email import policy
from email.parser import BytesParser

from aiosmtpd.controller import Controller


class SpoolHandler:
    def __init__(self, spool):
        self.spool = spool
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        raw = envelope.original_content or envelope.content
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        body = msg.get_body(preferencelist=("plain",))
        decoded = {
            "envelope_from": envelope.mail_from,
            "envelope_to": envelope.rcpt_tos,
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "body": body.get_content() if body is not None else "",
            "attachments": [
                {"filename": a.get_filename(), "content_type": a.get_content_type(),
                 "content": a.get_content() if a.get_content_maintype() == "text" else None}
                for a in msg.iter_attachments()
            ],
        }
        for name, content in ((f"{n:06d}.eml", raw), (f"{n:06d}.json", json.dumps(decoded).encode())):
            tmp = os.path.join(self.spool, f".{name}.tmp")
            with open(tmp, "wb") as f:
                f.write(content)
                f.flush()
                os.fsync(f.fileno())
            os.rename(tmp, os.path.join(self.spool, name))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--spool", required=True)
    args = parser.parse_args()
    os.makedirs(args.spool, exist_ok=True)
    controller = Controller(SpoolHandler(args.spool), hostname="127.0.0.1", port=args.port)
    controller.start()
    print(f"READY {args.port}", flush=True)
    loop = asyncio.new_event_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
    loop.run_until_complete(stop)
    controller.stop()


if __name__ == "__main__":
    main()
