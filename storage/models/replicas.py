"""What a center node has copied to central (docs/center-nodes.md): the stored objects of its documents."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from storage.models.base import _ts, utcnow


class CopiedObject(SQLModel, table=True):
    """One stored object (a scan, an issued document) written at this center node and copied to central's store,
    checked against its recorded SHA-256 on the way. Local to the node (storage/nodes.py): central's copy is
    the proof, this row only spares the next round the work."""

    __tablename__ = "copied_object"

    storage_key: str = Field(primary_key=True, max_length=255)
    sha256: str = Field(max_length=64)
    copied_at: datetime = _ts(default_factory=utcnow)


class NodeLink(SQLModel, table=True):
    """What this node last heard through one of its subscriptions (a center node: from central; central: from
    each center node), written by the ``node_link`` job from PostgreSQL's own statistics. Local to the node:
    ``down_since`` survives a restart of the node during a cut, when PostgreSQL's statistics start empty."""

    __tablename__ = "node_link"

    name: str = Field(primary_key=True, max_length=63)  # the subscription's name
    heard_at: datetime | None = _ts(default=None, nullable=True)
    down_since: datetime | None = _ts(default=None, nullable=True)
    checked_at: datetime = _ts(default_factory=utcnow)
