"""What this node may do to a case, and what only central does (docs/center-nodes.md "What each side may do").

A case belongs to one node (``case_file.node``, storage/nodes.py): the center node that opened it (its center's
code), else (NULL) the node it was opened on when that is central or the only one. Every write of a case happens
on its owner: any other node refuses it (``node.case_elsewhere``, naming the owner), and its background work
(timers, the outbox, deliveries, escalations, incident retries, reminders, sweeps) selects only its own cases
(:func:`owned`). A center node writes none of central's tables (users, the catalog, centers' set-up): the storage
guard refuses the statement (storage/nodes.py), and the faces say it as ``node.central_only``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from engine.core.errors import Conflict
from engine.core.refusals import Words
from engine.core.settings import Settings
from storage import nodes
from storage.models.cases import Case
from storage.models.centers import Center


class CaseElsewhere(Conflict):
    """A write to a case another node owns: it is done there (409)."""


class TicketElsewhere(Conflict):
    """A hall ticket another node issued, acted on here: its counters act on it there (409)."""


class CentralOnly(Conflict):
    """Something only the governorate's node does, asked of a center node (409)."""


def _role(bind: Session | Connection) -> tuple[str, str | None]:
    engine = bind.get_bind() if isinstance(bind, Session) else bind
    return nodes.role_of_engine(engine.engine)


def own_code(bind: Session | Connection) -> str | None:
    """The code of the center node this database is (None: central or a single node)."""
    return _role(bind)[1]


def owned(column: Any, node: str | None) -> ColumnElement[bool]:
    """The rows of the cases this node owns, by their ``node`` column: ``node IS NULL`` on central or a single
    node (``node`` None), ``node = <its center's code>`` on a center node. Every background selection of cases
    (or of rows that carry their case's node) takes this condition."""
    return column.is_(None) if node is None else column == node


def mine(column: Any, settings: Settings) -> ColumnElement[bool]:
    """:func:`owned` for this node, by its settings (``node_center``)."""
    return owned(column, settings.node_center)


def of_my_cases(case_id: Any, node: str | None) -> ColumnElement[bool]:
    """The rows of a table without a ``node`` of its own whose case (``case_id``) this node owns."""
    cases = Case.__table__.c  # type: ignore[attr-defined]
    return case_id.in_(select(cases.id).where(owned(cases.node, node)))  # type: ignore[no-any-return]


def is_mine(case_node: str | None, node: str | None) -> bool:
    return case_node == node


def refuse_elsewhere(session: Session | Connection, case_node: str | None) -> None:
    """CaseElsewhere (409 ``node.case_elsewhere``, naming the owning node) when a case whose ``node`` is
    ``case_node`` is not this node's."""
    if case_node != own_code(session):
        raise CaseElsewhere("node.case_elsewhere", owner=_owner_words(session, case_node))


def owner_of(session: Session | Connection, case_node: str | None) -> Words | None:
    """The node that owns a case whose ``node`` is ``case_node``, in both languages, when it is not this one
    (None: the case is this node's)."""
    return None if case_node == own_code(session) else _owner_words(session, case_node)


def _owner_words(session: Session | Connection, code: str | None) -> Words:
    if code is None:
        return Words("the governorate's node", "عقدة المحافظة")
    conn = session.connection() if isinstance(session, Session) else session
    centers = Center.__table__.c  # type: ignore[attr-defined]
    row = conn.execute(select(centers.name_en, centers.name_ar).where(centers.code == code)).first()
    if row is None:
        return Words(f"the node of center {code}", f"عقدة المركز {code}")
    return Words(f"the node of {row.name_en} ({code})", f"عقدة {row.name_ar} ({code})")


def block_owner(session: Session | Connection, row_id: int) -> str | None:
    """The node that drew ``row_id`` from its block of ids (storage/nodes.py ``ID_BLOCK``): None for central's
    block (and a single node's), else the code of the center whose id names the block."""
    block = row_id // nodes.ID_BLOCK
    if block == 0:
        return None
    conn = session.connection() if isinstance(session, Session) else session
    centers = Center.__table__.c  # type: ignore[attr-defined]
    code = conn.execute(select(centers.code).where(centers.id == block)).scalar()
    return str(code) if code is not None else f"#{block}"


def issued_by(session: Session | Connection, node: str | None, row_id: int) -> str | None:
    """The node that wrote a row of a table that records it (``node``, filled in by the insert, storage/nodes.py
    ``written_here``): a row without one (a center node's, written before its node was upgraded to record it)
    is its block's (:func:`block_owner`)."""
    return node if node is not None else block_owner(session, row_id)


def issued_here(node_column: Any, id_column: Any, session: Session | Connection) -> ColumnElement[bool] | None:
    """The rows :func:`issued_by` this node, as a condition: on central, those of no node in central's block; on a
    center node, those of its code. None on a single node: every row is its own."""
    role, code = _role(session)
    if role == "single":
        return None
    if code is None:
        return and_(node_column.is_(None), id_column < nodes.ID_BLOCK)
    return node_column == code  # type: ignore[no-any-return]


def refuse_ticket_elsewhere(session: Session | Connection, ticket: Any) -> None:
    """TicketElsewhere (409 ``node.ticket_elsewhere``, naming the node) when another node issued the hall's
    ``ticket`` (by its ``node`` and id): that node's counters call, recall, serve, finish and transfer it, and a
    change made here would be overwritten by its next one when it replicates."""
    owner = issued_by(session, ticket.node, ticket.id)
    if owner != own_code(session):
        raise TicketElsewhere("node.ticket_elsewhere", owner=_owner_words(session, owner))


def center_id_of(session: Session, code: str) -> int:
    """The id of center node ``code``'s own center (central's row, replicated): refused (409
    ``node.center_not_known``) while the center is not among the centers yet."""
    centers = Center.__table__.c  # type: ignore[attr-defined]
    found = session.connection().execute(select(centers.id).where(centers.code == code)).scalar()
    if found is None:
        raise Conflict("node.center_not_known", code=code)
    return int(found)


def is_single(bind: Session | Connection) -> bool:
    """A single installation: neither central nor a center node (no other node's rows are ever here)."""
    return _role(bind)[0] == "single"


def is_center(bind: Session | Connection) -> bool:
    return _role(bind)[0] == "center"


def require_central(bind: Session | Connection) -> None:
    """CentralOnly (409 ``node.central_only``) on a center node: deploys, users, centers' set-up are done at the
    governorate's node and reach this one by replication."""
    if is_center(bind):
        raise CentralOnly("node.central_only")


def central_only(exc: nodes.CentralOnly) -> CentralOnly:
    """The refusal the faces give for the storage guard's (storage/nodes.py)."""
    return CentralOnly("node.central_only")
