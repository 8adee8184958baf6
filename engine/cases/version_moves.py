"""Moving running cases onto a newer version of their service (not to be confused with storage migrations).

``dry_run`` lists every open case of the service's older versions with whether it can move to the target
version and, when not, why (engine/bpmn/diff.py: SpiffWorkflow's workflow diff; a case whose completed
part changed cannot move). ``migrate`` moves every movable case, each in its own transaction: the workflow
is re-pointed at the new spec, advanced, and saved through ``workflows.save`` with the case's new
``process_version_id`` and a ``case_migrated`` audit event. A case that fails, or that someone else changed
in the meantime, stays whole on its old version and is reported as not moved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from engine.bpmn import diff as bpmn_migrate
from engine.bpmn import runner
from engine.cases import workflows
from engine.catalog import processes
from engine.core import clock, nodes
from engine.core.errors import Conflict, DomainError, NotFound
from engine.core.refusals import Text, Words, say
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from storage import trouble
from storage.models.cases import Case
from storage.models.catalog import ProcessVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CaseMove:
    """One case's answer: ``movable`` (dry run), ``moved`` (migration), and ``reason`` when not."""

    case_id: int
    tracking_number: str
    from_version: int
    movable: bool
    reason: str | None = None
    moved: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def target_version(session: Session, service_code: str, version: int) -> ProcessVersion:
    row = session.exec(select(ProcessVersion).where(ProcessVersion.service_code == service_code,
                                                    ProcessVersion.version == version)).first()
    if row is None:
        raise NotFound("service.no_version", service_code=service_code, version=version)
    if row.retired:
        raise Conflict("migration.version_retired", version=version, service_code=service_code)
    return row


def _open_cases(session: Session, target: ProcessVersion) -> list[tuple[Case, ProcessVersion]]:
    rows = session.exec(select(Case, ProcessVersion)
                        .join(ProcessVersion, col(Case.process_version_id) == col(ProcessVersion.id))
                        .where(col(Case.service_code) == target.service_code, col(Case.status) == "open",
                               col(ProcessVersion.version) < target.version,
                               # this node's cases: another node moves its own (engine/core/nodes.py)
                               nodes.owned(col(Case.node), nodes.own_code(session)))
                        .order_by(col(Case.id))).all()
    return [(case, version) for case, version in rows]


def _check(actor: Actor) -> None:
    policy.require(actor, "services.deploy")


def dry_run(*, session: Session, service_code: str, to_version: int, actor: Actor,
            settings: Settings) -> list[CaseMove]:
    """Every open case of an older version, and whether it can move to ``to_version``. Writes nothing."""
    _check(actor)
    target = target_version(session, service_code, to_version)
    assert target.id is not None
    new = processes.cache.get(session, target.id, settings)
    out = []
    for case, version in _open_cases(session, target):
        assert case.id is not None
        old = processes.cache.get(session, case.process_version_id, settings)
        reasons = bpmn_migrate.blockers(runner.load(old, case.state), new)
        out.append(CaseMove(case.id, case.tracking_number, version.version, not reasons,
                            _joined(reasons) if reasons else None))
    session.rollback()
    return out


def migrate(*, session: Session, service_code: str, to_version: int, actor: Actor,
            settings: Settings) -> list[CaseMove]:
    """Move every movable open case of an older version to ``to_version``, one transaction per case."""
    _check(actor)
    target = target_version(session, service_code, to_version)
    candidates = [(case.id, case.tracking_number, version.version)
                  for case, version in _open_cases(session, target)]
    session.rollback()
    out = []
    for case_id, tracking_number, from_version in candidates:
        assert case_id is not None
        try:
            reason = move_case(session=session, case_id=case_id, target=target, actor=actor, settings=settings)
        except (DomainError, runner.ProcessFailed) as exc:
            session.rollback()
            out.append(CaseMove(case_id, tracking_number, from_version, True, _why(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - one case's failure must not stop (or half-move) the others
            session.rollback()
            if trouble.is_trouble(exc):
                raise  # the database's, not the case's: a 503, and the cases moved so far stay moved
            log.exception("moving case %s to version %s failed", case_id, target.version)
            # A database error's text holds its statement and values (citizens' details): the log has it, not the
            # answer.
            why = type(exc).__name__ if isinstance(exc, SQLAlchemyError) else f"{type(exc).__name__}: {exc}"
            out.append(CaseMove(case_id, tracking_number, from_version, True, why))
            continue
        out.append(CaseMove(case_id, tracking_number, from_version, reason is None, reason, moved=reason is None))
    return out


def _why(exc: Exception) -> str:
    if isinstance(exc, runner.ProcessFailed):
        return say("migration.cannot_go_on", reason=exc.message)
    if isinstance(exc, DomainError):
        return exc.message
    return str(exc)


def move_case(*, session: Session, case_id: int, target: ProcessVersion, actor: Actor,
              settings: Settings) -> str | None:
    """Move one case in one transaction; returns why it cannot move (nothing written), None once moved.

    Conflict when the case moved on since it was read (the versioned save refuses it)."""
    assert target.id is not None
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("case.not_found", case_id=case_id)
    session.expunge(case)
    if case.status != "open":
        return say("migration.case_not_open", status=case.status)
    source = session.get(ProcessVersion, case.process_version_id)
    assert source is not None
    if source.version >= target.version:
        return say("migration.already_on_version", version=source.version)
    old = processes.cache.get(session, case.process_version_id, settings)
    new = processes.cache.get(session, target.id, settings)
    workflow = runner.load(old, case.state)
    workflows.remember_caught(workflow, old)
    reasons = bpmn_migrate.blockers(workflow, new)
    if reasons:
        return _joined(reasons)
    moment = clock.now()
    bpmn_migrate.migrate(workflow, new)
    runner.advance(workflow, runner.limits(settings), at=moment)
    workflows.save(session, case, workflow, new, actor=actor.username, settings=settings, at=moment,
                   events=[("case_migrated", None, {"from_version": source.version, "to_version": target.version,
                                                    "from_sha256": source.sha256, "to_sha256": target.sha256})],
                   extra={"process_version_id": target.id}, refresh_tasks=True)
    return None


def _joined(reasons: list[Text]) -> Text:
    """Why a case cannot move, every reason in one sentence (in either language)."""
    return say("migration.blockers", reasons=Words("; ".join(reasons), "؛ ".join(r.ar for r in reasons)))
