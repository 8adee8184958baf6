"""Answers that several routes give: a case as the API shows it, and the citizen's tracking answer.

Routes never import each other's handlers; what two routes answer alike is built here.
"""

from __future__ import annotations

from sqlmodel import Session

from api.schemas import CasePublic, TrackPublic, utc
from engine.cases import lifecycle as cases
from engine.cases import public
from engine.catalog import processes
from engine.core.settings import Settings
from storage.models.cases import Case


def case_view(session: Session, case: Case, settings: Settings) -> CasePublic:
    assert case.id is not None
    version = processes.cache.get(session, case.process_version_id, settings).version
    return CasePublic.of(case, cases.ready_tasks(session, case.id), version)


def track_view(session: Session, settings: Settings, *, tracking_number: str, phone_last4: str,
               client: str | None) -> TrackPublic:
    found = public.track(session=session, tracking_number=tracking_number, phone_last4=phone_last4,
                         settings=settings, client=client)
    found["updated_at"] = utc(found["updated_at"])
    found["reopen_until"] = utc(found["reopen_until"])
    return TrackPublic(**found)
