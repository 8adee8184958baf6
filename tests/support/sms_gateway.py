"""A small SMS gateway on loopback for the tests: it dedupes by ``Idempotency-Key`` like real gateways, counts
deliveries, and can be told to fail, answer garbage, or hold a request until the test lets it go."""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.served import Served


class SmsGateway(Served):
    def __init__(self, port: int = 0) -> None:
        self.requests: list[dict[str, Any]] = []  # every request, with its key and body
        self.delivered: Counter[str] = Counter()  # key -> times a text went to a phone (must stay at 1)
        self.replies: list[tuple[int, bytes]] = []  # queued answers for the next requests (status, body)
        self.hold = threading.Event()  # set: answer at once; clear: wait (up to 30 s) before answering
        self.hold.set()
        self.arrived = threading.Event()  # set when a request came in
        self._ids: dict[str, str] = {}
        self._lock = threading.Lock()
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                key = self.headers.get("Idempotency-Key", "")
                with gateway._lock:
                    gateway.requests.append({"key": key, "body": body, "auth": self.headers.get("Authorization")})
                    status, reply = gateway.replies.pop(0) if gateway.replies else (200, b"")
                    if status == 200 and not reply:
                        if key not in gateway._ids:  # a new message: it goes to the phone
                            gateway._ids[key] = f"sms-{len(gateway._ids) + 1}"
                            gateway.delivered[key] += 1
                        reply = json.dumps({"id": gateway._ids[key], "status": "accepted"}).encode()
                gateway.arrived.set()
                gateway.hold.wait(30)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(reply)))
                    self.end_headers()
                    self.wfile.write(reply)
                except OSError:
                    pass  # the sender is gone (killed mid-send)

            def log_message(self, *_args: Any) -> None:
                pass

        self.serve(ThreadingHTTPServer(("127.0.0.1", port), Handler))
        self.url = f"http://127.0.0.1:{self.port}/messages"

    def __exit__(self, *exc: Any) -> None:
        self.hold.set()  # a held request is let go, so that the server can stop
        super().__exit__(*exc)
