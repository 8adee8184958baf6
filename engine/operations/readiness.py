"""Is this process ready for traffic? Each dependency checked, with the reason when it is not.

``/readyz`` (api/routes/health.py) answers 503 with these reasons, so a load balancer sends no request to a
process that would fail it: the database unreachable or its tables behind the code (``shubbak migrate`` not
run), the document store unreachable, the broker unreachable when one is set.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text

from engine.cases import documents
from engine.core.refusals import say
from engine.core.settings import Settings
from storage import migrate
from storage.db import engine_for

Check = Callable[[], str | None]


def checks(settings: Settings) -> dict[str, Check]:
    """Each check by name: it returns None when fine, else the reason (or raises, whose message is the reason).
    A reason is said by message id (engine/core/refusals.py), so ``/readyz`` gives it in Arabic too."""
    found: dict[str, Check] = {
        "database": lambda: _database(settings),
        "documents": lambda: _documents(settings),
    }
    if settings.broker_url:
        found["broker"] = lambda: _broker(settings)
    return found


def _database(settings: Settings) -> str | None:
    with engine_for(settings.database_url).connect() as conn:
        conn.execute(text("SELECT 1"))
        current = migrate.current_heads(conn)
    expected = migrate.heads()
    if current != expected:
        return say("readiness.migrations_behind", current=sorted(current) or "none", expected=sorted(expected))
    return None


def _documents(settings: Settings) -> str | None:
    documents.store_for(settings).prepare()  # the folder or bucket is there (made if missing), else raises
    return None


def _broker(settings: Settings) -> str | None:
    from kombu import Connection

    assert settings.broker_url
    timeout = settings.readiness_timeout_seconds
    with Connection(settings.broker_url, connect_timeout=timeout,
                    transport_options={"socket_timeout": timeout, "max_retries": 0}) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
    return None
