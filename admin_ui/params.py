"""Numbers in the pages' addresses, bounded to what the database can hold (a bigger one is a 422, not a 500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from storage.bounds import DB_ID_MAX, DB_INT_MAX

PageId = Annotated[int, Path(ge=1, le=DB_ID_MAX)]  # a row of a table a center node writes (BIGINT)
PageVersionId = Annotated[int | None, Query(ge=1, le=DB_INT_MAX)]
ShownRow = Annotated[int, Query(ge=0, le=DB_ID_MAX)]  # a row a page was sent back to show (0: none)
VersionNumber = Annotated[int, Path(ge=1, le=DB_INT_MAX)]  # a service's version (1, 2, ...)
VersionChosen = Annotated[int | None, Query(ge=1, le=DB_INT_MAX)]
