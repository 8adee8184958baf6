"""A message to a citizen that could not be delivered is an incident on its case.

The outbox (engine/messages/send.py) gives a message up when the gateway refused it for good (a bad number, a
refused mailbox) or when it failed at every attempt allowed (``SHUBBAK_MESSAGE_MAX_ATTEMPTS``). The outbox job
then calls :func:`open_incidents`: each failed message about a case opens an incident of reason ``message``
(engine/cases/incidents.py; one open incident per case and stage, a second failed message of the same stage
counts a repeat), with the gateway's last words as its message, and a ``message_undeliverable`` event on the
case's chain, in one transaction per message. The message keeps the incident's id, so the same failure is
never counted twice.

Retrying such an incident (:func:`resend`, after the gateway is fixed or the citizen's number corrected) puts its
failed messages back to be sent, to the case's phone as it is now, and resolves it: a new failure opens a new
one. The case itself never waited on the message: it goes on, and ends, whatever becomes of it.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select as core_select
from sqlalchemy import update
from sqlmodel import Session

from engine.cases import incident_rows, workflows
from engine.core import clock, nodes
from engine.core.errors import Conflict
from engine.core.settings import Settings
from engine.people.users import SYSTEM, Actor
from storage.db import write_lock
from storage.models.base import table
from storage.models.catalog import ProcessVersion
from storage.models.incidents import Incident
from storage.models.messages import OutboxMessage

log = logging.getLogger(__name__)

MESSAGE = "message"
UNDELIVERABLE = "message_undeliverable"
RESENT = "message_resent"
_OUTBOX = table(OutboxMessage)


def open_incidents(session: Session, settings: Settings) -> int:
    """Open (or count a repeat of) an incident for each failed message about a case that has none yet; how many
    messages were dealt with. A message whose case moved meanwhile is left to the next round."""
    failed = session.connection().execute(core_select(_OUTBOX).where(
        _OUTBOX.c.status == "failed", _OUTBOX.c.case_id.is_not(None), _OUTBOX.c.incident_id.is_(None),
        nodes.mine(_OUTBOX.c.node, settings))
        .order_by(_OUTBOX.c.id).limit(settings.message_batch)).all()
    session.rollback()
    done = 0
    for message in failed:
        try:
            done += int(_open_one(session, message))
        except Conflict:
            session.rollback()
            log.warning("message %s: its incident could not be recorded now", message.id)
    return done


def _open_one(session: Session, message: Any) -> bool:
    with write_lock(session):
        case = workflows.lock_case(session, message.case_id)
        version = session.get(ProcessVersion, case.process_version_id)
        assert version is not None
        element = message.stage
        text = f"{message.channel} to {message.recipient}: {message.last_error or 'not delivered'}"[:2000]
        now = clock.now()
        incident, _ = incident_rows.open_or_count(session, case=case, version=version.version, element=element,
                                                  reason=MESSAGE, text=text, now=now)
        incident.payload = {"message_ids": [*incident.payload.get("message_ids", []), message.id]}
        session.flush()
        taken = session.execute(update(_OUTBOX).where(
            _OUTBOX.c.id == message.id, _OUTBOX.c.status == "failed", _OUTBOX.c.incident_id.is_(None))
            .values(incident_id=incident.id))
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()  # another round took it (or it was put back to be sent)
            return False
        workflows.append_to_chain(session, case, actor=SYSTEM.username, events=[(UNDELIVERABLE, None, {
            "incident_id": incident.id, "incident_reason": MESSAGE, "message_id": message.id, "stage": message.stage,
            "channel": message.channel, "count": incident.count, "message": text})])
        workflows.commit_or_conflict(session)
        return True


def resend(session: Session, incident: Incident, actor: Actor) -> int:
    """Put the incident's failed messages back to be sent now (an SMS to the case's phone as it is now) and
    resolve the incident, with a ``message_resent`` event; how many messages go again. Conflict when none of
    its messages is failed any more (sent meanwhile by another retry)."""
    assert incident.id is not None
    incident_id = incident.id
    now = clock.now()
    with write_lock(session):
        case = workflows.lock_case(session, incident.case_id)
        ids = [int(i) for i in session.connection().execute(core_select(_OUTBOX.c.id).where(
            _OUTBOX.c.incident_id == incident_id, _OUTBOX.c.status == "failed")).scalars()]
        if not ids:
            session.rollback()
            raise Conflict("incident.not_open", status="resolved")
        session.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_(ids), _OUTBOX.c.channel == "sms")
                        .values(recipient=case.phone))
        session.execute(update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(
            status="pending", attempts=0, next_attempt_at=now, lease_until=None, incident_id=None))
        workflows.append_to_chain(session, case, actor=actor.username, events=[(RESENT, None, {
            "incident_id": incident_id, "message_ids": ids, "retried_by": actor.username})])
        row = session.get(Incident, incident_id)
        assert row is not None
        row.status, row.closed_at, row.closed_by = "resolved", now, actor.username
        row.close_reason = "the message was put back to be sent"
        session.add(row)
        workflows.commit_or_conflict(session)
    return len(ids)

