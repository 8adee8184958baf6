"""The built-in payment provider's HTTP side (engine/payments/gateways/fake.py), on loopback for the tests: it
makes payment references (``POST /checkouts``, the same reference again for a retried ``Idempotency-Key``),
answers what became of a reference (``GET /checkouts/<reference>``: pending until a test sets
``statuses[reference]``, 404 for a reference it never made), can be told to fail, and signs the callbacks it
would send when a citizen pays (or an attacker's, with another secret, an old timestamp, another amount)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from engine.payments.gateways import sign
from tests.support.served import Served

SECRET = "provider-secret-0123456789abcdef"


class PaymentProvider(Served):
    def __init__(self, secret: str = SECRET, port: int = 0) -> None:
        self.secret = secret
        self.checkouts: dict[str, dict[str, Any]] = {}  # reference -> what was asked
        self.requests: list[dict[str, Any]] = []
        self.replies: list[tuple[int, bytes]] = []  # queued answers for the next requests (status, body)
        self._keys: dict[str, str] = {}
        # reference -> what GET /checkouts/<reference> says: "paid" (the amount and currency asked), "expired"...
        # or a whole JSON object to answer with; missing: "pending".
        self.statuses: dict[str, Any] = {}
        self._lock = threading.Lock()
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                key = self.headers.get("Idempotency-Key", "")
                with provider._lock:
                    provider.requests.append({"path": self.path, "key": key, "body": body})
                    status, reply = provider.replies.pop(0) if provider.replies else (200, b"")
                    if status == 200 and not reply:
                        if key not in provider._keys:
                            reference = f"FP-{len(provider._keys) + 1:05d}"
                            provider._keys[key] = reference
                            provider.checkouts[reference] = body
                        reference = provider._keys[key]
                        reply = json.dumps({"reference": reference,
                                            "payment_url": f"{provider.url}/pay/{reference}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                reference = self.path.removeprefix("/checkouts/")
                with provider._lock:
                    provider.requests.append({"path": self.path, "method": "GET"})
                    status, reply = provider.replies.pop(0) if provider.replies else (200, b"")
                    if status == 200 and not reply:
                        asked = provider.checkouts.get(reference)
                        said = provider.statuses.get(reference, "pending")
                        if asked is None:
                            status, reply = 404, b'{"error": "no such reference"}'
                        elif isinstance(said, dict):
                            reply = json.dumps(said).encode()
                        else:
                            reply = json.dumps({"reference": reference, "status": said,
                                                "amount": asked.get("amount"),
                                                "currency": asked.get("currency")}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_args: Any) -> None:
                pass

        self.serve(ThreadingHTTPServer(("127.0.0.1", port), Handler))
        self.url = f"http://127.0.0.1:{self.port}"

    def options(self) -> dict[str, Any]:
        """The provider's entry in SHUBBAK_PAYMENT_PROVIDERS."""
        return {"secret": self.secret, "url": self.url}

    def callback(self, reference: str, *, amount: str | None = None, currency: str | None = None,
                 status: str = "paid", timestamp: float | None = None, secret: str | None = None,
                 **extra: Any) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the callback saying ``reference`` was paid, signed (with the provider's
        secret unless another is given); the amount and currency asked at checkout unless others are given."""
        asked = self.checkouts.get(reference, {})
        body = json.dumps({"reference": reference, "status": status,
                           "amount": amount if amount is not None else asked.get("amount", "1.00"),
                           "currency": currency or asked.get("currency", "EGP"),
                           "timestamp": int(timestamp if timestamp is not None else time.time()), **extra}).encode()
        return body, {"Content-Type": "application/json", "X-Signature": sign(secret or self.secret, body)}
