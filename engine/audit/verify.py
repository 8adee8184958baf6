"""`shubbak audit verify`: every kind of tampering the record can show, each named at its first broken link.

Per case (streamed in id order, a batch at a time, on plain rows):

* the hash chain, with what broke it: an event **edited** (its content no longer gives its hash, or it was
  re-hashed and the next event no longer links to it), **deleted** (a gap, or the case's head records more
  events than the chain has), **reordered** (the event expected here is stored under another number),
  **inserted** (the next event is the original one, renumbered; or events beyond the case's recorded head);
* the stored case against its events: the last event a command wrote carries ``after`` (engine/core/chain.py), so
  the stored **state**, **data**, status, outcome and ready tasks must hash and read as recorded. This needs no
  workflow: replaying every case would be exact too, but costs milliseconds per case (`shubbak audit replay`
  does it, for cases chosen by service or date).

Across cases, the ledger (engine/audit/ledger.py): each seal's hash, link, signature and Merkle root; every sealed
head must still be in its case's chain (a **deleted case**, a chain **rolled back** below its sealed head, a
history **rewritten** up to it); the anchor file's seals must all be in the database (a database **restored**
to an earlier point). And the access log's own chain, and each cashier's drawer session's (engine/payments/drawer.py:
its links and the head its session row records).

Across nodes, at central: each center node's seals as they replicated (``node_seal``): their chain, hashes, key and
signatures, those central's seals pinned still as pinned, and every head they sealed still in central's copy of the
case's (or drawer's) chain, so a center that rewrote its history after sealing it is named at central even when the
rewrite replicated whole and central sealed it (docs/center-nodes.md "Audit across nodes").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, or_, select, text
from sqlmodel import Session, col

from engine.audit import access_log, ledger, signing
from engine.core import chain as audit
from engine.core import nodes
from engine.core.settings import Settings
from engine.payments import drawer as drawers
from storage import nodes as storage_nodes
from storage import replication
from storage.models.audit import (
    AuditAccess,
    AuditEvent,
    AuditSeal,
    AuditSealLeaf,
    AuditSealNode,
    NodeSeal,
    NodeSealLeaf,
)
from storage.models.base import tables
from storage.models.cases import Case, Task
from storage.models.payments import CashierEvent, CashierSession

KINDS = {
    "edited_event": "an event was edited",
    "deleted_event": "an event was deleted",
    "reordered_events": "events were reordered",
    "inserted_event": "an event was inserted",
    "head_changed": "the case's recorded head was changed",
    "state_mismatch": "the stored state no longer matches the events",
    "data_mismatch": "the stored data no longer matches the events",
    "projection_mismatch": "the case's status or tasks no longer match the events",
    "deleted_case": "a sealed case was deleted",
    "rolled_back": "a chain was rolled back below its sealed head",
    "rewritten_history": "a chain was rewritten up to its sealed head",
    "ledger_edited": "the ledger was altered",
    "database_rolled_back": "the database was restored to before a seal",
    "access_log_altered": "the access log was altered",
    "drawer_altered": "a cashier's drawer record was altered",
    "node_ledger_edited": "a center node's seals were altered",
}

_CASES, _EVENTS, _TASKS, _LEAVES, _SEALS = tables(Case, AuditEvent, Task, AuditSealLeaf, AuditSeal)
_PINS, _NODE_SEALS, _NODE_LEAVES = tables(AuditSealNode, NodeSeal, NodeSealLeaf)


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str
    reason: str
    case_id: int | None = None
    seq: int | None = None
    seal: int | None = None

    def __str__(self) -> str:
        return f"{self.where}: {self.reason} [{KINDS[self.kind]}]"


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    drawers: int = 0
    cases: int = 0
    events: int = 0
    seals: int = 0
    reads: int = 0
    unsealed: int = 0  # cases opened or moved since the last seal: only their own chain vouches for them
    # Each center node whose seals are held here (central): its latest seal's seq and when it was sealed.
    node_seals: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Center nodes whose rows this node is still copying (a subscription's tables not all "ready"): their cases and
    # seals are not checked this time, since each table is copied at a moment of its own (a seal without its
    # leaves yet, a leaf whose case has not caught up).
    copying: list[str] = field(default_factory=list)
    heads: dict[int, tuple[int, str]] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        return not self.findings


def _span(first: int, last: int) -> str:
    return f"event {first} was" if first == last else f"events {first}..{last} were"


def _case_where(case: Any, seq: int | None) -> str:
    return f"case {case.tracking_number} (id {case.id}), " + (f"event {seq}" if seq is not None else "head")


def _hash(ev: Any, seq: int | None = None) -> str:
    return audit.event_hash(case_id=ev.case_id, seq=ev.seq if seq is None else seq, at=ev.at, actor=ev.actor,
                            kind=ev.kind, task=ev.task, data=ev.data, prev_hash=ev.prev_hash, after=ev.after)


def chain_finding(case: Any, events: Sequence[Any]) -> Finding | None:
    """The first broken link of one case's chain (events in ``seq`` order), named by what broke it."""
    prev, k = audit.GENESIS, 1
    for i, ev in enumerate(events):
        if ev.seq == k and ev.prev_hash == prev and _hash(ev) == ev.hash:
            prev, k = ev.hash, k + 1
            continue
        return _classify(case, events, i, k, prev)
    count, head = k - 1, case.audit_head or audit.GENESIS
    if count == case.audit_seq and prev == head:
        return None
    said = f"the case records {case.audit_seq} events ending in {head[:12]}…, but the chain has {count}"
    if count < case.audit_seq:
        return Finding("deleted_event", _case_where(case, None), f"{said}: {_span(count + 1, case.audit_seq)} "
                       "deleted", case.id, count + 1)
    if count > case.audit_seq:
        return Finding("inserted_event", _case_where(case, None), f"{said}: {_span(case.audit_seq + 1, count)} "
                       "added after the case's recorded head", case.id, case.audit_seq + 1)
    return Finding("head_changed", _case_where(case, None), f"{said} ending in {prev[:12]}…", case.id)


def _classify(case: Any, events: Sequence[Any], i: int, k: int, prev: str) -> Finding:
    ev = events[i]
    where = _case_where(case, ev.seq)
    # The event that belongs here, stored under another number: reordered (or renumbered).
    for other in events:
        if other is not ev and other.seq != k and other.prev_hash == prev and _hash(other, k) == other.hash:
            return Finding("reordered_events", where, f"expected event {k} here: it is stored as event {other.seq}",
                           case.id, ev.seq)
    if ev.seq > k:
        return Finding("deleted_event", where, f"expected event {k} here: {_span(k, ev.seq - 1)} deleted", case.id, k)
    following = events[i + 1] if i + 1 < len(events) else None
    if following is not None and following.prev_hash == prev and _hash(following, k) == following.hash:
        return Finding("inserted_event", where, f"event {k} was inserted: the original event {k} follows it, "
                       f"renumbered {k + 1}", case.id, k)
    before = events[i - 1] if i > 0 else None
    if before is not None and ev.prev_hash == before.prev_hash and _hash(ev, k - 1) == ev.hash:
        return Finding("inserted_event", _case_where(case, k - 1), f"event {k - 1} was inserted: the original "
                       f"event {k - 1} follows it, renumbered {k}", case.id, k - 1)
    if ev.prev_hash == prev:
        return Finding("edited_event", where, "the event's content does not match its hash", case.id, ev.seq)
    if _hash(ev) == ev.hash and k > 1:
        return Finding("edited_event", _case_where(case, k - 1), f"event {k} does not link to it (prev_hash is not "
                       f"its hash): event {k - 1} was changed and re-hashed", case.id, k - 1)
    return Finding("edited_event", where, "the event's content does not match its hash, and it does not link to "
                   "the previous event", case.id, ev.seq)


def stored_finding(case: Any, events: Sequence[Any], ready: list[list[str]]) -> Finding | None:
    """The stored case against the ``after`` of its last command (``ready``: [name, id] of its ready rows)."""
    last = next((ev for ev in reversed(events) if ev.after is not None), None)
    if last is None:
        return None  # recorded before events carried results: only replay can check this case
    after = last.after
    where = _case_where(case, last.seq)
    if audit.sha256_text(case.state) != after.get("state_sha256"):
        return Finding("state_mismatch", where, "the stored state is not the one this event recorded "
                       f"(sha256 {after.get('state_sha256', '')[:12]}…)", case.id, last.seq)
    if audit.data_digest(case.data) != after.get("data_sha256"):
        return Finding("data_mismatch", where, "the stored data is not the data this event recorded "
                       f"(sha256 {after.get('data_sha256', '')[:12]}…)", case.id, last.seq)
    stored = {"status": case.status, "outcome": case.outcome, "ready": sorted(ready)}
    recorded = {"status": after.get("status"), "outcome": after.get("outcome"), "ready": after.get("ready")}
    if stored != recorded:
        differs = ", ".join(f"{k} is {stored[k]!r}, recorded {recorded[k]!r}" for k in stored
                            if stored[k] != recorded[k])
        return Finding("projection_mismatch", where, differs, case.id, last.seq)
    return None


def verify_cases(session: Session, report: Report, batch: int = 1000) -> dict[int, Finding]:
    """Chains and stored cases (but those of the center nodes still being copied, ``report.copying``); returns the
    finding of each case that has one."""
    found: dict[int, Finding] = {}
    conn = session.connection()
    last_id = 0
    columns = (_CASES.c.id, _CASES.c.tracking_number, _CASES.c.audit_seq, _CASES.c.audit_head, _CASES.c.state,
               _CASES.c.data, _CASES.c.status, _CASES.c.outcome)
    while True:
        query = select(*columns).where(_CASES.c.id > last_id)
        if report.copying:
            query = query.where(or_(_CASES.c.node.is_(None), _CASES.c.node.not_in(report.copying)))
        cases = conn.execute(query.order_by(_CASES.c.id).limit(batch)).all()
        if not cases:
            return found
        ids = [c.id for c in cases]
        by_case: dict[int, list[Any]] = {}
        for ev in conn.execute(select(_EVENTS).where(_EVENTS.c.case_id.in_(ids))
                               .order_by(_EVENTS.c.case_id, _EVENTS.c.seq)):
            by_case.setdefault(ev.case_id, []).append(ev)
        ready: dict[int, list[list[str]]] = {}
        for row in conn.execute(select(_TASKS.c.case_id, _TASKS.c.name, _TASKS.c.id)
                                .where(_TASKS.c.case_id.in_(ids), _TASKS.c.state == "ready")):
            ready.setdefault(row.case_id, []).append([row.name, row.id])
        for case in cases:
            events = by_case.get(case.id, [])
            report.cases += 1
            report.events += len(events)
            report.heads[case.id] = (case.audit_seq, case.audit_head)
            finding = chain_finding(case, events) or stored_finding(case, events, ready.get(case.id, []))
            if finding is not None:
                found[case.id] = finding
                report.findings.append(finding)
        last_id = ids[-1]


def verify_ledger(session: Session, settings: Settings, report: Report, broken_cases: dict[int, Finding],
                  anchored: list[dict[str, Any]] | None = None) -> dict[int, ledger.Leaf]:
    """Seals, sealed heads and the anchor file (``anchored``: its lines, read before the database's snapshot was
    taken, so that a seal committed since is not one the database lost); returns the leaves of the last good
    seal."""
    trusted = signing.trusted_keys(settings)
    expected, prev = 1, audit.GENESIS
    final: dict[int, ledger.Leaf] = {}
    pins = _pins(session)
    for entry, roots, own in ledger.folded(session):
        report.seals += 1
        problem = _seal_problem(entry, roots, own, expected, prev, trusted)
        if problem is None and ledger.pins_digest(pins.get(entry.seq, [])) != (entry.nodes or ""):
            problem = "the center nodes' seals it pinned are no longer the ones it recorded"
        if problem is not None:
            report.findings.append(Finding("ledger_edited", f"ledger, seal {entry.seq}", problem, seal=entry.seq))
            return {}  # what follows a broken seal cannot be trusted either; the first broken link is named
        expected, prev, final = expected + 1, entry.hash, roots.leaves
    report.findings.extend(_sealed_heads(session, broken_cases))
    report.unsealed = sum(1 for case_id, head in report.heads.items()
                          if case_id not in final or final[case_id][1:] != head)
    held = {entry.seq: entry for entry in ledger.seals(session)}
    for line in ledger.anchored(settings) if anchored is None else anchored:
        finding = _anchor_finding(held, line)
        if finding is not None:
            report.findings.append(finding)
            break
    return final


def _seal_problem(entry: Any, roots: ledger.Roots, own: int, expected: int, prev: str,
                  trusted: set[str]) -> str | None:
    if entry.seq != expected:
        return f"expected seal {expected} here: a seal was removed, inserted or reordered"
    if entry.prev_hash != prev:
        return "prev_hash is not the previous seal's hash"
    if ledger.hash_of(entry) != entry.hash:
        return "the seal's content does not match its hash"
    if entry.public_key not in trusted:
        return f"signed with key {entry.public_key[:16]}…, which this installation does not trust"
    if not signing.verify(entry.public_key, entry.hash.encode("ascii"), entry.signature):
        return "the signature does not match the seal"
    if own != entry.leaf_count:
        return f"the seal recorded {entry.leaf_count} leaves, but {own} are stored: leaves were added or removed"
    if roots.root() != entry.root:
        return "the sealed heads no longer give the seal's Merkle root: a sealed head was changed"
    return None


def _sealed_heads(session: Session, broken_cases: Any, node: str | None = None,
                  up_to: int | None = None) -> Iterator[Finding]:
    """Every head ever sealed must still be in its case's chain (one finding per case, the earliest seal): by this
    node's seals, or (``node``) by center node ``node``'s seals held here, those up to its seal ``up_to``."""
    cases, events = _CASES, _EVENTS
    leaves = _LEAVES if node is None else _NODE_LEAVES
    query = (select(leaves.c.seal_seq, leaves.c.case_id, leaves.c.tracking_number, leaves.c.audit_seq,
                    leaves.c.audit_head, cases.c.id.label("present"), cases.c.audit_seq.label("case_seq"),
                    events.c.hash.label("event_hash"))
             .select_from(leaves.outerjoin(cases, cases.c.id == leaves.c.case_id)
                          .outerjoin(events, and_(events.c.case_id == leaves.c.case_id,
                                                  events.c.seq == leaves.c.audit_seq)))
             .where(leaves.c.case_id > ledger.ACCESS_LOG_LEAF)  # cases; drawers (< 0): verify_drawers
             .order_by(leaves.c.case_id, leaves.c.seal_seq))
    if node is not None:
        query = query.where(leaves.c.node == node, leaves.c.seal_seq <= (up_to or 0))
    named: set[int] = set(broken_cases)
    seal_of = "seal" if node is None else f"center node {node}'s seal"
    for row in session.connection().execute(query):
        if row.case_id in named:
            continue
        where = f"case {row.tracking_number} (id {row.case_id})"
        if row.present is None:
            named.add(row.case_id)
            yield Finding("deleted_case", f"{where}, head", f"sealed in {seal_of} {row.seal_seq} at event "
                          f"{row.audit_seq}, the case no longer exists", row.case_id, row.audit_seq, row.seal_seq)
        elif row.case_seq < row.audit_seq:
            named.add(row.case_id)
            yield Finding("rolled_back", f"{where}, event {row.audit_seq}", f"sealed in {seal_of} {row.seal_seq} at "
                          f"event {row.audit_seq}, the chain now ends at event {row.case_seq}: "
                          f"{_span(row.case_seq + 1, row.audit_seq)} removed with the case's head",
                          row.case_id, row.audit_seq, row.seal_seq)
        elif row.event_hash != row.audit_head:
            named.add(row.case_id)
            yield Finding("rewritten_history", f"{where}, event {row.audit_seq}", f"this is not the event sealed "
                          f"in {seal_of} {row.seal_seq}: the history up to it was rewritten", row.case_id,
                          row.audit_seq, row.seal_seq)


def _anchor_finding(held: dict[int, AuditSeal], line: dict[str, Any]) -> Finding | None:
    if "seq" not in line:
        return Finding("database_rolled_back", "anchor file", f"line {line.get('line')} is not a seal record")
    found = held.get(line["seq"])
    where = f"ledger, seal {line['seq']}"
    if found is None:
        return Finding("database_rolled_back", where, f"sealed at {line.get('sealed_at')} and written to the anchor "
                       "file, it is not in the database: the database was restored to an earlier point",
                       seal=line["seq"])
    if found.hash != line.get("hash"):
        return Finding("database_rolled_back", where, "differs from the seal written to the anchor file",
                       seal=line["seq"])
    return None


def verify_access_log(session: Session, report: Report, sealed: tuple[int, str] | None) -> None:
    rows = list(session.exec(select(AuditAccess).order_by(AuditAccess.seq)).scalars().all())  # type: ignore[call-overload,arg-type]
    report.reads = len(rows)
    broken = access_log.verify_log(rows)
    if broken is not None:
        report.findings.append(Finding("access_log_altered", f"access log, read {broken.seq}", broken.reason))
        return
    if sealed is not None and sealed[0] > 0:
        seq, head = sealed
        if len(rows) < seq or rows[seq - 1].hash != head:  # rows are 1..n here: the chain above held
            report.findings.append(Finding("access_log_altered", f"access log, read {seq}",
                                           f"sealed at read {seq}, the log now has {len(rows)} reads "
                                           "and not that one: reads were removed or rewritten"))


def verify_drawers(session: Session, report: Report) -> None:
    """Each cashier session's own chain (engine/payments/drawer.py): its links and its recorded head; and the
    heads the ledger sealed (leaf -<session id>): still there, as sealed (a drawer session deleted, or its last
    events removed with its head, keeps a valid chain of its own)."""
    by_session: dict[int, list[Any]] = {}
    for ev in session.execute(select(CashierEvent).order_by(col(CashierEvent.session_id),
                                                               col(CashierEvent.seq))).scalars():
        by_session.setdefault(ev.session_id, []).append(ev)
    copying: set[int] = set()  # the drawers of center nodes still being copied (``report.copying``)
    for drawer in session.execute(select(CashierSession).order_by(col(CashierSession.id))).scalars():
        assert drawer.id is not None
        if drawer.node in report.copying:
            copying.add(drawer.id)
            continue
        report.drawers += 1
        reason = drawers.broken_link(drawer, by_session.get(drawer.id, []))
        if reason is not None:
            report.findings.append(Finding("drawer_altered", f"cashier session {drawer.id} ({drawer.cashier})",
                                           reason))
    sealed: dict[int, Any] = {}
    for leaf in session.connection().execute(select(_LEAVES).where(_LEAVES.c.case_id < ledger.ACCESS_LOG_LEAF)
                                             .order_by(_LEAVES.c.seal_seq)):
        sealed[-leaf.case_id] = leaf  # the latest seal of each drawer
    report.findings.extend(_drawer_heads({k: v for k, v in sealed.items() if k not in copying}, by_session))


def _drawer_heads(sealed: dict[int, Any], by_session: dict[int, list[Any]], seal_of: str = "seal",
                  chain: str = "the drawer's chain") -> Iterator[Finding]:
    """Each drawer head ``sealed`` (the latest leaf of each session, by its id) still in the session's events."""
    for session_id, leaf in sorted(sealed.items()):
        events = by_session.get(session_id, [])
        if len(events) < leaf.audit_seq or (leaf.audit_seq and events[leaf.audit_seq - 1].hash != leaf.audit_head):
            yield Finding("drawer_altered", f"cashier session {session_id}, event {leaf.audit_seq}",
                          f"sealed in {seal_of} {leaf.seal_seq} at event {leaf.audit_seq}; {chain} now has "
                          f"{len(events)} events and not that one")


def _pins(session: Session) -> dict[int, list[ledger.Pin]]:
    """The center nodes' seals each of this node's seals pinned (central), by its seq."""
    out: dict[int, list[ledger.Pin]] = {}
    for row in session.connection().execute(select(_PINS).order_by(_PINS.c.seal_seq, _PINS.c.node)):
        out.setdefault(row.seal_seq, []).append((row.node, row.node_seq, row.node_hash))
    return out


def verify_nodes(session: Session, report: Report) -> None:
    """Each center node's seals as they reached this node (``node_seal``, central; docs/center-nodes.md "Audit across
    nodes"): its chain of seals (seq without gaps, links, hashes, one key, its signatures, leaves and Merkle roots),
    the seals this node's own seals pinned still there as pinned, and every head the center node sealed still in
    this node's copy of its case's chain (or its drawer's). A center node checks its own copy against its seals."""
    conn = session.connection()
    pinned: dict[str, list[tuple[int, int, str]]] = {}
    for seal_seq, pins in sorted(_pins(session).items()):
        for node, node_seq, node_hash in pins:
            pinned.setdefault(node, []).append((seal_seq, node_seq, node_hash))
    own = nodes.own_code(session)
    for node in sorted(set(ledger.sealing_nodes(session)) | set(pinned)):
        if node in report.copying:
            continue
        if node == own:
            _own_copy(session, node, report)
            _node_chain(session, node, report, noted=False)  # the copies' leaves too
            continue
        held = {row.seq: row.hash for row in conn.execute(
            select(_NODE_SEALS.c.seq, _NODE_SEALS.c.hash).where(_NODE_SEALS.c.node == node))}
        for seal_seq, node_seq, node_hash in pinned.get(node, []):
            if held.get(node_seq) != node_hash:
                state = "is no longer here" if node_seq not in held else "was changed since"
                report.findings.append(Finding("node_ledger_edited", f"center node {node}, seal {node_seq}",
                                               f"pinned by this node's seal {seal_seq}, it {state}", seal=node_seq))
                break
        good = _node_chain(session, node, report)
        if good is None:
            continue  # the first broken link is named; what it sealed cannot be trusted
        named = {f.case_id for f in report.findings if f.case_id is not None}
        report.findings.extend(_sealed_heads(session, named, node, good))
        report.findings.extend(_node_drawers(session, node, good))


def _node_chain(session: Session, node: str, report: Report, *, noted: bool = True) -> int | None:
    """Center node ``node``'s chain of seals; its last seq (0: none), or None when a link is broken (named).
    ``noted``: its latest seal goes into the report's ``node_seals``."""
    expected, prev, key = 1, audit.GENESIS, None
    for entry, roots, own in ledger.folded_node(session, node):
        if noted:
            report.node_seals[node] = (entry.seq, entry.sealed_at)
        problem = _seal_problem(entry, roots, own, expected, prev, {entry.public_key})
        if problem is None and key is not None and entry.public_key != key:
            problem = (f"signed with key {entry.public_key[:16]}…, not the key of the node's seal {entry.seq - 1} "
                       f"({key[:16]}…)")
        if problem is not None:
            report.findings.append(Finding("node_ledger_edited", f"center node {node}, seal {entry.seq}", problem,
                                           seal=entry.seq))
            return None
        expected, prev, key = expected + 1, entry.hash, entry.public_key
    return expected - 1


def _node_drawers(session: Session, node: str, up_to: int) -> Iterator[Finding]:
    """The drawer heads center node ``node`` sealed, still in this node's copy of each drawer's chain."""
    drawers_leaves = (_NODE_LEAVES.c.node == node, _NODE_LEAVES.c.seal_seq <= up_to,
                      _NODE_LEAVES.c.case_id < ledger.ACCESS_LOG_LEAF)
    sealed: dict[int, Any] = {}
    for leaf in session.connection().execute(select(_NODE_LEAVES).where(*drawers_leaves)
                                             .order_by(_NODE_LEAVES.c.seal_seq)):
        sealed[-leaf.case_id] = leaf  # the latest seal of each drawer
    if not sealed:
        return
    by_session: dict[int, list[Any]] = {}
    of_sealed = select(-_NODE_LEAVES.c.case_id).where(*drawers_leaves)
    for ev in session.execute(select(CashierEvent).where(col(CashierEvent.session_id).in_(of_sealed))
                              .order_by(col(CashierEvent.session_id), col(CashierEvent.seq))).scalars():
        by_session.setdefault(ev.session_id, []).append(ev)
    yield from _drawer_heads(sealed, by_session, f"center node {node}'s seal", "the drawer's chain here")


def _own_copy(session: Session, node: str, report: Report) -> None:
    """On a center node: its seals' copies for central (``node_seal``) are its seals as they are."""
    conn = session.connection()
    mine = {row.seq: row.hash for row in conn.execute(select(_SEALS.c.seq, _SEALS.c.hash))}
    for row in conn.execute(select(_NODE_SEALS.c.seq, _NODE_SEALS.c.hash).where(_NODE_SEALS.c.node == node)
                            .order_by(_NODE_SEALS.c.seq)):
        if mine.get(row.seq) != row.hash:
            report.findings.append(Finding("node_ledger_edited", f"center node {node}, seal {row.seq}",
                                           "the copy for central is not this node's seal", seal=row.seq))
            return


def _one_snapshot(session: Session) -> None:
    """Verify reads in many statements; each sees what the previous one saw (a seal committed meanwhile by the
    periodic round, or a center node's that replication applies, is not a seal whose leaves or pins are missing).
    PostgreSQL: one REPEATABLE READ, read-only transaction. SQLite: one read transaction (the driver opens none
    for a SELECT by itself); in WAL mode it keeps its snapshot while writers commit."""
    session.rollback()
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ", "postgresql_readonly": True})
    else:
        session.connection().exec_driver_sql("BEGIN")


def _copying(session: Session) -> list[str]:
    """At central (PostgreSQL): the center nodes whose subscription has a table not copied and followed yet."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql" or storage_nodes.role_of_engine(bind.engine)[0] != "central":
        return []
    prefix = replication.SUBSCRIPTION_PREFIX
    names = session.connection().execute(text(
        "SELECT DISTINCT s.subname FROM pg_subscription_rel r JOIN pg_subscription s ON s.oid = r.srsubid "
        "WHERE r.srsubstate <> 'r' AND s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )).scalars()
    return sorted(name[len(prefix):] for name in names if name.startswith(prefix))


def verify_all(*, session: Session, settings: Settings) -> Report:
    """Everything above, in one read-only pass over one snapshot of the database. Writes nothing."""
    report = Report()
    anchored = ledger.anchored(settings)  # before the snapshot: every seal written there is committed in it
    try:
        _one_snapshot(session)
        report.copying = _copying(session)
        broken = verify_cases(session, report)
        final = verify_ledger(session, settings, report, broken, anchored).get(ledger.ACCESS_LOG_LEAF)
        verify_access_log(session, report, (final[1], final[2]) if final else None)
        verify_drawers(session, report)
        verify_nodes(session, report)
    finally:
        session.rollback()
    return report
