"""Gateways deliver one message each: one base class, one small class per kind, each with its own options.

A gateway is chosen per channel by name (``SHUBBAK_SMS_GATEWAY=http``) and configured by a JSON object
(``SHUBBAK_SMS_GATEWAY_OPTIONS``) that its ``options_schema`` checks when the sender starts. ``send`` returns
the gateway's reference for the message, or raises ``Retryable`` (try again later, same idempotency key) or
``Permanent`` (recorded on the message; it is not tried again). docs/messages.md describes the HTTP contract.
"""

from __future__ import annotations

import base64
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from engine.core import redact
from engine.core.errors import Invalid
from engine.core.refusals import say
from engine.core.settings import Settings

log = logging.getLogger("shubbak.messages")


class SendFailed(Exception):
    """A send that did not go through; ``retryable`` says whether trying again may help."""

    retryable: ClassVar[bool] = True


class Retryable(SendFailed):
    retryable = True


class Permanent(SendFailed):
    retryable = False


@dataclass(frozen=True)
class Outgoing:
    channel: str
    recipient: str
    subject: str | None
    body: str
    idempotency_key: str
    language: str


class GatewayOptions(BaseModel):
    """A gateway's options; each gateway declares its own subclass (unknown keys are refused)."""

    model_config = ConfigDict(extra="forbid")


class Gateway(ABC):
    """One way out to citizens. Subclasses name themselves, their channels and their options' schema."""

    name: ClassVar[str]
    channels: ClassVar[tuple[str, ...]]
    options_schema: ClassVar[type[GatewayOptions]] = GatewayOptions

    def __init__(self, options: BaseModel) -> None:
        self.options = options

    @abstractmethod
    def send(self, message: Outgoing) -> str:
        """Deliver ``message``; return the gateway's reference, or raise Retryable / Permanent."""


class LogOptions(GatewayOptions):
    # A development file that gets every message whole, one JSON line each (``to``, ``body``, ``at``), so that a
    # journey test can read a sign-in code; SHUBBAK_MESSAGE_LOG_FILE fills it in ("" for none).
    file: str = ""


class LogGateway(Gateway):
    """The embedded default: the message goes to the log (and its row in the outbox says it was sent)."""

    name = "log"
    channels = ("sms", "email")
    options_schema = LogOptions

    def send(self, message: Outgoing) -> str:
        # Masked: no full number, no link token, no code in the log (the outbox keeps the message itself). The
        # masking is done only when the line is written: a server logging warnings and up skips it.
        if log.isEnabledFor(logging.INFO):
            log.info("message %s to %s (%s): %s", message.idempotency_key[:16],
                     redact.recipient(message.recipient), message.channel, redact.text(message.body))
        opts = self.options
        assert isinstance(opts, LogOptions)
        if opts.file:
            path = Path(opts.file)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a", encoding="utf-8") as out:
                    out.write(json.dumps({"to": message.recipient, "body": message.body,
                                          "at": datetime.now(UTC).isoformat()}, ensure_ascii=False) + "\n")
            except OSError as exc:
                raise Retryable(f"the message log file cannot be written: {exc}") from exc
        return f"log:{message.idempotency_key[:16]}"


class HttpSmsOptions(GatewayOptions):
    url: str = Field(pattern=r"^https?://")
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    sender: str = "Shubbak"
    # The JSON body; each string value may use {to}, {text}, {sender}, {key}, {language}.
    body: dict[str, Any] = Field(default_factory=lambda: {"to": "{to}", "text": "{text}", "sender": "{sender}"})
    # Where the gateway's reference is in its JSON reply (dots for nested objects).
    id_field: str = "id"
    headers: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("body")
    @classmethod
    def _known_fields(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            _fill(value, {name: "" for name in BODY_FIELDS})
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"the body may only use {{{'}, {'.join(BODY_FIELDS)}}}: {exc!r}") from exc
        return value


BODY_FIELDS = ("to", "text", "sender", "key", "language")


# The gateways below look alike by the Gateway protocol they fill in (name, channels, options, send); what each
# send does is its own.
class HttpSmsGateway(Gateway):
    """SMS through an HTTP API: POST a JSON body with the header ``Idempotency-Key``; a 2xx reply carrying the
    message's id is success; 5xx, 408, 429, a malformed reply or no answer are retried; other 4xx are final."""

    name = "http"
    channels = ("sms",)
    options_schema = HttpSmsOptions

    def send(self, message: Outgoing) -> str:
        opts = self.options
        assert isinstance(opts, HttpSmsOptions)
        fields = {"to": message.recipient, "text": message.body, "sender": opts.sender,
                  "key": message.idempotency_key, "language": message.language}
        body = json.dumps(_fill(opts.body, fields), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json; charset=utf-8", "Accept": "application/json",
                   "Idempotency-Key": message.idempotency_key, **opts.headers}
        if opts.token is not None:
            headers["Authorization"] = f"Bearer {opts.token.get_secret_value()}"
        elif opts.username is not None:
            pair = f"{opts.username}:{opts.password.get_secret_value() if opts.password else ''}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        request = urllib.request.Request(opts.url, data=body, headers=headers, method="POST")  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=opts.timeout_seconds) as reply:  # noqa: S310
                text = reply.read(64 * 1024)
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code}: {exc.read(500).decode(errors='replace')}"
            if exc.code >= 500 or exc.code in (408, 429):
                raise Retryable(detail) from exc
            raise Permanent(detail) from exc
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            raise Retryable(f"the gateway did not answer: {getattr(exc, 'reason', exc)}") from exc
        return _reference(text, opts.id_field)


def _fill(value: Any, fields: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format_map(fields)
    if isinstance(value, dict):
        return {k: _fill(v, fields) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, fields) for v in value]
    return value


def _reference(text: bytes, id_field: str) -> str:
    try:
        found: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Retryable(f"malformed reply from the gateway: {text[:200]!r}") from exc
    for part in id_field.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    if not isinstance(found, str | int) or isinstance(found, bool) or str(found) == "":
        raise Retryable(f"malformed reply from the gateway (no '{id_field}'): {text[:200]!r}")
    return str(found)


class SmtpOptions(GatewayOptions):
    host: str
    port: int = Field(default=25, ge=1, le=65535)
    use_ssl: bool = False
    starttls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")
    # The right-hand side of each Message-ID (<idempotency key>@domain).
    message_id_domain: str = "shubbak.invalid"
    timeout_seconds: float = Field(default=10.0, gt=0)


# send() opens like HttpSmsGateway.send (typed options, then the message): alike in shape, not in protocol.
class SmtpGateway(Gateway):
    """E-mail over SMTP; the idempotency key is the Message-ID, which mail systems use to drop duplicates."""

    name = "smtp"
    channels = ("email",)
    options_schema = SmtpOptions

    def send(self, message: Outgoing) -> str:
        opts = self.options
        assert isinstance(opts, SmtpOptions)
        mail = EmailMessage()
        mail["From"] = opts.sender
        mail["To"] = message.recipient
        mail["Subject"] = message.subject or ""
        mail["Message-ID"] = f"<{message.idempotency_key}@{opts.message_id_domain}>"
        mail["Content-Language"] = message.language
        mail.set_content(message.body)
        try:
            client: smtplib.SMTP
            if opts.use_ssl:
                client = smtplib.SMTP_SSL(opts.host, opts.port, timeout=opts.timeout_seconds,
                                          context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(opts.host, opts.port, timeout=opts.timeout_seconds)
            with client:
                if opts.starttls:
                    client.starttls(context=ssl.create_default_context())
                if opts.username is not None:
                    client.login(opts.username, opts.password.get_secret_value() if opts.password else "")
                client.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            if all(code >= 500 for code in codes):
                raise Permanent(f"recipient refused: {exc.recipients}") from exc
            raise Retryable(f"recipient deferred: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            detail = f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"
            if 500 <= exc.smtp_code < 600:
                raise Permanent(detail) from exc
            raise Retryable(detail) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise Retryable(f"the mail server did not take the message: {exc}") from exc
        return str(mail["Message-ID"])


GATEWAYS: dict[str, type[Gateway]] = {cls.name: cls for cls in (LogGateway, HttpSmsGateway, SmtpGateway)}


def build(name: str, options: dict[str, Any], channel: str) -> Gateway:
    """The gateway ``name`` with ``options`` checked by its schema; Invalid names each problem."""
    cls = GATEWAYS.get(name)
    if cls is None or channel not in cls.channels:
        fit = sorted(n for n, c in GATEWAYS.items() if channel in c.channels)
        raise Invalid("messages.no_gateway", [{"loc": ["settings", f"{channel}_gateway"],
                                               "msg": say("field.one_of", choices=", ".join(fit))}],
                      channel=channel, name=name)
    try:
        return cls(cls.options_schema.model_validate(options))
    except ValidationError as exc:
        raise Invalid("messages.gateway_options_invalid",
                      [{"loc": ["settings", f"{channel}_gateway_options", *map(str, e["loc"])], "msg": e["msg"]}
                       for e in exc.errors()], channel=channel) from exc


def _with_log_file(name: str, options: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The development gateway's file comes from SHUBBAK_MESSAGE_LOG_FILE unless its options name one."""
    return {"file": settings.message_log_path, **options} if name == LogGateway.name else options


def for_channel(channel: str, settings: Settings) -> Gateway | None:
    """The configured gateway of ``channel`` (None: e-mail without a gateway)."""
    if channel == "sms":
        return build(settings.sms_gateway, _with_log_file(settings.sms_gateway, settings.sms_gateway_options,
                                                          settings), "sms")
    if channel == "email" and settings.email_gateway:
        return build(settings.email_gateway, _with_log_file(settings.email_gateway, settings.email_gateway_options,
                                                            settings), "email")
    return None
