"""The access log's lines, captured as JSON during a test (api/observability.py)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from api.observability import ACCESS, RequestIdFilter, json_formatter


class Lines:
    """The access log's lines written since the last ``read``, parsed (each must be one JSON object)."""

    def __init__(self) -> None:
        self.out = io.StringIO()

    def read(self) -> list[dict[str, Any]]:
        text, self.out = self.out.getvalue(), io.StringIO()
        return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(name="lines")
def lines_fixture() -> Iterator[Lines]:
    captured = Lines()

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.out.write(self.format(record) + "\n")

    handler = Handler()
    handler.setFormatter(json_formatter())
    handler.addFilter(RequestIdFilter())
    level = ACCESS.level
    ACCESS.addHandler(handler)
    ACCESS.setLevel(logging.INFO)
    try:
        yield captured
    finally:
        ACCESS.removeHandler(handler)
        ACCESS.setLevel(level)
