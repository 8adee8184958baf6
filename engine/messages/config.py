"""The optional ``[messages]`` table of ``service.toml``: which BPMN ids mean which stage, the citizens' names
of the departments, and the service's own wording of each stage's message (docs/analyst-guide.md)."""

from __future__ import annotations

from string import Formatter

from pydantic import BaseModel, ConfigDict, Field, field_validator

STAGES = ("received", "department", "returned", "ready_for_pickup", "completed", "rejected")
"""Every stage a message can be about, in the order a case usually meets them."""

NOTICES = ("bill_issued", "bill_paid")
"""Messages about the case's money, told with the event that calls for them (engine/messages/stages.py): a
service rewords them in ``templates`` or silences them in ``off`` as a stage, but no BPMN id maps to them."""

PLACEHOLDERS = frozenset({"tracking_number", "service", "department", "at", "fee", "currency", "rating_url",
                          "bill", "receipt_number", "citizen_url"})
"""What a template may say. Nothing here names an officer: citizens never learn who decided. ``bill`` and
``receipt_number`` are filled in only in the money notices, ``citizen_url`` only for a return waiting in the
citizen's lane (empty elsewhere)."""

Stage = str


def check_template(text: str) -> str:
    """``text`` if its ``{placeholders}`` are all known plain names; ValueError otherwise."""
    try:
        fields = [name for _lit, name, spec, conv in Formatter().parse(text) if name is not None
                  for _ in [spec, conv]]
    except ValueError as exc:
        raise ValueError(f"not a valid template: {exc}") from exc
    unknown = sorted({name for name in fields if name not in PLACEHOLDERS})
    if unknown:
        raise ValueError(f"unknown placeholders {unknown}; known: {sorted(PLACEHOLDERS)}")
    return text


class Wording(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ar: str | None = Field(default=None, min_length=1, max_length=1000)
    en: str | None = Field(default=None, min_length=1, max_length=1000)

    @field_validator("ar", "en")
    @classmethod
    def _known_placeholders(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)


class DepartmentName(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ar: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class MessageSettings(BaseModel):
    """``[messages]``: ``stages`` maps BPMN ids to stages (a task id for received: its completion; for
    department, returned and ready_for_pickup: it becomes ready; an end event id for completed and rejected);
    ``departments`` names lanes for citizens; ``templates`` rewords a stage; ``off`` silences stages."""

    model_config = ConfigDict(extra="forbid")
    stages: dict[str, str] = Field(default_factory=dict)
    departments: dict[str, DepartmentName] = Field(default_factory=dict)
    templates: dict[str, Wording] = Field(default_factory=dict)
    off: list[str] = Field(default_factory=list)

    @field_validator("stages")
    @classmethod
    def _known_stages(cls, value: dict[str, str]) -> dict[str, str]:
        wrong = sorted({s for s in value.values() if s not in STAGES})
        if wrong:
            raise ValueError(f"unknown stages {wrong}; known: {list(STAGES)}")
        return value

    @field_validator("templates")
    @classmethod
    def _known_template_stages(cls, value: dict[str, Wording]) -> dict[str, Wording]:
        wrong = sorted(set(value) - set(STAGES) - set(NOTICES))
        if wrong:
            raise ValueError(f"templates for unknown stages {wrong}; known: {list(STAGES + NOTICES)}")
        return value

    @field_validator("off")
    @classmethod
    def _known_off(cls, value: list[str]) -> list[str]:
        wrong = sorted(set(value) - set(STAGES) - set(NOTICES))
        if wrong:
            raise ValueError(f"unknown stages {wrong}; known: {list(STAGES + NOTICES)}")
        return value
