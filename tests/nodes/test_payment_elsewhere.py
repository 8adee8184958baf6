"""A payment provider's callback reaches the node whose case the bill is (engine/payments/epay.py): each reference
names the callback address of the node that made it, and a callback for another node's case (a center node's,
at central) is refused with 409 ``node.checkout_elsewhere`` naming the node (the provider tries again), with
nothing of that node's written; back on its own node, the same callback pays."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlmodel import Session, select

from engine.people import centers
from storage.db import engine_for
from storage.models.payments import GatewayCallback
from tests.api.test_epay import _world, checkout, send
from tests.nodes.test_case_elsewhere import hand_to
from tests.support.cash_desk import Counter
from tests.support.payment_provider import PaymentProvider


@pytest.fixture
def provider() -> Iterator[PaymentProvider]:
    with PaymentProvider() as server:
        yield server


@pytest.fixture
def central(database_url: str, tmp_path: Path, provider: PaymentProvider) -> Iterator[Counter]:
    yield from _world(database_url, tmp_path, provider, node_role="central", public_url="https://gov.example/")


def written(c: Counter, case_id: int) -> tuple[Any, ...]:
    with engine_for(c.api.settings.database_url).connect() as conn:
        case = conn.execute(text("SELECT version, audit_seq, status FROM case_file WHERE id = :id"),
                            {"id": case_id}).one()
        bills = conn.execute(text("SELECT status, paid FROM bill WHERE case_id = :id ORDER BY id"),
                             {"id": case_id}).all()
        checkouts = conn.execute(text("SELECT status, payment_id FROM checkout WHERE case_id = :id ORDER BY id"),
                                 {"id": case_id}).all()
        payments = conn.execute(text("SELECT count(*) FROM payment")).scalar()
    return tuple(case), tuple(map(tuple, bills)), tuple(map(tuple, checkouts)), payments


def at_the_aswan_node(c: Counter) -> tuple[dict[str, Any], str]:
    """A case billed and checked out at central, then handed to center node ASW01 (its rows as they reach central):
    the case and its payment reference."""
    with Session(engine_for(c.api.settings.database_url)) as session:
        centers.create_center(session=session, code="ASW01", name_ar="مركز أسوان", name_en="Aswan center",
                              level="governorate")
    case, bill = c.billed_case(fee=150)
    reference = checkout(c, bill).json()["reference"]
    hand_to(c.api, case["id"], "ASW01")
    return case, reference


def test_each_reference_names_the_callback_address_of_the_node_that_made_it(central: Counter,
                                                                          provider: PaymentProvider) -> None:
    _case, bill = central.billed_case(fee=150)
    made = checkout(central, bill)
    assert made.status_code == 201, made.text
    assert provider.checkouts[made.json()["reference"]]["callback_url"] == \
        "https://gov.example/api/payments/fake/callback"


def test_central_refuses_a_callback_for_a_center_nodes_checkout_and_writes_nothing_of_it(
        central: Counter, provider: PaymentProvider) -> None:
    c = central
    case, reference = at_the_aswan_node(c)
    before = written(c, case["id"])
    body, headers = provider.callback(reference)
    for _ in range(2):  # the provider tries again: refused again, the same way
        r = send(c, body, headers)
        assert r.status_code == 409, r.text
        assert r.json()["message_id"] == "node.checkout_elsewhere"
        assert "Aswan center (ASW01)" in r.json()["message"] and "مركز أسوان" in r.json()["message_ar"]
    assert written(c, case["id"]) == before
    with Session(engine_for(c.api.settings.database_url)) as session:
        heard = session.exec(select(GatewayCallback)).all()
    assert [(h.outcome, h.reference, h.checkout_id) for h in heard] == [("elsewhere", reference, None)] * 2

    # A forged callback learns nothing of the owner: the signature is checked first.
    forged, forged_headers = provider.callback(reference, secret="another-secret-0123456789")
    assert send(c, forged, forged_headers).status_code == 403

    hand_to(c.api, case["id"], None)  # type: ignore[arg-type]
    paid = send(c, body, headers)
    assert paid.status_code == 200 and paid.json()["outcome"] == "paid", paid.text


def test_a_callback_for_a_reference_the_owner_settled_already_is_answered_done_at_central(
        central: Counter, provider: PaymentProvider) -> None:
    """A provider that calls one address for every node (central's) hears that a center node's reference is done
    once the node settled it and the row replicated, rather than 409 until its own policy gives up; still nothing
    of the node's is written at central."""
    c = central
    case, reference = at_the_aswan_node(c)
    body, headers = provider.callback(reference)
    assert send(c, body, headers).status_code == 409  # not settled at the node yet
    with engine_for(c.api.settings.database_url).begin() as conn:  # the node's reconciliation, replicated
        conn.execute(text("UPDATE checkout SET status = 'paid' WHERE reference = :r"), {"r": reference})
    before = written(c, case["id"])
    r = send(c, body, headers)
    assert r.status_code == 200 and r.json()["outcome"] == "duplicate", r.text
    assert written(c, case["id"]) == before
    with Session(engine_for(c.api.settings.database_url)) as session:
        heard = session.exec(select(GatewayCallback)).all()
    assert [(h.outcome, h.checkout_id) for h in heard] == [("elsewhere", None)] * 2
    # A forged one still learns nothing.
    forged, forged_headers = provider.callback(reference, secret="another-secret-0123456789")
    assert send(c, forged, forged_headers).status_code == 403


def test_flagged_references_are_listed_by_when_they_were_made_not_by_id(central: Counter,
                                                                      provider: PaymentProvider) -> None:
    c = central
    made = []
    for _ in range(2):
        _case, bill = c.billed_case(fee=150)
        reference = checkout(c, bill).json()["reference"]
        body, headers = provider.callback(reference, amount="1.00")
        assert send(c, body, headers).status_code == 422  # flagged mismatch
        made.append(reference)
    # The second was made first (as a center node's reference, of a higher id, made before central's).
    with engine_for(c.api.settings.database_url).begin() as conn:
        conn.execute(text("UPDATE checkout SET created_at = '2026-01-01 08:00:00' WHERE reference = :r"),
                     {"r": made[1]})
    listed = c.client.get("/api/checkouts/flagged", headers=c.supervisor)
    assert [f["reference"] for f in listed.json()] == [made[1], made[0]], listed.text


def test_a_single_node_pays_a_callback_with_the_statements_it_used_before(database_url: str, tmp_path: Path,
                                                                          provider: PaymentProvider) -> None:
    """A single installation has no other node: a callback asks no case's node before it locks the case (the
    same statements as before the check of another node's reference)."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    for c in _world(database_url, tmp_path, provider):
        _case, bill = c.billed_case(fee=150)
        reference = checkout(c, bill).json()["reference"]
        body, headers = provider.callback(reference)
        engine = engine_for(c.api.settings.database_url)
        event.listen(engine, "before_cursor_execute", note)
        try:
            paid = send(c, body, headers)
        finally:
            event.remove(engine, "before_cursor_execute", note)
        assert paid.status_code == 200 and paid.json()["outcome"] == "paid", paid.text
    asked = [s for s in seen if s.lstrip().startswith("SELECT case_file.node ")]
    assert seen and not asked, asked
