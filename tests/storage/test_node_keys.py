"""Every unique key of the tables a center node writes (storage/nodes.py ``CENTER``), and why two nodes never write
the same value of it: a row that meets another on a unique key when it replicates stops the subscription until an
operator acts (docs/center-nodes.md "Identity without coordination").

A new unique constraint, unique index or primary key on a CENTER table fails here until it is thought about and
explained below; a key that is gone fails too, so the list stays true.
"""

from __future__ import annotations

from sqlalchemy import Index, Table, UniqueConstraint
from sqlmodel import SQLModel

import storage.models  # noqa: F401  (registers every table)
from storage import nodes
from storage.models.base import BIG_ID

_CASE = "of one case: case ids are the node's own (storage/nodes.py ID_BLOCK) and only the case's node writes them"

# (table, columns) -> why no two nodes write the same value.
EXPLAINED: dict[tuple[str, tuple[str, ...]], str] = {
    ("case_file", ("tracking_number",)): "a center node's numbers start with 0 and its center's digits, central's "
                                         "never with 0 (engine/core/tracking.py)",
    ("bill", ("number",)): "the case's tracking number and the bill's count in the case",
    ("audit_event", ("case_id", "seq")): _CASE,
    ("document", ("case_id", "kind", "version")): _CASE,
    ("document", ("storage_key",)): "cases/<case id>/<uuid4>: the case id is the node's own",
    ("document_waiver", ("case_id", "kind")): _CASE,
    ("issued_output", ("case_id", "kind", "source")): _CASE,
    ("issued_output", ("number",)): "a center node's case's documents carry its center after the year, "
                                    "D2026-C7-..., central's have none (engine/cases/owed.py new_number)",
    ("rating", ("case_id",)): _CASE,
    ("open311_request", ("case_id",)): _CASE,
    ("open311_request", ("key_id", "request_hash")): "on a center node the hash covers the node "
                                                     "(engine/citizen/open311.py _request_hash)",
    ("case_message", ("key",)): "a uuid4 (122 random bits) drawn by the sending case's node",
    ("outbox_message", ("idempotency_key",)): "a case's message: a hash of its case id and event; a sign-in code's: "
                                              "256 random bits; a booking's reminder: written by central only "
                                              "(engine/queue/booking_rounds.py remind)",
    ("cashier_session", ("cashier", "node")): "one open drawer per cashier and node (migration 0033)",
    ("cashier_event", ("session_id", "seq")): "of one drawer session, whose id is its node's own",
    ("payment", ("receipt_number",)): "each node numbers its own series, named in the number "
                                      "(engine/payments/receipts.py series), and no center is coded like a node's "
                                      "series (engine/people/centers.py create_center)",
    ("checkout", ("provider", "reference")): "the provider's own reference, unique at the provider whichever node "
                                             "asked for it (one merchant account per provider: docs/center-nodes.md)",
    ("task", ("id",)): "SpiffWorkflow's task id, a uuid4 drawn by the case's node",
    ("booking_arrival", ("booking_id", "node")): "the node's code is in the key: only a center node records an "
                                                 "arrival, its own (central marks its own on the booking's row), "
                                                 "and only of its own center's bookings (engine/queue/arrivals.py)",
    ("node_seal", ("node", "seq")): "the sealing center node's own code: only a center node writes its seals' copies "
                                    "(engine/audit/ledger.py _copy_for_central)",
    ("node_seal_leaf", ("node", "seal_seq", "case_id")): "the sealing center node's own code, as its seal's",
}
ID = "the node's own ids: a center node's sequences start at its block (storage/nodes.py claim_id_block)"


def _keys(table: Table) -> list[tuple[str, ...]]:
    keys = [tuple(c.name for c in table.primary_key.columns)]
    keys += [tuple(c.name for c in k.columns) for k in table.constraints if isinstance(k, UniqueConstraint)]
    keys += [tuple(c.name for c in i.columns) for i in table.indexes if isinstance(i, Index) and i.unique]
    return keys


def _explained() -> dict[tuple[str, tuple[str, ...]], str]:
    found = {}
    for name in sorted(nodes.CENTER):
        table = SQLModel.metadata.tables[name]
        for key in _keys(table):
            if key == ("id",) and table.c["id"].type is BIG_ID and table.c["id"].autoincrement in (True, "auto"):
                found[(name, key)] = ID
            else:
                found[(name, key)] = EXPLAINED.get((name, key), "")
    return found


def test_every_unique_key_of_the_center_tables_is_explained() -> None:
    found = _explained()
    unexplained = sorted(key for key, why in found.items() if not why)
    assert not unexplained, (
        f"unique keys of CENTER tables no one has thought about (tests/storage/test_node_keys.py): {unexplained}: "
        "can a center node and central (or two center nodes) write the same value? If so, put something of the node "
        "in it (its center's digits, its code, a node-scoped id), or make the table LOCAL")
    gone = sorted(set(EXPLAINED) - set(found))
    assert not gone, f"explained here but no longer unique keys of CENTER tables: {gone}"


def test_the_list_is_not_empty_and_reads_the_partial_index_too() -> None:
    found = _explained()
    assert ("cashier_session", ("cashier", "node")) in found  # a partial unique index
    assert ("case_file", ("id",)) in found and found[("case_file", ("id",))] == ID
    assert len(found) == len(EXPLAINED) + sum(why == ID for why in found.values()) > 35


def test_a_new_unique_index_on_a_center_table_is_caught() -> None:
    table = SQLModel.metadata.tables["custody_move"]
    probe = Index("ux_custody_move_probe", table.c["location"], unique=True)  # attaches itself to the table
    try:
        assert _explained()[("custody_move", ("location",))] == ""
    finally:
        table.indexes.discard(probe)
    assert ("custody_move", ("location",)) not in _explained()
