"""The built-in payment provider, for development and the tests: the contract a real provider's module
translates to (docs/front-desk.md "Adding a payment provider").

With ``url`` set, a reference is asked of an HTTP service: ``POST <url>/checkouts`` with the JSON body
``{"merchant_reference", "amount", "currency"}`` and the header ``Idempotency-Key``; a 2xx reply
``{"reference", "payment_url"}`` is the reference (tests/support/payment_provider.py is such a service, on
loopback). Without ``url`` (development), the reference is made here and nothing is asked. Its callbacks
follow the default contract of engine/payments/gateways/__init__.py. Asked about a reference,
``GET <url>/checkouts/<reference>`` answers ``{"reference", "status", "amount", "currency"}`` (404: unknown);
without ``url`` every reference stays pending.
"""

from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request

from pydantic import Field

from engine.core.amounts import text
from engine.payments.gateways import (
    REFERENCE,
    BadCallback,
    CheckoutRequest,
    Created,
    Provider,
    ProviderFailed,
    ProviderOptions,
    Status,
    minor,
)


class FakeOptions(ProviderOptions):
    url: str | None = Field(default=None, pattern=r"^https?://")
    # Where the citizen pays when the reference is made here ({reference} is replaced).
    pay_url: str = "http://127.0.0.1/pay/{reference}"
    timeout_seconds: float = Field(default=10.0, gt=0)


class FakeProvider(Provider):
    name = "fake"
    options_schema = FakeOptions

    def create(self, request: CheckoutRequest) -> Created:
        opts = self.options
        assert isinstance(opts, FakeOptions)
        if opts.url is None:
            reference = "fake-" + secrets.token_hex(8)
            return Created(reference=reference, payment_url=opts.pay_url.replace("{reference}", reference))
        asked: dict[str, str] = {"merchant_reference": request.bill_number, "amount": text(request.amount),
                                 "currency": request.currency}
        if request.callback_url is not None:
            asked["callback_url"] = request.callback_url
        body = json.dumps(asked).encode()
        call = urllib.request.Request(opts.url.rstrip("/") + "/checkouts", data=body, method="POST",  # noqa: S310
                                      headers={"Content-Type": "application/json",
                                               "Idempotency-Key": request.idempotency_key})
        try:
            with urllib.request.urlopen(call, timeout=opts.timeout_seconds) as reply:  # noqa: S310
                answer = json.loads(reply.read(64 * 1024))
        except urllib.error.HTTPError as exc:
            raise ProviderFailed(f"HTTP {exc.code}") from exc
        except (TimeoutError, urllib.error.URLError, OSError, ValueError) as exc:
            raise ProviderFailed(f"no usable answer: {exc}") from exc
        found = answer.get("reference") if isinstance(answer, dict) else None
        url = answer.get("payment_url") if isinstance(answer, dict) else None
        if not isinstance(found, str) or not REFERENCE.fullmatch(found) or not isinstance(url, str):
            raise ProviderFailed("the reply has no usable reference or payment_url")
        return Created(reference=found, payment_url=url[:2000])

    def status(self, reference: str) -> Status:
        opts = self.options
        assert isinstance(opts, FakeOptions)
        if opts.url is None:
            return Status(reference=reference, status="pending")
        if not REFERENCE.fullmatch(reference):
            raise ProviderFailed("not a reference")
        call = urllib.request.Request(f"{opts.url.rstrip('/')}/checkouts/{reference}", method="GET")  # noqa: S310
        try:
            with urllib.request.urlopen(call, timeout=opts.timeout_seconds) as reply:  # noqa: S310
                answer = json.loads(reply.read(64 * 1024))
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return Status(reference=reference, status="unknown")
            raise ProviderFailed(f"HTTP {exc.code}") from exc
        except (TimeoutError, urllib.error.URLError, OSError, ValueError) as exc:
            raise ProviderFailed(f"no usable answer: {exc}") from exc
        if not isinstance(answer, dict) or answer.get("reference") != reference:
            raise ProviderFailed("the reply is not about the reference asked")
        status = answer.get("status")
        if not isinstance(status, str) or not 1 <= len(status) <= 32:
            raise ProviderFailed("the reply has no status")
        if status != "paid":
            return Status(reference=reference, status=status)
        currency = answer.get("currency")
        try:
            amount = minor(answer.get("amount"))
        except BadCallback as exc:
            raise ProviderFailed(exc.reason) from exc
        if not isinstance(currency, str) or len(currency) != 3:
            raise ProviderFailed("the reply has no currency")
        return Status(reference=reference, status="paid", amount=amount, currency=currency)
