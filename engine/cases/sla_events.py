"""The SLA events on a case's chain, read back for whoever reacts to them inside the case's transaction.

engine/cases/escalation.py writes ``task_reminded``, ``task_escalated`` and ``task_reassigned`` with
``workflows.append_to_chain``, which calls engine/cases/hooks.py's writers. A writer of messages to officers (the
outbox) calls ``reminders_in(written.case, written.events)`` to learn which lanes to remind. This module imports
no engine.cases.workflows, so hooks may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TASK_REMINDED = "task_reminded"
TASK_ESCALATED = "task_escalated"
TASK_REASSIGNED = "task_reassigned"


@dataclass(frozen=True)
class Reminder:
    """A lane to remind: its task falls due at ``due_at`` (ISO 8601, UTC)."""

    case_id: int
    tracking_number: str
    service_code: str
    task_id: str
    task_name: str
    title: str
    lane: str
    due_at: str


@dataclass(frozen=True)
class Escalated:
    """A task that went up to ``level``, now also the business of ``role``."""

    case_id: int
    tracking_number: str
    task_id: str
    task_name: str
    lane: str
    level: int
    role: str | None


def reminders_in(case: Any, events: list[Any]) -> list[Reminder]:
    """The reminders among a transaction's events (``case``: the case row; ``events``: AuditEvent rows)."""
    return [Reminder(case_id=case.id, tracking_number=case.tracking_number, service_code=case.service_code,
                     task_id=e.data["task_id"], task_name=e.task or "", title=e.data.get("title", ""),
                     lane=e.data["lane"], due_at=e.data["due_at"])
            for e in events if e.kind == TASK_REMINDED]


def escalations_in(case: Any, events: list[Any]) -> list[Escalated]:
    """The escalations among a transaction's events, one per level reached."""
    return [Escalated(case_id=case.id, tracking_number=case.tracking_number, task_id=e.data["task_id"],
                      task_name=e.task or "", lane=e.data["lane"], level=e.data["level"], role=e.data.get("role"))
            for e in events if e.kind == TASK_ESCALATED]
