"""Amounts in Arabic words (engine/payments/words.py): the counted noun agrees with the number as Arabic counts,
round thousands and millions govern the noun, piastres follow the pounds; nothing out of range is written."""

from __future__ import annotations

import pytest

from engine.payments import words


@pytest.mark.parametrize(("minor", "expected"), [
    (300000, "ثلاثة آلاف جنيه مصري"),
    (100, "جنيه مصري واحد"),
    (200, "جنيهان مصريان"),
    (500, "خمسة جنيهات مصرية"),
    (1000, "عشرة جنيهات مصرية"),
    (1100, "أحد عشر جنيها مصريا"),
    (1200, "اثنا عشر جنيها مصريا"),
    (2100, "واحد وعشرون جنيها مصريا"),
    (10000, "مائة جنيه مصري"),
    (15050, "مائة وخمسون جنيها مصريا وخمسون قرشا"),
    (20000, "مئتان جنيه مصري"),
    (100000, "ألف جنيه مصري"),
    (200000, "ألفان جنيه مصري"),
    (125075, "ألف ومئتان وخمسون جنيها مصريا وخمسة وسبعون قرشا"),
    (1100000, "أحد عشر ألف جنيه مصري"),
    (1150000, "أحد عشر ألفا وخمسمائة جنيه مصري"),
    (10000000, "مائة ألف جنيه مصري"),
    (100000000, "مليون جنيه مصري"),
    (350000000, "ثلاثة ملايين وخمسمائة ألف جنيه مصري"),
    (1, "قرش واحد"),
    (2, "قرشان"),
    (5, "خمسة قروش"),
    (50, "خمسون قرشا"),
    (0, "صفر جنيه مصري"),
])
def test_egyptian_pounds_and_piastres(minor: int, expected: str) -> None:
    assert words.amount(minor, "EGP") == expected


def test_the_currency_code_is_read_in_any_case_and_an_unknown_one_is_named() -> None:
    assert words.amount(300000, "egp") == "ثلاثة آلاف جنيه مصري"
    assert words.amount(1500, "SAR") == "خمسة عشر ريالا سعوديا"
    assert words.amount(1525, "USD") == "خمسة عشر وخمسة وعشرون من مائة USD"


def test_every_number_below_a_million_has_words_and_no_doubled_joins() -> None:
    seen = set()
    for n in range(1, 1_000_000, 7):
        text = words.number(n)
        assert text and "  " not in text and " و " not in text and not text.endswith("و"), (n, text)
        seen.add(text)
    assert len(seen) == len(range(1, 1_000_000, 7))  # distinct numbers, distinct words


@pytest.mark.parametrize("bad", [-1, 10**12])
def test_out_of_range_is_refused(bad: int) -> None:
    with pytest.raises(ValueError):
        words.number(bad)
    if bad < 0:
        with pytest.raises(ValueError):
            words.amount(bad, "EGP")
