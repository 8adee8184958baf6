"""Amounts of money as the engine keeps them: integers in the currency's minor unit (1/100), exact on every
database, and written as decimal strings with two places (``"3000.00"``), never floats. Also what a case owes
from its data (``bill_items`` or ``fee``): the bills (engine/cases/bills.py) and the analysts' tests
(engine/catalog/analyst_tests.py) read it the same way."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


def minor(value: Any) -> int | None:
    """An amount the diagram computed (a number, or a numeric string) in minor units (1/100), rounded half up;
    None when it is not a finite, non-negative amount."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0:
        return None
    return int((amount.quantize(CENT, rounding=ROUND_HALF_UP) * 100).to_integral_value())


def text(amount: int) -> str:
    """Minor units as the API writes money: a decimal string with two places (``"3000.00"``), never a float."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount) // 100}.{abs(amount) % 100:02d}"


def amount_of(data: dict[str, Any]) -> tuple[int, list[dict[str, Any]]] | None:
    """(total, items) the case owes from its data: ``bill_items`` if the diagram computed them, else ``fee``.
    None when there is nothing usable to bill."""
    raw_items = data.get("bill_items")
    if isinstance(raw_items, list) and raw_items:
        items = []
        for raw in raw_items:
            amount = minor(raw.get("amount")) if isinstance(raw, dict) else None
            if amount is None:
                return None
            items.append({"item": str(raw.get("item") or "")[:200], "amount": text(amount)})
        return sum(minor(i["amount"]) or 0 for i in items), items
    fee = minor(data.get("fee"))
    if fee is None:
        return None
    return fee, [{"item": "fee", "amount": text(fee)}]
