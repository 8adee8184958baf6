"""What the public page of a service tells a citizen before the trip (issue #17, "Find a service"): the
papers, the fee (a fixed amount, or the service's decision table in words), the time to complete, where to go
and the questions citizens ask, all from the newest live version's ``service.toml`` and DMN files."""

from __future__ import annotations

import re
import threading
from typing import Any

from sqlmodel import Session

from engine.bpmn.dmn_table import decision_table
from engine.catalog import finder, processes
from engine.catalog.processes import decode_files
from engine.core.errors import NotFound
from engine.core.settings import Settings
from engine.people import centers
from storage.models.catalog import ProcessVersion

# The Arabic of the fee tables' result columns, by the variable each sets (their English is the DMN's label).
OUTPUT_WORDS = {"fee": "الرسوم (جنيه)", "fee_band": "الشريحة", "annual_fee": "الرسم السنوي (جنيه)",
                "connection_fee": "رسم التوصيل (جنيه)", "daily_rate": "السعر اليومي (جنيه للمتر المربع في اليوم)",
                "monthly_amount": "المبلغ الشهري (جنيه)", "unit_fee": "رسم النسخة (جنيه)",
                "validity_years": "مدة الصلاحية (سنوات)"}
_lock = threading.Lock()
# Versions never change, so a version's table never goes stale: keyed by database and version id.
_tables: dict[tuple[str, int], dict[str, Any] | None] = {}
_MAX_TABLES = 256


def _fields(forms: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every form field of the service by name (the first form that has it), for its titles."""
    found: dict[str, dict[str, Any]] = {}
    for schema in forms.values():
        for name, spec in (schema.get("properties") or {}).items():
            found.setdefault(name, spec)
    return found


def _in_words(table: dict[str, Any], forms: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The table's columns and listed values named as the service's forms name them, in both languages."""
    fields = _fields(forms)
    inputs = []
    for label, name in zip(table["inputs"], table["input_names"], strict=True):
        spec = fields.get(name, {})
        inputs.append({"en": spec.get("title") or label, "ar": spec.get("x-title-ar") or label})
    outputs = [{"en": label, "ar": OUTPUT_WORDS.get(name, label)}
               for label, name in zip(table["outputs"], table["output_names"], strict=True)]
    rows = []
    for row in table["rows"]:
        when = []
        for cell, name in zip(row["when"], table["input_names"], strict=False):
            spec = fields.get(name, {})
            titles = spec.get("x-enum-titles") or {}
            keys = list(spec.get("enum") or [])
            if cell.get("values") and keys:
                said = {lang: ", ".join(str(titles.get(lang, keys)[keys.index(v)]) if v in keys and
                                        len(titles.get(lang, keys)) == len(keys) else v.replace("_", " ")
                                        for v in cell["values"]) for lang in ("en", "ar")}
                cell = {**cell, **said}
            when.append({"en": cell["en"], "ar": cell["ar"]})
        rows.append({"description": row["description"], "when": when,
                     "then": [{"en": c["en"], "ar": _arabic_result(c["ar"], fields)} for c in row["then"]]})
    return {"title": table["title"], "inputs": inputs, "outputs": outputs, "rows": rows}


_BAND = ((re.compile(r"^under (\S+)$"), r"أقل من \1"), (re.compile(r"^(\S+) to (\S+)$"), r"من \1 إلى \2"),
         (re.compile(r"^(\S+) and above$"), r"\1 فأكثر"))


def _arabic_result(text: str, fields: dict[str, dict[str, Any]]) -> str:
    """A result cell in Arabic: a band's words ("under 150", "150 to 300", "1000 and above"), and a formula's
    variables by their form titles ("350 × renewal years")."""
    for pattern, arabic in _BAND:
        if pattern.match(text):
            return pattern.sub(arabic, text)
    for name, spec in fields.items():
        words = name.replace("_", " ")
        if spec.get("x-title-ar") and words in text:
            text = text.replace(words, str(spec["x-title-ar"]))
    return text


def fee_table(session: Session, version_id: int, decision: str, settings: Settings) -> dict[str, Any] | None:
    key = (settings.database_url, version_id)
    with _lock:
        if key in _tables:
            return _tables[key]
    row = session.get(ProcessVersion, version_id)
    table = None if row is None else decision_table(decode_files(row.files), decision,
                                                    max_xml_bytes=settings.max_xml_bytes)
    if table is not None:
        table = _in_words(table, processes.cache.get(session, version_id, settings).forms)
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
