"""What the database's columns can hold, for the faces to refuse bigger numbers before they reach it."""

from __future__ import annotations

DB_INT_MAX = 2**31 - 1  # the largest value of an INTEGER column (PostgreSQL's int4; SQLite holds more)
