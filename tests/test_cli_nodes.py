"""``shubbak node init-central|init-center|add-center|status`` refuse, by id and before creating anything, what
would not replicate (storage/replication.py, docs/center-nodes.md); the whole set-up working is
tests/production/test_center_node.py."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import Session

from cli.main import main
from engine.core.settings import Settings
from engine.people.centers import create_center
from engine.people.users import create_user
from harness.postgres import LocalPostgres, free_port
from harness.settings import make_settings
from storage import nodes, replication
from storage.db import dispose, engine_for
from storage.migrate import heads, upgrade
from tests.conftest import missing

MakeDatabase = Callable[..., str]


@pytest.fixture(scope="module")
def logical_server() -> Iterator[str]:
    """A PostgreSQL server of this module's own with wal_level=logical: each test makes its databases in it."""
    if LocalPostgres.binaries() is None:
        missing("PostgreSQL binaries are not installed: the node commands' refusals need a server of their own")
    server = LocalPostgres(logical=True)
    try:
        url = server.start()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        server.stop()
        missing(f"no PostgreSQL server could be started: {exc}")
        return
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def database(logical_server: str) -> Iterator[MakeDatabase]:
    """Makes fresh databases on the logical server (migrated to ``revision``), dropped at the end."""
    made: list[str] = []
    admin = create_engine(logical_server, isolation_level="AUTOCOMMIT")

    def make(revision: str | None = "head") -> str:
        name = "n_" + uuid.uuid4().hex[:12]
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = logical_server.rsplit("/", 1)[0] + "/" + name
        made.append(url)
        if revision is not None:
            upgrade(url, revision)
            dispose(url)
        return url

    yield make
    for url in made:
        dispose(url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    admin.dispose()


def _run(monkeypatch: pytest.MonkeyPatch, settings: Settings, argv: list[str]) -> int:
    monkeypatch.setattr("cli.main.get_settings", lambda: settings.model_copy(update={"cli_language": "en"}))
    return main(argv)


def _with_center(url: str, code: str = "CAI01") -> None:
    with Session(engine_for(url)) as session:
        create_center(session=session, code="GOV", name_ar="المحافظة", name_en="Governorate", level="governorate")
        create_center(session=session, code="CITY", name_ar="المدينة", name_en="City", level="city",
                      parent_code="GOV")
        create_center(session=session, code=code, name_ar="المركز", name_en="Center", level="district",
                      parent_code="CITY")


def _one(url: str, query: str) -> object:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(query)).scalar()
    finally:
        engine.dispose()


def _published(url: str) -> None:
    replication.init_central(url)


def test_sqlite_and_the_wrong_role_are_refused(sqlite_settings: Settings, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    central = sqlite_settings.model_copy(update={"node_role": "central"})
    for argv in (["node", "init-central"], ["node", "status"], ["node", "add-center", "X", "--url", "postgresql://x"]):
        assert _run(monkeypatch, central, argv) == 2
        assert "[node.needs_postgresql]" in capsys.readouterr().err
    pg = make_settings("postgresql+psycopg://shubbak@127.0.0.1:1/none", tmp_path)  # never reached
    assert _run(monkeypatch, pg, ["node", "init-central"]) == 2
    assert "[node.not_central]" in capsys.readouterr().err
    assert _run(monkeypatch, pg, ["node", "init-center", "--central-url", "postgresql://x"]) == 2
    err = capsys.readouterr().err
    assert "[node.not_center]" in err and "SHUBBAK_NODE_CENTER" in err


def test_a_server_without_logical_wal_is_refused_with_what_to_do(postgres_url: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    if _one(postgres_url, "SHOW wal_level") == "logical":
        pytest.skip("the suite's PostgreSQL already has wal_level=logical")
    settings = make_settings(postgres_url, tmp_path, node_role="central")
    assert _run(monkeypatch, settings, ["node", "init-central"]) == 1
    err = capsys.readouterr().err
    assert "[node.wal_level_not_logical]" in err and "wal_level = logical" in err


def test_tables_at_another_migration_are_refused_with_the_upgrade_order(
        database: MakeDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    older = database("0031_case_node")
    settings = make_settings(older, tmp_path, node_role="central")
    assert _run(monkeypatch, settings, ["node", "init-central"]) == 1
    err = capsys.readouterr().err
    assert "[node.heads_differ]" in err and "0031_case_node" in err and "upgrade central first" in err
    assert _one(older, "SELECT count(*) FROM pg_publication") == 0


def test_init_center_refuses_until_central_is_ready_and_names_what_is_missing(
        database: MakeDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    central_url, center_url = database(), database()
    center = make_settings(center_url, tmp_path, node_role="center", node_center="CAI01")
    init = ["node", "init-center", "--central-url", central_url]

    assert _run(monkeypatch, center, init) == 1  # central publishes nothing yet
    assert "[node.central_not_initialised]" in capsys.readouterr().err
    _published(central_url)
    assert _run(monkeypatch, center, init) == 1  # no center CAI01 at central
    assert "[node.center_unknown]" in capsys.readouterr().err
    _with_center(central_url)
    # A user made in this database while it was an installation of its own: central's copy of app_user would
    # collide with it (a center node itself refuses to write central's tables).
    single = make_settings(center_url, tmp_path)
    with Session(engine_for(center_url)) as session:
        create_user(session=session, username="local", password="correct horse", full_name="Local",
                    roles=["front_desk"], settings=single, installation_wide=True)
    center = make_settings(center_url, tmp_path, node_role="center", node_center="CAI01")
    assert _run(monkeypatch, center, init) == 1
    err = capsys.readouterr().err
    assert "[node.central_rows_here]" in err and "app_user (1)" in err and "--replace-central-rows" in err
    assert "queue_category" not in err  # the migrations' defaults are central's too: copied again, not refused
    assert _one(center_url, "SELECT count(*) FROM pg_publication") == 0  # nothing was created on the center node
    assert _one(center_url, "SELECT count(*) FROM pg_subscription") == 0


def test_a_central_that_cannot_be_reached_is_said_without_its_password(
        database: MakeDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    center_url = database()
    center = make_settings(center_url, tmp_path, node_role="center", node_center="CAI01",
                           database_connect_timeout_seconds=2)
    nowhere = f"postgresql+psycopg://shubbak:s3cret-word@127.0.0.1:{free_port()}/central"
    assert _run(monkeypatch, center, ["node", "init-center", "--central-url", nowhere]) == 1
    err = capsys.readouterr().err
    assert "[node.central_unreachable]" in err and "s3cret-word" not in err


def test_add_center_refuses_an_unknown_center_and_a_center_node_not_set_up(
        database: MakeDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    central_url, center_url = database(), database()
    central = make_settings(central_url, tmp_path, node_role="central")
    _published(central_url)
    assert _run(monkeypatch, central, ["node", "add-center", "CAI01", "--url", center_url]) == 1
    assert "[node.center_unknown]" in capsys.readouterr().err
    _with_center(central_url)
    assert _run(monkeypatch, central, ["node", "add-center", "CAI01", "--url", center_url]) == 1
    assert "[node.center_not_initialised]" in capsys.readouterr().err


def test_status_of_a_node_that_does_not_replicate(database: MakeDatabase, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    url = database()
    assert _run(monkeypatch, make_settings(url, tmp_path), ["node", "status"]) == 0
    out = capsys.readouterr().out
    assert f"tables at {', '.join(heads())}" in out and "does not replicate" in out
    _published(url)
    assert _run(monkeypatch, make_settings(url, tmp_path), ["node", "status"]) == 0
    assert f"publication shubbak_central: {len(nodes.CENTRAL)} tables" in capsys.readouterr().out


def test_a_url_becomes_a_connection_string_and_is_printed_without_its_password() -> None:
    url = "postgresql+psycopg://shub bak:p'w\\d@db.example:6432/shubbak?sslmode=require"
    info = replication.conninfo(url)
    assert info == ("host='db.example' port='6432' dbname='shubbak' user='shub bak' password='p\\'w\\\\d' "
                    "sslmode='require'")
    assert replication.where(info) == "db.example:6432/shubbak"
    assert replication.safe(url) == "db.example:6432/shubbak"
    with pytest.raises(replication.ReplicationRefused, match="node.needs_postgresql"):
        replication.conninfo("sqlite:///x.db")


def test_a_password_with_a_colon_is_a_subscription_refused_by_id_never_printed(database: MakeDatabase) -> None:
    # The statement is SQL text: a colon after a sign (``!:``) read as a bind parameter was a traceback that
    # printed the connection string, password and all.
    url = database(None)
    nowhere = f"postgresql+psycopg://shubbak:{quote('k9!:hidden%w', safe='')}@127.0.0.1:{free_port()}/central"
    with replication._connect(url, 2) as conn, pytest.raises(replication.ReplicationRefused) as refused:
        replication._subscribe(conn, "shubbak_central", nowhere, "shubbak_central", "shubbak_slot_x")
    assert refused.value.message_id == "node.subscribe_failed"
    assert "could not connect" in refused.value.params["reason"] and "hidden" not in str(refused.value)


def test_a_user_who_is_not_a_superuser_is_told_so_by_id(database: MakeDatabase, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    url = database()
    name = "plain_" + uuid.uuid4().hex[:8]
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE ROLE {name} LOGIN"))
        plain = url.replace("//shubbak@", f"//{name}@")
        assert _run(monkeypatch, make_settings(plain, tmp_path, node_role="central"), ["node", "init-central"]) == 1
        err = capsys.readouterr().err
        assert "[node.server_refused]" in err and "permission denied" in err and "superuser" in err
        dispose(plain)
    finally:
        with engine.connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {name}"))
        engine.dispose()


def test_init_center_again_empties_only_central_tables_it_will_copy_and_refuses_first(
        database: MakeDatabase, tmp_path: Path) -> None:
    """Run again after an upgrade, init-center empties this node's copies of central's tables that its
    subscription does not follow yet, so that the refresh copies central's rows into them. Only those central
    publishes now (central not set up again yet publishes none of its new tables: emptied, they would stay empty),
    and not when the refresh cannot happen (a disabled subscription is refused by it): refused, nothing changed."""
    central_url, center_url = database(), database()
    _published(central_url)
    _with_center(central_url)
    engine = create_engine(center_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:  # as a node set up before, whose subscription is disabled
            conn.execute(text("CREATE SUBSCRIPTION shubbak_central CONNECTION 'host=127.0.0.1 port=1 dbname=x' "
                              "PUBLICATION shubbak_central WITH (connect = false)"))
        before = _one(center_url, "SELECT count(*) FROM queue_category")
        assert before  # what the migrations wrote
        with pytest.raises(replication.ReplicationRefused) as refused:
            replication.init_center(center_url, central_url, "CAI01", copy_wait_seconds=1)
        assert refused.value.message_id == "node.refresh_failed"
        assert _one(center_url, "SELECT count(*) FROM queue_category") == before
        with engine.connect() as conn:  # enabled (its worker does not reach the made-up address: no matter)
            conn.execute(text("ALTER SUBSCRIPTION shubbak_central ENABLE"))
        with replication._connect(center_url, 5) as here, replication._connect(central_url, 5) as central:
            central.execute(text("ALTER PUBLICATION shubbak_central DROP TABLE queue_category"))
            assert "queue_category" not in replication._to_replace(here, central)
            assert "app_user" in replication._to_replace(here, central)
    finally:
        with engine.connect() as conn:
            conn.execute(text("ALTER SUBSCRIPTION shubbak_central DISABLE"))
            conn.execute(text("ALTER SUBSCRIPTION shubbak_central SET (slot_name = NONE)"))
            conn.execute(text("DROP SUBSCRIPTION shubbak_central"))
        engine.dispose()
