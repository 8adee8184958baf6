"""Languages of the pages: message catalogs (gettext ``.po`` files read with Babel), numbers and dates.

Arabic is the default and reads right to left. The catalogs are the ``.po`` files under ``locale/``, read
and compiled in memory when first needed, so ``make run`` needs no build step; ``msgid`` is the English text.
The engine's refusals have their own catalogs (engine/core/refusals.py): ``gettext`` of one gives its words in the
reader's language.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal
from babel.support import Translations

from engine.core import calendars, refusals
from engine.people.users import LANGUAGES
from forms.fields import ltr as ltr  # the bidi helper lives with the forms, which draw it in examples too

LOCALE_DIR = Path(__file__).with_name("locale")
DEFAULT_LANGUAGE = "ar"
DEFAULT_CALENDAR = "gregory"
# Babel locales: Egypt's Arabic; British English writes dates day first, as the center does.
_BABEL = {"ar": "ar_EG", "en": "en_GB"}
_lock = threading.Lock()


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "mark for the catalog, translate later"
    """Mark a message for the catalogs; it is translated where it is shown."""
    return message


# Words chosen by code at run time: marked here so the catalogs (and their test) know them.
STATUS_WORDS = {"open": N_("In progress"), "completed": N_("Completed"), "cancelled": N_("Cancelled")}
TRACK_WORDS = {"open": N_("Your request is being worked on"), "completed": N_("Your request is complete"),
               "cancelled": N_("Your request was cancelled"), "resolved": N_("Your complaint was resolved")}
INBOX_WORDS = {"all": N_("All"), "unclaimed": N_("Not taken yet"), "mine": N_("Taken by me"),
               "due_soon": N_("Due soon"), "overdue": N_("Overdue")}
ERROR_HEADINGS = {401: N_("Sign in first"), 403: N_("You cannot open this page"), 404: N_("Not found"),
                  409: N_("Someone else changed this first"), 413: N_("The upload is too large"),
                  422: N_("Something is missing or wrong"), 429: N_("Too many attempts")}
ERROR_DEFAULT = N_("This could not be done")
# Kinds of diagram elements, as the diff and the modeler's problems name them.
ELEMENT_WORDS = {"userTask": N_("user task"), "scriptTask": N_("script task"), "serviceTask": N_("service task"),
                 "exclusiveGateway": N_("exclusive gateway"), "parallelGateway": N_("parallel gateway"),
                 "inclusiveGateway": N_("inclusive gateway"), "sequenceFlow": N_("sequence flow"),
                 "startEvent": N_("start event"), "endEvent": N_("end event"), "lane": N_("lane"),
                 "decision": N_("decision table"), "rule": N_("rule")}


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> Translations:
    """The language's catalog, compiled from its ``.po`` file in memory (once per process)."""
    with _lock, po_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=_BABEL[language])
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def choose(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class Lang:
    """One reader's language, calendar and clock: what every template formats with."""

    code: str = DEFAULT_LANGUAGE
    calendar: str = DEFAULT_CALENDAR
    timezone: str = "UTC"

    @property
    def dir(self) -> str:
        return "rtl" if self.code == "ar" else "ltr"

    @property
    def other(self) -> str:
        return "en" if self.code == "ar" else "ar"

    def gettext(self, message: str, **values: Any) -> str:
        if isinstance(message, refusals.Text):  # an engine refusal: its words are in the engine's catalogs
            return message.lang(self.code)
        text = translations(self.code).ugettext(message)
        return text % values if values else text

    def pick(self, names: Any, fallback: str = "") -> str:
        """``names`` as ``{"ar": …, "en": …}`` (service.toml's style): this language's, else the other's."""
        if isinstance(names, dict):
            return str(names.get(self.code) or names.get(self.other) or fallback)
        return str(names) if names else fallback

    def number(self, value: float | int | None) -> str:
        if value is None:
            return ""
        return format_decimal(value, locale=_BABEL[self.code], numbering_system="latn")

    def money(self, amount: float | int | None, currency: str = "EGP") -> str:
        if amount is None:
            return ""
        return format_currency(amount, currency, locale=_BABEL[self.code], numbering_system="latn")

    def local(self, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:  # SQLite hands back naive datetimes; every stored time is UTC
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(ZoneInfo(self.timezone))

    def date(self, value: dt.datetime | dt.date | None) -> str:
        if value is None:
            return ""
        day = self.local(value).date() if isinstance(value, dt.datetime) else value
        if self.calendar == "islamic":
            hijri = _hijri(day, self.code)
            if hijri:
                return hijri
        return format_date(day, "long", locale=_BABEL[self.code])

    def datetime(self, value: dt.datetime | None) -> str:
        if value is None:
            return ""
        moment = self.local(value)
        clock = format_datetime(moment, "HH:mm", locale=_BABEL[self.code])
        return f"{self.date(moment.date())} {clock}"

    def both_calendars(self, value: dt.datetime | None) -> str:
        """The date in the reader's calendar, and the other one in brackets (receipts carry both)."""
        if value is None:
            return ""
        first = self.date(value)
        second = Lang(self.code, "gregory" if self.calendar == "islamic" else "islamic", self.timezone).date(value)
        return first if second == first else f"{first} ({second})"


def _hijri(day: dt.date, language: str) -> str | None:
    return calendars.hijri(day, language)
