"""Analysts' drafts: the files of a service being edited in the modeler, never run by cases.

One row per service: every "Save draft" overwrites it and says who saved it and when. ``revision`` grows by
one at each save, so a save made from a stale copy (someone else saved in between) is refused, not lost.
Publishing deploys the files as a new process version (engine/catalog/processes.py); the draft stays until the next
save, so the page can show that it matches a published version.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from storage.models.base import _ts, utcnow

__all__ = ["ServiceDraft"]


class ServiceDraft(SQLModel, table=True):
    __tablename__ = "service_draft"

    id: int | None = Field(default=None, primary_key=True)
    service_code: str = Field(max_length=100, unique=True)
    # The files as process versions keep them (engine/processes.encode_files): name -> text.
    files: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The newest published version when the draft was last saved: publishing refuses to undo a newer one.
    base_version: int | None = None
    revision: int = 1
    saved_by: str = Field(max_length=64)
    saved_at: datetime = _ts(default_factory=utcnow)
