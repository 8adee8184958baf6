"""The audit trail: hash-chained events, the ledger's seals and their leaves, and the access log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.models.base import _big


# The other hash chains' links are laid out like this one on purpose and kept apart in tables of their own
# (UserEvent in storage/models/accounts.py, AssignmentRuleEvent in storage/models/assignment.py; ChainLink in
# storage/models/base.py for the newer ones): no table mixes two owners' chains.
class AuditEvent(SQLModel, table=True):
    """One link of a case's hash chain. Rows are only ever inserted."""

    __tablename__ = "audit_event"
    __table_args__ = (UniqueConstraint("case_id", "seq"),)

    id: int | None = _big(default=None, primary_key=True)
    case_id: int = _big(foreign_key="case_file.id")
    seq: int
    at: str = Field(max_length=40)
    actor: str = Field(max_length=64)
    kind: str = Field(max_length=40)
    task: str | None = Field(default=None, max_length=255)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # What the command left behind, on the last event it wrote: SHA-256 of the stored state and of the data,
    # status, outcome and ready tasks (engine/core/chain.py ``after_of``). Covered by the hash when present.
    after: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class SealBody(SQLModel):
    """The columns of a seal that its hash and signature cover (engine/audit/ledger.py ``hash_of``), besides its
    ``seq``: this node's seal (``AuditSeal``) and a center node's copy of its own (``NodeSeal``) hold the same."""

    sealed_at: str = Field(max_length=40)
    case_count: int
    # Leaves recorded with this seal: the cases opened or moved on since the previous seal.
    leaf_count: int
    root: str = Field(max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    public_key: str = Field(max_length=64)
    signature: str = Field(max_length=128)
    # At central: the SHA-256 of the center nodes' latest seals this seal pins (``AuditSealNode``), covered by
    # the hash; "" when it pins none (a single node, a center node, central before any center node sealed).
    nodes: str = Field(default="", max_length=64, sa_column_kwargs={"server_default": ""})


class AuditSeal(SealBody, table=True):
    """One entry of the ledger: a Merkle root over the chain heads of every case at the moment of sealing.

    Entries are chained (``prev_hash``) and signed with the installation's key (engine/audit/ledger.py)."""

    __tablename__ = "audit_seal"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)


class AuditSealNode(SQLModel, table=True):
    """A center node's latest seal (``NodeSeal``) as central's seal ``seal_seq`` saw it: every center node's, at
    each of central's seals. Its rows give that seal's ``nodes``, so a center's seal changed after central pinned
    it is found at central (engine/audit/verify.py)."""

    __tablename__ = "audit_seal_node"

    seal_seq: int = Field(primary_key=True)
    node: str = Field(primary_key=True, max_length=32)
    node_seq: int
    node_hash: str = Field(max_length=64)


class NodeSeal(SealBody, table=True):
    """A center node's seal (``AuditSeal``) as the node sealed it, written with it in one transaction and
    replicated to central, where ``shubbak audit verify`` checks each center node's chain of seals, and the heads
    they sealed against central's copy of the center's cases (docs/center-nodes.md "Audit across nodes")."""

    __tablename__ = "node_seal"

    node: str = Field(primary_key=True, max_length=32)
    seq: int = Field(primary_key=True)


class NodeSealLeaf(SQLModel, table=True):
    """A center node's seal's leaf (``AuditSealLeaf``), replicated to central with its seal."""

    __tablename__ = "node_seal_leaf"

    node: str = Field(primary_key=True, max_length=32)
    seal_seq: int = Field(primary_key=True)
    case_id: int = _big(primary_key=True)
    tracking_number: str = Field(max_length=32)
    audit_seq: int
    audit_head: str = Field(max_length=64)


class AuditSealLeaf(SQLModel, table=True):
    """A case's chain head as a seal saw it, written with the first seal after the case moved.

    No foreign key to the case: the leaf must outlive a deleted case, to name it."""

    __tablename__ = "audit_seal_leaf"

    seal_seq: int = Field(primary_key=True)
    case_id: int = _big(primary_key=True)
    tracking_number: str = Field(max_length=32)
    audit_seq: int
    audit_head: str = Field(max_length=64)


class AuditAccess(SQLModel, table=True):
    """One auditor's read (a search, a case, its events, a replay, its history, an export).

    An append-only hash chain of its own, kept apart from the cases' chains: a read must never conflict with
    a clerk's write nor change a case's version (docs/auditor-guide.md)."""

    __tablename__ = "audit_access"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)
    at: str = Field(max_length=40)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=40)
    case_id: int | None = _big(default=None, index=True)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
