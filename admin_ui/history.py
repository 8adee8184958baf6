"""The auditors' time travel: a case's history step by step, each step with its diagram, its data and its diff."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from admin_ui.i18n import Lang
from admin_ui.timeline import Entry
from engine.replay import History, Step
from forms.fields import labels_of, show_value


@dataclass
class Change:
    key: str
    label: str
    kind: str  # added, removed or changed
    before: str = ""
    after: str = ""


@dataclass
class Shown:
    """One step as the page shows it: where it is in the list, its sentence, its data and what it changed."""

    number: int
    step: Step
    entry: Entry | None
    data: list[tuple[str, str, str]] = field(default_factory=list)  # key, label, value
    changes: list[Change] = field(default_factory=list)


def _value(value: Any, options: dict[str, str], lang: Lang) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if value is None:
        return "—"
    return show_value(value, options, lang)


def show(history: History, number: int, entries: dict[int, Entry], schemas: dict[str, dict[str, Any]],
         lang: Lang) -> Shown:
    """Step ``number`` (1 for the first event) of ``history``, in the reader's words."""
    step = history.steps[number - 1]
    known = labels_of(schemas, lang)

    def label(key: str) -> tuple[str, dict[str, str]]:
        return known.get(key, (key, {}))

    data = [(key, label(key)[0], _value(value, label(key)[1], lang)) for key, value in sorted(step.data.items())]
    changes = []
    diff = step.diff or {}
    for key, value in sorted((diff.get("added") or {}).items()):
        changes.append(Change(key, label(key)[0], "added", after=_value(value, label(key)[1], lang)))
    for key, value in sorted((diff.get("removed") or {}).items()):
        changes.append(Change(key, label(key)[0], "removed", before=_value(value, label(key)[1], lang)))
    for key, pair in sorted((diff.get("changed") or {}).items()):
        changes.append(Change(key, label(key)[0], "changed", before=_value(pair.get("from"), label(key)[1], lang),
                              after=_value(pair.get("to"), label(key)[1], lang)))
    return Shown(number, step, entries.get(step.seq), data, changes)
