"""Checks on who the citizen is: national ID, phone, name. The rules are settings, not code."""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.core.errors import Invalid
from engine.core.refusals import problem
from engine.core.settings import Settings
from forms.digits import ascii_digits

# Governorate codes of Egypt's 14-digit national numbers (digits 8-9): 01-04, 11-19, 21-35, 88 (abroad).
_EG_GOVERNORATES = {1, 2, 3, 4, *range(11, 20), *range(21, 36), 88}


class Citizen(BaseModel):
    national_id: str = Field(max_length=32)
    full_name: str = Field(max_length=200)
    phone: str = Field(max_length=32)
    # Optional: the language of the citizen's messages (Arabic when not given) and an address for e-mails.
    # Left out of the case's data when not given (``model_dump(exclude_none=True)``).
    language: Literal["ar", "en"] | None = None
    email: str | None = Field(default=None, max_length=254)


def _egypt_birth_date_ok(nid: str) -> bool:
    """Egypt's 14-digit number: C YYMMDD GG NNNN D, C=2 for 1900s, 3 for 2000s births; GG the governorate."""
    century = {"2": 1900, "3": 2000}.get(nid[0])
    if century is None:
        return False
    try:
        born = date(century + int(nid[1:3]), int(nid[3:5]), int(nid[5:7]))
    except ValueError:
        return False
    return born <= date.today() and int(nid[7:9]) in _EG_GOVERNORATES


def normalise_national_id(text: str) -> str:
    """A national ID as stored and searched: Arabic-Indic digits as ASCII, no surrounding spaces."""
    return ascii_digits(text.strip())


def national_id_problem(nid: str, settings: Settings) -> str | None:
    """The message id of what is wrong with a normalised national ID (its digits, then Egypt's birth date and
    governorate), or None when the desk would take it."""
    if not re.fullmatch(settings.national_id_pattern, nid, re.ASCII):
        return "citizen.national_id_digits"
    if settings.national_id_check_egypt_birth_date and len(nid) == 14 and not _egypt_birth_date_ok(nid):
        return "citizen.national_id_birth_date"
    return None


def phone_digits(text: str) -> str:
    """A phone as stored: Arabic-Indic digits as ASCII, no spaces or dashes (the pattern checks the rest)."""
    return re.sub(r"[\s-]", "", ascii_digits(text))


def normalise_phone(text: str, settings: Settings) -> str | None:
    """A phone as a citizen types it to sign in, in the stored form (``+201001234567``), or None when it is not
    a phone: Arabic-Indic digits, spaces and dashes as at intake, and the local forms ``01001234567`` (the
    country's prefix, ``SHUBBAK_PHONE_COUNTRY_PREFIX``, in place of the 0) and ``00201001234567``."""
    phone = phone_digits(text.strip())
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    elif phone.startswith("0"):
        phone = settings.phone_country_prefix + phone[1:]
    return phone if re.fullmatch(settings.phone_pattern, phone, re.ASCII) else None


def check_citizen(raw: dict[str, Any], settings: Settings) -> Citizen:
    """Normalise and check; every problem is listed, each with its field, in Arabic and English."""
    problems: list[dict[str, Any]] = []
    nid = normalise_national_id(str(raw.get("national_id", "")))
    name = " ".join(str(raw.get("full_name", "")).split())
    phone = phone_digits(str(raw.get("phone", "")))
    wrong = national_id_problem(nid, settings)
    if wrong is not None:
        problems.append(_citizen_problem("national_id", wrong))
    if not name or len(name) > 200 or not any(ch.isalpha() for ch in name):  # invisible marks are no name
        problems.append(_citizen_problem("full_name", "citizen.full_name_required"))
    if not re.fullmatch(settings.phone_pattern, phone, re.ASCII):
        problems.append(_citizen_problem("phone", "citizen.phone_international"))
    language = raw.get("language") or None
    if language not in (None, "ar", "en"):
        problems.append(_citizen_problem("language", "citizen.language"))
    email = str(raw.get("email") or "").strip() or None
    if email is not None and (len(email) > 254 or not re.fullmatch(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+", email)):
        problems.append(_citizen_problem("email", "citizen.email"))
    if problems:
        raise Invalid("citizen.details_invalid", problems)
    return Citizen(national_id=nid, full_name=name, phone=phone, language=language, email=email)


def _citizen_problem(field: str, message_id: str) -> dict[str, Any]:
    return problem(f"citizen.{field}", message_id, loc=["body", "citizen", field], kind="value_error")
