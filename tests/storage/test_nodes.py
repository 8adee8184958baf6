"""Every table is written by one side of a center node's replication (storage/nodes.py)."""

from __future__ import annotations

from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table)
from storage import nodes


def test_every_table_is_in_exactly_one_set() -> None:
    tables = set(SQLModel.metadata.tables)
    sets = {"CENTRAL": nodes.CENTRAL, "CENTER": nodes.CENTER, "LOCAL": nodes.LOCAL}
    in_none = tables - nodes.CENTRAL - nodes.CENTER - nodes.LOCAL
    assert not in_none, f"tables no node set names (storage/nodes.py): {sorted(in_none)}"
    for a, left in sets.items():
        for b, right in sets.items():
            if a < b:
                assert not left & right, f"in both {a} and {b}: {sorted(left & right)}"
    unknown = (nodes.CENTRAL | nodes.CENTER | nodes.LOCAL) - tables
    assert not unknown, f"named in storage/nodes.py but not a table: {sorted(unknown)}"


def test_a_center_node_is_named_by_its_center_and_only_it() -> None:
    import pytest
    from pydantic import ValidationError

    from engine.core.settings import Settings

    with pytest.raises(ValidationError, match="SHUBBAK_NODE_CENTER"):
        Settings(node_role="center")
    with pytest.raises(ValidationError, match="SHUBBAK_NODE_CENTER"):
        Settings(node_role="central", node_center="CAI01")
    with pytest.raises(ValidationError):
        Settings(node_role="center", node_center="no spaces")
    assert Settings(node_role="center", node_center="CAI01").node_center == "CAI01"
