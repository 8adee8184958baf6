"""Outbox rows for the sending tests: a case whose "received" SMS waits, read back from the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlmodel import Session

from harness.api import Api
from storage.db import engine_for
from storage.models.base import table
from storage.models.messages import OutboxMessage
from tests.support.audit import REGISTER, deploy, login

OUTBOX = table(OutboxMessage)


def one_message(api: Api, due: datetime, citizen: dict[str, Any] | None = None) -> OutboxMessage:
    """Open and register an audit_case case: its "received" messages wait, due at ``due``; the department's
    message it also wrote is set aside (failed), so that the test watches one message per channel."""
    deploy(api)
    case = api.open_case("audit_case", login(api, "clerk_hoda"), citizen=citizen).json()
    assert api.complete(case["tasks"][0]["id"], REGISTER, login(api, "clerk_hoda")).status_code == 200
    with Session(engine_for(api.settings.database_url)) as session:
        session.execute(update(OUTBOX).where(OUTBOX.c.stage != "received").values(status="failed"))
        session.execute(update(OUTBOX).values(next_attempt_at=due))
        session.commit()
    return received(api)[0]


def received(api: Api) -> list[Any]:
    """The "received" messages, oldest first."""
    with Session(engine_for(api.settings.database_url)) as session:
        return list(session.execute(select(OutboxMessage).where(OutboxMessage.stage == "received")
                                    .order_by(OutboxMessage.id)).scalars())
