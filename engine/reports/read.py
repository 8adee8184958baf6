"""The figures as the faces ask for them: check the scope, run the query, one call per report."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlmodel import Session

from engine.catalog import processes
from engine.core.errors import Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from engine.reports import figures, projector, satisfaction
from engine.reports.scope import Scope, scope_for

REPORTS: dict[str, Callable[..., list[dict[str, Any]]]] = {
    "sla": figures.sla, "departments": figures.departments, "throughput": figures.throughput,
    "channels": figures.channels,
    "officers": figures.officers, "satisfaction": satisfaction.by_service,
}


def titles(session: Session, service_code: str, settings: Settings) -> dict[str, str]:
    """Titles of the service's user tasks, from its latest version."""
    version = processes.latest_version(session, service_code)
    assert version.id is not None
    process = processes.cache.get(session, version.id, settings)
    return {name: info.title for name, info in process.user_tasks.items()}


def report(name: str, *, session: Session, actor: Actor, settings: Settings, start: date | None = None,
           end: date | None = None, center: str | None = None, service_code: str | None = None,
           department: str | None = None) -> tuple[Scope, list[dict[str, Any]]]:
    """Report ``name`` ("sla", "steps", "departments", "throughput", "channels", "officers",
    "satisfaction")."""
    scope = scope_for(session=session, actor=actor, settings=settings, start=start, end=end, center=center,
                      service_code=service_code, lane=department)
    conn = session.connection()
    if name == "steps":
        if not scope.service_code:
            raise Invalid("reports.steps_need_service",
                          [problem("service_code", "field.required", loc=["query", "service_code"], kind="missing")])
        try:
            names = titles(session, scope.service_code, settings)
        except NotFound:
            names = {}
        return scope, figures.steps(conn, scope, names)
    if name not in REPORTS:
        raise NotFound("reports.no_report", name=name)
    return scope, REPORTS[name](conn, scope)


def freshness(*, session: Session, actor: Actor, settings: Settings) -> dict[str, Any]:
    """How fresh the figures are: ``counted_at`` (every event committed before it is counted; None before the
    first round), ``behind`` (committed events not counted yet). The aggregates are built after commit
    (engine/reports/projector.py), a round every few seconds."""
    policy.require(actor, "reports.read", settings)
    counted_at, behind = projector.freshness(session.connection())
    return {"counted_at": counted_at, "behind": behind}
