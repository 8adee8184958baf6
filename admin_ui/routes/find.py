"""Finding a service, for anyone and from a phone: a search box (``/find``) and each service's public page
(``/find/{code}``): papers, fee (the decision table in words), time to complete, where to go, questions. Plain
forms and links: no JavaScript is needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from admin_ui.pages import CurrentViewer, PageRoute, allow, client_of, render
from api.deps import SessionDep, settings_of
from engine.catalog import finder, service_page
from engine.core.errors import Invalid, RateLimited

router = APIRouter(route_class=PageRoute)


@router.get("/find", dependencies=[allow("public")])
def find_page(request: Request, viewer: CurrentViewer, db: SessionDep, q: str = "") -> HTMLResponse:
    _ = viewer.lang.gettext
    query = q[:1000].strip()
    if not query:
        return render(request, "find.html", query="", results=None, error=None)
    try:
        found = finder.search(session=db, query=query, settings=settings_of(request), client=client_of(request))
    except RateLimited:
        return render(request, "find.html", status_code=429, query=query, results=None,
                      error=_("Too many searches. Try again in a minute."))
    except Invalid:
        return render(request, "find.html", status_code=422, query=query[:100], results=None,
                      error=_("Type the name of a service, in a few words."))
    results = [{"code": f["service_code"], "name": viewer.lang.pick(f["name"], f["service_code"]),
                "agency": viewer.lang.pick(f["agency"]), "sla_days": f["sla_days"]} for f in found]
    return render(request, "find.html", query=query, results=results, error=None)


@router.get("/find/{code}", dependencies=[allow("public")])
def service_public_page(request: Request, code: str, viewer: CurrentViewer, db: SessionDep) -> HTMLResponse:
    page = service_page.page(session=db, code=code[:100], settings=settings_of(request))
    pick = viewer.lang.pick
    fee: dict[str, Any] = page["fee"]
    table = fee.get("table")
    if table is not None:
        table = {"inputs": [pick(c) for c in table["inputs"]], "outputs": [pick(c) for c in table["outputs"]],
                 "rows": [{"description": r["description"], "when": [pick(c) for c in r["when"]],
                           "then": [pick(c) for c in r["then"]]} for r in table["rows"]]}
    return render(request, "find_service.html", service={
        "code": code, "name": pick(page["name"], code), "agency": pick(page["agency"]), "sla_days": page["sla_days"],
        "documents": [{"name": pick(d["name"]), "required": d["required"]} for d in page["documents"]],
        "currency": fee.get("currency"), "amount": fee.get("amount"), "table": table,
        "where": pick(page["where"]) if page["where"] else "",
        "centers": [pick(c["name"]) for c in page["centers"]],
        "faq": [{"q": pick(f["q"]), "a": pick(f["a"])} for f in page["faq"]]})
