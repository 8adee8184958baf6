"""Payment providers: one base class here, one module per provider (``fake`` is built in; a real one, Fawry,
SADAD or a bank's API, is a module beside it: docs/front-desk.md "Adding a payment provider").

A provider is named in the settings with its options (``SHUBBAK_PAYMENT_PROVIDERS={"fake": {"secret": ...}}``),
which its ``options_schema`` checks; every provider has a ``secret`` that signs its callbacks. It does three
things: ``create`` asks the provider for a payment reference of a bill (where the citizen pays), ``verify``
reads a callback's raw body and headers into a :class:`Notice`, or raises :class:`BadCallback`, and ``status``
asks the provider what became of a reference whose callback never came (engine/payments/reconcile.py). The default
``verify`` is the contract of the built-in provider: ``X-Signature: sha256=<hex>``, HMAC-SHA256 of the raw body
with the secret, and a body carrying the provider's ``timestamp`` (Unix seconds), so that the time is signed too.
A provider with another contract overrides ``verify`` (or only ``signature``/``notice``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from engine.core.errors import Invalid, NotFound
from engine.core.settings import Settings

_AMOUNT = re.compile(r"^[0-9]{1,15}(?:\.[0-9]{1,2})?$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
REFERENCE = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class ProviderFailed(Exception):
    """The provider did not make the reference (no answer, an error, a reply without a reference)."""


class BadCallback(Exception):
    """A callback that is not the provider's, or not readable: a bad or missing signature, a timestamp
    outside the window, a body that is not the contract's. ``reason`` is for the log, never for the caller."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class CheckoutRequest:
    """What a provider is asked for: a reference for paying ``amount`` (minor units) in ``currency``, whose
    callback goes to ``callback_url`` (this node's own address, :func:`callback_url`; None when the node's
    public address is not set: the provider's account names one)."""

    bill_number: str
    amount: int
    currency: str
    idempotency_key: str
    callback_url: str | None = None


@dataclass(frozen=True)
class Created:
    reference: str
    payment_url: str


@dataclass(frozen=True)
class Notice:
    """What a verified callback says: the payment of ``reference`` is ``status`` (``paid`` pays the bill),
    for ``amount`` (minor units) in ``currency``, at ``timestamp`` (Unix seconds)."""

    reference: str
    status: str
    amount: int
    currency: str
    timestamp: float


#: What the provider may answer about a reference: paid (with its amount and currency), still pending, or over
#: without a payment (``expired``, ``failed``, ``cancelled``; ``unknown``: the provider has no such reference).
OVER = frozenset({"expired", "failed", "cancelled", "unknown"})


@dataclass(frozen=True)
class Status:
    """The provider's answer about one reference (``amount`` in minor units, 0 when it is not paid)."""

    reference: str
    status: str
    amount: int = 0
    currency: str = ""


class ProviderOptions(BaseModel):
    """Every provider's options: the secret its callbacks are signed with; a provider adds its own fields
    (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")
    secret: SecretStr = Field(min_length=16)


def callback_url(settings: Settings, provider: str) -> str | None:
    """Where ``provider`` calls back about a reference this node makes: this node's public address
    (``SHUBBAK_PUBLIC_URL``; a center node's is its own), so that the node whose case the bill is settles it
    (docs/center-nodes.md). None when the address is not set."""
    base = settings.public_base_url
    return f"{base}/api/payments/{provider}/callback" if base else None


def minor(text: Any) -> int:
    """``"150.50"`` in minor units; BadCallback for anything else (a number, a negative, three decimals)."""
    if not isinstance(text, str) or not _AMOUNT.fullmatch(text):
        raise BadCallback(f"amount is not a decimal string: {str(text)[:40]!r}")
    whole, _, cents = text.partition(".")
    return int(whole) * 100 + int((cents + "00")[:2])


def sign(secret: str, body: bytes) -> str:
    """The built-in contract's signature header value of ``body``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Provider(ABC):
    """One payment provider. Subclasses name themselves and their options, and make references."""

    name: ClassVar[str]
    options_schema: ClassVar[type[ProviderOptions]] = ProviderOptions
    signature_header: ClassVar[str] = "x-signature"

    def __init__(self, options: ProviderOptions) -> None:
        self.options = options

    @abstractmethod
    def create(self, request: CheckoutRequest) -> Created:
        """Ask the provider for a payment reference; ProviderFailed when it does not give one."""

    def status(self, reference: str) -> Status:
        """What became of ``reference`` at the provider; ProviderFailed when it does not say. A provider that
        cannot be asked keeps this default: its pending references wait for their callback."""
        raise ProviderFailed(f"provider {self.name} cannot be asked about a reference")

    def signature_holds(self, raw: bytes, headers: Mapping[str, str]) -> bool:
        given = headers.get(self.signature_header, "")
        expected = sign(self.options.secret.get_secret_value(), raw)
        return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())

    def notice(self, raw: bytes) -> Notice:
        """The body of a callback whose signature held, read strictly."""
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:  # nested past the parser: not a notice
            raise BadCallback("the body is not JSON") from exc
        if not isinstance(body, dict):
            raise BadCallback("the body is not a JSON object")
        reference, status, currency, stamp = (body.get(k) for k in ("reference", "status", "currency",
                                                                   "timestamp"))
        if not isinstance(reference, str) or not REFERENCE.fullmatch(reference):
            raise BadCallback("no reference")
        if not isinstance(status, str) or not 1 <= len(status) <= 32:
            raise BadCallback("no status")
        if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
            raise BadCallback("no currency")
        if not isinstance(stamp, int | float) or isinstance(stamp, bool) or not 0 < stamp < 2**40:
            raise BadCallback("no timestamp")
        return Notice(reference=reference, status=status, amount=minor(body.get("amount")), currency=currency,
                      timestamp=float(stamp))

    def verify(self, raw: bytes, headers: Mapping[str, str], *, now: float, window: float) -> Notice:
        """The callback's notice, once its signature and its timestamp hold; BadCallback otherwise."""
        if not self.signature_holds(raw, headers):
            raise BadCallback("the signature does not hold")
        notice = self.notice(raw)
        if abs(now - notice.timestamp) > window:
            raise BadCallback(f"the timestamp is {now - notice.timestamp:.0f} s from now, outside the window")
        return notice


def _registry() -> dict[str, type[Provider]]:
    from engine.payments.gateways import fake

    return {cls.name: cls for cls in (fake.FakeProvider,)}


def names(settings: Settings) -> list[str]:
    return sorted(settings.payment_providers)


def build(name: str, settings: Settings) -> Provider:
    """The provider ``name`` as configured; NotFound when the installation has no such provider (an unknown
    name in a callback's address), Invalid when its options do not pass its schema."""
    options = settings.payment_providers.get(name)
    cls = _registry().get(name)
    if options is None or cls is None:
        raise NotFound("epay.unknown_provider")
    try:
        return cls(cls.options_schema.model_validate(options))
    except ValidationError as exc:
        raise Invalid("epay.provider_options_invalid",
                      [{"loc": ["settings", "payment_providers", name, *map(str, e["loc"])], "msg": e["msg"]}
                       for e in exc.errors()], provider=name) from exc
