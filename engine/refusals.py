"""Refusal messages by id: the words of every refusal the engine makes, in English and Arabic.

A refusal names a message id and its parameters (``raise NotFound("case.not_found", case_id=7)``); the words
are in the engine's own catalogs, ``engine/locale/<language>/LC_MESSAGES/refusals.po`` (gettext files read
with Babel, as the pages' catalogs are), where the ``msgid`` is the id and ``msgstr`` the sentence with
``%(name)s`` placeholders. A refusal an analyst can act on may have ``<id>.fix``: what to do about it. To add
a refusal: choose an id (``area.what``), add it with its sentence to both ``.po`` files, and use it. A per-field
problem of an ``Invalid`` gets its ``msg`` and ``msg_ar`` the same way (:func:`problem`); a parameter already
in both languages (a paper's name, a diagram's word) is given as :class:`Words`. tests/engine/test_refusals.py
fails when an id lacks either language, when the two disagree on their placeholders, when code names an id
that is not in the catalogs, or when the engine refuses with a sentence instead of an id.

:func:`say` gives a :class:`Text`: a ``str`` holding the English sentence (so logs, the command line and the
API's ``detail`` read as before) that keeps its id and parameters, so a face can ask for it in the reader's
language (``text.ar``, ``text.lang("ar")``). A parameter may itself be a ``Text`` (a reason inside a
sentence); it is rendered in the same language.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

# engine/locale, found from wherever this module sits inside the engine package (it may move to a subpackage).
LOCALE_DIR = next(p / "locale" for p in Path(__file__).resolve().parents if (p / "locale" / "en").is_dir())
DOMAIN = "refusals"
LANGUAGES = ("en", "ar")
ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_lock = threading.Lock()


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=len(LANGUAGES))
def catalog(language: str) -> dict[str, str]:
    """``{id: sentence}`` of one language, read once per process."""
    with _lock, po_path(language).open("rb") as handle:
        return {str(m.id): str(m.string) for m in read_po(handle, locale=language) if m.id and m.string}


def is_id(value: object) -> bool:
    return isinstance(value, str) and not isinstance(value, Text) and ID.match(value) is not None


def known(message_id: str) -> bool:
    return all(message_id in catalog(language) for language in LANGUAGES)


def render(message_id: str, params: Mapping[str, Any], language: str) -> str:
    """The sentence of ``message_id`` in ``language`` with ``params`` filled in (English when the language
    lacks it; the id itself when no catalog has it, which the catalog test forbids)."""
    template = catalog(language).get(message_id) or catalog("en").get(message_id) or message_id
    values = {k: v.lang(language) if isinstance(v, Text | Words) else v for k, v in params.items()}
    try:
        return template % values
    except (KeyError, ValueError, TypeError):  # a placeholder the caller did not give: show the sentence as is
        return template


@dataclass(frozen=True)
class Words:
    """A parameter already written in both languages (names from a diagram, a list of field problems)."""

    en: str
    ar: str

    def lang(self, language: str) -> str:
        return self.ar if language == "ar" else self.en

    def __str__(self) -> str:
        return self.en


class Text(str):
    """A refusal's English sentence that remembers its id and parameters (see the module's docstring)."""

    message_id: str
    params: Mapping[str, Any]

    def __new__(cls, message_id: str, params: Mapping[str, Any] | None = None) -> Text:
        values = dict(params or {})
        made = super().__new__(cls, render(message_id, values, "en"))
        made.message_id, made.params = message_id, values
        return made

    def lang(self, language: str) -> str:
        return render(self.message_id, self.params, language)

    @property
    def ar(self) -> str:
        return self.lang("ar")

    def __reduce__(self) -> tuple[Any, ...]:  # survives pickling (Celery, multiprocessing)
        return (Text, (self.message_id, self.params))


def say(message_id: str, **params: Any) -> Text:
    """The refusal ``message_id`` with its parameters."""
    return Text(message_id, params)


def in_language(message: str, language: str) -> str:
    """``message`` in ``language`` when it is a :class:`Text`; otherwise as it is."""
    return message.lang(language) if isinstance(message, Text) else message


def arabic(message: object) -> str | None:
    """The Arabic of a refusal's message, or None when it was not made from the catalog."""
    return message.ar if isinstance(message, Text) else None


def fix(message: object) -> tuple[str, str] | None:
    """What to do about a refusal (English, Arabic): the catalog's ``<id>.fix`` entry, when it has one; for a
    sentence that wraps another (``deploy.at_element``, ``deploy.script_refused``), the inner one's."""
    if not isinstance(message, Text):
        return None
    remedy = message.message_id + ".fix"
    if known(remedy):
        return render(remedy, message.params, "en"), render(remedy, message.params, "ar")
    return next((found for value in message.params.values() if (found := fix(value)) is not None), None)


def with_arabic(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``details`` with ``message_ar`` added to each problem that has a ``message``."""
    return [{**d, "message_ar": arabic(d["message"])} if "message" in d else d for d in details]


def problem(field: str, message_id: str, *, loc: list[str | int] | None = None, kind: str | None = None,
            **params: Any) -> dict[str, Any]:
    """One per-field problem of an ``Invalid``: ``msg`` in English and ``msg_ar`` in Arabic, from the catalog."""
    text = say(message_id, **params)
    out: dict[str, Any] = {}
    if loc is not None:
        out["loc"] = loc
    out["field"] = field
    if kind is not None:
        out["type"] = kind
    out.update({"msg": text, "msg_ar": text.ar})
    return out
