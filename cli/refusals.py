"""How the command line says a refusal, an error or a warning: by its message id, in the operator's language.

Every refusal the ``shubbak`` commands print goes through :func:`tell` (tests/cli/test_refusals.py fails on a
print to stderr anywhere else in cli/). Its words come from the refusal catalogs the API and the pages use
(``engine/locale/{ar,en}/LC_MESSAGES/refusals.po``, engine/core/refusals.py), in the language of
``SHUBBAK_CLI_LANGUAGE``: ``both`` (the default) writes each line in Arabic and then in English, ``ar`` or ``en``
one of them. Each line keeps the message id in brackets, so an operator can look it up or quote it::

    خطأ [catalog.no_version]: الخدمة 'audit_case' ليس لها الإصدار 9
    error [catalog.no_version]: the service 'audit_case' has no version 9

A refusal's per-element or per-field problems (an ``Invalid``'s ``details``) follow, one line each, with what to
do about them (the catalog's ``<id>.fix``) when the catalog says. The command line's own refusals are ids of the
same catalogs (``cli.*``); the labels in front of them too (``cli.label.*``).
"""

from __future__ import annotations

import sys
from typing import Any, Literal

from engine.core import refusals
from engine.core.errors import DomainError, Invalid
from engine.core.settings import Settings
from storage.backup import BackupFailed
from storage.nodes import NodeRefused

Label = Literal["error", "refused", "warning", "problem", "note"]
# The catalogs' general sentences around words that did not come from them (a tool's output, a library's message).
GENERAL, GENERAL_PROBLEM = "request.refused", "request.problem"


def languages(settings: Settings) -> tuple[str, ...]:
    """The languages the command line writes, in their order: Arabic first when both."""
    return ("ar", "en") if settings.cli_language == "both" else (settings.cli_language,)


def tell(
    settings: Settings,
    refusal: str | DomainError | BackupFailed | NodeRefused,
    /,
    *,
    label: Label = "error",
    where: str | None = None,
    **params: Any,
) -> None:
    """Print ``refusal`` to stderr in the operator's language(s): a message id of the catalogs with its
    ``params``, a :class:`~engine.core.refusals.Text`, a domain error (with its problems, for an ``Invalid``),
    a failed backup or a node's set-up refused (storage/nodes.py). ``where`` names what it is about (a package's
    folder)."""
    print("\n".join(lines(settings, refusal, label=label, where=where, **params)), file=sys.stderr)


def lines(
    settings: Settings,
    refusal: str | DomainError | BackupFailed | NodeRefused,
    /,
    *,
    label: Label = "error",
    where: str | None = None,
    **params: Any,
) -> list[str]:
    """The lines :func:`tell` prints."""
    details: list[dict[str, Any]] = []
    if isinstance(refusal, DomainError):
        message: str = refusal.message
        details = refusal.details if isinstance(refusal, Invalid) else []
    elif isinstance(refusal, BackupFailed | NodeRefused):
        message = refusals.say(refusal.message_id, **refusal.params)
    elif refusals.is_id(refusal):
        message = refusals.say(refusal, **params)
    else:
        message = refusal
    out: list[str] = []
    chosen = languages(settings)
    for language in chosen:
        head = " ".join(part for part in (_label(label, language), _id(message, GENERAL), where) if part)
        out.append(f"{head}: {_words(message, language, GENERAL)}")
        out += _fix(message, language, "  ")
    for detail in details:
        english = detail.get("message", detail.get("msg", ""))
        given_ar = detail.get("message_ar") or detail.get("msg_ar")
        place = " ".join(str(detail[key]) for key in ("file", "element_id", "field") if detail.get(key))
        for language in chosen:
            words = (
                given_ar
                if language == "ar" and given_ar and not isinstance(english, refusals.Text)
                else _words(english, language, GENERAL_PROBLEM)
            )
            head = " ".join(part for part in ("  -", _id(english, GENERAL_PROBLEM), place) if part)
            out.append(f"{head}: {words}")
            out += _fix(english, language, "      ")
    return out


def status(settings: Settings, head: str, reason: object | None = None) -> str:
    """A progress line (``   FAILED building_permit approved``) with its reason in the operator's language(s): the
    first language's words on the line, each other language's on a line of its own under them. A reason from
    outside the catalogs (a library's English) is written once, as it is."""
    if reason is None:
        return head
    if not isinstance(reason, refusals.Text):
        return f"{head}: {reason}"
    said = [reason.lang(language) for language in languages(settings)]
    return "\n".join([f"{head}: {said[0]}", *(f"{' ' * (len(head) + 2)}{more}" for more in said[1:])])


def _label(label: Label, language: str) -> str:
    return refusals.render(f"cli.label.{label}", {}, language)


def _id(message: object, general: str) -> str:
    return f"[{message.message_id if isinstance(message, refusals.Text) else general}]"


def _words(message: object, language: str, general: str) -> str:
    """``message`` in ``language``; words from outside the catalogs inside the catalog's general sentence."""
    if isinstance(message, refusals.Text):
        return message.lang(language)
    return refusals.render(general, {"reason": str(message)}, language)


def _fix(message: object, language: str, indent: str) -> list[str]:
    remedy = refusals.fix(message)
    if remedy is None:
        return []
    what_to_do = refusals.render("cli.label.fix", {}, language)
    return [f"{indent}{what_to_do}: {remedy[0] if language == 'en' else remedy[1]}"]
