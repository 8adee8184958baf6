"""Names of services and titles of steps in the reader's language, read from the deployed versions' metadata."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from admin_ui.i18n import Lang
from storage.models.catalog import ProcessVersion


@dataclass
class Labels:
    services: dict[str, dict[str, str]] = field(default_factory=dict)
    steps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def service(self, code: str, lang: Lang) -> str:
        return lang.pick(self.services.get(code), code)

    def step(self, service_code: str, name: str, lang: Lang, fallback: str | None = None) -> str:
        return lang.pick(self.steps.get((service_code, name)), fallback or name)

    def steps_of(self, service_code: str, names: list[str], lang: Lang) -> str:
        comma = "، " if lang.code == "ar" else ", "
        return comma.join(self.step(service_code, n, lang) for n in dict.fromkeys(names))


def load(db: Session) -> Labels:
    """Every service's names and step titles; a later version's words replace an earlier one's."""
    labels = Labels()
    rows = db.exec(select(ProcessVersion.service_code, ProcessVersion.service, ProcessVersion.meta)
                   .order_by(col(ProcessVersion.version))).all()
    for code, service, meta in rows:
        name: Any = (service or {}).get("name")
        labels.services[code] = name if isinstance(name, dict) else {"en": code, "ar": code}
        for task_name, info in (meta or {}).get("user_tasks", {}).items():
            labels.steps[(code, task_name)] = {"en": info.get("title") or task_name,
                                               "ar": info.get("title_ar") or info.get("title") or task_name}
    return labels
