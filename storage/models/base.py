"""What the tables share: the time stamp columns, a hash chain link's columns, and the way to a model's Core
table. Only engine commands write the tables (see docs/architecture.md); each domain's tables live in their own
module of this package."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, Table
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class
from sqlmodel import Field, SQLModel

M = TypeVar("M", bound=SQLModel)


def utcnow() -> datetime:
    return datetime.now(UTC)


def table(model: type[SQLModel]) -> Table:
    """The model's Core table, for set-based statements (``insert``, ``update``, joins on columns)."""
    return model.__table__  # type: ignore[attr-defined]


def tables(*models: type[SQLModel]) -> tuple[Table, ...]:
    """The models' Core tables, in order: ``_CASES, _TASKS = tables(Case, Task)``."""
    return tuple(table(model) for model in models)


def made(model: type[M], values: Mapping[str, Any]) -> M:
    """What ``model(**values)`` makes of a table model, transient (in no session), without its ``__init__``'s trip
    through the ORM's instrumentation for each field: for objects that are only read, never added to a session
    (an event built to be inserted by a Core statement, a row returned to a face). The fields given count as set,
    the others take their defaults, as ``__init__`` leaves them."""
    made = manager_of_class(model).new_instance()  # the class's __new__ and the ORM's state, as a load does
    fields = model.model_fields
    given = made.__dict__  # in __init__'s order: the given fields, then the defaults
    given.update((name, values[name]) for name in fields if name in values)
    given.update((name, info.get_default(call_default_factory=True)) for name, info in fields.items()
                 if name not in values and not info.is_required())
    object.__setattr__(made, "__pydantic_fields_set__", values.keys() & fields.keys())
    if model.__pydantic_post_init__:  # pragma: no cover - no table model has private attributes
        made.model_post_init(None)
    return made


def loaded(model: type[M], values: Mapping[Any, Any]) -> M:
    """A table model's row read by a Core statement (``values``: every column, by field name) as ``Session.get``
    then ``Session.expunge`` leave it: detached (its identity key set, its columns loaded and committed, no
    history), without the ORM's query machinery. Only for models whose columns are their fields."""
    row = manager_of_class(model).new_instance()
    row.__dict__.update(values)
    make_transient_to_detached(row)
    return row


def held(session: Session, model: type[SQLModel], ident: Any) -> bool:
    """Whether ``session`` holds ``model``'s row ``ident`` (its primary key) already: ``Session.get`` answers that
    one from the session, not from the database."""
    return session.identity_map.get(sa_inspect(model).identity_key_from_primary_key((ident,))) is not None


def answered_from(session: Session, model: type[SQLModel], ident: Any) -> bool:
    """Whether ``Session.get(model, ident)`` would answer with the session's own object: one it holds already, or
    one it holds after the flush ``Session.get`` makes before it reads (an object added and not flushed yet is
    the session's own after it). Flushes as ``Session.get`` does: only when the row is not held, and when the
    session flushes by itself. False: the row is to be read from the database, pending changes written."""
    if held(session, model, ident):
        return True
    if session.autoflush:
        session.flush()
    return held(session, model, ident)


# The ids of the tables a center node writes (storage/nodes.py ``CENTER``) and every column that holds one: BIGINT
# on PostgreSQL, so that each center node draws its ids from a block of its own (storage/nodes.py ``ID_BLOCK``).
# SQLite's INTEGER already holds 64 bits, and only ``INTEGER PRIMARY KEY`` is its row id (numbered by itself), so
# the type stays INTEGER there.
BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


def _big(**kw: Any) -> Any:
    """A field of type :data:`BIG_ID`: a center table's ``id``, or a column holding one."""
    return Field(sa_type=BIG_ID, **kw)  # type: ignore[call-overload]


def _ts(**kw: Any) -> Any:
    return Field(sa_type=DateTime(timezone=True), **kw)  # type: ignore[call-overload]


class ChainLink(SQLModel):
    """The columns of one link of an owner's own hash chain (a user's record, a drawer session): the table adds its
    ``id`` and the owner's key. Each link's hash covers its content and ``prev_hash``; rows are only inserted."""

    seq: int
    at: str = Field(max_length=40)
    actor: str = Field(max_length=64)
    kind: str = Field(max_length=40)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, nullable=False)  # type: ignore[call-overload]
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
