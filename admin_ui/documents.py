"""The documents of a case as the pages show them: the service's checklist, scans attached at the window or
on a task, and the files a reviewer opens. Every action is an engine command (``engine.cases.documents``,
``engine.cases.checklist``); this module only turns page forms into their arguments and their answers into rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from admin_ui.i18n import N_, Lang
from engine.bpmn.service_info import ServiceInfo
from engine.cases import checklist
from engine.cases import documents as scans
from engine.core import files
from engine.core.errors import DomainError, Invalid
from engine.core.settings import Settings
from engine.people import policy
from engine.people.users import Actor
from storage.models.cases import Case

FIELD_PREFIX = "scan."
_PDF = "application/pdf"


@dataclass
class _Part:
    """One part of an upload form, as ``engine.cases.documents.upload`` reads them."""

    name: str
    filename: str | None
    content_type: str | None
    source: Any

    def read(self, size: int = -1, /) -> bytes:
        data: bytes = self.source.read(size)
        return data


class _Text:
    def __init__(self, text: str) -> None:
        self._data = text.encode()

    def read(self, size: int = -1, /) -> bytes:
        size = len(self._data) if size < 0 else size
        out, self._data = self._data[:size], self._data[size:]
        return out


def form_parts(kind: str, file: UploadFile, **fields: str) -> list[Any]:
    """A page's chosen file, its kind and text ``fields`` as the parts of an upload form, in the order
    ``engine.cases.documents.receive_form`` reads any."""
    return [_Part("kind", None, None, _Text(kind)),
            *[_Part(name, None, None, _Text(value)) for name, value in fields.items()],
            _Part("file", file.filename, file.content_type, file.file)]


@dataclass(frozen=True)
class Upload:
    kind: str
    file: UploadFile


def checklist_of(service: ServiceInfo, lang: Lang) -> list[dict[str, Any]]:
    return [{"kind": d.kind, "label": d.ar if lang.code == "ar" else d.en, "required": d.required,
             "field": FIELD_PREFIX + d.kind} for d in service.documents]


def uploads(form: FormData) -> list[Upload]:
    """The scans of a page form: fields ``scan.<kind>`` holding a chosen file."""
    return [Upload(key.removeprefix(FIELD_PREFIX), value) for key, value in form.multi_items()
            if key.startswith(FIELD_PREFIX) and isinstance(value, UploadFile) and value.filename]


def precheck(found: list[Upload], settings: Settings, lang: Lang) -> dict[str, str]:
    """Refuse, before a case is opened, a file that is no accepted scan (judged by its first bytes)."""
    problems = {}
    for scan in found:
        head = scan.file.file.read(files.SNIFF_BYTES)
        scan.file.file.seek(0)
        kind = files.detect(head)
        if not head:
            problems[scan.kind] = lang.gettext("The file is empty: scan the paper again.")
        elif kind is None or kind.mime not in settings.document_types:
            problems[scan.kind] = lang.gettext("Only PDF, JPEG, PNG or TIFF scans are accepted.")
    return problems


def attach(db: Session, case: Case, found: list[Upload], actor: Actor, settings: Settings, lang: Lang) -> list[str]:
    """Store each scan as the next version of its kind; the messages of those refused, in the reader's language
    (the engine's details of a refused form are English: an Arabic reader gets the refusal's own sentence)."""
    assert case.id is not None
    store = scans.store_for(settings)
    refused = []
    for scan in found:
        parts = form_parts(scan.kind, scan.file)
        try:
            scans.upload(session=db, actor=actor, settings=settings, store=store, case_id=case.id, parts=parts)
        except Invalid as exc:
            reasons = "; ".join(str(d.get("msg")) for d in exc.details) if lang.code == "en" else ""
            refused.append(f"{scan.file.filename}: {reasons or exc.text(lang.code)}")
        except DomainError as exc:
            refused.append(f"{scan.file.filename}: {exc.text(lang.code)}")
    return refused


def received(db: Session, case: Case, actor: Actor, settings: Settings, lang: Lang) -> list[dict[str, Any]]:
    """The service's papers with what the case holds of each: scanned, waived, or missing."""
    assert case.id is not None
    found = checklist.for_case(session=db, actor=actor, settings=settings, case_id=case.id)
    return [{"kind": i.paper.kind, "label": i.paper.ar if lang.code == "ar" else i.paper.en,
             "required": i.paper.required, "received": bool(i.documents), "waived": i.waiver is not None,
             "versions": len(i.documents)} for i in found.items]


def of_case(db: Session, case: Case, actor: Actor, settings: Settings, lang: Lang) -> list[dict[str, Any]]:
    """The latest scan of each kind, for the viewer: PDFs in a frame, images inline."""
    assert case.id is not None
    labels = {d["kind"]: d["label"] for d in received(db, case, actor, settings, lang)}
    order = {kind: n for n, kind in enumerate(labels)}
    latest = {}
    for doc in scans.list_documents(session=db, actor=actor, settings=settings, case_id=case.id):
        latest[doc.kind] = doc
    return [{"id": d.id, "kind": d.kind, "url": f"/documents/{d.id}", "label": labels.get(d.kind, d.kind),
             "filename": d.filename, "version": d.version, "is_pdf": d.content_type == _PDF,
             "is_image": d.content_type.startswith("image/") and d.content_type != "image/tiff", "size": d.size}
            for d in sorted(latest.values(), key=lambda d: (order.get(d.kind, len(order)), d.kind))]


def panel(db: Session, case: Case, lanes: list[str], actor: Actor, settings: Settings,
          lang: Lang) -> dict[str, Any]:
    """What ``templates/_documents.html`` shows of a case: its papers, its scans, and the reader's forms."""
    papers = received(db, case, actor, settings, lang)
    blocking = [p for p in papers if p["required"] and not p["received"] and not p["waived"]]
    # Who opens the scans is the policy's (case.papers): an admin reads the case, not its citizen's papers.
    docs = of_case(db, case, actor, settings, lang) if policy.may(actor, "case.papers", settings,
                                                                   lanes=lanes) else []
    return {"papers": papers, "docs": docs, "scans": {d["kind"]: d for d in docs},
            "can_attach": case.status == "open" and policy.may(actor, "case.scan", settings, lanes=lanes),
            "can_waive": case.status == "open" and policy.may(actor, "case.waive", settings) and bool(blocking)}


# The official documents' statuses on the case and task pages (docs/documents.md).
OUTPUT_WORDS = {"pending": N_("Being prepared"), "valid": N_("Valid"),
                "superseded": N_("Superseded by a corrected document"), "revoked": N_("Revoked"),
                "failed": N_("Could not be made: tell the service's analyst")}
