"""Identity without coordination (docs/center-nodes.md): a center node's ids come from a block of its own
(storage/nodes.py ``claim_id_block``), in BIGINT columns (migration 0032) that kept every existing row's id."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table)
from storage import nodes
from storage.db import dispose
from storage.migrate import upgrade
from storage.models.base import BIG_ID

INT4_MAX = 2**31 - 1


def _drawer(conn: Connection, cashier: str = "c1") -> int:
    """A row of a CENTER table (a drawer session: the smallest one to write by hand); its id."""
    return int(conn.execute(text(
        "INSERT INTO cashier_session (cashier, status, opening, opened_at, audit_seq, audit_head) "
        "VALUES (:c, 'closed', '{}', CURRENT_TIMESTAMP, 0, '') RETURNING id"), {"c": cashier}).scalar_one())


def _case(conn: Connection, number: str) -> int:
    version = conn.execute(text("SELECT id FROM process_version")).scalar()
    if version is None:
        version = conn.execute(text(
            "INSERT INTO process_version (service_code, process_id, version, sha256, files, service, meta, "
            "created_by, created_at, retired) VALUES ('svc', 'p', 1, 'x', '{}', '{}', '{}', 'a', CURRENT_TIMESTAMP, "
            "false) RETURNING id")).scalar_one()
    return int(conn.execute(text(
        "INSERT INTO case_file (tracking_number, service_code, process_version_id, status, national_id, "
        "citizen_name, phone, data, state, state_format, version, audit_seq, audit_head, created_by, created_at, "
        "updated_at, channel) VALUES (:n, 'svc', :v, 'open', '1', 'n', '+20', '{}', '{}', 'x', 1, 0, '', 'a', "
        "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'counter') RETURNING id"), {"n": number, "v": version}).scalar_one())


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Engine]:
    engine = create_engine(postgres_url)
    yield engine
    engine.dispose()


def _sequences(conn: Connection) -> dict[str, int]:
    out = {}
    for table_name, sequence in nodes.id_sequences(conn).items():
        last_value, called = conn.exec_driver_sql(f"SELECT last_value, is_called FROM {sequence}").one()
        out[table_name] = last_value if called else last_value - 1
    return out


def test_every_center_table_with_an_id_has_its_sequence_claimed(pg: Engine) -> None:
    with_ids = {name for name in nodes.CENTER if "id" in SQLModel.metadata.tables[name].c
                and SQLModel.metadata.tables[name].c["id"].autoincrement in (True, "auto")
                and SQLModel.metadata.tables[name].c["id"].type is BIG_ID}
    with pg.begin() as conn:
        assert set(nodes.id_sequences(conn)) == with_ids
        nodes.claim_id_block(conn, 7)
        assert set(_sequences(conn).values()) == {7 * nodes.ID_BLOCK}
        assert _drawer(conn) == 7_000_000_000_001  # readable: center 7, its first drawer
        assert _case(conn, "1") == 7_000_000_000_001


def test_claiming_again_moves_nothing_back(pg: Engine) -> None:
    with pg.begin() as conn:
        nodes.claim_id_block(conn, 3)
        ids = [_drawer(conn) for _ in range(3)]
        nodes.claim_id_block(conn, 3)
        nodes.claim_id_block(conn, 3)
        assert _drawer(conn) == ids[-1] + 1 == 3 * nodes.ID_BLOCK + 4


def test_a_sequence_of_another_block_is_refused_and_nothing_moves(pg: Engine) -> None:
    with pg.begin() as conn:
        nodes.claim_id_block(conn, 5)
    with pg.begin() as conn:
        before = _sequences(conn)
        # Another (higher) center's database, and a lower one's: neither is this center's.
        for other in (9, 4):
            with pytest.raises(nodes.NodeRefused) as refused:
                nodes.claim_id_block(conn, other)
            assert refused.value.message_id == "node.sequence_in_another_block"
        assert _sequences(conn) == before


def test_a_sequence_past_the_end_of_the_block_is_refused(pg: Engine) -> None:
    with pg.begin() as conn:
        sequence = nodes.id_sequences(conn)["payment"]
        conn.exec_driver_sql(f"SELECT setval('{sequence}', {8 * nodes.ID_BLOCK})")  # the first of the next block
        with pytest.raises(nodes.NodeRefused) as refused:
            nodes.claim_id_block(conn, 7)
        assert refused.value.message_id == "node.sequence_in_another_block"
        assert refused.value.params["table"] == "payment"
        # Refused before anything moved: the other sequences still start at 1.
        assert _drawer(conn) == 1


def test_rows_numbered_as_centrals_are_refused(pg: Engine) -> None:
    # A database that already opened cases before it became a center node: those ids are central's too.
    with pg.begin() as conn:
        _case(conn, "1")
        with pytest.raises(nodes.NodeRefused) as refused:
            nodes.claim_id_block(conn, 2)
        assert refused.value.message_id == "node.rows_below_block"
        assert refused.value.params == {"table": "case_file", "value": "1", "first": str(2 * nodes.ID_BLOCK)}


def test_the_last_block_fits_in_bigint_and_the_next_is_refused(pg: Engine) -> None:
    last = nodes.LAST_CENTER_ID
    assert last == 9_223_371  # room for 9 million centers
    assert nodes.id_block(last)[1] <= 2**63 - 1 < nodes.id_block(last)[1] + nodes.ID_BLOCK
    for center_id in (0, -1, last + 1):
        with pytest.raises(nodes.NodeRefused) as refused:
            nodes.id_block(center_id)
        assert refused.value.message_id == "node.center_id_out_of_range"
    with pg.begin() as conn:
        nodes.claim_id_block(conn, last)
        assert _case(conn, "1") == last * nodes.ID_BLOCK + 1


def test_a_center_node_on_sqlite_is_refused(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        with engine.begin() as conn, pytest.raises(nodes.NodeRefused) as refused:
            nodes.claim_id_block(conn, 1)
        assert refused.value.message_id == "node.center_needs_postgresql"
    finally:
        engine.dispose()


def _before_bigint(request: pytest.FixtureRequest) -> Iterator[tuple[str, Engine]]:
    """A fresh PostgreSQL database migrated up to the head before the ids became BIGINT (0031), with an engine on
    it; both disposed of after the test's body."""
    from tests.conftest import _postgres_db, _reason, missing

    server = request.getfixturevalue("postgres_server")
    if server is None:
        missing(_reason[0])
    for url in _postgres_db(server, template="template0", prefix="m_"):
        upgrade(url, "0031_case_node")
        engine = create_engine(url)
        try:
            yield url, engine
        finally:
            engine.dispose()
            dispose(url)


def test_the_migration_keeps_every_id_and_lifts_the_int4_ceiling(request: pytest.FixtureRequest) -> None:
    for url, engine in _before_bigint(request):
        with engine.begin() as conn:
            early = [_case(conn, "1"), _case(conn, "2")]
            conn.exec_driver_sql(f"SELECT setval('case_file_id_seq', {INT4_MAX - 1})")
            early.append(_case(conn, "3"))  # the last id INTEGER holds
            drawer = _drawer(conn)
            conn.execute(text("INSERT INTO audit_event (case_id, seq, at, actor, kind, data, prev_hash, hash) "
                              "VALUES (:c, 1, 'a', 'a', 'k', '{}', '', '')"), {"c": early[-1]})
            with pytest.raises(DBAPIError, match="maximum value"), conn.begin_nested():
                _case(conn, "4")  # INTEGER's sequence ends there
        engine.dispose()
        upgrade(url)
        with engine.begin() as conn:
            kept = conn.execute(text("SELECT id, tracking_number FROM case_file ORDER BY id")).all()
            assert kept == [(early[0], "1"), (early[1], "2"), (INT4_MAX, "3")]
            assert conn.execute(text("SELECT case_id FROM audit_event")).scalar_one() == INT4_MAX
            assert conn.execute(text("SELECT id FROM cashier_session")).scalar_one() == drawer
            assert _case(conn, "5") == INT4_MAX + 1  # past INTEGER now


def test_a_database_not_migrated_to_bigint_is_refused(request: pytest.FixtureRequest) -> None:
    for _url, engine in _before_bigint(request):
        with engine.begin() as conn, pytest.raises(nodes.NodeRefused) as refused:
            nodes.claim_id_block(conn, 7)
        assert refused.value.message_id == "node.ids_not_bigint"
