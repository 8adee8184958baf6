"""Leadership's figures (docs/api.md "Reports"): supervisors and admins only."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.deps import CurrentActor, SessionDep, SettingsDep, allow
from api.params import IsoDate
from engine.people.users import Actor
from engine.reports.read import freshness as report_freshness
from engine.reports.read import report

router = APIRouter(prefix="/api/reports", tags=["reports"])

Readers = CurrentActor
From = Annotated[IsoDate | None, Query(alias="from", description="first day (UTC), included")]
To = Annotated[IsoDate | None, Query(alias="to", description="last day (UTC), included")]
Center = Annotated[str | None, Query(description="a center's code: that center and every center below it")]
Department = Annotated[str | None, Query(description="a lane (department)")]


def _run(name: str, session: SessionDep, settings: SettingsDep, actor: Actor, start: date | None,
         end: date | None, center: str | None, service_code: str | None,
         department: str | None) -> list[dict[str, Any]]:
    _scope, rows = report(name, session=session, actor=actor, settings=settings, start=start, end=end,
                          center=center, service_code=service_code, department=department)
    return rows


@router.get("/sla", dependencies=[allow("reports.read")])
def sla(session: SessionDep, settings: SettingsDep, actor: Readers, start: From = None, end: To = None,
        center: Center = None, service_code: str | None = None) -> list[dict[str, Any]]:
    """Per service: opened, completed, rejected, cancelled, on_time, late, open, open_overdue, breached,
    compliance, avg_case_seconds, p90_case_seconds."""
    return _run("sla", session, settings, actor, start, end, center, service_code, None)


@router.get("/steps", dependencies=[allow("reports.read")])
def steps(session: SessionDep, settings: SettingsDep, actor: Readers, service_code: str, start: From = None,
          end: To = None, center: Center = None, department: Department = None) -> list[dict[str, Any]]:
    """Per user task of the service: name, title, lane, count, avg_seconds, p90_seconds, on_time, compliance,
    waiting, overdue_open."""
    return _run("steps", session, settings, actor, start, end, center, service_code, department)


@router.get("/departments", dependencies=[allow("reports.read")])
def departments(session: SessionDep, settings: SettingsDep, actor: Readers, start: From = None, end: To = None,
                center: Center = None, service_code: str | None = None,
                department: Department = None) -> list[dict[str, Any]]:
    """Per lane: completed, on_time, compliance, backlog, overdue."""
    return _run("departments", session, settings, actor, start, end, center, service_code, department)


@router.get("/throughput", dependencies=[allow("reports.read")])
def throughput(session: SessionDep, settings: SettingsDep, actor: Readers, start: From = None, end: To = None,
               center: Center = None, service_code: str | None = None,
               department: Department = None) -> list[dict[str, Any]]:
    """Per day: opened, completed, tasks_completed."""
    return _run("throughput", session, settings, actor, start, end, center, service_code, department)


@router.get("/channels", dependencies=[allow("reports.read")])
def channels(session: SessionDep, settings: SettingsDep, actor: Readers, start: From = None, end: To = None,
             center: Center = None, service_code: str | None = None) -> list[dict[str, Any]]:
    """Per channel (``counter``, ``citizen_portal``): opened, share of the cases opened, and opened per service."""
    return _run("channels", session, settings, actor, start, end, center, service_code, None)


@router.get("/officers", dependencies=[allow("reports.read")])
def officers(session: SessionDep, settings: SettingsDep, actor: Readers, start: From = None, end: To = None,
             center: Center = None, department: Department = None) -> list[dict[str, Any]]:
    """Per officer: completed, avg_seconds, median_seconds; every service together."""
    return _run("officers", session, settings, actor, start, end, center, None, department)


@router.get("/satisfaction", dependencies=[allow("reports.read")])
def satisfaction(session: SessionDep, settings: SettingsDep, actor: Readers, start: From = None, end: To = None,
                 center: Center = None, service_code: str | None = None) -> list[dict[str, Any]]:
    """Per service: happy, neutral, unhappy, rated, happy_share."""
    return _run("satisfaction", session, settings, actor, start, end, center, service_code, None)


@router.get("/freshness", dependencies=[allow("reports.read")])
def freshness(session: SessionDep, settings: SettingsDep, actor: Readers) -> dict[str, Any]:
    """How fresh the figures are: ``counted_at`` (every step committed before this moment is counted; null
    before the first count) and ``behind`` (recorded events not counted yet). The figures are counted from the
    audit trail a few seconds after each step (docs/leadership.md)."""
    return report_freshness(session=session, actor=actor, settings=settings)
