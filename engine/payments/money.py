"""Amounts as people and the API write them: decimal strings with at most two places, Arabic-Indic digits
accepted (forms/digits.py), never floats. Kept in minor units (1/100) everywhere else."""

from __future__ import annotations

import re
from typing import Any

from engine.core.errors import Invalid
from engine.core.refusals import problem
from engine.core.settings import Settings
from forms.digits import ascii_digits

#: How a payment is taken: cash in the drawer, a card on the center's terminal (its reference), e-payment
#: confirmed by a gateway (recorded here as the gateway reported it).
METHODS = ("cash", "card", "e_payment")
_AMOUNT = re.compile(r"^[0-9]{1,15}(?:\.[0-9]{1,2})?$")


def parse(value: Any, settings: Settings, *, field: str = "amount", zero: bool = False) -> int:
    """``value`` (a string such as ``"150"``, ``"150.5"``, ``"١٥٠٫٥٠"``) in minor units; Invalid (422) naming
    ``field`` for anything else: a JSON number, a negative or an amount with more than two decimal places, more
    than ``max_payment_amount``, or 0 unless ``zero``."""
    if not isinstance(value, str):
        raise Invalid("payment.invalid_amount", [problem(field, "payment.amount_as_text")])
    plain = ascii_digits(value.strip()).replace("٫", ".")
    if not _AMOUNT.fullmatch(plain):
        raise Invalid("payment.invalid_amount", [problem(field, "payment.amount_format")])
    whole, _, cents = plain.partition(".")
    amount = int(whole) * 100 + int((cents + "00")[:2])
    if amount > settings.max_payment_amount * 100:
        raise Invalid("payment.invalid_amount", [problem(field, "payment.amount_too_large",
                                                         most=str(settings.max_payment_amount))])
    if amount == 0 and not zero:
        raise Invalid("payment.invalid_amount", [problem(field, "payment.amount_zero")])
    return amount


def by_method(values: Any, settings: Settings, *, field: str) -> dict[str, int]:
    """A ``{method: amount}`` map (a drawer's float, what was counted) in minor units; every method present."""
    if not isinstance(values, dict):
        raise Invalid("payment.invalid_amount", [problem(field, "payment.by_method")])
    unknown = sorted(set(values) - set(METHODS))
    if unknown:
        raise Invalid("payment.invalid_amount", [problem(field, "payment.unknown_method", method=unknown[0],
                                                         methods=", ".join(METHODS))])
    return {method: parse(values[method], settings, field=f"{field}.{method}", zero=True) if method in values
            else 0 for method in METHODS}
