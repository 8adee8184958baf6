"""What else a case's transaction writes when its chain grows: one explicit list, no import-time magic.

``workflows.save`` (the case advanced) and ``workflows.append_to_chain`` (events without a state change:
claims, documents, custody) call ``after_events`` inside their transaction, after the events are inserted and
before the commit. A hook writes its own rows on ``conn`` (outbox messages), so they
commit or roll back with the case. Hooks must not commit, and must not import ``engine.cases.workflows``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from engine.cases import owed
from engine.core import idempotency
from engine.messages import outbox as messages_outbox

if TYPE_CHECKING:  # pragma: no cover
    from engine.bpmn.compiler import CompiledProcess
    from engine.bpmn.runner import ReadyTask
    from engine.core.settings import Settings
    from storage.models.audit import AuditEvent
    from storage.models.cases import Case


@dataclass
class Written:
    """One transaction's growth of a case's chain.

    ``case`` is the row as loaded (before this command's values); ``values`` the columns being written
    (empty for ``append_to_chain``); ``ready`` the user tasks ready after the step (None when the state did
    not change); ``completed`` the (task id, username) this command completed, if any."""

    conn: Connection
    case: Case
    events: list[AuditEvent]
    at: datetime
    values: dict[str, Any] = field(default_factory=dict)
    ready: list[ReadyTask] | None = None
    completed: tuple[str, str] | None = None
    process: CompiledProcess | None = None
    settings: Settings | None = None


def after_events(written: Written) -> None:
    """Call every hook, in order, inside the case's transaction."""
    for hook in _HOOKS:
        hook(written)


# Only what must commit with the step. The report aggregates are built after commit from the events
# (engine/reports/projector.py), off the step's transaction.
_HOOKS: list[Any] = [messages_outbox.write_messages,
                     idempotency.note_case,  # the case a keyed request wrote (engine/core/idempotency.py)
                     owed.write_owed]  # a document the step reached is owed (rendered after commit: engine/outputs)
