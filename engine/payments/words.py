"""Amounts in Arabic words, as a receipt writes them under the figures: "ثلاثة آلاف جنيه مصري",
"مائة وخمسون جنيها مصريا وخمسون قرشا".

The counted noun agrees with the number the way Arabic counts: one and two follow the noun ("جنيه مصري واحد",
"جنيهان مصريان"), three to ten take its plural ("ثلاثة جنيهات مصرية"), eleven to ninety-nine its singular with
tanween ("خمسون جنيها مصريا"), a round hundred, thousand or million its singular ("مائة جنيه مصري"). Numbers
are the masculine forms (the pound, the piastre, the thousand and the million are masculine nouns). Written
here rather than taken from num2words, whose Arabic currency forms get these agreements wrong ("واحد جنيه",
"خمسون قرش").
"""

from __future__ import annotations

from dataclasses import dataclass

_ONES = ("", "واحد", "اثنان", "ثلاثة", "أربعة", "خمسة", "ستة", "سبعة", "ثمانية", "تسعة", "عشرة")
_TEENS = {11: "أحد عشر", 12: "اثنا عشر"}
_TENS = ("", "", "عشرون", "ثلاثون", "أربعون", "خمسون", "ستون", "سبعون", "ثمانون", "تسعون")
_HUNDREDS = ("", "مائة", "مئتان", "ثلاثمائة", "أربعمائة", "خمسمائة", "ستمائة", "سبعمائة", "ثمانمائة", "تسعمائة")


@dataclass(frozen=True)
class Noun:
    """A counted noun's forms: with one, with two, three to ten, eleven to ninety-nine, round."""

    one: str
    two: str
    few: str
    many: str
    round: str


#: The scales above a thousand: (value, noun).
_SCALES = (
    (10**9, Noun("مليار", "ملياران", "مليارات", "مليارا", "مليار")),
    (10**6, Noun("مليون", "مليونان", "ملايين", "مليونا", "مليون")),
    (10**3, Noun("ألف", "ألفان", "آلاف", "ألفا", "ألف")),
)

#: Currencies a receipt can name: the major unit and the minor unit (a hundredth).
CURRENCIES: dict[str, tuple[Noun, Noun]] = {
    "EGP": (Noun("جنيه مصري", "جنيهان مصريان", "جنيهات مصرية", "جنيها مصريا", "جنيه مصري"),
            Noun("قرش", "قرشان", "قروش", "قرشا", "قرش")),
    "SAR": (Noun("ريال سعودي", "ريالان سعوديان", "ريالات سعودية", "ريالا سعوديا", "ريال سعودي"),
            Noun("هللة", "هللتان", "هللات", "هللة", "هللة")),
}


def _below_thousand(n: int) -> list[str]:
    parts: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        parts.append(_HUNDREDS[hundreds])
    if rest == 0:
        return parts
    if rest <= 10:
        parts.append(_ONES[rest])
    elif rest < 20:
        parts.append(_TEENS.get(rest) or f"{_ONES[rest - 10]} عشر")
    else:
        tens, ones = divmod(rest, 10)
        if ones:
            parts.append(_ONES[ones])
        parts.append(_TENS[tens])
    return parts


def _join(parts: list[str]) -> str:
    return " و".join(p for p in parts if p)


def number(n: int, *, before_noun: bool = False) -> str:
    """A whole number in words (masculine), ``0 <= n < 10**12``; ``before_noun`` when a counted noun follows,
    which a closing thousand or million then governs ("أحد عشر ألف جنيه", not "أحد عشر ألفا جنيه")."""
    if n < 0 or n >= 10**12:
        raise ValueError(f"out of range: {n}")
    if n == 0:
        return "صفر"
    parts: list[str] = []
    for scale, noun in _SCALES:
        count, n = divmod(n, scale)
        if count:
            closing = before_noun and n == 0
            parts.append(_counted(count, Noun(noun.one, noun.two, noun.few, noun.round if closing else noun.many,
                                              noun.round), standalone=True))
    parts.append(_join(_below_thousand(n)))
    return _join(parts)


def _counted(n: int, noun: Noun, *, standalone: bool = False) -> str:
    """``n`` (at least 1) with ``noun`` agreeing. A scale (``standalone``) drops the number for one and two
    ("ألف", "ألفان"); a currency keeps it after the noun ("جنيه مصري واحد")."""
    if n == 1:
        return noun.one if standalone else f"{noun.one} {_ONES[1]}"
    if n == 2:
        return noun.two
    words = number(n, before_noun=not standalone)
    last = n % 100
    if 3 <= last <= 10:
        return f"{words} {noun.few}"
    if 11 <= last <= 99:
        return f"{words} {noun.many}"
    return f"{words} {noun.round}"


def amount(minor: int, currency: str) -> str:
    """An amount in minor units (hundredths) in Arabic words with its currency; a currency this module does not
    name is written after the number by its code."""
    if minor < 0:
        raise ValueError("a negative amount")
    major, cents = divmod(minor, 100)
    nouns = CURRENCIES.get(currency.upper())
    if nouns is None:
        text = number(major)
        if cents:
            text += f" و{number(cents)} من مائة"
        return f"{text} {currency.upper()}"
    unit, sub = nouns
    if major == 0 and cents == 0:
        return f"{number(0)} {unit.round}"
    parts = []
    if major:
        parts.append(_counted(major, unit))
    if cents:
        parts.append(_counted(cents, sub))
    return _join(parts)
