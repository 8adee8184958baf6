"""Messages between cases: a message one case throws that no pool of its own catches, and that has correlation
properties (SpiffWorkflow's ``correlationProperty`` with its ``correlationPropertyRetrievalExpression``, and a
``correlationKey`` naming it), goes to the case of another (or the same) service that waits for it with the same
correlation key: e.g. the national ID, or a reference the two cases share.

* **Sending**: the step that throws it records ``message_sent`` (message, correlation, payload) on the sender's
  chain, in its own transaction (engine/cases/workflows.py ``save``).
* **Finding the receiver**: each case's waiting catch events of correlated messages are a projection
  (``message_wait``: message, and the correlation key read on the waiting case's data: SpiffArena's
  ``processVariableCorrelation`` expression, else the message's retrieval expressions), rewritten with every
  step of a case whose diagram catches such a message; the message goes to the oldest case that waits with the
  same key.
* **Delivering**: after the sender's step has committed, in a transaction of the receiver's own, through the one
  writer (``workflows.deliver_to_waiting``) like a message from outside: ``message_received`` on the receiver's
  chain (with the sender's tracking number and the correlation), which replay delivers again. Why after the
  commit and not in the sender's transaction: one transaction writes one case, and a transaction never waits for
  another case's lock while it holds its own; two cases messaging each other at the same moment would otherwise
  deadlock on PostgreSQL, and on SQLite the one write lock would be taken twice. The price: the sender's step
  stands even when the delivery fails, so a failure is never silent:
* **Nothing waits** (no case with that key waits for it, or the receiver moved at the same moment, or its
  diagram failed on it): an incident on the *sender's* case, reason ``message_waiting``, holding the message
  (``message_undeliverable`` on its chain); retrying the incident looks for a receiver again and, when one takes
  it, puts ``message_passed`` on the sender's chain (engine/cases/incidents.py).

This module holds what the writer needs and must not import it (the writer calls it).
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, col, select

from engine.bpmn import runner
from engine.core import clock
from storage.models.cases import Case, MessageWait
from storage.models.catalog import ProcessVersion
from storage.models.incidents import Incident

#: The incident's reason: the same as a message sent from outside while nothing waited (engine/cases/inbound.py).
REASON = "message_waiting"


def waits_for(session: Session, thrown: runner.Thrown, sender_id: int | None) -> list[MessageWait]:
    """The waits for ``thrown`` with its correlation key, the oldest case first (not the sender's own)."""
    return list(session.exec(select(MessageWait).where(
        MessageWait.message == thrown.message, MessageWait.correlation == thrown.correlation,
        MessageWait.case_id != sender_id).order_by(col(MessageWait.case_id), col(MessageWait.id))).all())


def received(thrown: runner.Thrown, sender: Case, actor: str) -> dict[str, Any]:
    """The receiver's ``message_received`` data: what replay delivers again, and where it came from."""
    return {"message": thrown.message, "payload": thrown.payload, "sent_by": actor,
            "correlation": json.loads(thrown.correlation or "{}"), "from_case": sender.tracking_number}


def held(thrown: runner.Thrown, actor: str) -> dict[str, Any]:
    """What the sender's incident keeps of the message, to look for its receiver again."""
    return {"message": thrown.message, "payload": thrown.payload,
            "correlation": json.loads(thrown.correlation or "{}"), "sent_by": actor}


def thrown_of(kept: dict[str, Any]) -> runner.Thrown:
    """The message an incident (``held``) keeps."""
    return runner.Thrown(str(kept.get("message") or ""), dict(kept.get("payload") or {}),
                         runner.correlation_key(dict(kept.get("correlation") or {})))


def is_held(kept: dict[str, Any]) -> bool:
    """Whether an incident's payload is a message to another case (``held``)."""
    return "correlation" in kept


def open_incident(session: Session, case: Case, thrown: runner.Thrown, actor: str) -> Incident:
    """Open the sender's incident for ``thrown`` (or count a repeat of the open one), inside the caller's
    transaction, which holds the case (engine/cases/incidents.py ``record`` does the same for failed steps)."""
    version = session.get(ProcessVersion, case.process_version_id)
    assert version is not None and case.id is not None
    now = clock.now()
    text = f"the message '{thrown.message}' was sent while no case waited for it"
    incident = session.exec(select(Incident).where(
        Incident.case_id == case.id, Incident.element_id == thrown.message, Incident.reason == REASON,
        Incident.status == "open")).first()
    if incident is None:
        incident = Incident(case_id=case.id, center_id=case.center_id, service_code=case.service_code,
                            version=version.version, element_id=thrown.message, reason=REASON, message=text,
                            task_name=thrown.message, payload=held(thrown, actor), opened_at=now, last_at=now)
    else:
        incident.count += 1
        incident.last_at = now
        incident.payload = held(thrown, actor)
    session.add(incident)
    session.flush()
    return incident
