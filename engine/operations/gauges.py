"""What an operator watches that needs a query: open cases, ready tasks, the outbox, due timers, the ledger.

Read at scrape time (api/metrics.py), so each figure is one indexed aggregate: open cases by service
(``ix_case_status_service``), ready tasks by lane (``ix_task_inbox``), the outbox by status and its oldest due
message (``ix_outbox_due``), due timers (``case_file.timer_due_at``), the last seal (``audit_seal.seq``), open
incidents by reason (``ix_incident_status_center``), how far the reports' projector is behind the audit trail
(its cursors, ``engine/reports/projector.freshness``), and on a node that replicates, what each subscription last
heard (``node_link``, kept by the ``node_link`` job).
The outbox and the due timers are this node's own: central holds a center node's messages and cases too, which
only that node sends and fires (docs/center-nodes.md), so counting them at central would raise "outbox stuck" and
"timers late" there whenever a center's line is down.
Nothing here reads a case's state or data, and nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlmodel import Session

from engine.core import clock, nodes
from engine.operations import node_link
from engine.reports import projector
from storage.models.audit import AuditSeal, NodeSeal
from storage.models.base import tables
from storage.models.cases import Case, Task
from storage.models.incidents import Incident
from storage.models.messages import OutboxMessage

_CASES, _TASKS, _OUTBOX, _SEALS, _INCIDENTS, _NODE_SEALS = tables(Case, Task, OutboxMessage, AuditSeal, Incident,
                                                                  NodeSeal)
UNSENT = ("pending", "sending", "failed")


@dataclass(frozen=True)
class Gauges:
    open_cases: dict[str, int] = field(default_factory=dict)  # by service code
    ready_tasks: dict[str, int] = field(default_factory=dict)  # by lane
    outbox: dict[str, int] = field(default_factory=dict)  # by status: pending, sending, failed
    outbox_oldest_due_seconds: float = 0.0  # how long the oldest pending message has been due (0: none)
    timers_due: int = 0  # open cases whose timer is due and not yet fired
    timers_oldest_due_seconds: float = 0.0
    ledger_age_seconds: float = float("inf")  # since the last seal; infinite when nothing was ever sealed
    seals: int = 0
    open_incidents: dict[str, int] = field(default_factory=dict)  # by reason (engine/cases/incidents.py)
    links: list[Line] = field(default_factory=list)  # this node's subscriptions, when it replicates
    # At central: since each center node's latest seal held here (its copies, ``node_seal``), by its code.
    node_ledger_age_seconds: dict[str, float] = field(default_factory=dict)
    reports_behind: int = 0  # committed audit events the reports do not count yet
    reports_age_seconds: float = float("inf")  # since the projector's last round; infinite when it never ran


@dataclass(frozen=True)
class Line:
    """A subscription of this node: since when it last heard its publisher (infinite: never), and whether the
    ``node_link`` job notes it as down."""

    subscription: str
    center: str  # the center node's code at central; empty for a center node's line to central
    heard_seconds: float
    down: bool


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _age(now: datetime, moment: datetime | None) -> float:
    return max(0.0, (now - _aware(moment)).total_seconds()) if moment is not None else 0.0


def read(session: Session, now: datetime | None = None, *, replicates: bool = False) -> Gauges:
    """Every figure above, in one read-only transaction (rolled back at the end); the lines of a node that
    ``replicates`` (central or a center node) too."""
    now = now or clock.now()
    conn = session.connection()
    code = nodes.own_code(conn)
    try:
        open_cases: dict[str, int] = dict(conn.execute(  # type: ignore[arg-type]
            select(_CASES.c.service_code, func.count()).where(_CASES.c.status == "open")
            .group_by(_CASES.c.service_code)).all())
        ready: dict[str, int] = dict(conn.execute(  # type: ignore[arg-type]
            select(_TASKS.c.lane, func.count()).where(_TASKS.c.state == "ready").group_by(_TASKS.c.lane)).all())
        outbox: dict[str, int] = dict(conn.execute(  # type: ignore[arg-type]
            select(_OUTBOX.c.status, func.count())
            .where(_OUTBOX.c.status.in_(UNSENT), nodes.owned(_OUTBOX.c.node, code))
            .group_by(_OUTBOX.c.status)).all())
        oldest_message = conn.execute(select(func.min(_OUTBOX.c.next_attempt_at))
                                      .where(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= now,
                                             nodes.owned(_OUTBOX.c.node, code))).scalar()
        due = (_CASES.c.status == "open", _CASES.c.timer_due_at <= now, nodes.owned(_CASES.c.node, code))
        timers, oldest_timer = conn.execute(select(func.count(), func.min(_CASES.c.timer_due_at)).where(*due)).one()
        incidents: dict[str, int] = dict(conn.execute(  # type: ignore[arg-type]
            select(_INCIDENTS.c.reason, func.count()).where(_INCIDENTS.c.status == "open")
            .group_by(_INCIDENTS.c.reason)).all())
        last = conn.execute(select(_SEALS.c.seq, _SEALS.c.sealed_at).order_by(_SEALS.c.seq.desc()).limit(1)).first()
        links = node_link.links(conn) if replicates else []
        node_sealed: dict[str, str] = dict(conn.execute(  # type: ignore[arg-type]
            select(_NODE_SEALS.c.node, func.max(_NODE_SEALS.c.sealed_at)).group_by(_NODE_SEALS.c.node)).all()
        ) if replicates and code is None else {}
        counted_at, behind = projector.freshness(conn)
    finally:
        session.rollback()
    return Gauges(
        open_cases={str(k): int(v) for k, v in open_cases.items()},
        ready_tasks={str(k): int(v) for k, v in ready.items()},
        outbox={status: int(outbox.get(status, 0)) for status in UNSENT},
        outbox_oldest_due_seconds=_age(now, oldest_message),
        timers_due=int(timers), timers_oldest_due_seconds=_age(now, oldest_timer),
        ledger_age_seconds=_age(now, clock.parse(last.sealed_at)) if last is not None else float("inf"),
        seals=int(last.seq) if last is not None else 0,
        open_incidents={str(k): int(v) for k, v in incidents.items()},
        node_ledger_age_seconds={str(node): _age(now, clock.parse(at)) for node, at in node_sealed.items()},
        links=[Line(link.name, link.center or "", _age(now, link.heard_at) if link.heard_at else float("inf"),
                    link.down_since is not None) for link in links],
        reports_behind=behind,
        reports_age_seconds=_age(now, counted_at) if counted_at is not None else float("inf"),
    )
