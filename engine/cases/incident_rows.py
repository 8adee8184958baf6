"""The one open incident of a case, element and reason (storage/models/incidents.py): opened the first time,
counted again with its last moment and words every time after. engine/cases/incidents.py (a failed step),
correlated.py (a message no case or element took) and undelivered.py (a message not delivered) each then put
their own details on the row."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlmodel import Session, col, select

from storage.models.cases import Case
from storage.models.incidents import Incident


def open_or_count(session: Session, *, case: Case, version: int, element: str, reason: str, text: str,
                  now: datetime, matches: Callable[[Incident], bool] | None = None) -> tuple[Incident, bool]:
    """The case's open incident at ``element`` for ``reason`` counted once more, or a new one (True); added to
    the session, not flushed. ``matches`` picks, among several open ones, the one this failure repeats (a
    message between cases: the one that holds this very message); none that matches opens another."""
    incident = next((found for found in session.exec(select(Incident).where(
        Incident.case_id == case.id, Incident.element_id == element, Incident.reason == reason,
        Incident.status == "open").order_by(col(Incident.id))).all() if matches is None or matches(found)), None)
    new = incident is None
    if incident is None:
        assert case.id is not None
        incident = Incident(case_id=case.id, center_id=case.center_id, service_code=case.service_code,
                            version=version, element_id=element, reason=reason, message=text, opened_at=now,
                            last_at=now)
    else:
        incident.count += 1
        incident.last_at = now
        incident.message = text
    session.add(incident)
    return incident, new
