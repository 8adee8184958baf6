"""A service's versions: what changed between two of them, and retiring a version or a whole service.

Retiring stops new cases and nothing else: open cases keep running on their version. New cases always
start on the newest version that is not retired, so retiring the newest makes the one before it live again;
retiring a service retires all its versions, and it leaves the front desk's list. Deploying new content
(a new version) brings a retired service back; deploying a retired version's exact content again does not.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from sqlalchemy import update
from sqlmodel import Session, col, select

from engine import policy
from engine.bpmn.safe_xml import parse_untrusted_xml
from engine.errors import NotFound
from engine.processes import decode_files
from engine.settings import Settings
from engine.users import Actor
from storage.models import ProcessVersion

_DI = ("http://www.omg.org/spec/BPMN/20100524/DI", "http://www.omg.org/spec/DD/20100524/DI",
       "http://www.omg.org/spec/DD/20100524/DC", "https://www.omg.org/spec/DMN/20191111/DMNDI/")


def get_version(session: Session, service_code: str, version: int) -> ProcessVersion:
    row = session.exec(select(ProcessVersion).where(ProcessVersion.service_code == service_code,
                                                    ProcessVersion.version == version)).first()
    if row is None:
        raise NotFound("service.no_version", service_code=service_code, version=version)
    return row


def diff_versions(*, session: Session, service_code: str, a: int, b: int, actor: Actor,
                  settings: Settings) -> dict[str, Any]:
    """What changed from version ``a`` to ``b``: diagram elements by id (added, removed, changed with what
    changed: name, type, lane, attributes, content such as conditions and scripts), forms and service.toml."""
    policy.require(actor, "services.read")
    old, new = get_version(session, service_code, a), get_version(session, service_code, b)
    old_files, new_files = decode_files(old.files), decode_files(new.files)
    old_el, new_el = _elements(old_files, settings), _elements(new_files, settings)
    changed = []
    for key in sorted(old_el.keys() & new_el.keys()):
        what = [k for k in ("type", "name", "lane", "attributes", "content") if old_el[key][k] != new_el[key][k]]
        if what:
            changed.append({"id": key, "name": new_el[key]["name"], "type": new_el[key]["type"],
                            "file": new_el[key]["file"], "changes": what,
                            "from": {k: old_el[key][k] for k in what}, "to": {k: new_el[key][k] for k in what}})
    return {
        "service_code": service_code, "from_version": a, "to_version": b,
        "elements": {"added": [_public(new_el[k]) for k in sorted(new_el.keys() - old_el.keys())],
                     "removed": [_public(old_el[k]) for k in sorted(old_el.keys() - new_el.keys())],
                     "changed": changed},
        "forms": _file_diff({n: c for n, c in old_files.items() if _is_form(n)},
                            {n: c for n, c in new_files.items() if _is_form(n)}),
        "files": _file_diff(old_files, new_files),
        "service": {key: {"from": old.service.get(key), "to": new.service.get(key)}
                    for key in sorted(old.service.keys() | new.service.keys())
                    if old.service.get(key) != new.service.get(key)},
    }


def _is_form(name: str) -> bool:
    return name.endswith(".json") and name != "paths.json"


def _file_diff(old: dict[str, bytes], new: dict[str, bytes]) -> dict[str, list[str]]:
    return {"added": sorted(new.keys() - old.keys()), "removed": sorted(old.keys() - new.keys()),
            "changed": sorted(n for n in old.keys() & new.keys() if old[n] != new[n])}


def _public(element: dict[str, Any]) -> dict[str, Any]:
    return {k: element[k] for k in ("id", "name", "type", "file")}


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _elements(files: dict[str, bytes], settings: Settings) -> dict[str, dict[str, Any]]:
    """Every element with an id in the package's BPMN and DMN files, layout (DI) left out."""
    out: dict[str, dict[str, Any]] = {}
    for name, content in sorted(files.items()):
        if not name.endswith((".bpmn", ".dmn")):
            continue
        root = parse_untrusted_xml(content, filename=name, max_bytes=settings.max_xml_bytes)
        lanes = {ref.text.strip(): lane.get("name") or lane.get("id")
                 for lane in root.iter("{*}lane") for ref in lane.iter("{*}flowNodeRef") if ref.text}
        for el in root.iter():
            element_id = el.get("id") if isinstance(el.tag, str) else None
            if not element_id or etree.QName(el).namespace in _DI:
                continue
            out[element_id] = {
                "id": element_id, "name": el.get("name"), "type": _local(el.tag), "file": name,
                "lane": lanes.get(element_id),
                "attributes": {k: v for k, v in sorted(el.attrib.items()) if k not in ("id", "name")},
                "content": _content(el)}
    return out


def _content(el: Any) -> str:
    """The element's own text and children that carry no id of their own (conditions, scripts, extensions,
    incoming/outgoing), as canonical text; children with ids are elements of their own."""
    parts = [(el.text or "").strip()]
    for child in el:
        if not isinstance(child.tag, str) or child.get("id"):
            continue
        parts.append(etree.tostring(child, method="c14n").decode("utf-8").strip())
    return "\n".join(p for p in parts if p)


def retire_version(*, session: Session, service_code: str, version: int, actor: Actor) -> ProcessVersion:
    """Stop new cases on one version; open cases keep running. Retiring twice is harmless."""
    policy.require(actor, "services.deploy")
    row = get_version(session, service_code, version)
    row.retired = True
    session.add(row)
    session.commit()
    session.refresh(row)
    return row


def retire_service(*, session: Session, service_code: str, actor: Actor) -> list[ProcessVersion]:
    """Retire every version of a service: it takes no new cases and leaves the list of services."""
    policy.require(actor, "services.deploy")
    found = session.exec(select(ProcessVersion.id).where(ProcessVersion.service_code == service_code)).first()
    if found is None:
        raise NotFound("service.unknown", service_code=service_code)
    session.connection().execute(update(ProcessVersion).where(col(ProcessVersion.service_code) == service_code)
                                 .values(retired=True))
    session.commit()
    return list(session.exec(select(ProcessVersion).where(ProcessVersion.service_code == service_code)
                             .order_by(col(ProcessVersion.version))).all())
