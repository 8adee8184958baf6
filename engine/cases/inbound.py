"""Messages sent to a case from outside: ``POST /api/cases/{id}/messages/{message_name}`` with a JSON payload.

A diagram waits for a message with a message catch event, a receive task, or (in a collaboration) the message
start event of a pool. A message whose every message flow drawn into it comes from a pool of the same case is
the engine's to deliver: nobody sends it from outside (403). Who may send the others: the roles the waiting
element's ``message_senders`` property names, else the element's lane (its pool's lane for a pool drawn without
lanes, engine/bpmn/compiler.py), or an admin. A message with correlation properties comes from another case
(engine/cases/correlated.py): nobody sends it from outside (403) unless the element's ``message_senders`` names
them; otherwise anyone holding the element's lane could forge another service's answer.
When the element names a form (``formJsonSchemaFilename``) the payload must satisfy it and carry only its
fields (a field the form does not declare is a 422 naming it, as for a task's form: forms/ownership.py).

Every delivery is the event ``message_received`` on the case's chain (element, message, payload, sender), which
replay delivers again. A message the diagram never waits for is a 404 (a wrong address: nothing was meant for
this case). A message the diagram knows but nothing waits for now is a 409 *and* an incident (reason
``message``) holding the payload: someone must look, and once the case waits for it the incident's retry
delivers it (engine/cases/incidents.py). Nothing is dropped in silence. ``payment_received`` is delivered only
by paying the case's bill (engine/payments/).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from engine.bpmn import runner
from engine.bpmn.compiler import PAYMENT_MESSAGE, CompiledProcess, MessageCatcher
from engine.cases import correlated, incidents, workflows
from engine.cases.lifecycle import Outcome, get_case, process_failed
from engine.catalog import processes
from engine.core import clock
from engine.core.errors import Conflict, Forbidden, NotFound
from engine.core.settings import Settings
from engine.people.policy import ADMIN
from engine.people.users import Actor
from storage.models.cases import Case

ACTION = "case.message"


def catchers_of(process: CompiledProcess, message: str) -> list[MessageCatcher]:
    """The diagram's elements that wait for ``message``, in the diagram's order."""
    return [c for c in process.message_catchers.values() if c.message == message]


def send(*, session: Session, case_id: int, message: str, payload: dict[str, Any], actor: Actor,
         settings: Settings) -> Outcome:
    """Deliver ``message`` with ``payload`` to the case; the case as the delivery left it."""
    case = get_case(session=session, case_id=case_id, actor=actor, settings=settings, action=ACTION)
    session.expunge(case)
    process = processes.cache.get(session, case.process_version_id, settings)
    if message == PAYMENT_MESSAGE:
        raise Conflict("message.paid_by_bill", message=message)
    known = catchers_of(process, message)
    if not known:
        raise NotFound("message.unknown", message=message, service_code=case.service_code)
    if all(c.between_pools for c in known):
        raise Forbidden("message.between_pools", message=message)
    if not any(c.from_outside for c in known):
        raise Forbidden("message.between_cases", message=message)
    known = [c for c in known if c.from_outside]
    # Only the elements this sender may send to count: a role allowed at one element must not reach another
    # element waiting for the same message name (now, or later through the incident's retry).
    allowed = known if actor.has(ADMIN) else [c for c in known if c.may_send(actor.roles)]
    if not allowed:
        raise Forbidden("message.not_a_sender", message=message,
                        roles=", ".join(sorted({r for c in known for r in (c.senders or (c.lane,))})))
    if case.status != "open":
        raise Conflict("case.already_status", status=case.status)
    workflow = workflows.load(case, process, settings)
    waiting = [c for c in allowed if c.element in runner.message_waiters(workflow, message)]
    catcher = waiting[0] if waiting else allowed[0]
    # The payload is checked before anything is kept: an incident never holds what the form refuses.
    payload = correlated.valid_payload(process, catcher, message, payload)
    if not waiting:
        _undeliverable(session, case, catcher, message, payload, actor)
    moment = clock.now()
    correlation = correlated.own_correlation(workflow, catcher)
    try:
        runner.deliver_message(workflow, catcher.element, message, payload, runner.limits(settings), at=moment,
                               correlations=correlation)
    except LookupError:  # pragma: no cover - checked just above on the same workflow
        _undeliverable(session, case, catcher, message, payload, actor)
    except runner.ProcessFailed as exc:
        refusal = process_failed(exc, process)
        if exc.limit != "busy":
            assert case.id is not None
            incidents.record(session, case_id=case.id, exc=exc, actor=actor.username,
                             kind="script_limit" if exc.limit is not None else "step_failed",
                             message=refusal.message)
        raise refusal from exc
    ready = workflows.save(session, case, workflow, process, actor=actor.username, settings=settings, at=moment,
                           events=[("message_received", catcher.element,
                                    {"message": message, "payload": payload, "sent_by": actor.username,
                                     **({"correlation": correlation} if correlation is not None else {})})])
    return Outcome(case, ready, process.version)


def _undeliverable(session: Session, case: Case, catcher: MessageCatcher, message: str, payload: dict[str, Any],
                   actor: Actor) -> None:
    """Record the incident of a message the case does not wait for now, then refuse it (409)."""
    assert case.id is not None
    failure = runner.ProcessFailed(f"the message '{message}' came while nothing waited for it", catcher.element)
    incident = incidents.record(session, case_id=case.id, exc=failure, actor=actor.username,
                                kind="message_undeliverable", task_name=catcher.element,
                                payload={"message": message, "payload": payload, "sent_by": actor.username},
                                reason="message_waiting")
    raise Conflict("message.not_waiting", message=message,
                   incident_id=incident.id if incident is not None else None)
