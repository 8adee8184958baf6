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
  chain (with the sender's tracking number, the correlation and the message's key), which replay delivers again.
  Why after the commit and not in the sender's transaction: one transaction writes one case, and a transaction
  never waits for another case's lock while it holds its own; two cases messaging each other at the same moment
  would otherwise deadlock on PostgreSQL, and on SQLite the one write lock would be taken twice.
* **What a receiver takes** (``refusal``): only from a case at its own center (``waits_for``: a case is written
  where it was opened), from the services its catch event's ``message_from`` names (else its own service), with
  a payload its form (``formJsonSchemaFilename``) declares field by field (``valid_payload``);
  ``payment_received`` never (only paying the bill delivers it, engine/payments/).
* **Exactly once**: the sender's step keeps each message (``case_message``, ``keep``: pending, under a key its
  ``message_sent`` names); the delivery settles it in the receiver's transaction (``settle``: a conditional
  update, so a second delivery of the same key rolls its step back). A crash between the sender's commit and
  the delivery leaves it pending for the periodic job (engine/cases/sent_messages.py).
* **Nothing takes it** (no case with that key waits for it, the receiver moved at the same moment, its diagram
  failed on it, or every waiting case refused it): an incident on the *sender's* case, reason
  ``message_waiting``, holding the message and saying why (``message_undeliverable`` on its chain; the kept row
  ``held``); retrying the incident looks for a receiver again and, when one takes it, puts ``message_passed`` on
  the sender's chain (engine/cases/incidents.py).

This module holds what the writer needs and must not import it (the writer calls it).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import uuid4

from sqlalchemy import insert, update
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from engine.bpmn import runner
from engine.bpmn.compiler import PAYMENT_MESSAGE, CompiledProcess, MessageCatcher
from engine.cases import incident_rows
from engine.core import clock, nodes
from engine.core.errors import Invalid
from forms import ownership
from forms.validation import checked
from storage.models.base import table
from storage.models.cases import Case, CaseMessage, MessageWait
from storage.models.catalog import ProcessVersion
from storage.models.incidents import Incident

#: The incident's reason: the same as a message sent from outside while nothing waited (engine/cases/inbound.py).
REASON = "message_waiting"
#: The refusal of a delivery that found its message taken already (by a retried or a swept delivery).
TAKEN = "message.delivered_already"
_MESSAGES = table(CaseMessage)


#: Why a message between cases called ``payment_received`` goes nowhere: only paying the bill delivers it.
PAID_BY_BILL = f"{PAYMENT_MESSAGE} comes only from paying the case's bill, never from another case"


def waits_for(session: Session, thrown: runner.Thrown, sender: Case) -> list[MessageWait]:
    """The waits for ``thrown`` with its correlation key at the sender's center, the oldest case first (not the
    sender's own): a case is written only where it was opened (center nodes), so a message never crosses to
    another center's case. Only the cases the sender's node owns (engine/core/nodes.py): a case owned by another
    node takes its messages there, never here."""
    return list(session.exec(select(MessageWait).join(Case, col(Case.id) == col(MessageWait.case_id)).where(
        MessageWait.message == thrown.message, MessageWait.correlation == thrown.correlation,
        MessageWait.case_id != sender.id, Case.center_id == sender.center_id, nodes.owned(Case.node, sender.node))
        .order_by(col(MessageWait.case_id), col(MessageWait.id))).all())


def refusal(process: CompiledProcess, catcher: MessageCatcher | None, receiver: Case, sender: Case,
            thrown: runner.Thrown) -> tuple[dict[str, Any], str | None]:
    """The payload the waiting element takes, and why it refuses the message (None when it takes it): a
    message from a service it does not take messages from, or a payload its form refuses (a field it does not
    declare, a wrong value)."""
    where = f"the case {receiver.tracking_number} waiting for it"
    if catcher is None:  # a wait its version does not know (it moved, or a called process's): nothing vouches
        return thrown.payload, f"{where} waits at an element its version does not know"
    if not catcher.takes_from(sender.service_code, receiver.service_code):
        return thrown.payload, (f"{where} takes it only from "
                                f"{', '.join(catcher.from_services or (receiver.service_code,))}, "
                                f"not from {sender.service_code}")
    try:
        return valid_payload(process, catcher, thrown.message, thrown.payload), None
    except Invalid as exc:
        fields = ", ".join(sorted({str(d.get("field") or "") for d in exc.details})) or "-"
        return thrown.payload, f"{where} refuses its payload ({fields})"


def received(thrown: runner.Thrown, sender: Case, sent_by: str, key: str | None,
             payload: dict[str, Any]) -> dict[str, Any]:
    """The receiver's ``message_received`` data: what replay delivers again, and where it came from."""
    out = {"message": thrown.message, "payload": payload, "sent_by": sent_by,
           "correlation": json.loads(thrown.correlation or "{}"), "from_case": sender.tracking_number}
    return out if key is None else {**out, "key": key}


def held(thrown: runner.Thrown, actor: str, key: str | None) -> dict[str, Any]:
    """What the sender's incident keeps of the message, to look for its receiver again."""
    out = {"message": thrown.message, "payload": thrown.payload,
           "correlation": json.loads(thrown.correlation or "{}"), "sent_by": actor}
    return out if key is None else {**out, "key": key}


def thrown_of(kept: dict[str, Any]) -> runner.Thrown:
    """The message an incident (``held``) keeps."""
    return runner.Thrown(str(kept.get("message") or ""), dict(kept.get("payload") or {}),
                         runner.correlation_key(dict(kept.get("correlation") or {})))


def is_held(kept: dict[str, Any]) -> bool:
    """Whether an incident's payload is a message to another case (``held``)."""
    return "correlation" in kept


def own_correlation(workflow: runner.Workflow, catcher: MessageCatcher | None) -> dict[str, Any] | None:
    """The correlation a message sent from outside to a correlated element comes with: the key the case waits
    with there (the sender addressed the case itself), so that SpiffWorkflow's correlation check takes it."""
    if catcher is None or not catcher.correlated:
        return None
    for element, _message, key in runner.correlated_waits(workflow):
        if element == catcher.element:
            return dict(json.loads(key))
    return None


def new_key() -> str:
    return uuid4().hex


def keep(conn: Connection, case: Case, sent: list[tuple[str, runner.Thrown]], actor: str, at: datetime) -> None:
    """Keep the messages the sender's step sent (key, message), in that step's transaction: ``pending`` until a
    delivery or the sender's incident settles them."""
    conn.execute(insert(_MESSAGES), [{
        "key": key, "sender_case_id": case.id, "message": thrown.message, "correlation": thrown.correlation or "{}",
        "payload": thrown.payload, "sent_by": actor, "sent_at": at, "status": "pending", "receiver_case_id": None,
        "settled_at": None} for key, thrown in sent])


def settle(conn: Connection, key: str, status: str, at: datetime, receiver_id: int | None = None) -> bool:
    """Mark the kept message ``status`` (``delivered`` to ``receiver_id``, or ``held``) inside the transaction
    that delivers it or holds it; False when another one settled it first (nothing changed). A held message is
    delivered later by its incident's retry."""
    still = ("pending", "held") if status == "delivered" else ("pending",)
    done = conn.execute(update(_MESSAGES).where(_MESSAGES.c.key == key, _MESSAGES.c.status.in_(still))
                        .values(status=status, receiver_case_id=receiver_id, settled_at=at))
    return int(done.rowcount or 0) == 1  # type: ignore[attr-defined]


def pending(session: Session, older_than: datetime, limit: int, after_id: int = 0) -> list[CaseMessage]:
    """Messages still pending since before ``older_than`` (their sender's process died before delivering them),
    oldest first, past ``after_id``; only those of the cases this node owns (engine/core/nodes.py): another
    node's are delivered there."""
    mine = nodes.of_my_cases(col(CaseMessage.sender_case_id), nodes.own_code(session))
    return list(session.exec(select(CaseMessage).where(CaseMessage.status == "pending",
                                                       col(CaseMessage.sent_at) <= older_than,
                                                       col(CaseMessage.id) > after_id, mine)
                             .order_by(col(CaseMessage.id)).limit(limit)).all())


def open_incident(session: Session, case: Case, thrown: runner.Thrown, actor: str, key: str | None,
                  refused: list[str], *, lost: bool = False) -> Incident:
    """Open the sender's incident for ``thrown`` (or count a repeat of the open one), inside the caller's
    transaction, which holds the case (engine/cases/incidents.py ``record`` does the same for failed steps).
    ``refused``: why the cases that waited for it did not take it. ``lost``: a message without correlation
    that no element of the case waited for (engine/cases/workflows.py ``save``); its retry delivers it to an
    element of the case that waits for it by then (a move to a corrected version)."""
    version = session.get(ProcessVersion, case.process_version_id)
    assert version is not None and case.id is not None
    now = clock.now()
    if lost:
        text = f"the message '{thrown.message}' was thrown while no element waited for it"[:2000]
    elif refused:
        text = f"the message '{thrown.message}' was refused: {'; '.join(refused)}"[:2000]
    else:
        text = f"the message '{thrown.message}' was sent while no case waited for it"[:2000]
    kept = ({"message": thrown.message, "payload": thrown.payload, "sent_by": actor, "lost": True} if lost
            else held(thrown, actor, key))
    element = thrown.message[:255]  # the incident's column; a diagram's message name is not bounded
    # The open incident of this very message (its key; a lost one's payload) counts a repeat; another message of
    # the same name is held by an incident of its own, never in the place of the first (lost for good then).
    incident, new = incident_rows.open_or_count(
        session, case=case, version=version.version, element=element, reason=REASON, text=text, now=now,
        matches=lambda found: (found.payload == kept if lost else dict(found.payload or {}).get("key") == key))
    if new:
        incident.task_name = element
    incident.payload = kept
    session.flush()
    return incident


def valid_payload(process: CompiledProcess, catcher: MessageCatcher, message: str,
                  payload: dict[str, Any]) -> dict[str, Any]:
    """A message's payload as the catching element's form reads it (engine/cases/inbound.py checks it before an
    incident keeps it, the retry again, and a message from another case before it is delivered); Invalid (422)
    with its problems when it does not fit: a field the form does not declare (or a read-only one, or the
    citizen's details) is refused by name whatever the schema's ``additionalProperties`` says, as for a task."""
    if not catcher.form:
        return payload
    payload, problems = checked(process.validator(catcher.form), payload)
    problems = [{**p, "loc": ["body", "payload", *p["loc"][2:]]}  # the payload is what was sent, not a task's data
                for p in [*ownership.with_form(process.forms[catcher.form], payload), *problems]]
    if problems:
        raise Invalid("message.payload_refused", problems, message=message)
    return payload
