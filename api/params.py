"""Numbers in paths and queries, bounded to what the database can hold.

A row id, a version or a page offset larger than the database's INTEGER columns (PostgreSQL's int4, the widest
integer every backend here stores) used to reach the database and fail there with a 500; bounded here, it is a
422 that names the parameter, and the OpenAPI document says the bound. The ids of the tables a center node writes
(cases, their documents, bills, payments, incidents...) are BIGINT (storage/bounds.py ``DB_ID_MAX``): a center
node's ids start at its center's id times 10^12.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import BeforeValidator

from forms.digits import DIGIT, ascii_digits
from storage.bounds import DB_ID_MAX, DB_INT_MAX

RowId = Annotated[int, Path(ge=1, le=DB_ID_MAX, description="a row's number")]
# A row of central's catalog or people (storage/nodes.py ``CENTRAL``), whose ids stay INTEGER.
IntRowId = Annotated[int, Path(ge=1, le=DB_INT_MAX, description="a row's number")]
VersionNumber = Annotated[int, Path(ge=1, le=DB_INT_MAX, description="a version of the service (1, 2, ...)")]
# The last four digits of the citizen's phone, ASCII or Arabic-Indic (the engine reads them as ASCII).
LAST4_PATTERN = f"^{DIGIT}{{4}}$"
OptionalRowId = Annotated[int | None, Query(ge=1, le=DB_ID_MAX, description="a row's number")]
Limit = Annotated[int, Query(ge=1, le=DB_INT_MAX, description="at most this many (the server may answer fewer)")]
Offset = Annotated[int, Query(ge=0, le=DB_INT_MAX, description="skip this many first")]


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _iso_date(value: Any) -> Any:
    # pydantic would also read a number as seconds since 1970 ("to=1.5e-121" was the first of January 1970):
    # a date is written YYYY-MM-DD (Arabic digits too), nothing else.
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(ascii_digits(value.strip())):
        return ascii_digits(value.strip())
    raise ValueError("a date is written YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
