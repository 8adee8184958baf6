"""Verification by anyone: by the document's number (its QR code), by the PDF itself, and offline.

The public answer names the document and its status, and of the holder only the first name and initials: no
national number, no phone, no address, not the case's data. Unknown numbers are counted per client address
like wrong guesses on the tracking page, so the page cannot be walked (numbers are random besides:
engine/cases/owed.py).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from typing import Any

from asn1crypto.x509 import Certificate
from sqlmodel import Session, select

from engine.catalog import processes
from engine.core import throttle
from engine.core.errors import NotFound, TooLarge
from engine.core.settings import Settings
from engine.outputs import seal
from storage.models.cases import Case
from storage.models.centers import Center
from storage.models.outputs import IssuedOutput

#: What the public sees of a document's status; a pending or failed one does not exist for them.
SHOWN = ("valid", "superseded", "revoked")


def _rule(settings: Settings) -> throttle.Rule:
    return throttle.Rule.fixed("verify-address", limit=settings.document_verify_max_misses_per_address,
                               window_seconds=settings.document_verify_window_seconds)


def find(session: Session, number: str, settings: Settings, client: str | None) -> IssuedOutput:
    """The issued document of ``number``; NotFound (counted per address, Throttled past the limit) otherwise."""
    pairs = [(_rule(settings), client)] if client else []
    throttle.check(settings, "outputs.too_many_lookups", *pairs)
    clean = number.strip().upper()
    row = session.exec(select(IssuedOutput).where(IssuedOutput.number == clean)).first() \
        if 0 < len(clean) <= 40 else None
    if row is None or row.status not in SHOWN:
        throttle.fail(settings, *pairs)
        raise NotFound("outputs.not_found")
    return row


def public_view(session: Session, row: IssuedOutput, settings: Settings) -> dict[str, Any]:
    """The public JSON of a document: exactly these keys."""
    case = session.get(Case, row.case_id)
    assert case is not None
    process = processes.cache.get(session, case.process_version_id, settings)
    output = next((o for o in process.service.outputs if o.kind == row.kind), None)
    center = session.get(Center, row.center_id) if row.center_id is not None else None
    return {
        "number": row.number,
        "type": {"kind": row.kind, "ar": output.ar if output else row.kind, "en": output.en if output else row.kind},
        "issued_at": _day(row.issued_at),
        "issuing_center": {"ar": center.name_ar, "en": center.name_en} if center else None,
        "status": row.status,
        "status_at": _day(row.status_at),
        "superseded_by": row.superseded_by,
        "holder": row.holder_masked,
    }


def lookup(*, session: Session, number: str, settings: Settings, client: str | None) -> dict[str, Any]:
    return public_view(session, find(session, number, settings, client), settings)


def check_upload(*, session: Session, number: str, content: bytes, settings: Settings,
                 client: str | None) -> dict[str, Any]:
    """Whether an uploaded PDF is exactly the document ``number`` names (its SHA-256), and its signature holds."""
    if len(content) > settings.document_verify_max_bytes:
        raise TooLarge("outputs.upload_too_large", max_bytes=settings.document_verify_max_bytes)
    row = find(session, number, settings, client)
    digest = hashlib.sha256(content).hexdigest()
    matches = row.sha256 is not None and hmac.compare_digest(digest, row.sha256)
    checked = seal.check(content, settings)
    return {**public_view(session, row, settings), "file_matches": bool(matches and checked.ok),
            "signature_valid": checked.ok}


def verify_file(*, session: Session | None, content: bytes, settings: Settings,
                roots: list[Certificate] | None = None) -> dict[str, Any]:
    """``shubbak documents verify FILE.pdf``: the signature against this installation's certificate, and, when
    a database is at hand, the number's record (its SHA-256 and status)."""
    checked = seal.check(content, settings, roots)
    out: dict[str, Any] = {"number": checked.number, "signed": checked.signed, "intact": checked.intact,
                           "trusted": checked.trusted, "whole_file": checked.whole_file,
                           "signature_valid": checked.ok, "sha256": hashlib.sha256(content).hexdigest()}
    if session is not None and checked.number:
        row = session.exec(select(IssuedOutput).where(IssuedOutput.number == checked.number)).first()
        out["recorded"] = row is not None and row.sha256 == out["sha256"]
        out["status"] = row.status if row is not None else None
    out["ok"] = checked.ok and out.get("recorded", True) and out.get("status", "valid") == "valid"
    return out


def _day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value is not None else None
