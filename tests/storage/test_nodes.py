"""Every table is written by one side of a center node's replication (storage/nodes.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel

import storage.models  # noqa: F401  (registers every table)
from storage import nodes
from storage.db import engine_for
from storage.models.centers import Center


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
    url = "sqlite:///a-center-node-named-only.db"  # a URL of its own: the settings tell storage what it is
    try:
        assert Settings(node_role="center", node_center="CAI01", database_url=url).node_center == "CAI01"
        assert nodes.role_of(url) == ("center", "CAI01")
    finally:
        nodes.configure(url, "single", None)


@pytest.fixture
def center_node(sqlite_url: str) -> Iterator[str]:
    """A center node's database (SQLite: the guard does not depend on the server) holding its center, as central
    made it and replication brought it; the URL."""
    with Session(engine_for(sqlite_url)) as session:
        session.add(Center(code="ASW01", name_ar="أسوان", name_en="Aswan", level="governorate"))
        session.commit()
    nodes.configure(sqlite_url, "center", "ASW01")
    yield sqlite_url
    nodes.configure(sqlite_url, "single", None)


def test_a_center_node_writes_none_of_centrals_tables_whatever_writes_them(center_node: str) -> None:
    from sqlalchemy import update

    from storage.models.people import User

    with Session(engine_for(center_node)) as session:
        session.add(Center(code="NEW", name_ar="جديد", name_en="New", level="governorate"))
        with pytest.raises(nodes.CentralOnly, match="center"):
            session.commit()  # the ORM's flush
        session.rollback()
        with pytest.raises(nodes.CentralOnly, match="app_user"):
            session.execute(update(User).values(full_name="x"))  # a Core statement
        session.rollback()
        for sql in ("DELETE FROM center", 'update "center" set name_en = \'x\'', "  INSERT INTO open311_key "
                    "(name) VALUES ('x')"):
            with pytest.raises(nodes.CentralOnly):
                session.execute(text(sql))
            session.rollback()
        # Its own tables and reads are its own.
        assert session.execute(text("SELECT count(*) FROM center")).scalar() == 1
        session.execute(text("DELETE FROM throttle_counter"))
        session.commit()


def test_the_guard_reads_what_a_write_of_centrals_tables_may_look_like(center_node: str) -> None:
    with Session(engine_for(center_node)) as session:
        for sql in ("UPDATE main.center SET name_en = 'x'", 'DELETE FROM "main"."center"',
                    "/* a note */ DELETE FROM center", "-- a note\nUPDATE center SET name_en = 'x'",
                    "WITH gone AS (SELECT 1) DELETE FROM center", "UPDATE OR IGNORE center SET name_en = 'x'",
                    "INSERT OR REPLACE INTO center (id, code, name_ar, name_en, level, holidays) "
                    "SELECT id, code, name_ar, 'x', level, holidays FROM center",
                    "REPLACE INTO center (id, code, name_ar, name_en, level, holidays) "
                    "SELECT id, code, name_ar, 'x', level, holidays FROM center"):
            with pytest.raises(nodes.CentralOnly):
                session.execute(text(sql))
            session.rollback()
            with pytest.raises(nodes.CentralOnly):  # a driver's string, beside SQLAlchemy's text()
                session.connection().exec_driver_sql(sql)
            session.rollback()
        assert session.execute(text("SELECT name_en FROM center")).scalar() == "Aswan"
        # Reads that name a write's words, and its own tables, are its own.
        session.execute(text("SELECT 'delete from' AS said, count(*) FROM center"))
        session.connection().exec_driver_sql("UPDATE throttle_counter SET count = count")
        session.commit()
