"""The unique values a center node writes carry the node (tests/storage/test_node_keys.py lists them): receipts,
open drawers, Open311 requests and issued documents' numbers never meet central's or another node's."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.cases.owed import new_number
from engine.citizen.open311 import _request_hash
from engine.core import tracking
from engine.core.errors import Conflict, Invalid
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.payments import drawer, receipts
from engine.people import centers
from engine.people.users import Actor
from harness.settings import make_settings
from storage.db import engine_for
from storage.models.payments import CashierSession

CASHIER = Actor("cashier_n", frozenset({"cashier"}), "Cashier")
AT = datetime(2026, 6, 1, 10, tzinfo=UTC)


def _node(settings: Settings, code: str = "CAI01") -> Settings:
    return settings.model_copy(update={"node_role": "center", "node_center": code})


def test_receipt_series_name_the_node(settings: Settings) -> None:
    node = _node(settings)
    assert receipts.series("CAI01", settings) == "CAI01"  # central's and a single installation's: as before
    assert receipts.series("CAI01", node) == "CAI01-N"
    assert receipts.series("MAIN", node) == "MAIN.CAI01-N"
    assert receipts.series("MAIN", _node(settings, "ALX02")) == "MAIN.ALX02-N"
    with Session(engine_for(settings.database_url)) as session:
        cai = centers.create_center(session=session, code="CAI01", name_ar="ق", name_en="C", level="governorate").id
        # Each node keeps its own counters (receipt_counter is LOCAL): a node's series starts at 1 and has no gaps.
        assert receipts.next_number(session, cai, AT, node) == "CAI01-N-2026-000001"
        assert receipts.next_number(session, cai, AT, node) == "CAI01-N-2026-000002"
        assert receipts.next_number(session, None, AT, node) == "MAIN.CAI01-N-2026-000001"
        session.commit()


@pytest.mark.parametrize("code", ["CAI01-N", "MAIN.CAI01-N"])
def test_no_center_is_coded_like_a_nodes_receipt_series(settings: Settings, code: str) -> None:
    # Central numbers a center's receipts under its bare code: a center coded CAI01-N would share node CAI01's
    # series (CAI01-N-2026-000001 on both sides, one unique key: the subscription stops), one coded MAIN.CAI01-N
    # node CAI01's series for cases of no center. A node's code has no dot (SHUBBAK_NODE_CENTER), so every
    # node's series ends in -N and no two nodes' series meet.
    assert receipts.series("CAI01-N", settings) == receipts.series("CAI01", _node(settings))
    with Session(engine_for(settings.database_url)) as session, pytest.raises(Invalid) as refused:
        centers.create_center(session=session, code=code, name_ar="ق", name_en="C", level="governorate")
    assert refused.value.details == [problem("code", "field.center_code_reserved")]


def test_a_cashier_may_have_a_drawer_open_at_central_and_at_a_node_but_one_per_node(settings: Settings) -> None:
    node = _node(settings)
    with Session(engine_for(settings.database_url)) as session:
        at_central = drawer.open_session(session=session, actor=CASHIER, opening={"cash": "0"}, settings=settings)
        # The node's drawer, opened there while the line was down, arrives by replication.
        session.add(CashierSession(cashier=CASHIER.username, status="open", opening={}, node="CAI01"))
        session.commit()
        found_central = drawer.open_of(session, CASHIER.username, settings)
        found_node = drawer.open_of(session, CASHIER.username, node)
        assert found_central is not None and found_central.id == at_central.id
        assert found_node is not None and found_node.node == "CAI01" and found_node.id != at_central.id
        with pytest.raises(Conflict):
            drawer.open_session(session=session, actor=CASHIER, opening={"cash": "0"}, settings=node)
        session.rollback()
        # The database itself still holds one open drawer per cashier and node.
        session.add(CashierSession(cashier=CASHIER.username, status="open", opening={}, node="CAI01"))
        with pytest.raises(IntegrityError):
            session.flush()
        session.rollback()


def test_a_drawer_closed_at_a_node_is_acknowledged_there_only(settings: Settings) -> None:
    # Central holds the node's drawer as replicated. Its acknowledgement at central was the drawer's next link
    # (session, seq) written at central: the node's own supervisor acknowledging it there writes the same key,
    # which stops central's subscription when it arrives.
    supervisor = Actor("super_n", frozenset({"supervisor"}), "Supervisor")
    with Session(engine_for(settings.database_url)) as session:
        centers.create_center(session=session, code="CAI01", name_ar="مركز القاهرة", name_en="Cairo",
                              level="governorate")
        row = CashierSession(cashier=CASHIER.username, status="closed", opening={}, node="CAI01",
                             difference={"cash": -500})
        session.add(row)
        session.commit()
        assert row.id is not None
        with pytest.raises(Conflict) as refused:
            drawer.acknowledge(session=session, session_id=row.id, reason="counted twice", actor=supervisor,
                               settings=settings)
        assert refused.value.message_id == "node.drawer_elsewhere" and "Cairo (CAI01)" in str(refused.value)
        session.rollback()
        again = drawer.get(session, row.id)
        assert again.acknowledged_by is None and again.audit_seq == 0


def test_the_same_open311_post_at_two_nodes_is_two_requests(tmp_path: Path) -> None:
    single = make_settings("sqlite://", tmp_path)
    form = {"service_code": ["x"], "description": [" a hole "], "api_key": ["k"]}
    hashes = {_request_hash(form, s) for s in (single, _node(single), _node(single, "ALX02"))}
    assert len(hashes) == 3
    assert _request_hash(form, single) == _request_hash({**form, "api_key": ["other"]}, single)  # as before
    # A field named "" cannot pass for the node.
    assert _request_hash({**form, "": ["CAI01"]}, single) != _request_hash(form, _node(single))


def test_a_center_nodes_documents_carry_its_center() -> None:
    central = {new_number(2026, tracking.new_tracking_number(10)) for _ in range(500)}
    at_7 = {new_number(2026, tracking.new_tracking_number(10, center_id=7)) for _ in range(500)}
    at_70 = {new_number(2026, tracking.new_tracking_number(10, center_id=70)) for _ in range(500)}
    assert all(n.startswith("D2026-") and len(n.split("-")) == 4 for n in central)
    assert all(n.startswith("D2026-C7-") and len(n.split("-")) == 5 for n in at_7)
    assert all(n.startswith("D2026-C70-") and len(n.split("-")) == 5 for n in at_70)
    assert all(len(n) <= 40 for n in {new_number(9999, tracking.new_tracking_number(18, center_id=999_999_999))})
