"""Leadership's dashboard: the figures of engine/reports/ with charts, filters kept in the URL, exports."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session, col, select

from admin_ui import charts, diagram, report_export
from admin_ui.i18n import N_, Lang
from admin_ui.labels import load as load_labels
from admin_ui.pages import PageRoute, SignedIn, allow, render
from api.deps import SessionDep, settings_of
from engine.cases import incidents
from engine.catalog import processes
from engine.core.amounts import text as money_text
from engine.core.errors import Forbidden, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.operations import node_link
from engine.payments import ledger
from engine.people import policy
from engine.people.users import Actor
from engine.reports.read import freshness, report
from engine.reports.scope import Scope, scope_for
from storage.models.catalog import ProcessVersion
from storage.models.centers import Center

#: How a payment was taken, in the reader's words (the counter's words: admin_ui/routes/counter.py).
METHOD_WORDS = {"cash": N_("Cash"), "card": N_("Card"), "e_payment": N_("E-payment")}

router = APIRouter(route_class=PageRoute)
TABLES = ("sla", "departments", "steps", "throughput", "officers", "satisfaction")
#: The collections tables of the page, exported like the others: their name, and what they are grouped by.
COLLECTIONS = {"collections_day": "day", "collections_method": "method", "collections_cashier": "cashier"}
From = Annotated[str, Query(alias="from")]


def day_of(text: str, field: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(N_("The dates must be like 2026-03-31."),
                      [problem(field, "field.date_shape", kind="date")]) from None


def _filters(start: str, end: str, center: str, service: str, department: str) -> dict[str, Any]:
    return {"start": day_of(start, "from"), "end": day_of(end, "to"), "center": center or None,
            "service_code": service or None, "department": department or None}


def duration(seconds: float | None, lang: Lang) -> str:
    """A duration in the unit a reader takes in at a glance."""
    if seconds is None:
        return "—"
    if seconds < 3600:
        return lang.gettext("%(n)s min", n=lang.number(round(seconds / 60, 1)))
    if seconds < 86_400:
        return lang.gettext("%(n)s h", n=lang.number(round(seconds / 3600, 1)))
    return lang.gettext("%(n)s d", n=lang.number(round(seconds / 86_400, 1)))


def _services(db: Session) -> list[str]:
    return sorted(set(db.exec(select(ProcessVersion.service_code)).all()))


@router.get("/reports", dependencies=[allow("reports.read")])
def dashboard(request: Request, viewer: SignedIn, db: SessionDep, start: From = "", to: str = "",
              center: str = "", service: str = "", department: str = "") -> HTMLResponse:
    actor = viewer.signed_in
    if not policy.may(actor, "reports.read"):
        raise Forbidden(N_("The performance figures are for supervisors and admins."))
    settings = settings_of(request)
    lang = viewer.lang
    filters = _filters(start, to, center, service, department)
    common = {"session": db, "actor": actor, "settings": settings, **filters}
    tables: dict[str, list[dict[str, Any]]] = {}
    scope = None
    for name in TABLES:
        if name == "steps" and not filters["service_code"]:
            tables[name] = []
            continue
        scope, tables[name] = report(name, **common)
    assert scope is not None
    labels = load_labels(db)
    lanes = tables["departments"]
    backlog = charts.bars([(r["department"], r["department"], r["backlog"], lang.number(r["backlog"]))
                           for r in lanes])
    compliance = charts.bars([(r["department"], r["department"], round((r["compliance"] or 0) * 100, 1),
                               "—" if r["compliance"] is None else f"{lang.number(round(r['compliance'] * 100, 1))}%")
                              for r in lanes], top=100)
    daily = charts.line([(r["day"], r["completed"]) for r in tables["throughput"]])
    heat = {r["name"]: {"seconds": r["avg_seconds"], "label": duration(r["avg_seconds"], lang)}
            for r in tables["steps"] if r["avg_seconds"] is not None}
    query = {"from": scope.start.isoformat(), "to": scope.end.isoformat(), "center": center, "service": service,
             "department": department}
    has_diagram = False
    if filters["service_code"]:
        try:
            has_diagram = diagram.bpmn_of(processes.latest_version(db, filters["service_code"])) is not None
        except NotFound:
            has_diagram = False
    visible = policy.centers_seen(db, actor)  # the choices: the centers the reader may ask about
    choices = [c for c in db.exec(select(Center).order_by(col(Center.code))).all()
               if visible is None or c.id in visible]
    fresh = freshness(session=db, actor=actor, settings=settings)
    counted_at = fresh["counted_at"]
    age = None if counted_at is None else max(0, round((datetime.now(UTC) - counted_at).total_seconds()))
    # the money taken at the reader's centers in the same days (engine/payments/ledger.py), in decimal strings
    collections = {by: [{**row, "payments": money_text(row["payments"]), "refunds": money_text(row["refunds"]),
                         "net": money_text(row["net"])}
                        for row in ledger.collections(session=db, actor=actor, settings=settings, start=scope.start,
                                                      end=scope.end, by=by, center_ids=scope.center_ids)]
                   for by in ("day", "method", "cashier")}
    node_links = (node_link.links(db.connection()) if settings.node_role == "central" else [])
    return render(request, "reports.html", tables=tables, counted_at=counted_at, counted_age=age,
                  node_links=[link for link in node_links if link.center is not None],
                  collections=collections, method_words=METHOD_WORDS,
                  behind=fresh["behind"], labels=labels, backlog=backlog, compliance=compliance,
                  daily=daily, heat=json.dumps(heat, ensure_ascii=False), has_diagram=has_diagram,
                  scope=scope, filters=query, query=urlencode({k: v for k, v in query.items() if v}),
                  services=_services(db), centers=choices,
                  open_incidents=incidents.open_count(db, actor),  # of the reader's centers
                  duration=lambda s: duration(s, lang))


@router.get("/reports/diagram.bpmn", dependencies=[allow("reports.read")])
def heat_diagram(request: Request, viewer: SignedIn, db: SessionDep, service: str) -> Response:
    if not policy.may(viewer.signed_in, "reports.read"):
        raise Forbidden(N_("The performance figures are for supervisors and admins."))
    content = diagram.bpmn_of(processes.latest_version(db, service))
    if content is None:
        raise NotFound(N_("This service's diagram has no layout to draw."))
    return Response(content, media_type="application/xml")


@router.get("/reports/export/{name}.{kind}", dependencies=[allow("reports.read")])
def export(request: Request, name: str, kind: str, viewer: SignedIn, db: SessionDep, start: From = "",
           to: str = "", center: str = "", service: str = "", department: str = "") -> Response:
    if (name not in TABLES and name not in COLLECTIONS) or kind not in ("csv", "xlsx"):
        raise NotFound(N_("There is no such export."))
    filters = _filters(start, to, center, service, department)
    if name in COLLECTIONS:
        scope, rows = _collections(db, viewer.signed_in, settings_of(request), filters, COLLECTIONS[name])
    else:
        scope, rows = report(name, session=db, actor=viewer.signed_in, settings=settings_of(request), **filters)
    filename = f"{name}_{scope.start.isoformat()}_{scope.end.isoformat()}.{kind}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if kind == "csv":
        return Response(report_export.to_csv(rows), media_type="text/csv; charset=utf-8", headers=headers)
    return Response(report_export.to_xlsx(rows, name), media_type=report_export.XLSX_TYPE, headers=headers)


def _collections(db: Session, actor: Actor, settings: Settings, filters: dict[str, Any],
                 by: str) -> tuple[Scope, list[dict[str, Any]]]:
    """A collections table of the page as rows to export: the same days and centers (a center outside the
    reader's is refused as the other tables' is), amounts as exact decimals so a spreadsheet sums them."""
    scope = scope_for(session=db, actor=actor, settings=settings, start=filters["start"], end=filters["end"],
                      center=filters["center"])
    rows = ledger.collections(session=db, actor=actor, settings=settings, start=scope.start, end=scope.end, by=by,
                              center_ids=scope.center_ids)
    return scope, [{by: row[by], "currency": row["currency"], "count": row["count"],
                    "payments": ledger.exact(row["payments"]), "refunds": ledger.exact(row["refunds"]),
                    "net": ledger.exact(row["net"])} for row in rows]
