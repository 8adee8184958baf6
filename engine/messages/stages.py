"""Which stage, if any, a step of a case reached: read from the events and ready tasks of one transaction.

Generic rules, so that any service gets its messages without configuration (docs/analyst-guide.md):
- received: an intake task (one a new case reaches first, usually the front desk's registration) is completed;
- department: a user task of a back-office lane is ready (once per department and case);
- returned: a ready user task whose id speaks of correcting or returning (``correct``, ``return``, ``amend``);
- ready_for_pickup: a ready user task whose id speaks of handing over (``hand_over``, ``pickup``, ``deliver``);
- rejected: the case ended at an end event whose id speaks of refusal (``reject``, ``refus``, ``not_found``,
  ``denied``, ``declin``) or of a request that lapsed or went to the prosecution (``lapse``, ``prosecut``);
  completed: it ended anywhere else.
A service's ``[messages] stages`` table maps its own BPMN ids to stages; a stage named there is recognised only
by that table, its generic rule is off.

And the case's money (``config.NOTICES``), from the events of the step, unless the service's ``off`` names them:
- bill_issued: a ``bill_issued`` event (engine/cases/bills.py): the bill's number, amount and currency;
- bill_paid: a ``payment_taken`` event that delivers ``payment_received`` (the payment that settles the bill,
  at the counter or through a provider's callback). A part payment that leaves the bill open is told by its
  writer (engine/payments/pay.py, ``outbox.write_notice``), since no workflow step runs then.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from engine.messages.config import MessageSettings

if TYPE_CHECKING:  # pragma: no cover
    from engine.bpmn.compiler import CompiledProcess
    from engine.cases.hooks import Written

_RETURNED = re.compile(r"correct|return|amend", re.I)
_PICKUP = re.compile(r"hand_?over|pick_?up|deliver|collect", re.I)
# Ends where the request was not granted: refused, or lapsed (an unpaid fee) or referred elsewhere (the
# prosecution): the citizen must not read "your request is complete, rate the service".
_REFUSED = re.compile(r"reject|refus|not_found|denied|declin|lapse|prosecut", re.I)

# Stages a ready task can mean; the others come from events.
READY_STAGES = ("department", "returned", "ready_for_pickup")


@dataclass(frozen=True)
class Reached:
    stage: str
    seq: int  # the audit event the message belongs to
    ref: str | None = None  # the department's lane, or the ready task's id (the bill's number for a notice)
    # What a money notice says beside the case's own words (fee, currency, bill, receipt_number).
    params: tuple[tuple[str, str], ...] = field(default=(), compare=False)


def notice(stage: str, seq: int, data: dict[str, object]) -> Reached:
    """A money notice of the event ``seq`` whose ``data`` is a ``bill_issued`` or ``payment_taken`` record."""
    said = {"fee": data.get("amount"), "currency": data.get("currency"), "bill": data.get("bill"),
            "receipt_number": data.get("receipt_number")}
    return Reached(stage, seq, str(data.get("bill") or ""),
                   tuple((key, str(value)) for key, value in said.items() if value is not None))


def _generic(stage: str, config: MessageSettings) -> bool:
    return stage not in config.stages.values() and stage not in config.off


def _named(bpmn_id: str, config: MessageSettings) -> str | None:
    stage = config.stages.get(bpmn_id)
    return stage if stage is not None and stage not in config.off else None


def reached(written: Written, process: CompiledProcess, quiet_lanes: set[str]) -> list[Reached]:
    """The stages this transaction reached. Ready-task stages may repeat an earlier write's: the outbox
    sends each (stage, ref) once per case."""
    config = process.service.messages
    found: list[Reached] = []
    for ev in written.events:
        if ev.kind == "task_completed" and ev.task:
            named = _named(ev.task, config)
            if named == "received" or (named is None and ev.task in process.intake_tasks
                                       and _generic("received", config)):
                found.append(Reached("received", ev.seq))
        elif ev.kind == "case_completed":
            end = str(ev.data.get("end_event") or "")
            stage = _named(end, config)
            if stage is None:
                stage = "rejected" if _REFUSED.search(end) else "completed"
                stage = stage if _generic(stage, config) else None
            if stage in ("completed", "rejected"):
                found.append(Reached(stage, ev.seq))
        elif ev.kind == "bill_issued" and "bill_issued" not in config.off:
            found.append(notice("bill_issued", ev.seq, ev.data))
        elif ev.kind == "payment_taken" and ev.data.get("settled") and "bill_paid" not in config.off:
            found.append(notice("bill_paid", ev.seq, ev.data))
    if not written.ready or not written.events:
        return found
    last = written.events[-1].seq
    for task in written.ready:
        info = process.user_tasks.get(task.name)
        named = _named(task.name, config)
        if named in ("returned", "ready_for_pickup"):
            found.append(Reached(named, last, task.id))
        elif named is None and _RETURNED.search(task.name) and _generic("returned", config):
            found.append(Reached("returned", last, task.id))
        elif named is None and _PICKUP.search(task.name) and _generic("ready_for_pickup", config):
            found.append(Reached("ready_for_pickup", last, task.id))
        lane = info.lane if info is not None else None
        if lane is None:
            continue
        if named == "department" or (lane not in quiet_lanes and _generic("department", config)):
            found.append(Reached("department", last, lane))
    return found
