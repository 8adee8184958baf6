"""Replay: run a case's recorded steps again on its pinned process version, in memory, and compare.

A fresh workflow is started from the version the ``case_opened`` event names (by its SHA-256) with the
recorded start data; each event is then applied in order, at the moment it records (engine/core/clock.py), so
scripts' dates and timers' due times come out as they did:

* ``task_completed``: the ready user task of that BPMN name is completed with the recorded data (task ids are
  random per run: tasks are matched by name, and recorded ids are mapped to the replay's as they appear);
* ``task_claimed`` / ``task_released``: the task must be ready; nothing moves;
* ``timer_fired``: the workflow advances at the event's moment; the timers the event names must fire. A timer
  the replay's clock has not made due (its due time was moved, as tests do to avoid waiting days) is made
  due, and only the ones named;
* ``case_cancelled``, ``case_completed`` (the end event must be the recorded one), ``case_migrated``
  (``{"from_version", "from_sha256", "to_version", "to_sha256"}``: the workflow moves to that version with
  engine/bpmn/diff.py, as the migration command must);
* ``message_received``: the message is delivered to the element the event names, which must be waiting for it
  (a paid bill: engine/payments/pay.py);
* ``citizen_corrected``: the citizen's details become the recorded ``after`` (engine/cases/citizen_correction.py);
* any other kind (documents, custody, waivers) does not change the workflow and is passed over.

After every event that carries ``after`` (the last event of each command), the replay's status, outcome,
ready task names and SHA-256 of the data must equal the recorded ones. At the end the stored projection must
agree too: ``case.status``, ``outcome``, ``data``, the record of who wrote each field (forms/ownership.py,
built here from the events as the commands built it), the ready rows of the ``task`` table, the process
version, and the stored state itself (its tasks' names and states, and its data). The first difference is the
divergence. Nothing is written: the workflows are plain objects and the session only reads.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlmodel import Session, select

from engine.bpmn import runner
from engine.bpmn.compiler import CompiledProcess
from engine.bpmn.diff import migrate
from engine.catalog import processes
from engine.core import chain as audit
from engine.core import clock
from engine.core.errors import NotFound
from engine.core.settings import Settings
from forms import ownership
from storage.models.audit import AuditEvent
from storage.models.cases import Case, Task
from storage.models.catalog import ProcessVersion

# Events that never change the workflow: replay checks what it can of them and goes on.
_NO_MOVE = frozenset({"task_claimed", "task_released"})


# Divergence, ReplayResult and Step are mirrored on purpose by api/schemas.py (DivergencePublic, ReplayPublic,
# HistoryStep): the API declares the shape it promises itself; a field added here must be added there too.
@dataclass(frozen=True)
class Divergence:
    """Where replay and record part: ``expected`` is what was recorded, ``actual`` what the replay gives."""

    seq: int
    expected: Any
    actual: Any

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "expected": self.expected, "actual": self.actual}


@dataclass(frozen=True)
class ReplayResult:
    case_id: int
    tracking_number: str
    consistent: bool
    events_replayed: int
    divergence: Divergence | None

    def as_dict(self) -> dict[str, Any]:
        return {"consistent": self.consistent, "events_replayed": self.events_replayed,
                "divergence": self.divergence.as_dict() if self.divergence else None}


# Deliberately mirrored by api/schemas.py's HistoryStep, field for field (see the note above Divergence).
@dataclass
class Step:
    """Where the case stood right after one event, as the time-travel page shows it."""

    seq: int
    at: str
    actor: str
    kind: str
    task: str | None
    event_data: dict[str, Any]
    process_version: int
    process_version_id: int
    status: str
    ready: list[str]
    waiting: list[str]
    completed: list[str]
    data: dict[str, Any]
    diff: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class History:
    case_id: int
    tracking_number: str
    steps: list[Step] = field(default_factory=list)
    result: ReplayResult | None = None


class _Diverged(Exception):
    def __init__(self, divergence: Divergence) -> None:
        super().__init__(divergence.seq)
        self.divergence = divergence


@dataclass
class _Run:
    """The replay's own case: its workflow, its version, and what it knows of recorded task ids."""

    workflow: runner.Workflow
    process: CompiledProcess
    version: ProcessVersion
    cancelled: bool = False
    ids: dict[str, UUID] = field(default_factory=dict)
    # The ready user tasks after the last event (every event ends with a scan): the next event acts on these.
    ready: list[runner.ReadyTask] = field(default_factory=list)
    # Who wrote each field (forms/ownership.py), and the data it was worked out on.
    owners: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)

    def status(self, completed: bool | None = None) -> str:
        if self.cancelled:
            return "cancelled"
        return "completed" if (self.workflow.is_completed() if completed is None else completed) else "open"


def _load_version(session: Session, seq: int, *, sha256: str | None, service_code: str | None,
                  number: int | None) -> ProcessVersion:
    query = select(ProcessVersion)
    if sha256:
        query = query.where(ProcessVersion.sha256 == sha256)
    else:
        query = query.where(ProcessVersion.service_code == service_code, ProcessVersion.version == number)
    row = session.exec(query).first()
    if row is None:
        raise _Diverged(Divergence(seq, {"process_version": number, "sha256": sha256},
                                   "no deployed process version has this content"))
    if number is not None and row.version != number:
        raise _Diverged(Divergence(seq, {"process_version": number, "sha256": sha256},
                                   {"process_version": row.version, "sha256": row.sha256}))
    return row


def _failed(seq: int, what: str, exc: Exception) -> _Diverged:
    detail = exc.message if isinstance(exc, runner.ProcessFailed) else f"{type(exc).__name__}: {exc}"
    return _Diverged(Divergence(seq, what, f"the process failed: {detail}"))


def _find_ready(run: _Run, ev: AuditEvent) -> str:
    """The replay's id of the ready task the event acted on (by recorded id once seen, else by name)."""
    ready = run.ready
    recorded = str(ev.data.get("task_id") or "")
    known = run.ids.get(recorded)
    if known is not None:
        for t in ready:
            if t.id == str(known):
                return t.id
    taken = {str(v) for v in run.ids.values()}
    for t in ready:
        if t.name == ev.task and t.id not in taken:
            if recorded:
                run.ids[recorded] = UUID(t.id)
            return t.id
    raise _Diverged(Divergence(ev.seq, {"ready": [ev.task]}, {"ready": sorted(t.name for t in ready)}))


def _start(session: Session, ev: AuditEvent, settings: Settings) -> _Run:
    if ev.kind != "case_opened" or ev.seq != 1:
        raise _Diverged(Divergence(ev.seq, "the case_opened event first", ev.kind))
    info = ev.data
    version = _load_version(session, ev.seq, sha256=info.get("sha256"), service_code=info.get("service_code"),
                            number=info.get("process_version"))
    assert version.id is not None
    process = processes.cache.get(session, version.id, settings)
    try:
        workflow = runner.start(process, dict(info.get("data") or {}), runner.limits(settings),
                                at=clock.parse(ev.at))
    except Exception as exc:  # noqa: BLE001 - whatever stops the replay is its finding
        raise _failed(ev.seq, "the case opens", exc) from exc
    return _Run(workflow=workflow, process=process, version=version)


def _fire_timers(run: _Run, ev: AuditEvent, settings: Settings) -> None:
    moment = clock.parse(ev.at)
    named = ev.data.get("timers")
    waiting = runner.waiting_timers(run.workflow)
    runner.advance(run.workflow, runner.limits(settings), at=moment)
    fired = runner.fired_timers(run.workflow, waiting)
    wanted = set(named) if isinstance(named, list) else None
    if (wanted is not None and set(fired) != wanted) or (wanted is None and not fired):
        # Not due by the replay's clock: make due the ones the event names (all waiting ones for an event
        # written before timer_fired named them), and only those.
        runner.force_timers(run.workflow, (wanted - set(fired)) if wanted is not None else None, moment)
        runner.advance(run.workflow, runner.limits(settings), at=moment)
        fired = runner.fired_timers(run.workflow, waiting)
    if wanted is not None and set(fired) != wanted:
        raise _Diverged(Divergence(ev.seq, {"timers": sorted(wanted)}, {"timers": fired}))


def _deliver(run: _Run, ev: AuditEvent, settings: Settings) -> None:
    """A message delivered to the element ``ev.task`` (a paid bill's ``payment_received``, or a message sent
    from outside, engine/cases/inbound.py): it must be waiting."""
    if ev.data.get("sent_by") is not None:
        message = str(ev.data.get("message") or "")
        if (ev.task or "") not in runner.message_waiters(run.workflow, message):
            raise _Diverged(Divergence(ev.seq, {"waiting": ev.task}, {"waiting": None}))
        runner.deliver_message(run.workflow, ev.task or "", message, dict(ev.data.get("payload") or {}),
                               runner.limits(settings), at=clock.parse(ev.at),
                               correlations=ev.data.get("correlation"))  # a message from another case
        return
    task_id = runner.waiting_for_message(run.workflow, ev.task or "")
    if task_id is None:
        raise _Diverged(Divergence(ev.seq, {"waiting": ev.task}, {"waiting": None}))
    runner.deliver(run.workflow, task_id, dict(ev.data.get("payload") or {}), runner.limits(settings),
                   at=clock.parse(ev.at))


def _migrate(session: Session, run: _Run, ev: AuditEvent, settings: Settings) -> _Run:
    info = ev.data
    if info.get("from_version") != run.version.version or info.get("from_sha256", run.version.sha256) != \
            run.version.sha256:
        raise _Diverged(Divergence(ev.seq, {"from_version": info.get("from_version"),
                                            "from_sha256": info.get("from_sha256")},
                                   {"from_version": run.version.version, "from_sha256": run.version.sha256}))
    version = _load_version(session, ev.seq, sha256=info.get("to_sha256"), service_code=run.version.service_code,
                            number=info.get("to_version"))
    assert version.id is not None
    process = processes.cache.get(session, version.id, settings)
    migrate(run.workflow, process)
    runner.advance(run.workflow, runner.limits(settings), at=clock.parse(ev.at))
    return _Run(workflow=run.workflow, process=process, version=version, cancelled=run.cancelled, ids=run.ids,
                ready=run.ready, owners=run.owners, data=run.data)


def _apply(session: Session, run: _Run, ev: AuditEvent, settings: Settings) -> _Run:
    kind = ev.kind
    try:
        if kind == "task_completed":
            task_id = _find_ready(run, ev)
            skipped = ev.data.get("skip")
            if isinstance(skipped, dict):  # an incident's step skipped (engine/cases/incidents.py): the same move
                runner.skip(run.workflow, str(skipped.get("element_id") or ""), str(skipped.get("to") or ""),
                            runner.limits(settings), at=clock.parse(ev.at), task_id=task_id,
                            data=dict(ev.data.get("data") or {}))
            else:
                runner.complete(run.workflow, task_id, dict(ev.data.get("data") or {}), runner.limits(settings),
                                at=clock.parse(ev.at))
        elif kind in _NO_MOVE:
            _find_ready(run, ev)
        elif kind == "timer_fired":
            _fire_timers(run, ev, settings)
        elif kind == "case_cancelled":
            run.workflow.cancel()
            run.cancelled = True
        elif kind == "case_completed":
            end = runner.scan(run.workflow).end_event  # not cached: only once per case
            if not run.workflow.is_completed() or end != ev.data.get("end_event"):
                raise _Diverged(Divergence(ev.seq, {"status": "completed", "end_event": ev.data.get("end_event")},
                                           {"status": run.status(), "end_event": end}))
        elif kind == "case_migrated":
            return _migrate(session, run, ev, settings)
        elif kind == "message_received":
            _deliver(run, ev, settings)
        elif kind == "citizen_corrected":
            runner.set_field(run.workflow, ownership.CITIZEN_FIELD, ev.data.get("after"))
        elif kind == "case_opened":
            raise _Diverged(Divergence(ev.seq, "case_opened only as the first event", "a second case_opened"))
    except _Diverged:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing step is the replay's finding, not a crash
        raise _failed(ev.seq, f"{kind} {ev.task or ''}".strip() + " applies", exc) from exc
    return run


def _projection(run: _Run, ev: AuditEvent) -> dict[str, Any]:
    """One scan of the workflow: status, outcome, ready task names and data (and ``run.ready`` refreshed, and
    the owners of the data after ``ev``)."""
    found = runner.scan(run.workflow)
    run.ready = found.ready
    data = audit.canonical(runner.case_data(run.workflow, found.completed))
    run.owners = ownership.record_after(run.owners, run.data, data, _written(ev))
    run.data = data
    return {"status": run.status(found.completed), "outcome": found.end_event,
            "ready": sorted(t.name for t in found.ready), "data": data}


def _written(ev: AuditEvent) -> dict[str, str]:
    return ownership.written_by(ev.kind, ev.task, ev.data)


def _check_after(run: _Run, ev: AuditEvent) -> dict[str, Any]:
    """Compare with what the command recorded it left behind; returns the replay's projection."""
    mine = _projection(run, ev)
    after = ev.after
    if after is None:
        return mine
    recorded = {"status": after.get("status"), "outcome": after.get("outcome"),
                "ready": sorted(name for name, _id in after.get("ready", [])), "data_sha256": after.get("data_sha256")}
    actual = {"status": mine["status"], "outcome": mine["outcome"], "ready": mine["ready"],
              "data_sha256": audit.data_digest(mine["data"])}
    if recorded != actual:
        differs = [k for k in recorded if recorded[k] != actual[k]]
        expected = {k: recorded[k] for k in differs}
        got: dict[str, Any] = {k: actual[k] for k in differs}
        if "data_sha256" in differs:
            got["data"] = mine["data"]
        raise _Diverged(Divergence(ev.seq, expected, got))
    # Recorded ids of newly ready tasks map to the replay's, so later events find theirs even among namesakes.
    _map_ids(run, after.get("ready", []))
    return mine


def _map_ids(run: _Run, recorded: list[list[str]]) -> None:
    taken = {str(v) for v in run.ids.values()}
    for name, task_id in recorded:
        if task_id in run.ids:
            continue
        for t in run.ready:
            if t.name == name and t.id not in taken:
                run.ids[task_id] = UUID(t.id)
                taken.add(t.id)
                break


def _check_stored(session: Session, case: Case, run: _Run, mine: dict[str, Any], last_seq: int,
                  settings: Settings) -> None:
    """The stored projection and state must be what the events give (``mine``: the replay's projection)."""
    assert case.id is not None
    stored = {"status": case.status, "outcome": case.outcome}
    if stored != {"status": mine["status"], "outcome": mine["outcome"]}:
        raise _Diverged(Divergence(last_seq, {"stored": stored},
                                   {"status": mine["status"], "outcome": mine["outcome"]}))
    if case.process_version_id != run.version.id:
        raise _Diverged(Divergence(last_seq, {"stored": {"process_version_id": case.process_version_id}},
                                   {"process_version_id": run.version.id}))
    if case.data != mine["data"]:
        raise _Diverged(Divergence(last_seq, {"stored": {"data": case.data}},
                                   {"data": mine["data"], "diff": diff(case.data, mine["data"])}))
    if case.owners is not None and case.owners != run.owners:  # None: opened before owners were recorded
        raise _Diverged(Divergence(last_seq, {"stored": {"owners": case.owners}}, {"owners": run.owners}))
    rows = session.exec(select(Task.name).where(Task.case_id == case.id, Task.state == "ready")).all()
    if sorted(rows) != mine["ready"]:
        raise _Diverged(Divergence(last_seq, {"stored": {"ready_tasks": sorted(rows)}}, {"ready": mine["ready"]}))
    try:
        restored = runner.load(processes.cache.get(session, case.process_version_id, settings), case.state)
    except Exception as exc:  # noqa: BLE001 - an unreadable stored state is a finding
        raise _Diverged(Divergence(last_seq, {"stored": "a readable state"},
                                   f"{type(exc).__name__}: {exc}")) from exc
    theirs, ours = runner.shape(restored), runner.shape(run.workflow)
    if theirs != ours:
        raise _Diverged(Divergence(last_seq, {"stored_state": _shape_diff(theirs, ours)[0]},
                                   {"state": _shape_diff(theirs, ours)[1]}))
    stored_data = audit.canonical(runner.case_data(restored))
    if stored_data != mine["data"]:
        raise _Diverged(Divergence(last_seq, {"stored_state": {"data": stored_data}},
                                   {"data": mine["data"], "diff": diff(stored_data, mine["data"])}))


def _shape_diff(a: Counter[tuple[str, str]], b: Counter[tuple[str, str]]) -> tuple[list[str], list[str]]:
    only_a = sorted(f"{name} {state} x{n}" for (name, state), n in (a - b).items())
    only_b = sorted(f"{name} {state} x{n}" for (name, state), n in (b - a).items())
    return only_a, only_b


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What a step changed in the case's data, key by key at the top level."""
    return {"added": {k: v for k, v in after.items() if k not in before},
            "removed": {k: v for k, v in before.items() if k not in after},
            "changed": {k: {"from": before[k], "to": v} for k, v in after.items() if k in before and before[k] != v}}


def _walk(session: Session, case: Case, events: list[AuditEvent], settings: Settings,
          ) -> Iterator[tuple[AuditEvent, _Run, dict[str, Any]]]:
    """Apply the events one by one, yielding each with the replay's run and projection after it."""
    run: _Run | None = None
    mine: dict[str, Any] = {}
    for ev in events:
        run = _start(session, ev, settings) if run is None else _apply(session, run, ev, settings)
        mine = _check_after(run, ev)
        yield ev, run, mine
    if run is None:
        raise _Diverged(Divergence(0, "a case_opened event", "no events"))
    _check_stored(session, case, run, mine, events[-1].seq, settings)


def _load(session: Session, case_id: int) -> tuple[Case, list[AuditEvent]]:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFound("case.not_found", case_id=case_id)
    return case, audit.events_of(session, case_id)


def replay_case(*, session: Session, case_id: int, settings: Settings) -> ReplayResult:
    """Replay one case (no permission check: callers decide who may; engine/audit/auditors.py for people)."""
    case, events = _load(session, case_id)
    try:
        return _replay(session, case, events, settings)
    finally:
        session.rollback()  # end the read transaction; nothing was written


def owners_of(*, session: Session, case_id: int, settings: Settings) -> dict[str, str]:
    """Who wrote each field of the case, worked out from its trail (for a case opened before the record was
    kept). A trail that does not replay gives what it can: each task's fields as its own, the rest the diagram's."""
    case, events = _load(session, case_id)
    try:
        found: dict[str, str] | None = None
        for _ev, walked, _mine in _walk(session, case, events, settings):
            found = walked.owners
        if found is not None:
            return found
    except _Diverged:
        pass
    finally:
        session.rollback()
    written: dict[str, str] = {}
    for ev in events:
        written.update(_written(ev))
    return {**{k: ownership.DIAGRAM for k in case.data}, **written}


def history(*, session: Session, case_id: int, settings: Settings) -> History:
    """Where the case stood after each event: ready and waiting elements, what had completed, the data and
    what the step changed. Steps stop at the first divergence, which ``result`` names."""
    case, events = _load(session, case_id)
    assert case.id is not None
    out = History(case_id=case.id, tracking_number=case.tracking_number)
    previous: dict[str, Any] = {}

    def keep(ev: AuditEvent, run: _Run, projection: dict[str, Any]) -> None:
        nonlocal previous
        out.steps.append(_step(ev, run, projection, previous))
        previous = projection["data"]

    try:
        out.result = _replay(session, case, events, settings, keep)
    finally:
        session.rollback()
    return out


def _replay(session: Session, case: Case, events: list[AuditEvent], settings: Settings,
            each: Callable[[AuditEvent, _Run, dict[str, Any]], None] | None = None) -> ReplayResult:
    assert case.id is not None
    broken = audit.verify_chain(case, events)
    if broken is not None:  # a replay of a rewritten record proves nothing: say where the record broke
        return ReplayResult(case.id, case.tracking_number, False, 0,
                            Divergence(broken.seq or case.audit_seq, "an unbroken hash chain", broken.reason))
    done = 0
    try:
        for ev, run, projection in _walk(session, case, events, settings):
            done += 1
            if each is not None:
                each(ev, run, projection)
    except _Diverged as exc:
        return ReplayResult(case.id, case.tracking_number, False, done, exc.divergence)
    return ReplayResult(case.id, case.tracking_number, True, done, None)


def _step(ev: AuditEvent, run: _Run, projection: dict[str, Any], previous: dict[str, Any]) -> Step:
    completed, waiting = runner.completed_and_waiting(run.workflow)
    assert run.version.id is not None
    return Step(seq=ev.seq, at=ev.at, actor=ev.actor, kind=ev.kind, task=ev.task, event_data=ev.data,
                process_version=run.version.version, process_version_id=run.version.id,
                status=projection["status"], ready=projection["ready"], waiting=sorted(set(waiting)),
                completed=sorted(set(completed)), data=projection["data"], diff=diff(previous, projection["data"]))
