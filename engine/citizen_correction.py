"""The one way the citizen's contact details change on a case: an audited correction with a reason.

No step writes the citizen's details (forms/ownership.py). When the citizen's phone, e-mail or language of
messages was taken down wrong, or has changed, the front desk or a supervisor of the case's center corrects
them here, saying why. It is one command: the case's data and its phone column change, a ``citizen_corrected``
event records what was there before and what is there now (replay applies it again), and in the same
transaction the outbox gets a message to the old phone and to the new one (engine/messages/outbox.py), so a
citizen whose number was changed behind their back hears of it.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from engine import clock, policy, processes, workflows
from engine.bpmn import runner
from engine.cases import load_case
from engine.errors import Conflict, Forbidden, Invalid
from engine.identity import check_citizen
from engine.refusals import problem
from engine.settings import Settings
from engine.users import Actor
from forms.ownership import CITIZEN_FIELD
from storage.models import Case

#: The citizen's details a correction may change. The national ID and the name say who the case is for:
#: a case for someone else is a new case, not a correction.
CONTACT_FIELDS = ("phone", "email", "language")
KIND = "citizen_corrected"


def _field_problem(field: str, kind: str, message_id: str, **params: Any) -> dict[str, Any]:
    return problem(field, message_id, loc=["body", field], kind=kind, **params)


def may_correct(actor: Actor, settings: Settings) -> bool:
    return policy.may(actor, "case.correct", settings)


def correct(*, session: Session, case_id: int, changes: dict[str, Any], reason: str, actor: Actor,
            settings: Settings) -> Case:
    """Correct the contact details of case ``case_id`` with ``changes`` (a subset of ``CONTACT_FIELDS``; an
    empty e-mail removes it). Forbidden for other roles and other centers, NotFound for no such case,
    Invalid for a missing reason, a field that is not a contact detail, a bad phone or no change at all,
    Conflict when the case is no longer open."""
    if not may_correct(actor, settings):
        raise Forbidden("correction.not_allowed")
    case = load_case(session, case_id)
    policy.require_center(session, actor, case.center_id)
    text = (reason or "").strip()
    problems = []
    if not text:
        problems.append(_field_problem("reason", "missing", "correction.reason_missing"))
    elif len(text) > settings.correction_reason_max_chars:
        problems.append(_field_problem("reason", "too_long", "correction.reason_too_long",
                                 limit=settings.correction_reason_max_chars))
    for field in sorted(set(changes) - set(CONTACT_FIELDS)):
        problems.append(_field_problem(field, "ownership.not_contact", "correction.not_contact", name=field))
    if problems:
        raise Invalid("correction.invalid", problems)
    if case.status != "open":
        raise Conflict("correction.case_closed", status=case.status)
    before: dict[str, Any] = dict(case.data.get(CITIZEN_FIELD) or {})
    proposed = {**before, **{k: v for k, v in changes.items() if v is not None}}
    if "email" in changes and not str(changes["email"] or "").strip():
        proposed.pop("email", None)
    person = check_citizen(proposed, settings)  # Invalid (422) with the field, in English and Arabic
    after = person.model_dump(exclude_none=True)
    if after == before:
        raise Invalid("correction.nothing_to_correct", [_field_problem("", "unchanged", "correction.unchanged")])
    process = processes.cache.get(session, case.process_version_id, settings)
    workflow = workflows.load(case, process, settings)
    runner.set_field(workflow, CITIZEN_FIELD, after)
    changed = sorted(k for k in CONTACT_FIELDS if before.get(k) != after.get(k))
    workflows.save(session, case, workflow, process, actor=actor.username, settings=settings, at=clock.now(),
                   events=[(KIND, None, {"before": before, "after": after, "changed": changed, "reason": text})],
                   extra={"phone": person.phone})
    return case
