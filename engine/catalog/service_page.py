"""What the public page of a service tells a citizen before the trip (issue #17, "Find a service"): the
papers, the fee (a fixed amount, or the service's decision table in words), the time to complete, where to go
and the questions citizens ask, all from the newest live version's ``service.toml`` and DMN files."""

from __future__ import annotations

import threading
from typing import Any

from sqlmodel import Session

from engine.bpmn.dmn_table import decision_table
from engine.catalog import finder
from engine.catalog.processes import decode_files
from engine.core.errors import NotFound
from engine.core.settings import Settings
from engine.people import centers
from storage.models.catalog import ProcessVersion

_lock = threading.Lock()
# Versions never change, so a version's table never goes stale: keyed by database and version id.
_tables: dict[tuple[str, int], dict[str, Any] | None] = {}
_MAX_TABLES = 256


def fee_table(session: Session, version_id: int, decision: str, settings: Settings) -> dict[str, Any] | None:
    key = (settings.database_url, version_id)
    with _lock:
        if key in _tables:
            return _tables[key]
    row = session.get(ProcessVersion, version_id)
    table = None if row is None else decision_table(decode_files(row.files), decision,
                                                    max_xml_bytes=settings.max_xml_bytes)
    with _lock:
        if len(_tables) >= _MAX_TABLES:
            _tables.clear()
        _tables[key] = table
    return table


def page(*, session: Session, code: str, settings: Settings) -> dict[str, Any]:
    """The public description of the live service ``code``; NotFound when no live version has that code."""
    found = finder.live_service(session, code)
    if found is None:
        raise NotFound("service.unknown", service_code=code)
    service: dict[str, Any] = found["service"]
    fee = service.get("fee") or {}
    table = fee_table(session, found["version_id"], fee["decision"], settings) if fee.get("decision") else None
    # The one-stop centers are the leaves of the centers' tree (a governorate's office serves at its cities').
    parents = {parent for parent, children in centers.tree(session).items() if children}
    places = [{"code": c.code, "name": {"ar": c.name_ar, "en": c.name_en}}
              for c in centers.list_centers(session) if c.id not in parents]
    return {"service_code": code, "name": service.get("name"), "agency": service.get("agency"),
            "sla_days": service.get("sla_days"),
            "documents": [{"kind": d["kind"], "required": d.get("required", True),
                           "name": {"ar": d["ar"], "en": d["en"]}} for d in service.get("documents", [])],
            "fee": {"currency": fee.get("currency", "EGP"), "amount": fee.get("amount"), "table": table},
            "where": service.get("where"), "centers": places,
            "faq": [{"q": q["q"], "a": q["a"]} for q in service.get("faq", [])],
            "synonyms": service.get("synonyms") or {"ar": [], "en": []}}
