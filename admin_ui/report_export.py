"""A report's table as a file: CSV (UTF-8 with a byte-order mark, so spreadsheet programs read Arabic) or XLSX."""

from __future__ import annotations

from typing import Any

from engine.core import xlsxfile
from engine.core.csvfile import FORMULA_START, cell, columns, to_csv
from engine.core.xlsxfile import XLSX_TYPE

__all__ = ["FORMULA_START", "XLSX_TYPE", "cell", "columns", "to_csv", "to_xlsx"]


def to_xlsx(rows: list[dict[str, Any]], title: str) -> bytes:
    return xlsxfile.to_xlsx(rows, title)
