"""Refusal messages by id: the words of every refusal the engine and the faces make, in English and Arabic.

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

Words that do not come from the catalogs (a SpiffWorkflow or pydantic sentence) are never left without Arabic:
:func:`arabic_or_general` and :func:`problem_arabic` put the catalog's general sentence around the English, and
:func:`validation_arabic` says a pydantic error by its type (``validation.<type>``). The API's JSON refusals
(api/errors.py) use them.
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


def arabic_or_general(message: object, general: str = "request.refused") -> str:
    """The Arabic of ``message``: its own when it is a :class:`Text`, else the catalog's ``general`` sentence
    (``request.refused``: "تعذّر تنفيذ الطلب: …") around the English, so an answer is never without Arabic and
    the technical English stays beside it."""
    if isinstance(message, Text):
        return message.ar
    return render(general, {"reason": str(message)}, "ar")


def problem_arabic(message: object) -> str:
    """The Arabic of one problem of a refusal (a file's, a field's): general (``request.problem``) when the words
    came from outside the catalogs (SpiffWorkflow, pydantic)."""
    return arabic_or_general(message, "request.problem")


def validation_arabic(kind: str, ctx: Mapping[str, Any] | None, english: str) -> str:
    """The Arabic of a pydantic error (its ``type``, ``ctx`` and English ``msg``): the catalog's
    ``validation.<type>`` when it has one, filled from ``ctx``; else the general problem around the English."""
    message_id = f"validation.{kind}"
    if known(message_id):
        said = render(message_id, dict(ctx or {}), "ar")
        if "%(" not in said:  # a placeholder ctx did not fill: the general sentence says it better
            return said
    return problem_arabic(english)


def with_arabic(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``details`` with Arabic beside each problem's English: ``message_ar`` beside a ``message``, ``msg_ar``
    beside a ``msg`` (the catalog's words, or the general sentence around the English); Arabic already given is
    kept."""
    out = []
    for d in details:
        d = dict(d)
        for english, ar in (("message", "message_ar"), ("msg", "msg_ar")):
            if english in d and not d.get(ar):
                d[ar] = problem_arabic(d[english])
        out.append(d)
    return out


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
