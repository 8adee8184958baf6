"""A table as a CSV file for spreadsheet programs: UTF-8 with a byte-order mark (so Excel reads Arabic), CRLF
lines, and text that a spreadsheet would run as a formula made inert. The performance reports' export
(admin_ui/report_export.py) and the collections export (engine/payments/ledger.py) both write with it."""

from __future__ import annotations

import csv
import io
from typing import Any

#: A text cell starting with one of these is a formula to a spreadsheet program (CSV/formula injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> Any:
    """A value as a CSV cell: text a spreadsheet would run as a formula gets a leading apostrophe; numbers
    (a negative Decimal too) stay."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(rows[0]) if rows else []


def to_csv(rows: list[dict[str, Any]], names: list[str] | None = None) -> bytes:
    """``rows`` under the header ``names`` (the first row's keys when not given)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    names = names if names is not None else columns(rows)
    writer.writerow(names)
    for row in rows:
        writer.writerow(["" if row[n] is None else cell(row[n]) for n in names])
    return ("\ufeff" + out.getvalue()).encode("utf-8")
