"""What staff see of a case's messages: every message, its stage, channel, status, attempts and last error."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from engine.cases import lifecycle as cases
from engine.core.settings import Settings
from engine.messages import outbox
from engine.people.users import Actor


def case_messages(*, session: Session, case_id: int, actor: Actor, settings: Settings) -> list[Any]:
    """The case's messages, oldest first, for staff who may read the case (NotFound, Forbidden otherwise)."""
    cases.get_case(session=session, case_id=case_id, actor=actor, settings=settings)
    return outbox.for_case(session.connection(), case_id)
