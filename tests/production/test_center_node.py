"""A center node keeps working when the line to central is cut, and central catches up by itself once it is back
(docs/center-nodes.md; issue points 4 and 7).

Two PostgreSQL servers of this test's own with ``wal_level=logical`` on loopback: central and a center node,
both at the migrations' head. Each side reaches the other's PostgreSQL only through a relay the test can cut
(tests/support/tcp_proxy.py): the center's subscription to central through one, central's subscription to the
center through the other. The set-up is the operator's: ``shubbak node init-central``, ``init-center
--central-url``, ``add-center CODE --url``, as processes of their own. Central deploys the service, which reaches
the center; ``shubbak serve`` at the center (``SHUBBAK_NODE_ROLE=center``) serves clients running whole
lifecycles (open, register, a one-second timer, review; their SMS to a gateway on loopback). Both relays are
cut: the center goes on opening cases and completing steps; central deploys a new version and deactivates a user
meanwhile; both PostgreSQL servers and the center's Shubbak are restarted during the cut. The relays come back;
with no operator action central then holds every row of every table of the center's work exactly as the center
does (cases, tasks, audit events, messages...: compared row by row), the new version has reached the center, the
cases keep the version they were opened on, the deactivated user is refused at the center, and ``shubbak audit
verify`` at central passes. Every wait is bounded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session

from engine.catalog import processes
from engine.catalog.packages import read_package
from engine.people.centers import create_center
from engine.people.users import Actor, create_user, issue_token
from harness.postgres import LocalPostgres, free_port
from harness.settings import ROOT, make_settings
from storage import nodes
from storage.db import dispose, engine_for
from storage.migrate import upgrade
from tests.conftest import IN_CI, missing
from tests.support.lifecycles import SERVICE, Ledger, assert_each_done_once, run_clients, stop_clients
from tests.support.shubbak_processes import (
    TEST_PROCESSES,
    answers,
    prepare,
    process,
    served_env,
    stop_group,
    wait_for,
)
from tests.support.sms_gateway import SmsGateway
from tests.support.tcp_proxy import CuttableProxy

CODE = "CAI01"
CLIENTS = 8
CUT_SECONDS = 20
CUT_LINE = ("could not connect to the publisher", "could not receive data from WAL stream",
            "could not send data to WAL stream", "connection to client lost", "terminating logical replication")
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]


def shubbak(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", *argv], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def rows(engine: Engine, table: str) -> Counter[str]:
    """Every row of ``table``, as the text of its JSON (the same on both servers of one version)."""
    with engine.connect() as conn:
        return Counter(conn.execute(text(f'SELECT to_jsonb(t)::text FROM "{table}" t')).scalars())  # noqa: S608


def differences(central: Engine, center: Engine) -> dict[str, tuple[int, int, int]]:
    """The tables of the center's work whose rows differ: table -> (rows at the center, at central, rows of
    either side the other does not hold as they are)."""
    found = {}
    for table in sorted(nodes.CENTER):
        here, there = rows(center, table), rows(central, table)
        if here != there:
            found[table] = (sum(here.values()), sum(there.values()), sum(((here - there) + (there - here)).values()))
    return found


def versions(engine: Engine) -> dict[int, int]:
    with engine.connect() as conn:
        return {int(case): int(version) for case, version in conn.execute(text(
            "SELECT c.id, v.version FROM case_file c JOIN process_version v ON v.id = c.process_version_id"))}


def link_noted(engine: Engine, name: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM node_link WHERE name LIKE :n"), {"n": name}).first() is not None


def down_since(engine: Engine, name: str) -> bool:
    """Whether the node's ``node_link`` job notes the subscription ``name`` (a LIKE pattern) as down."""
    with engine.connect() as conn:
        return conn.execute(text("SELECT 1 FROM node_link WHERE name LIKE :n AND down_since IS NOT NULL"),
                            {"n": name}).first() is not None


def count(engine: Engine, query: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(query)).scalar_one())


def test_a_center_node_works_through_a_cut_line_and_central_catches_up(tmp_path: Path) -> None:
    if LocalPostgres.binaries() is None:
        missing("PostgreSQL binaries are not installed: the center node test runs two servers of its own")
    logs = tmp_path / "logs"
    logs.mkdir()
    with ExitStack() as stack:
        servers = {}
        for side in ("central", "center"):
            server = LocalPostgres(logical=True)
            stack.callback(server.stop)
            try:
                url = server.start()
            except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
                missing(f"no PostgreSQL server could be started: {exc}")
            stack.callback(dispose, url)
            servers[side] = (server, url)
        (central_pg, central_url), (center_pg, center_url) = servers["central"], servers["center"]
        central_db = stack.enter_context(_engine(central_url))
        center_db = stack.enter_context(_engine(center_url))
        upgrade(center_url)
        # The center node reaches central through one relay, central the center node through the other.
        to_central = stack.enter_context(CuttableProxy(central_pg.port))
        to_center = stack.enter_context(CuttableProxy(center_pg.port))

        # Central: its catalog and people, and the center, then the set-up commands on both sides.
        gateway = stack.enter_context(SmsGateway())
        central = make_settings(central_url, tmp_path / "central", node_role="central")
        clerk, reviewer = prepare(central, SERVICE)  # migrates, deploys fault_drill v1, a clerk and a reviewer
        with Session(engine_for(central_url)) as session:
            leaving = create_user(session=session, username="leaver", password="correct horse", full_name="Leaver",
                                  roles=["front_desk"], settings=central, installation_wide=True)
            leaver = {"Authorization": f"Bearer {issue_token(leaving, central)}"}
            for code, level, parent in (("GOV", "governorate", None), ("CITY", "city", "GOV"),
                                        (CODE, "district", "CITY")):
                create_center(session=session, code=code, name_ar=f"مركز {code}", name_en=f"Center {code}",
                              level=level, parent_code=parent)
        # Each side notes what its subscriptions last heard every second, and a line silent 8 s as down (the
        # servers' keep-alives come every 5 s: wal_sender_timeout is 10 s here).
        line_watch = {"SHUBBAK_NODE_LINK_SECONDS": "1", "SHUBBAK_NODE_OFFLINE_SECONDS": "8"}
        central_env = {**served_env(central, gateway.url), "SHUBBAK_DATABASE_URL": central_url,
                       "SHUBBAK_NODE_ROLE": "central", **line_watch}
        center = make_settings(center_url, tmp_path / "center", node_role="center", node_center=CODE)
        center_env = {**served_env(center, gateway.url), "SHUBBAK_DATABASE_URL": center_url,
                      "SHUBBAK_NODE_ROLE": "center", "SHUBBAK_NODE_CENTER": CODE,
                      "SHUBBAK_NODE_COPY_WAIT_SECONDS": "60", **line_watch}
        said = {}
        # The URLs carry a password (the test servers trust loopback and never ask for it): never printed.
        secret = "s3cret-word"
        central_for_center = to_central.url(make_url(central_url).set(password=secret).render_as_string(False))
        center_for_central = to_center.url(make_url(center_url).set(password=secret).render_as_string(False))

        def run(*steps: tuple[str, list[str], dict[str, str]]) -> None:
            for name, argv, env in steps:
                done = shubbak(argv, env)
                said[name] = done.stdout + done.stderr
                assert done.returncode == 0, said[name]

        run(("init-central", ["node", "init-central"], central_env),
            ("init-center", ["node", "init-center", "--central-url", central_for_center], center_env),
            ("add-center", ["node", "add-center", CODE, "--url", center_for_central], central_env))
        # An upgrade whose migrations added a table to each side's publication after set-up: as if app_user (of
        # central's) and outbox_message (of the center's work) were new, each side's subscription stops following
        # its table. Central then renames a user, which the center does not follow yet.
        with center_db.connect().execution_options(isolation_level="AUTOCOMMIT") as center_conn, \
                central_db.connect().execution_options(isolation_level="AUTOCOMMIT") as central_conn:
            center_conn.execute(text("ALTER PUBLICATION shubbak_center DROP TABLE outbox_message"))
            central_conn.execute(text(f'ALTER SUBSCRIPTION "shubbak_center_{CODE}" REFRESH PUBLICATION '
                                      "WITH (copy_data = false)"))
            central_conn.execute(text("ALTER PUBLICATION shubbak_central DROP TABLE app_user"))
            center_conn.execute(text("ALTER SUBSCRIPTION shubbak_central REFRESH PUBLICATION WITH (copy_data = false)"))
            central_conn.execute(text("UPDATE app_user SET full_name = 'Leaver, renamed' WHERE username = 'leaver'"))
        # The upgrade's order (docs/center-nodes.md): each command again, central first. Nothing is created twice,
        # and each subscription takes the tables its publication gained, with their rows.
        run(("init-central again", ["node", "init-central"], central_env),
            ("init-center again", ["node", "init-center", "--central-url", central_for_center], center_env),
            ("add-center again", ["node", "add-center", CODE, "--url", center_for_central], central_env),
            ("status", ["node", "status"], central_env))
        assert secret not in "".join(said.values()), said
        assert "subscription shubbak_central created" not in said["init-center again"], said
        assert "claimed" in said["init-center again"], said
        assert "not followed yet: app_user" in said["init-center again"], said
        assert "refreshed: 1 new table(s)" in said["init-center again"], said
        assert "already there; refreshed: 1 new table(s)" in said["add-center again"], said
        wait_for("the renamed user at the center", lambda: count(
            center_db, "SELECT count(*) FROM app_user WHERE full_name = 'Leaver, renamed'") == 1, 30, logs)
        first, last = nodes.id_block(count(central_db, f"SELECT id FROM center WHERE code = '{CODE}'"))
        wait_for("central's catalog and people at the center",
                 lambda: count(center_db, "SELECT count(*) FROM app_user") == 3, 30, logs)
        assert count(center_db, "SELECT max(version) FROM process_version WHERE service_code = 'fault_drill'") == 1

        # The center serves its counter from its own database.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        serve = ["serve", "--port", str(port), "--no-access-log", "--log-level", "warning"]
        serve_env = {**center_env, "SHUBBAK_MESSAGE_LEASE_SECONDS": "3"}
        api = stack.enter_context(process(serve, serve_env, logs / "center-api.log"))
        wait_for("the center's API to be ready", lambda: answers(f"{base}/readyz"), 60, logs)
        # Central serves too, with its background loops (timers, the outbox): they must leave the center's
        # replicated cases and messages alone, so every SMS is still sent once.
        central_port = free_port()
        stack.enter_context(process(["serve", "--port", str(central_port), "--no-access-log", "--log-level",
                                     "warning"], {**central_env, "SHUBBAK_MESSAGE_LEASE_SECONDS": "3"},
                                    logs / "central-api.log"))
        wait_for("central's API to be ready", lambda: answers(f"http://127.0.0.1:{central_port}/readyz"), 60, logs)
        assert httpx.get(f"{base}/api/me", headers=leaver, timeout=10).status_code == 200
        ledger = Ledger()
        clients, stop = run_clients(CLIENTS, base, clerk, reviewer, ledger)
        wait_for("a case to reach central", lambda: count(central_db, "SELECT count(*) FROM case_file") > 0,
                 30, logs)

        # The line is cut, both ways. Central deploys a new version meanwhile; the center goes on.
        to_central.cut()
        to_center.cut()
        cut_at = time.monotonic()
        opened_before_cut = len(ledger.opened)
        at_central_when_cut = count(central_db, "SELECT count(*) FROM case_file")
        newer = tmp_path / "packages" / SERVICE
        shutil.copytree(TEST_PROCESSES / SERVICE, newer)
        toml = newer / "service.toml"
        toml.write_text(toml.read_text("utf-8").replace("sla_days = 10", "sla_days = 11"), "utf-8")
        with Session(engine_for(central_url)) as session:
            v2, created = processes.deploy(session=session, files=read_package(newer),
                                           actor=Actor("test", frozenset({"admin"}), "Test"), settings=central)
            assert created and v2.version == 2
        cut_status = shubbak(["node", "status"], center_env)
        # A user deactivated at central: the center node does not know yet.
        deactivated = shubbak(["users", "deactivate", "leaver"], central_env)
        assert deactivated.returncode == 0, deactivated.stdout + deactivated.stderr
        assert httpx.get(f"{base}/api/me", headers=leaver, timeout=10).status_code == 200
        # Both PostgreSQL servers restarted, and the center's Shubbak, all during the cut: the clients retry.
        central_pg.restart()
        center_pg.restart()
        stop_group(api)
        api = stack.enter_context(process(serve, serve_env, logs / "center-api.log"))
        wait_for("the center's API to be ready again", lambda: answers(f"{base}/readyz"), 60, logs)
        time.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))
        # Each side knows its line is down, and since when (the center's pages say so; central's dashboard too).
        wait_for("the center node to note the line down", lambda: down_since(center_db, "shubbak_central"), 20, logs)
        wait_for("central to note the center's line down", lambda: down_since(central_db, "shubbak_center_%"), 20,
                 logs)
        opened_in_cut = len(ledger.opened) - opened_before_cut
        finished_in_cut = len(ledger.finished)
        at_center_in_cut = count(center_db, "SELECT count(*) FROM case_file")
        at_central_in_cut = count(central_db, "SELECT count(*) FROM case_file")
        pinned = versions(center_db)
        assert count(center_db, "SELECT max(version) FROM process_version WHERE service_code = 'fault_drill'") == 1

        # The line is back: nobody does anything but wait.
        to_central.restore()
        to_center.restore()
        restored_at = time.monotonic()
        wait_for("the new version to reach the center", lambda: count(
            center_db, "SELECT max(version) FROM process_version WHERE service_code = 'fault_drill'") == 2, 60, logs)
        version_in = time.monotonic() - restored_at
        wait_for("the center node to note the line up again",
                 lambda: link_noted(center_db, "shubbak_central") and not down_since(center_db, "shubbak_central"),
                 60, logs)
        wait_for("the deactivation to reach the center", lambda: httpx.get(
            f"{base}/api/me", headers=leaver, timeout=10).status_code == 401, 60, logs)
        # New cases take the new version; those opened before it came keep theirs (checked below).
        wait_for("a case opened on the new version", lambda: 2 in versions(center_db).values(), 60, logs)
        stop_clients(clients, stop)
        try:
            wait_for("every message to be sent", lambda: count(
                center_db, "SELECT count(*) FROM outbox_message WHERE status <> 'sent'") == 0, 60, logs)
        except AssertionError as exc:
            with center_db.connect() as conn:
                left = conn.execute(text("SELECT status, attempts, last_error, count(*) FROM outbox_message "
                                         "GROUP BY 1, 2, 3")).all()
            raise AssertionError(f"{exc}\nmessages at the center: {left}") from None
        stop_group(api)  # the center's work is done: now central must hold all of it
        wait_for("central to hold the center's work", lambda: not differences(central_db, center_db), 90, logs)
        caught_up_in = time.monotonic() - restored_at
        status_after = shubbak(["node", "status"], center_env)
        central_status = shubbak(["node", "status"], central_env)
        verify = shubbak(["audit", "verify"], central_env)
        # What the clients were told is at the center, and at central, exactly once.
        assert_each_done_once(center_url, ledger, gateway.delivered)
        assert_each_done_once(central_url, ledger, gateway.delivered)
        totals = {table: count(central_db, f'SELECT count(*) FROM "{table}"')  # noqa: S608
                  for table in ("case_file", "task", "audit_event", "outbox_message")}
        ids = list(versions(central_db))
        kept = {"center": versions(center_db), "central": versions(central_db)}
        # A center that removes a whole case after it replicated (its rows deleted, every chain left holds): the
        # deletes reach central, whose seal over the replicated heads finds the case missing.
        # The center seals its own ledger; the seal reaches central with the center's work, and central's seal
        # pins it (docs/center-nodes.md "Audit across nodes").
        center_sealed = shubbak(["audit", "seal"], center_env)
        wait_for("the center's seal to reach central", lambda: not differences(central_db, center_db), 30, logs)
        sealed = shubbak(["audit", "seal"], central_env)
        with central_db.connect() as conn:  # central's latest seal pins the center's latest seal
            pins = conn.execute(text("SELECT node, node_seq FROM audit_seal_node "
                                     "WHERE seal_seq = (SELECT max(seq) FROM audit_seal)")).all()
        with center_db.connect() as conn:
            center_seals = conn.execute(text("SELECT max(seq) FROM audit_seal")).scalar()
        with center_db.begin() as conn:
            case_id = conn.execute(text("SELECT min(id) FROM case_file")).scalar_one()
            for table in conn.execute(text("SELECT table_name FROM information_schema.columns WHERE "
                                           "column_name = 'case_id' AND table_schema = current_schema()")).scalars():
                conn.execute(text(f'DELETE FROM "{table}" WHERE case_id = :c'), {"c": case_id})  # noqa: S608
            conn.execute(text("DELETE FROM case_file WHERE id = :c"), {"c": case_id})
        wait_for("the rewrite to reach central", lambda: not differences(central_db, center_db), 30, logs)
        rewritten = shubbak(["audit", "verify"], central_env)
        # The servers' own errors besides the cut line's (a row that conflicts stops a subscription: said here).
        server_errors = {side: [line for line in (server.dir / "log").read_text(errors="replace").splitlines()
                                if "ERROR" in line and not any(cut in line for cut in CUT_LINE)]
                         for side, (server, _url) in servers.items() if server.dir is not None}

    print(f"\n{len(ledger.finished)} lifecycles by {CLIENTS} clients; {opened_in_cut} cases opened and "
          f"{finished_in_cut} finished so far while the line was cut ({CUT_SECONDS} s; central held "
          f"{at_central_in_cut} of the center's {at_center_in_cut} cases then, {at_central_when_cut} at the cut); "
          f"the new version at the center {version_in:.1f} s after the line came back, central holding all "
          f"{totals} {caught_up_in:.1f} s after; retried: {dict(ledger.retried)}; CI={IN_CI}")
    print(cut_status.stdout, status_after.stdout, central_status.stdout, verify.stdout, rewritten.stdout, sep="\n")
    assert not any(secret in out for out in (cut_status.stdout, status_after.stdout, central_status.stdout))
    print("\n".join(f"{side}'s PostgreSQL: {line}" for side, lines in server_errors.items() for line in lines[-20:]))
    assert not [line for line in server_errors["central"] if "duplicate key" in line], server_errors["central"]
    assert opened_in_cut > 0, "the center opened no case while the line was cut"
    assert at_central_in_cut < at_center_in_cut  # central did not see the cut's cases until the line came back
    said_of_central = next(line for line in cut_status.stdout.splitlines() if line.startswith("subscription"))
    assert "NOT CONNECTED" in said_of_central or "connecting" in said_of_central, cut_status.stdout
    # Every case keeps the version it was opened on; those opened before v2 arrived are on v1 at both sides.
    assert pinned and all(version == 1 for version in pinned.values())
    for side, found in kept.items():
        assert {case: found[case] for case in pinned} == pinned, side
        assert 2 in found.values(), side
    assert all(first < case_id <= last for case_id in ids), (first, ids[:3])  # the center's own block of ids
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert center_sealed.returncode == 0, center_sealed.stdout + center_sealed.stderr
    assert sealed.returncode == 0, sealed.stdout + sealed.stderr
    assert center_seals and [tuple(pin) for pin in pins] == [(CODE, center_seals)], (pins, center_seals)
    assert rewritten.returncode != 0 and str(case_id) in rewritten.stdout, rewritten.stdout + rewritten.stderr
    # The case's rows deleted there included its leaf in the copies of the center's seals: named too.
    assert f"center node {CODE}, seal" in rewritten.stdout, rewritten.stdout
    assert status_after.returncode == 0, status_after.stdout + status_after.stderr


class _engine:
    """An engine for looking at a side from outside, disposed at the end."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, pool_pre_ping=True)

    def __enter__(self) -> Engine:
        return self.engine

    def __exit__(self, *_exc: object) -> None:
        self.engine.dispose()

