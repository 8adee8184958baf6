"""Supervisors' bulk operations on ready tasks chosen by a filter: reassign them to an officer, return them to
their lane (under an automatic rule: to whom the rule gives them now), or cancel their cases with a reason.

A dry run answers every refusal each item would meet and writes nothing; a real run takes each item in its own
transaction (engine/cases/escalation.py ``reassign``, engine/cases/lifecycle.py ``cancel_case``), with its own
event on the case's chain, and lists what failed and why. At most ``SHUBBAK_BULK_MAX_ITEMS`` tasks at a time.
A task named by id that is no ready task of the actor's centers (another center's among them) is refused on
its own line (``bulk.not_yours``), never touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select as core_select
from sqlmodel import Session

from engine.cases import assignment, escalation, lifecycle, tasks
from engine.core import clock, nodes, refusals
from engine.core.errors import DomainError, Forbidden, Invalid
from engine.core.refusals import problem, say
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from forms.digits import ascii_digits
from storage.models.base import table
from storage.models.cases import Case, Task

Action = Literal["reassign", "return", "cancel"]
_TASKS = table(Task)
_CASES = table(Case)


@dataclass(frozen=True)
class Filter:
    """Which ready tasks: all given conditions hold. ``officer``: the one they are assigned to (``""``: to
    nobody); ``older_than_days``: waiting longer than that; ``overdue``: past their due time."""

    task_ids: tuple[str, ...] = ()
    lane: str | None = None
    service_code: str | None = None
    officer: str | None = None
    older_than_days: float | None = None
    overdue: bool | None = None


@dataclass
class Item:
    task_id: str
    case_id: int | None  # None (with the rest empty) for a named task that is no ready task of one's centers
    tracking_number: str
    lane: str
    name: str
    before: str | None
    after: str | None = None
    rule: str | None = None  # returned to an automatic rule's lane: the rule picks the officer when it runs
    ok: bool = True
    unchanged: bool = False  # already as asked (a retried request): nothing written
    error: str | None = None
    error_ar: str | None = None
    error_id: str | None = None  # the refusal's message id (engine/locale)

    def refused(self, message: str) -> None:
        self.ok, self.error = False, str(message)
        self.error_ar, self.error_id = refusals.arabic_or_general(message), getattr(message, "message_id", None)


@dataclass
class Result:
    action: str
    dry_run: bool
    items: list[Item] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(1 for item in self.items if not item.ok)


def matching(session: Session, actor: Actor, wanted: Filter, settings: Settings, now: datetime) -> list[Any]:
    """The ready tasks of the actor's centers that ``wanted`` names, oldest first; Invalid beyond the limit."""
    # With the node that owns each task's case: another node's is refused item by item (engine/core/nodes.py).
    query = (core_select(_TASKS, _CASES.c.node.label("case_node"))
             .join_from(_TASKS, _CASES, _CASES.c.id == _TASKS.c.case_id).where(_TASKS.c.state == "ready"))
    seen = policy.centers_seen(session, actor)
    if seen is not None:
        query = query.where(_TASKS.c.center_id.in_(seen))
    if wanted.task_ids:
        query = query.where(_TASKS.c.id.in_(sorted(set(wanted.task_ids))))
    if wanted.lane:
        query = query.where(_TASKS.c.lane == wanted.lane)
    if wanted.service_code:
        query = query.where(_TASKS.c.service_code == wanted.service_code)
    if wanted.officer is not None:
        query = query.where(_TASKS.c.claimed_by.is_(None) if wanted.officer == "" else
                            _TASKS.c.claimed_by == wanted.officer)
    if wanted.older_than_days is not None:
        query = query.where(_TASKS.c.created_at < now - timedelta(days=wanted.older_than_days))
    if wanted.overdue is not None:
        late = _TASKS.c.due_at.is_not(None) & (_TASKS.c.due_at < now)
        query = query.where(late if wanted.overdue else ~late)
    rows = session.connection().execute(query.order_by(_TASKS.c.created_at, _TASKS.c.id)
                                        .limit(settings.bulk_max_items + 1)).all()
    if len(rows) > settings.bulk_max_items:
        raise Invalid("bulk.too_many", [problem("filter", "bulk.too_many", loc=["body", "filter"],
                                                max=settings.bulk_max_items)], max=settings.bulk_max_items)
    return list(rows)


def run(*, session: Session, actor: Actor, action: Action, wanted: Filter, to: str | None, reason: str | None,
        dry_run: bool, settings: Settings) -> Result:
    """Apply ``action`` to every task ``wanted`` names (or, in a dry run, say what would happen)."""
    if not actor.has(*escalation.SUPERVISING):
        raise Forbidden("policy.only_for", who="admin, supervisor")
    if action == "reassign" and not to:
        raise Invalid("bulk.to_required", [problem("to", "bulk.to_required", loc=["body", "to"])])
    if action == "cancel" and not (reason or "").strip():
        raise Invalid("reason.required", [problem("reason", "bulk.reason_required", loc=["body", "reason"])])
    # Ids copied from a page in Arabic may carry Arabic-Indic digits: the same task.
    wanted = replace(wanted, task_ids=tuple(ascii_digits(t).strip().lower() for t in wanted.task_ids))
    rows = matching(session, actor, wanted, settings, clock.now())
    session.rollback()  # end the read: each item is its own transaction
    result = Result(action=action, dry_run=dry_run)
    cases_done: set[int] = set()
    for row in rows:
        item = Item(task_id=row.id, case_id=row.case_id, tracking_number=row.tracking_number, lane=row.lane,
                    name=row.name, before=row.claimed_by, after=to if action == "reassign" else None)
        result.items.append(item)
        try:
            nodes.refuse_elsewhere(session, row.case_node)  # a dry run says so too
            if action == "cancel":
                item.after = None
                if row.case_id in cases_done:
                    continue  # the case of an earlier task of the same case: cancelled once
                cases_done.add(row.case_id)
                if dry_run:
                    case = lifecycle.load_case(session, row.case_id)
                    policy.check_case(session, actor, "case.cancel", case, settings)
                else:
                    lifecycle.cancel_case(session=session, case_id=row.case_id, reason=str(reason).strip(),
                                          actor=actor, settings=settings)
            elif action == "reassign" and row.claimed_by == to:
                item.unchanged = True  # already theirs (the same request again): no second event
            elif dry_run:
                task = escalation.check_reassign(session=session, task_id=row.id, to=item.after, actor=actor,
                                                 settings=settings)
                if action == "return":
                    rule = tasks.lane_rule(session, task, settings)[0]
                    item.rule = rule if rule in assignment.AUTOMATIC else None
            else:
                done = escalation.reassign(session=session, task_id=row.id, to=item.after, actor=actor,
                                           settings=settings, reason=reason)
                item.after = done.claimed_by
        except DomainError as exc:
            session.rollback()
            item.refused(exc.message)
        finally:
            if dry_run:
                session.rollback()
    # Tasks named by id that are no ready task of the actor's centers (another center's, done, or none at all:
    # the answer is the same, so that it tells nothing of another center): refused each, with the reason.
    found = {row.id for row in rows}
    for task_id in dict.fromkeys(wanted.task_ids):
        if task_id not in found:
            item = Item(task_id=task_id, case_id=None, tracking_number="", lane="", name="", before=None)
            item.refused(say("bulk.not_yours", task_id=task_id))
            result.items.append(item)
    return result
