"""Which node writes which table when a center runs a node of its own (docs/center-nodes.md).

A governorate runs one *central* node; a center may run a *center* node on its own network, so that its counter
and its departments keep working when the line to the governorate is down. PostgreSQL's logical replication
carries the rows, never a home-made sync: central publishes ``CENTRAL`` and every center node subscribes to it;
each center node publishes ``CENTER`` and central subscribes to each center node. ``LOCAL`` tables never leave
the node that wrote them.

Each table is in exactly one set (tests/storage/test_nodes.py fails on a new table that is in none), because a
row written on both sides of a subscription is a conflict that stops the subscription until an operator acts.

- ``CENTRAL``: the catalog and the people, which only central writes (a center node refuses deploys and user
  administration).
- ``CENTER``: the work done at a center: its cases and everything a case owns, its desks' drawers and queue. On
  central these tables also hold central's own cases (those of centers without a node); central never writes a
  row of a case a center node owns.
- ``LOCAL``: what is derived from the replicated rows (report aggregates, projection cursors, the ledger's seals,
  computed again on each node), and each node's own short-lived state (idempotency keys, throttles, sign-in
  codes, display-board leases, auditors' reads, analysts' drafts).
"""

from __future__ import annotations

CENTRAL: frozenset[str] = frozenset({
    "process_version",
    "center",
    "app_user",
    "user_event",
    "assignment_rule",
    "assignment_rule_event",
    "absence",
    "queue_category",
    "queue_counter",
    "booking_calendar",
    "booking_plan",
    # Booked from the public site, at central; an arrival at a center node marks the booking (an open question,
    # docs/center-nodes.md "Not yet").
    "booking",
    "booking_slot",
    "open311_key",
})

CENTER: frozenset[str] = frozenset({
    "case_file",
    "task",
    "audit_event",
    "message_wait",
    "case_message",
    "outbox_message",
    "document",
    "document_waiver",
    "custody_move",
    "bill",
    "payment",
    "refund",
    "checkout",
    "gateway_callback",
    "cashier_session",
    "cashier_event",
    "incident",
    "issued_output",
    "rating",
    "receipt_counter",
    "queue_ticket",
    "queue_call",
    "queue_sequence",
    "assignment_turn",
    "unavailable_day",
    "open311_request",
})

LOCAL: frozenset[str] = frozenset({
    "report_day",
    "report_lane_day",
    "report_channel_day",
    "report_case_time",
    "report_step_time",
    "report_officer_time",
    "report_claim",
    "projection_cursor",
    "audit_seal",
    "audit_seal_leaf",
    "audit_access",
    "idempotency_key",
    "throttle_counter",
    "citizen_code",
    "board_stream",
    "service_draft",
    "copied_object",
    "node_link",
})
