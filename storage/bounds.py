"""What the database's columns can hold, for the faces to refuse bigger numbers before they reach it."""

from __future__ import annotations

DB_INT_MAX = 2**31 - 1  # the largest value of an INTEGER column (PostgreSQL's int4; SQLite holds more)
# The largest id of a table a center node writes, and of a column holding one: BIGINT on PostgreSQL (SQLite's
# INTEGER holds as much), because each center node draws its ids from a block of its own (storage/nodes.py
# ``ID_BLOCK``): center 7's first case is 7000000000001.
DB_ID_MAX = 2**63 - 1
