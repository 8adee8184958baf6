"""Every request measured and logged once: a request id, the route's template, the user, the status, the time.

One pure ASGI middleware (streams such as the display boards' pass through untouched):

* the request id is the caller's ``X-Request-ID`` when it is short and made of safe characters (a proxy's id
  carries through), else a new one; it is echoed in the response's ``X-Request-ID`` and put on every log line
  written while the request runs;
* the Prometheus counters are labelled by the route's *template* (``/api/cases/{case_id}``), never the path
  a client sent: no ids, no national numbers, no phone numbers, and no way to grow the labels without end;
* one log line per request, as JSON: ``request_id``, ``user``, ``method``, ``route``, ``status``,
  ``duration_ms``. Never the query string, never a body.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from prometheus_client import Counter, Histogram
from pythonjsonlogger.json import JsonFormatter
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.middleware import HttpMiddleware
from engine.core.settings import Settings

ACCESS = logging.getLogger("shubbak.access")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]+")  # whole (fullmatch): "$" would let a last "\n" through
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "<unmatched>"

# A request's id and user, for the log lines written while it runs. A dict, not a value: the dependencies run
# in worker threads with a copy of the context, and the user they find must reach the middleware's last line.
_REQUEST: ContextVar[dict[str, Any] | None] = ContextVar("shubbak_request", default=None)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REQUESTS = Counter("shubbak_http_requests_total", "HTTP requests answered, by method, route template and status",
                   ["method", "route", "status"])
LATENCY = Histogram("shubbak_http_request_duration_seconds",
                    "Time to answer an HTTP request, by method, route template and status",
                    ["method", "route", "status"], buckets=LATENCY_BUCKETS)
# Each (method, route template, status)'s two series, found once: the labels are bounded (the route's template,
# never the path), so this holds no more than the two metrics hold themselves.
_SERIES: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}


def _series(method: str, route: str, code: str) -> tuple[Counter, Histogram]:
    found = _SERIES.get((method, route, code))
    if found is None:
        found = _SERIES[(method, route, code)] = (REQUESTS.labels(method, route, code),
                                                  LATENCY.labels(method, route, code))
    return found


def note_user(username: str) -> None:
    """Called where the signed-in user becomes known (api/deps.py): it goes on the request's log line."""
    current = _REQUEST.get()
    if current is not None:
        current["user"] = username


def request_id() -> str | None:
    current = _REQUEST.get()
    return None if current is None else str(current["request_id"])


def accepted_id(sent: str | None, max_chars: int) -> str:
    """The caller's id when it is sane (bounded, safe characters: no spaces, quotes or line breaks that could
    forge a log line), else a new random one."""
    if sent and len(sent) <= max_chars and _SAFE_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


def route_template(scope: Scope) -> str:
    """The template of the route that answered (``/api/cases/{case_id}``), or one word when none did."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str) and path:
        return path
    return UNMATCHED


class Observe(HttpMiddleware):
    """The middleware: outermost of the app's own, so it sees the final status of every answer."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        super().__init__(app)
        self.max_chars = settings.request_id_max_chars

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), None)
        rid = accepted_id(sent, self.max_chars)
        context: dict[str, Any] = {"request_id": rid, "user": None}
        token = _REQUEST.set(context)
        status = [500]  # an exception that escapes the app is answered 500 by Starlette's outermost layer
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                MutableHeaders(scope=message).append("X-Request-ID", rid)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            took = time.perf_counter() - started
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = route_template(scope)
            code = str(status[0])
            requests, latency = _series(method, route, code)
            requests.inc()
            latency.observe(took)
            if ACCESS.isEnabledFor(logging.INFO):
                fields = {"user": context["user"] or _page_user(scope), "method": method, "route": route,
                          "status": status[0], "duration_ms": round(took * 1000, 2)}
                ACCESS.info("%s %s %s %.1f ms", method, route, code, took * 1000, extra=fields)
            _REQUEST.reset(token)


def _page_user(scope: Scope) -> str | None:
    """The signed-in reader of a page: admin_ui keeps its viewer in the request's state."""
    state = scope.get("state")
    viewer = state.get("viewer") if isinstance(state, dict) else None
    name = getattr(getattr(viewer, "actor", None), "username", None)
    return name if isinstance(name, str) else None


class RequestIdFilter(logging.Filter):
    """Puts the running request's id on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id()
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                         rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                         json_ensure_ascii=False)


def logging_config(settings: Settings, level: str = "info", access: bool = True) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` of a serving process (uvicorn's ``log_config``): everything to stderr,
    as JSON lines or plain text (``SHUBBAK_LOG_FORMAT``). uvicorn's own access log is left off: it prints raw
    paths with their query strings; our line above replaces it (``access=False`` silences ours too)."""
    formatter: dict[str, Any] = ({"()": json_formatter} if settings.log_format == "json" else
                                 {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"})
    return {
        "version": 1, "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"default": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "default", "filters": ["request_id"],
                                "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {"uvicorn": {"handlers": [], "propagate": True},
                    "uvicorn.error": {"handlers": [], "propagate": True},
                    "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
                    # HTTP clients (SMS and e-mail gateways) log each URL they call at INFO: URLs carry numbers.
                    "httpx": {"level": "WARNING"}, "httpx2": {"level": "WARNING"}, "httpcore": {"level": "WARNING"},
                    "urllib3": {"level": "WARNING"},
                    "shubbak.access": {"level": "INFO" if access else "WARNING"}},
    }
