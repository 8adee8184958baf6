"""The message catalogs: every message of the pages has its Arabic, and the catalogs match the code."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from admin_ui.i18n import Lang, po_path
from admin_ui.messages import extract

PLACEHOLDER = re.compile(r"%\(\w+\)s")


def test_every_message_of_the_pages_has_an_arabic_translation() -> None:
    with po_path("ar").open("rb") as handle:
        arabic = {m.id: m.string for m in read_po(handle) if m.id}
    used = {m.id for m in extract() if m.id}
    assert sorted(used - arabic.keys()) == [], "run: python -m admin_ui.messages, then translate"
    untranslated = sorted(m for m in used if not arabic[m])
    assert untranslated == []
    for message in used:
        assert sorted(PLACEHOLDER.findall(message)) == sorted(PLACEHOLDER.findall(str(arabic[message]))), message


def test_english_catalog_lists_the_same_messages() -> None:
    with po_path("en").open("rb") as handle:
        english = {m.id for m in read_po(handle) if m.id}
    assert {m.id for m in extract() if m.id} <= english


def test_translations_fill_placeholders() -> None:
    assert Lang("ar").gettext("Request registered: %(number)s", number="1234-5678-901") == \
        "تم تسجيل الطلب: 1234-5678-901"
    assert Lang("en").gettext("Request registered: %(number)s", number="1") == "Request registered: 1"


def test_numbers_money_and_both_calendars() -> None:
    from datetime import UTC, datetime

    ar, en = Lang("ar", "gregory", "Africa/Cairo"), Lang("en", "islamic", "Africa/Cairo")
    assert "3,000.00" in ar.money(3000, "EGP") and "ج.م" in ar.money(3000, "EGP")
    assert en.money(3000, "EGP") == "EGP3,000.00"
    moment = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)  # already the 23rd in Cairo
    assert ar.date(moment) == "23 نوفمبر 2026"
    assert en.date(moment) == "13 Jumada al-Akhirah 1448 AH"
    assert ar.both_calendars(moment) == "23 نوفمبر 2026 (13 جمادى الآخرة 1448 هـ)"
