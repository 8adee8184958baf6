"""The documents of a case as the pages show them: the service's checklist, scans attached at the window,
and the files a reviewer opens.

Placeholder until the documents service (engine/documents.py) lands: the checklist comes from service.toml,
uploads are read but not stored, and pages say "documents: coming with the documents service".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData, UploadFile

from admin_ui.i18n import Lang
from engine.service_info import ServiceInfo
from engine.settings import Settings
from engine.users import Actor
from storage.models import Case

FIELD_PREFIX = "scan."


@dataclass(frozen=True)
class Upload:
    kind: str
    filename: str
    content_type: str
    content: bytes


def available() -> bool:
    """Whether documents are stored yet (the documents service has not landed)."""
    return False


def checklist(service: ServiceInfo, lang: Lang) -> list[dict[str, Any]]:
    return [{"kind": d.kind, "label": d.ar if lang.code == "ar" else d.en, "required": d.required,
             "field": FIELD_PREFIX + d.kind} for d in service.documents]


async def uploads(form: FormData) -> list[Upload]:
    found = []
    for key, value in form.multi_items():
        if key.startswith(FIELD_PREFIX) and isinstance(value, UploadFile) and value.filename:
            found.append(Upload(key.removeprefix(FIELD_PREFIX), value.filename,
                                value.content_type or "application/octet-stream", await value.read()))
    return found


def attach(db: Session, case: Case, scans: list[Upload], actor: Actor, settings: Settings) -> None:
    """Store the scans on the case (nothing yet: the documents service has not landed)."""


def received(db: Session, case: Case, service: ServiceInfo, lang: Lang) -> list[dict[str, Any]]:
    """The checklist with what the case holds of each kind (nothing known yet)."""
    return [{**item, "received": None} for item in checklist(service, lang)]


def of_case(db: Session, case: Case, lang: Lang) -> list[dict[str, Any]]:
    """The case's stored documents, newest first (none yet: the documents service has not landed)."""
    return []
