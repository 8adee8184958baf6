"""The documents a step owes: a hook of engine/cases/hooks.py, inside the step's transaction.

When a step reaches an element a service's ``[[outputs]]`` names (a user task becoming ready, or the end event
the case ended at), a ``pending`` row is written with the step, so the document is owed exactly when the step
happened, and a crash after the commit loses nothing. The PDF is made after commit (engine/outputs/issue.py):
rendering and signing take a good part of a second, too long to hold the case's transaction open for.

Steps of services without outputs pay one dictionary look-up; a step reaching an issuing task reads whether it
already owes that document (a task stays ready across several steps).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import insert, select

from engine.core import tracking
from storage.models.base import table
from storage.models.outputs import IssuedOutput

if TYPE_CHECKING:  # pragma: no cover
    from engine.cases.hooks import Written

_OUTPUTS = table(IssuedOutput)
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I, L, O, U to misread


def new_number(year: int, tracking_number: str = "") -> str:
    """A document number: the year and 60 random bits (``D2026-7KQ3-M9XF-A2C4``), so numbers cannot be guessed
    one from another and the public page cannot be walked. A document of a case a center node opened (its
    ``tracking_number`` carries the center, engine/core/tracking.py) has that center's id after the year
    (``D2026-C7-7KQ3-M9XF-A2C4``): central's numbers have three groups after the year, a node's four, the first
    naming the node, so no two nodes ever make the same number (only the case's own node writes it)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(12))
    center = tracking.center_of(tracking_number) if tracking_number else None
    node = f"C{center}-" if center is not None else ""
    return f"D{year}-{node}{body[:4]}-{body[4:8]}-{body[8:]}"


def reached(written: Written) -> list[tuple[str, str]]:
    """(output kind, source) of the outputs this step reached: the ready task's id or the end event's."""
    process = written.process
    if process is None or not process.service.outputs:
        return []
    ready = {t.name: t.id for t in written.ready or []}
    outcome = written.values.get("outcome") if written.values.get("status") == "completed" else None
    data = written.values.get("data", written.case.data)
    found = []
    for output in process.service.outputs:
        if output.when is not None and not (isinstance(data, dict) and data.get(output.when) is True):
            continue  # asked for by the citizen, and not asked for in this case
        for element in output.on:
            if element in ready:
                found.append((output.kind, ready[element]))
            elif element == outcome:
                found.append((output.kind, f"end:{element}"))
    return found


def write_owed(written: Written) -> None:
    """The hook: a pending row per output reached and not owed already."""
    found = reached(written)
    if not found:
        return
    case = written.case
    known = {(kind, source) for kind, source in written.conn.execute(
        select(_OUTPUTS.c.kind, _OUTPUTS.c.source).where(_OUTPUTS.c.case_id == case.id))}
    rows: list[dict[str, Any]] = []
    for kind, source in found:
        if (kind, source) in known:
            continue
        rows.append({"number": new_number(written.at.year, case.tracking_number), "case_id": case.id,
                     "center_id": case.center_id, "service_code": case.service_code, "kind": kind, "source": source,
                     "status": "pending", "attempts": 0, "created_at": written.at})
    if rows:
        written.conn.execute(insert(_OUTPUTS), rows)
