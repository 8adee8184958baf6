"""Receipt numbers without gaps per center and year: ``CODE-2026-000123`` (on a center node, per node, center and
year: ``CODE-N-2026-000123``, see :func:`series`).

The next number comes from a counter row (``receipt_counter``) locked in the payment's own transaction:
``SELECT ... FOR UPDATE`` on PostgreSQL (a second cashier waits for the first one's commit or rollback), and on
SQLite the single writer (storage/db.py ``write_lock``). A payment that rolls back gives its number back with
it, so the numbers that exist are contiguous; never ``max() + 1`` without a lock.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from engine.core.settings import Settings
from storage.models.base import table
from storage.models.centers import Center
from storage.models.payments import ReceiptCounter

_COUNTERS = table(ReceiptCounter)


def center_code(session: Session, center_id: int | None, settings: Settings) -> str:
    """The prefix of a center's receipts: its code (``receipt_center_code`` for a case of no center)."""
    if center_id is None:
        return settings.receipt_center_code
    center = session.get(Center, center_id)
    return center.code if center is not None else settings.receipt_center_code


def next_number(session: Session, center_id: int | None, at: datetime, settings: Settings) -> str:
    """Take the next receipt number of the center and year of ``at`` (the display time zone's year), inside the
    caller's transaction: the counter row stays locked until it commits or rolls back."""
    code = center_code(session, center_id, settings)
    year = at.astimezone(ZoneInfo(settings.display_timezone)).year
    conn = session.connection()
    maker = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    conn.execute(maker(_COUNTERS).values(center_code=code, year=year, last=0).on_conflict_do_nothing())
    last = conn.execute(select(_COUNTERS.c.last).where(_COUNTERS.c.center_code == code, _COUNTERS.c.year == year)
                        .with_for_update()).scalar_one()
    number = int(last) + 1
    conn.execute(update(_COUNTERS).where(_COUNTERS.c.center_code == code, _COUNTERS.c.year == year)
                 .values(last=number))
    return f"{series(code, settings)}-{year}-{number:06d}"


def series(code: str, settings: Settings) -> str:
    """What a receipt number starts with: the center's code, and on a center node that node's code and ``N``.

    Central may still number receipts of a center that has a node (a case opened there before the node, paid
    online), and every node those of cases of no center (``MAIN``): each node keeps its own counters
    (``receipt_counter`` is LOCAL, storage/nodes.py), so the numbers must say whose series they are, or two nodes'
    payments would meet on ``receipt_number`` when they replicate. ``CAI01-2026-000123`` is central's (or a
    single installation's) series of center CAI01; ``CAI01-N-2026-000123`` node CAI01's own; ``MAIN.CAI01-N-2026-
    000004`` node CAI01's series for cases of no center. Each series is gap-free on its own."""
    node = settings.node_center if settings.node_role == "center" else None
    if node is None:
        return code
    return f"{node}-N" if code == node else f"{code}.{node}-N"
