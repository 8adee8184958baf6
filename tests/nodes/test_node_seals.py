"""Audit across nodes, from the breaker's side (docs/center-nodes.md "Audit across nodes"): a center node's seals
reach central with its cases (``node_seal``, storage/nodes.py ``CENTER``), central's seals pin each center node's
latest one, and ``shubbak audit verify`` at central names a center whose history or seals changed after it sealed,
even when the change replicated whole and central sealed the changed history itself.

Two databases, the center node's and central's; what PostgreSQL's replication would carry from the center node is
copied by :func:`replicate` (the center node's tables as they are there, foreign keys unchecked as replication
applies them)."""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, select, text
from sqlmodel import Session, SQLModel

import storage.models  # noqa: F401  (registers every table)
from api.app import create_app
from cli import audit as audit_cli
from engine.audit import export, ledger, signing, verify
from engine.core import chain
from engine.core.settings import Settings
from engine.people import centers
from harness.settings import make_settings
from storage import nodes, replication
from storage.db import engine_for
from tests.support.nodes import CenterApi, at_central

NODE = "ASW01"
_clerks = itertools.count(1)


@pytest.fixture
def central_url(database_url: str, request: pytest.FixtureRequest, tmp_path: Path,
                sqlite_template: Path) -> Iterator[str]:
    """Central's database, beside the center node's (``database_url``), of the same kind."""
    from tests.conftest import _postgres_db, _sqlite

    if database_url.startswith("sqlite"):
        folder = tmp_path / "central-db"
        folder.mkdir()
        yield from _sqlite(folder, sqlite_template)
    else:
        yield from _postgres_db(request.getfixturevalue("postgres_template"))


@pytest.fixture
def center(database_url: str, tmp_path: Path) -> Iterator[CenterApi]:
    """Center node ASW01, with a key of its own (its own ``var_dir``), and a case sealed there not yet."""
    settings = make_settings(database_url, tmp_path / "center", node_role="center", node_center=NODE)
    with at_central(database_url), Session(engine_for(database_url)) as session:
        centers.create_center(session=session, code=NODE, name_ar="مركز أسوان", name_en="Aswan center",
                              level="governorate")
    with TestClient(create_app(settings)) as client:
        yield CenterApi(client, settings).deployed("test_permit")


@pytest.fixture
def central(central_url: str, tmp_path: Path) -> Settings:
    return make_settings(central_url, tmp_path / "central", node_role="central")


def open_cases(center: CenterApi, count: int) -> list[int]:
    clerk = center.user("front_desk", username=f"clerk{next(_clerks)}")
    return [center.past_first_step("test_permit", {"area": 100 + i, "purpose": "family house"}, clerk)["id"]
            for i in range(count)]


def seal(settings: Settings) -> Any:
    with Session(engine_for(settings.database_url)) as session:
        return ledger.seal(session=session, settings=settings).seal


def verified(settings: Settings) -> verify.Report:
    with Session(engine_for(settings.database_url)) as session:
        return verify.verify_all(session=session, settings=settings)


def _raw(url: str) -> Any:
    """A connection as replication's apply worker has one: foreign keys not checked (central's own rows, users
    and services, are not what this test copies)."""
    engine = create_engine(url)
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn.execute(text("SET session_replication_role = replica"))
    return engine, conn


def replicate(center: CenterApi, central: Settings) -> None:
    """Central's copy of the center node's tables (``CENTER``) made what the center node holds."""
    source = engine_for(center.settings.database_url)
    engine, target = _raw(central.database_url)
    try:
        ordered = [t for t in SQLModel.metadata.sorted_tables if t.name in nodes.CENTER]
        for table in reversed(ordered):
            target.execute(delete(table))
        with source.connect() as conn:
            for table in ordered:
                rows = [dict(row._mapping) for row in conn.execute(select(table))]
                if rows:
                    target.execute(table.insert(), rows)
        target.commit()
    finally:
        target.close()
        engine.dispose()


def at(url: str, *statements: str, **params: Any) -> None:
    engine, conn = _raw(url)
    try:
        for statement in statements:
            conn.execute(text(statement), params)
        conn.commit()
    finally:
        conn.close()
        engine.dispose()


def rewrite_chain(url: str, case_id: int) -> None:
    """Case ``case_id``'s first event changed and its whole chain hashed again, the case's head with it: a chain
    that holds by itself, as a center node's operator would rewrite it (and as it would replicate)."""
    engine, conn = _raw(url)
    try:
        events = conn.execute(text("SELECT * FROM audit_event WHERE case_id = :c ORDER BY seq"), {"c": case_id}).all()
        prev = chain.GENESIS
        for i, ev in enumerate(events):
            data = ev.data if isinstance(ev.data, dict) else json.loads(ev.data)
            after = ev.after if ev.after is None or isinstance(ev.after, dict) else json.loads(ev.after)
            if i == 0:
                data = {**data, "citizen_name": "someone else"}
            digest = chain.event_hash(case_id=case_id, seq=ev.seq, at=ev.at, actor=ev.actor, kind=ev.kind,
                                      task=ev.task, data=data, prev_hash=prev, after=after)
            conn.execute(text("UPDATE audit_event SET data = :d, prev_hash = :p, hash = :h WHERE id = :id"),
                         {"d": json.dumps(data), "p": prev, "h": digest, "id": ev.id})
            prev = digest
        conn.execute(text("UPDATE case_file SET audit_head = :h WHERE id = :c"), {"h": prev, "c": case_id})
        conn.commit()
    finally:
        conn.close()
        engine.dispose()


def resign(url: str, settings: Settings, seq: int, **changes: Any) -> None:
    """Center node ASW01's seal ``seq`` at ``url`` changed, hashed and signed again with the center's key."""
    engine, conn = _raw(url)
    try:
        row = dict(conn.execute(text("SELECT * FROM node_seal WHERE node = :n AND seq = :s"),
                                {"n": NODE, "s": seq}).one()._mapping)
        row.update(changes)
        digest = ledger.seal_hash(**{k: row[k] for k in ("seq", "sealed_at", "case_count", "leaf_count", "root",
                                                         "prev_hash", "public_key", "nodes")})
        signature = signing.sign(signing.installation_key(settings), digest.encode("ascii"))
        conn.execute(text("UPDATE node_seal SET sealed_at = :at, public_key = :k, hash = :h, signature = :sig "
                          "WHERE node = :n AND seq = :s"),
                     {"at": row["sealed_at"], "k": row["public_key"], "h": digest, "sig": signature, "n": NODE,
                      "s": seq})
        conn.commit()
    finally:
        conn.close()
        engine.dispose()


def kinds(report: verify.Report) -> list[tuple[str, str]]:
    return [(f.kind, f.where) for f in report.findings]


def test_a_center_nodes_seals_reach_central_and_central_pins_them(center: CenterApi, central: Settings,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cases = open_cases(center, 3)
    replicate(center, central)
    assert verified(central).ok  # a center node that has not sealed yet is not a problem
    first = seal(center.settings)
    assert verified(center.settings).ok  # its copy for central is its seal
    replicate(center, central)
    pinned = seal(central)
    assert pinned.nodes == ledger.pins_digest([(NODE, 1, first.hash)])
    with engine_for(central.database_url).connect() as conn:
        assert conn.execute(text("SELECT node, node_seq, node_hash FROM audit_seal_node")).all() == [
            (NODE, 1, first.hash)]
        leaves = set(conn.execute(text("SELECT case_id FROM node_seal_leaf WHERE node = :n"), {"n": NODE}).scalars())
    assert set(cases) <= leaves
    report = verified(central)
    assert report.ok, [str(f) for f in report.findings]
    assert report.node_seals == {NODE: (1, first.sealed_at)}
    assert audit_cli.cmd_verify(central, argparse.Namespace()) == 0
    assert f"center node {NODE}: 1 seal(s) here, the latest sealed at {first.sealed_at}" in capsys.readouterr().out
    # A case file exported at central carries the seal that pins the center's: its proof still checks offline.
    with Session(engine_for(central.database_url)) as session:
        proof = export._ledger_proof(session, cases[0])
        events = [dict(ev._mapping) for ev in session.connection().execute(
            text("SELECT seq, hash FROM audit_event WHERE case_id = :c ORDER BY seq"), {"c": cases[0]})]
    assert proof is not None and proof["seal"]["nodes"] == pinned.nodes
    checked = export.Checked(public_key=signing.installation_public_key(central))
    export._check_ledger({"id": cases[0]}, events, proof, checked)
    assert checked.ok, checked.problems
    # The center node works on and seals again: its chain grows, central verifies and pins the new seal.
    open_cases(center, 1)
    second = seal(center.settings)
    replicate(center, central)
    assert verified(central).ok
    seal(central)
    assert verified(central).ok
    assert verified(center.settings).ok
    with engine_for(central.database_url).connect() as conn:
        assert conn.execute(text("SELECT node_seq, node_hash FROM audit_seal_node WHERE seal_seq = 2")).all() == [
            (2, second.hash)]


def test_a_sealed_case_rewritten_whole_after_it_replicated_is_named_at_central(center: CenterApi,
                                                                               central: Settings) -> None:
    case_id, other = open_cases(center, 2)
    seal(center.settings)
    replicate(center, central)
    # The center rewrites the case's history; the rewrite replicates, chain and head, and central seals it.
    rewrite_chain(central.database_url, case_id)
    seal(central)
    report = verified(central)
    assert [(f.kind, f.case_id, f.seal) for f in report.findings] == [("rewritten_history", case_id, 1)]
    assert f"center node {NODE}'s seal 1" in str(report.findings[0])
    assert other not in {f.case_id for f in report.findings}


def test_a_sealed_case_deleted_at_the_center_before_central_sealed_is_named(center: CenterApi,
                                                                          central: Settings) -> None:
    case_id, _ = open_cases(center, 2)
    seal(center.settings)
    replicate(center, central)
    at(central.database_url, "DELETE FROM task WHERE case_id = :c", "DELETE FROM audit_event WHERE case_id = :c",
       "DELETE FROM case_file WHERE id = :c", c=case_id)
    seal(central)
    report = verified(central)
    assert [(f.kind, f.case_id, f.seal) for f in report.findings] == [("deleted_case", case_id, 1)]


def test_a_center_nodes_seal_changed_after_central_pinned_it_is_named(center: CenterApi, central: Settings) -> None:
    open_cases(center, 2)
    seal(center.settings)
    replicate(center, central)
    seal(central)
    assert verified(central).ok
    # Changed, hashed and signed again with the center's own key: a chain of seals that holds by itself.
    resign(central.database_url, center.settings, 1, sealed_at="2026-01-01T00:00:00+00:00")
    report = verified(central)
    assert kinds(report) == [("node_ledger_edited", f"center node {NODE}, seal 1")]
    assert "pinned by this node's seal 1, it was changed since" in str(report.findings[0])
    # Central's pin itself removed: central's own seal no longer holds.
    at(central.database_url, "DELETE FROM audit_seal_node")
    assert ("ledger_edited", "ledger, seal 1") in kinds(verified(central))


def test_a_center_nodes_seal_whose_signature_does_not_verify_is_named(center: CenterApi, central: Settings) -> None:
    open_cases(center, 1)
    seal(center.settings)
    replicate(center, central)
    forged = signing.sign(signing.installation_key(central), b"something else")
    at(central.database_url, "UPDATE node_seal SET signature = :s", s=forged)
    seal(central)
    report = verified(central)
    assert kinds(report) == [("node_ledger_edited", f"center node {NODE}, seal 1")]
    assert "the signature does not match the seal" in str(report.findings[0])


def test_a_center_nodes_seal_signed_with_another_key_is_named(center: CenterApi, central: Settings,
                                                             tmp_path: Path) -> None:
    open_cases(center, 1)
    seal(center.settings)
    seal(center.settings)
    replicate(center, central)
    other = make_settings(central.database_url, tmp_path / "someone", node_role="central")
    resign(central.database_url, other, 2, public_key=signing.installation_public_key(other))
    report = verified(central)
    assert kinds(report) == [("node_ledger_edited", f"center node {NODE}, seal 2")]
    assert "not the key of the node's seal 1" in str(report.findings[0])


def test_a_center_nodes_seal_missing_from_its_chain_is_named(center: CenterApi, central: Settings) -> None:
    open_cases(center, 1)
    seal(center.settings)
    open_cases(center, 1)
    seal(center.settings)
    seal(center.settings)
    replicate(center, central)
    at(central.database_url, "DELETE FROM node_seal_leaf WHERE seal_seq = 2", "DELETE FROM node_seal WHERE seq = 2")
    seal(central)
    report = verified(central)
    assert kinds(report) == [("node_ledger_edited", f"center node {NODE}, seal 3")]
    assert "expected seal 2 here" in str(report.findings[0])


def test_a_center_nodes_copy_that_is_not_its_seal_is_named_there(center: CenterApi) -> None:
    case_id = open_cases(center, 1)[0]
    seal(center.settings)
    seal(center.settings)
    resign(center.settings.database_url, center.settings, 2, sealed_at="2026-01-01T00:00:00+00:00")
    assert kinds(verified(center.settings)) == [("node_ledger_edited", f"center node {NODE}, seal 2")]
    # A leaf removed from the copies (the case's rows deleted with it), the seals left as they are.
    resign(center.settings.database_url, center.settings, 2, sealed_at=seal_row(center.settings, 2).sealed_at)
    at(center.settings.database_url, "DELETE FROM node_seal_leaf WHERE case_id = :c", c=case_id)
    report = verified(center.settings)
    assert kinds(report) == [("node_ledger_edited", f"center node {NODE}, seal 1")]
    assert "leaves were added or removed" in str(report.findings[0])
    assert report.node_seals == {}  # a center node's own seals are not listed as a center's held here


def seal_row(settings: Settings, seq: int) -> Any:
    with engine_for(settings.database_url).connect() as conn:
        return conn.execute(text("SELECT * FROM audit_seal WHERE seq = :s"), {"s": seq}).one()


def test_a_single_node_seals_as_before(api: Any) -> None:
    api.deployed("test_permit")
    clerk = api.user("front_desk")
    api.past_first_step("test_permit", {"area": 120, "purpose": "family house"}, clerk)
    entry = seal(api.settings)
    assert entry.nodes == ""
    # The hash of a seal that pins no center node is the one seals always had.
    body = json.dumps({k: getattr(entry, k) for k in ("seq", "sealed_at", "case_count", "leaf_count", "root",
                                                     "prev_hash", "public_key")}, sort_keys=True,
                      separators=(",", ":"))
    assert entry.hash == hashlib.sha256(body.encode()).hexdigest()
    with engine_for(api.settings.database_url).connect() as conn:
        for table in ("node_seal", "node_seal_leaf", "audit_seal_node"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0  # noqa: S608
    report = verified(api.settings)
    assert report.ok and report.node_seals == {}



def test_a_drawer_sealed_at_the_center_and_emptied_before_central_sealed_is_named(center: CenterApi,
                                                                                 central: Settings) -> None:
    cashier = center.user("cashier", username="cashier1")
    r = center.client.post("/api/cashier/sessions", json={"float": {"cash": "500"}}, headers=cashier)
    assert r.status_code == 201, r.text
    drawer = r.json()["id"]
    seal(center.settings)
    replicate(center, central)
    # The drawer's chain removed with its head: what is left holds by itself, and central seals it so.
    at(central.database_url, "DELETE FROM cashier_event WHERE session_id = :d",
       "UPDATE cashier_session SET audit_seq = 0, audit_head = :g WHERE id = :d", d=drawer, g=chain.GENESIS)
    seal(central)
    report = verified(central)
    assert kinds(report) == [("drawer_altered", f"cashier session {drawer}, event 1")]
    assert f"center node {NODE}'s seal 1" in str(report.findings[0])


def test_a_center_node_whose_seals_stopped_arriving_is_noted(center: CenterApi, central: Settings,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    open_cases(center, 1)
    seal(center.settings)
    replicate(center, central)
    resign(central.database_url, center.settings, 1, sealed_at="2026-01-01T00:00:00+00:00")  # as if long ago
    assert audit_cli.cmd_verify(central, argparse.Namespace()) == 0  # noted, not a problem
    said = capsys.readouterr().out
    assert f"center node {NODE}: 1 seal(s) here, the latest sealed at 2026-01-01T00:00:00+00:00 (" in said
    assert "its seals stopped arriving, or it stopped sealing" in said


def test_a_seal_made_while_central_verifies_is_not_a_problem(center: CenterApi, central: Settings,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Verify reads the ledger in several statements: a seal that commits between them (the periodic round, on
    another process) is not a seal whose leaves or pins were removed. Verify reads one snapshot throughout."""
    open_cases(center, 2)
    seal(center.settings)
    replicate(center, central)
    seal(central)
    open_cases(center, 1)
    seal(center.settings)
    replicate(center, central)
    original, done, began = ledger.seals, [], []

    def seals_after_another(session: Session) -> list[Any]:
        if not began:
            began.append(True)
            done.append(seal(central))  # another process's seal, committed between verify's reads
        return original(session)

    monkeypatch.setattr(ledger, "seals", seals_after_another)
    report = verified(central)
    assert done and done[0].nodes and done[0].leaf_count > 0
    assert report.ok, [str(f) for f in report.findings]
    assert report.seals == 1  # the ledger as it was when verify began
    monkeypatch.undo()
    assert verified(central).ok


def test_a_center_node_still_being_copied_is_noted_not_named(center: CenterApi, central: Settings,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The first copy of a subscription's tables (add-center, or the refresh after an upgrade that adds
    node_seal) runs table by table, each at a moment of its own: a seal may be here before its leaves, a leaf
    before its case's events. While a table of that center node's subscription is not copied and followed yet,
    central's verify notes the node and checks its cases and seals the next time."""
    if not central.database_url.startswith("postgresql"):
        pytest.skip("subscriptions are PostgreSQL's")
    case_id = open_cases(center, 2)[0]
    cashier = center.user("cashier", username="cashier1")
    r = center.client.post("/api/cashier/sessions", json={"float": {"cash": "500"}}, headers=cashier)
    assert r.status_code == 201, r.text
    seal(center.settings)
    replicate(center, central)
    # As a copy table by table leaves it for a moment: the seal's leaves not here yet, the case's last event
    # neither, nor the drawer's events.
    at(central.database_url, "DELETE FROM node_seal_leaf", "DELETE FROM cashier_event",
       "DELETE FROM audit_event WHERE case_id = :c AND seq = (SELECT max(seq) FROM audit_event WHERE case_id = :c)",
       c=case_id)
    name = replication.subscription_name(NODE)
    at(central.database_url,
       f"CREATE SUBSCRIPTION \"{name}\" CONNECTION 'host=127.0.0.1 port=1 dbname=nowhere' "
       "PUBLICATION shubbak_center WITH (connect = false)")
    try:
        at(central.database_url, "INSERT INTO pg_subscription_rel (srsubid, srrelid, srsubstate, srsublsn) "
           "SELECT oid, 'node_seal_leaf'::regclass, 'd', NULL FROM pg_subscription WHERE subname = :n", n=name)
        report = verified(central)
        assert report.ok, [str(f) for f in report.findings]
        assert report.copying == [NODE]
        assert audit_cli.cmd_verify(central, argparse.Namespace()) == 0
        assert f"center node {NODE}: its rows are still being copied here" in capsys.readouterr().out
        at(central.database_url, "UPDATE pg_subscription_rel SET srsubstate = 'r'")
        report = verified(central)
        assert report.copying == []
        assert {f.kind for f in report.findings} == {"deleted_event", "drawer_altered", "node_ledger_edited"}
    finally:
        at(central.database_url, f"ALTER SUBSCRIPTION \"{name}\" SET (slot_name = NONE)")
        at(central.database_url, f"DROP SUBSCRIPTION \"{name}\"")


def test_a_center_that_rewrites_its_seals_whole_after_central_pinned_them_is_named(center: CenterApi,
                                                                                  central: Settings,
                                                                                  tmp_path: Path) -> None:
    """After central pinned the center's seal 2: the center's copies deleted (all of them), replayed (seal 1
    alone, its chain whole), or the whole chain rewritten and signed again with a new key of the center's: each is
    named at central by the pin."""
    case_id = open_cases(center, 1)[0]
    seal(center.settings)
    open_cases(center, 1)
    seal(center.settings)
    replicate(center, central)
    seal(central)
    assert verified(central).ok
    # Deleted, as the deletion would replicate.
    at(central.database_url, "DELETE FROM node_seal_leaf", "DELETE FROM node_seal")
    assert ("node_ledger_edited", f"center node {NODE}, seal 2") in kinds(verified(central))
    # Replayed: seal 1 alone, as it was.
    replicate(center, central)
    at(central.database_url, "DELETE FROM node_seal_leaf WHERE seal_seq = 2", "DELETE FROM node_seal WHERE seq = 2")
    report = verified(central)
    assert kinds(report) == [("node_ledger_edited", f"center node {NODE}, seal 2")]
    assert "it is no longer here" in str(report.findings[0])
    # The history rewritten and every seal made again over it with a new key: a chain that holds by itself.
    replicate(center, central)
    rewrite_chain(central.database_url, case_id)
    other = make_settings(central.database_url, tmp_path / "new-key", node_role="central")
    with engine_for(central.database_url).connect() as conn:
        head = conn.execute(text("SELECT audit_head FROM case_file WHERE id = :c"), {"c": case_id}).scalar_one()
    at(central.database_url, "UPDATE node_seal_leaf SET audit_head = :h WHERE case_id = :c", h=head, c=case_id)
    prev = chain.GENESIS
    with engine_for(central.database_url).connect() as conn:
        leaves = conn.execute(text("SELECT seal_seq, case_id, tracking_number, audit_seq, audit_head "
                                   "FROM node_seal_leaf ORDER BY seal_seq")).all()
    so_far: dict[int, ledger.Leaf] = {}
    for seq in (1, 2):
        so_far.update({row.case_id: (row.tracking_number, row.audit_seq, row.audit_head) for row in leaves
                       if row.seal_seq == seq})
        at(central.database_url, "UPDATE node_seal SET root = :r, prev_hash = :p WHERE seq = :s",
           r=ledger.root_of(so_far), p=prev, s=seq)
        resign(central.database_url, other, seq, public_key=signing.installation_public_key(other),
               root=ledger.root_of(so_far), prev_hash=prev)
        prev = seal_row_at(central.database_url, seq).hash
    report = verified(central)  # central's own seal, which holds the case, names the rewrite too
    assert [(f.kind, f.case_id) for f in report.findings] == [("rewritten_history", case_id),
                                                              ("node_ledger_edited", None)]
    assert "pinned by this node's seal 1, it was changed since" in str(report.findings[1])


def seal_row_at(url: str, seq: int) -> Any:
    with engine_for(url).connect() as conn:
        return conn.execute(text("SELECT * FROM node_seal WHERE seq = :s"), {"s": seq}).one()
