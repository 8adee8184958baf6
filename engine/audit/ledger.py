"""The ledger: every so often, one signed entry that seals the chain heads of all cases at once.

A case's own chain shows an event edited, removed, inserted or reordered. It cannot show a whole case deleted,
nor its last events removed together with the case's head (a chain rolled back is still a valid chain). A seal
can: it is a Merkle root over ``(case id, tracking number, audit_seq, audit_head)`` of every case (and of the
access log's head, as leaf 0, and of each cashier's drawer session's head, as leaf -<session id>), chained to
the previous seal and signed with the installation's key.

Only the leaves that changed since the previous seal are stored (``audit_seal_leaf``); folding them seal by
seal gives back each seal's full set, whose root must be the recorded one. ``verify`` then checks that every
sealed head is still where it was: the case exists, its chain reaches that ``audit_seq``, and the event there
has that hash. A seal is also appended to the anchor file (``settings.anchor_file``), outside the database, so
a database restored to before a seal is noticed as well.

Across nodes (docs/center-nodes.md "Audit across nodes"): a center node copies each of its seals and their leaves,
in the sealing transaction, to ``node_seal`` and ``node_seal_leaf``, which replicate to central. Central's seal
pins every center node's latest seal held there (``audit_seal_node``; their digest is the seal's ``nodes``, covered
by its hash), so a center node's seal changed after central sealed is found at central, and central's verify
checks each center node's seals and the heads they sealed against its own copy of the center's cases.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from engine.audit import access_log, signing
from engine.core import clock, nodes
from engine.core.chain import GENESIS
from engine.core.errors import Conflict
from engine.core.settings import Settings
from storage.db import write_lock
from storage.models.audit import AuditSeal, AuditSealLeaf, AuditSealNode, NodeSeal, NodeSealLeaf
from storage.models.base import tables
from storage.models.cases import Case
from storage.models.payments import CashierSession

ACCESS_LOG_LEAF = 0  # the access log's head is sealed as the leaf of "case" 0 (case ids start at 1)
# A cashier's drawer session's chain head (engine/payments/drawer.py) is sealed as the leaf of "case" -<its id>.
_SEALS, _LEAVES, _CASES, _DRAWERS = tables(AuditSeal, AuditSealLeaf, Case, CashierSession)
_PINS, _NODE_SEALS, _NODE_LEAVES = tables(AuditSealNode, NodeSeal, NodeSealLeaf)

Leaf = tuple[str, int, str]  # (tracking number, audit_seq, audit_head)


def leaf_hash(case_id: int, leaf: Leaf) -> bytes:
    tracking, seq, head = leaf
    return hashlib.sha256(b"\x00" + f"{case_id}|{tracking}|{seq}|{head}".encode()).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


_EMPTY = hashlib.sha256(b"").digest()


def _parents(level: list[bytes]) -> list[bytes]:
    return [_node(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]


def merkle_root(hashes: list[bytes]) -> str:
    """Root of the tree over ``hashes`` (in case id order): pairs hashed level by level, an odd one carried up."""
    level = hashes or [_EMPTY]
    while len(level) > 1:
        level = _parents(level)
    return level[0].hex()


class MerkleTree:
    """The same tree as :func:`merkle_root`, kept level by level so that changing or appending a leaf costs
    one path (log n hashes), not the whole tree: a year of daily seals over 100,000 cases stays cheap."""

    def __init__(self, hashes: list[bytes] | None = None) -> None:
        self.levels = [list(hashes or [])]
        while len(self.levels[-1]) > 1:
            self.levels.append(_parents(self.levels[-1]))

    def set(self, index: int, value: bytes) -> None:
        """Change leaf ``index``, or append it when ``index`` is the number of leaves."""
        leaves = self.levels[0]
        if index == len(leaves):
            leaves.append(value)
        else:
            leaves[index] = value
        level = 0
        while len(self.levels[level]) > 1:
            if level + 1 == len(self.levels):
                self.levels.append([])
            below, above, parent = self.levels[level], self.levels[level + 1], index // 2
            pair = _node(below[2 * parent], below[2 * parent + 1]) if 2 * parent + 1 < len(below) else below[2 * parent]
            if parent < len(above):
                above[parent] = pair
            else:
                above.append(pair)
            index, level = parent, level + 1
        del self.levels[level + 1:]

    def root(self) -> str:
        return self.levels[-1][0].hex() if self.levels[0] else _EMPTY.hex()


class Roots:
    """Successive leaf sets and their roots: leaves change in place; new cases (larger ids) append."""

    def __init__(self) -> None:
        self.leaves: dict[int, Leaf] = {}
        self._order: list[int] = []
        self._index: dict[int, int] = {}
        self._tree = MerkleTree()

    def update(self, changes: dict[int, Leaf]) -> None:
        rebuild = False
        for case_id in sorted(changes):
            self.leaves[case_id] = changes[case_id]
            position = self._index.get(case_id)
            if position is None:
                if self._order and case_id < self._order[-1]:
                    rebuild = True  # committed after a later case was sealed: its place is inside the tree
                    continue
                position = self._index[case_id] = len(self._order)
                self._order.append(case_id)
            if not rebuild:
                self._tree.set(position, leaf_hash(case_id, changes[case_id]))
        if rebuild:
            self._order = sorted(self.leaves)
            self._index = {case_id: i for i, case_id in enumerate(self._order)}
            self._tree = MerkleTree([leaf_hash(case_id, self.leaves[case_id]) for case_id in self._order])

    def root(self) -> str:
        return self._tree.root()


def merkle_proof(hashes: list[bytes], index: int) -> list[list[str]]:
    """The siblings from leaf ``index`` up to the root, as ``[["L"|"R", hex], ...]``."""
    proof: list[list[str]] = []
    level = hashes
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append(["L" if sibling < index else "R", level[sibling].hex()])
        level = [_node(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        index //= 2
    return proof


def root_from_proof(leaf: bytes, proof: list[list[str]]) -> str:
    current = leaf
    for side, sibling in proof:
        other = bytes.fromhex(sibling)
        current = _node(other, current) if side == "L" else _node(current, other)
    return current.hex()


def seal_hash(*, seq: int, sealed_at: str, case_count: int, leaf_count: int, root: str, prev_hash: str,
              public_key: str, nodes: str = "") -> str:
    """The seal's hash; ``nodes`` (the center nodes' seals it pins, :func:`pins_digest`) only when there are any, so
    a seal that pins none hashes as every seal did before center nodes."""
    fields: dict[str, Any] = {"seq": seq, "sealed_at": sealed_at, "case_count": case_count,
                              "leaf_count": leaf_count, "root": root, "prev_hash": prev_hash, "public_key": public_key}
    if nodes:
        fields["nodes"] = nodes
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def hash_of(seal: Any) -> str:
    """The hash of a seal's row: this node's (``AuditSeal``) or a center node's copy (``NodeSeal``)."""
    return seal_hash(seq=seal.seq, sealed_at=seal.sealed_at, case_count=seal.case_count, leaf_count=seal.leaf_count,
                     root=seal.root, prev_hash=seal.prev_hash, public_key=seal.public_key, nodes=seal.nodes or "")


Pin = tuple[str, int, str]  # a center node's seal pinned by central's: (node, its seq, its hash)


def pins_digest(pins: list[Pin]) -> str:
    """What a seal's ``nodes`` records of the center nodes' seals it pins ("" for none)."""
    if not pins:
        return ""
    body = json.dumps(sorted([node, seq, hash_] for node, seq, hash_ in pins), separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def latest_node_seals(session: Session, *, but: str | None) -> list[Pin]:
    """Each center node's latest seal held here (``node_seal``), but node ``but``'s (this node's own copy)."""
    latest = (select(_NODE_SEALS.c.node, func.max(_NODE_SEALS.c.seq).label("seq"))
              .group_by(_NODE_SEALS.c.node).subquery())
    query = (select(_NODE_SEALS.c.node, _NODE_SEALS.c.seq, _NODE_SEALS.c.hash)
             .join(latest, and_(latest.c.node == _NODE_SEALS.c.node, latest.c.seq == _NODE_SEALS.c.seq))
             .order_by(_NODE_SEALS.c.node))
    return [(row.node, row.seq, row.hash) for row in session.connection().execute(query) if row.node != but]


def _copy_for_central(session: Session, node: str) -> None:
    """This center node's seals and their leaves not copied to ``node_seal`` yet (the one being written, and those
    of a node sealed before its copies began), copied as they are: replicated, central checks them."""
    conn = session.connection()
    copied = conn.execute(select(func.coalesce(func.max(_NODE_SEALS.c.seq), 0))
                          .where(_NODE_SEALS.c.node == node)).scalar_one()
    seal_columns = ["seq", "sealed_at", "case_count", "leaf_count", "root", "prev_hash", "hash", "public_key",
                    "signature", "nodes"]
    conn.execute(insert(_NODE_SEALS).from_select(
        ["node", *seal_columns], select(literal(node), *(_SEALS.c[name] for name in seal_columns))
        .where(_SEALS.c.seq > copied)))
    leaf_columns = ["seal_seq", "case_id", "tracking_number", "audit_seq", "audit_head"]
    conn.execute(insert(_NODE_LEAVES).from_select(
        ["node", *leaf_columns], select(literal(node), *(_LEAVES.c[name] for name in leaf_columns))
        .where(_LEAVES.c.seal_seq > copied)))


def seals(session: Session) -> list[AuditSeal]:
    return list(session.exec(select(AuditSeal).order_by(_SEALS.c.seq)).scalars().all())  # type: ignore[call-overload]


def folded(session: Session) -> Iterator[tuple[AuditSeal, Roots, int]]:
    """Each seal in order with its full set of leaves (and root) as of it, and how many leaf rows it has itself.

    The ``Roots`` object is the same one throughout, updated seal by seal."""
    rows = session.connection().execute(select(_LEAVES).order_by(_LEAVES.c.seal_seq)).all()
    yield from _fold(seals(session), rows)


def folded_node(session: Session, node: str) -> Iterator[tuple[Any, Roots, int]]:
    """:func:`folded` for center node ``node``'s seals as they reached this node (``node_seal``)."""
    conn = session.connection()
    entries = conn.execute(select(_NODE_SEALS).where(_NODE_SEALS.c.node == node).order_by(_NODE_SEALS.c.seq)).all()
    rows = conn.execute(select(_NODE_LEAVES).where(_NODE_LEAVES.c.node == node)
                        .order_by(_NODE_LEAVES.c.seal_seq)).all()
    yield from _fold(entries, rows)


def sealing_nodes(session: Session) -> list[str]:
    """The center nodes whose seals this node holds (``node_seal``)."""
    query = select(_NODE_SEALS.c.node).distinct().order_by(_NODE_SEALS.c.node)
    return list(session.connection().execute(query).scalars())


def _fold(entries: Any, rows: Any) -> Iterator[tuple[Any, Roots, int]]:
    roots = Roots()
    by_seal: dict[int, dict[int, Leaf]] = {}
    for row in rows:
        by_seal.setdefault(row.seal_seq, {})[row.case_id] = (row.tracking_number, row.audit_seq, row.audit_head)
    for entry in entries:
        own = by_seal.get(entry.seq, {})
        roots.update(own)
        yield entry, roots, len(own)


def root_of(leaves: dict[int, Leaf]) -> str:
    return merkle_root([leaf_hash(case_id, leaves[case_id]) for case_id in sorted(leaves)])


def _current(session: Session) -> dict[int, Leaf]:
    rows = session.connection().execute(select(_CASES.c.id, _CASES.c.tracking_number, _CASES.c.audit_seq,
                                               _CASES.c.audit_head)).all()
    out: dict[int, Leaf] = {row.id: (row.tracking_number, row.audit_seq, row.audit_head) for row in rows}
    seq, head = access_log.head(session)
    out[ACCESS_LOG_LEAF] = ("access-log", seq, head)
    for row in session.connection().execute(select(_DRAWERS.c.id, _DRAWERS.c.audit_seq, _DRAWERS.c.audit_head)):
        out[-row.id] = (f"drawer-{row.id}", row.audit_seq, row.audit_head)
    return out


@dataclass(frozen=True)
class Sealed:
    seal: AuditSeal
    changed: int


def seal(*, session: Session, settings: Settings) -> Sealed:
    """Seal the chain heads of every case now; one commit. Cases deleted since the last seal keep their leaf."""
    sealed = _seal(session, settings, unless_younger_than=None)
    assert sealed is not None
    return sealed


def _seal(session: Session, settings: Settings, *, unless_younger_than: timedelta | None) -> Sealed | None:
    """``seal``; with ``unless_younger_than``, nothing (None) when the last seal, read in the sealing transaction
    itself, is younger than that: a process that found the seal due, then lost the race to another one that
    sealed meanwhile, does not seal a second time (the seal's unique ``seq`` settles two that read the same last
    seal: one commits, the other gets Conflict)."""
    key = signing.installation_key(settings)
    session.rollback()
    with write_lock(session):
        previous: AuditSeal | None = None
        roots = Roots()
        for entry, roots, _own in folded(session):  # noqa: B007 - the last seal and its leaves are wanted
            previous = entry
        if (unless_younger_than is not None and previous is not None
                and clock.parse(previous.sealed_at) + unless_younger_than > clock.now()):
            session.rollback()
            return None
        now = _current(session)
        changed = {case_id: leaf for case_id, leaf in now.items() if roots.leaves.get(case_id) != leaf}
        roots.update(changed)
        seq = (previous.seq if previous else 0) + 1
        at = clock.iso(clock.now())
        values: dict[str, Any] = {
            "seq": seq, "sealed_at": at, "case_count": sum(1 for key in roots.leaves if key > 0),
            "leaf_count": len(changed), "root": roots.root(),
            "prev_hash": previous.hash if previous else GENESIS, "public_key": signing.public_hex(key)}
        own = nodes.own_code(session)
        pins = latest_node_seals(session, but=own)  # at central: every center node's latest seal
        values["nodes"] = pins_digest(pins)
        values["hash"] = seal_hash(**values)
        values["signature"] = signing.sign(key, values["hash"].encode("ascii"))
        conn = session.connection()
        try:  # another process's seal of the same seq, committed first, fails the insert (or the commit)
            conn.execute(insert(_SEALS), [values])
            if changed:
                conn.execute(insert(_LEAVES), [{"seal_seq": seq, "case_id": case_id, "tracking_number": leaf[0],
                                                "audit_seq": leaf[1], "audit_head": leaf[2]}
                                               for case_id, leaf in changed.items()])
            if pins:
                conn.execute(insert(_PINS), [{"seal_seq": seq, "node": node, "node_seq": node_seq,
                                              "node_hash": hash_} for node, node_seq, hash_ in pins])
            if own is not None:
                _copy_for_central(session, own)
            session.commit()
        except IntegrityError as exc:
            session.rollback()
            raise Conflict("audit.seal_at_same_moment") from exc
    entry = AuditSeal(**values)
    _anchor(settings, entry)
    return Sealed(entry, len(changed))


def seal_if_due(*, session: Session, settings: Settings) -> Sealed | None:
    """Seal when the last seal is older than ``seal_interval_hours`` (the periodic tick calls this)."""
    last = session.exec(select(AuditSeal).order_by(_SEALS.c.seq.desc()).limit(1)).scalars().first()  # type: ignore[call-overload]
    session.rollback()
    due = timedelta(hours=settings.seal_interval_hours)
    if last is not None and clock.parse(last.sealed_at) + due > clock.now():
        return None
    try:
        # The due check again inside the sealing transaction: two rounds that overlap (a turn lost and taken
        # by another process, docs/operations.md) seal once.
        return _seal(session, settings, unless_younger_than=due)
    except Conflict:
        return None  # another process sealed first


def _anchor(settings: Settings, entry: AuditSeal) -> None:
    path = settings.anchor_file
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"seq": entry.seq, "sealed_at": entry.sealed_at, "hash": entry.hash, "root": entry.root,
                       "case_count": entry.case_count}, sort_keys=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def anchored(settings: Settings) -> list[dict[str, Any]]:
    """The seals written to the anchor file, oldest first (none when there is no file)."""
    path = settings.anchor_file
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"line": number, "unreadable": line[:80]})
    return out
