"""Numbers in the pages' addresses, bounded to what the database can hold (a bigger one is a 422, not a 500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from storage.bounds import DB_INT_MAX

PageId = Annotated[int, Path(ge=1, le=DB_INT_MAX)]
PageVersionId = Annotated[int | None, Query(ge=1, le=DB_INT_MAX)]
#: A row's id in a page's query that may be left out (0).
PageQueryId = Annotated[int, Query(ge=0, le=DB_INT_MAX)]
