"""Work distribution: a center's rule per lane, officers' absences and availability, the supervisors' workload
view (engine/cases/assignment.py, engine/cases/distribution.py, engine/people/presence.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import CurrentActor, SessionDep, SettingsDep, allow, central_only
from api.params import IntRowId, IsoDate
from engine.cases import bulk, distribution
from engine.people import presence
from storage.models.assignment import Absence, AssignmentRule

router = APIRouter(prefix="/api", tags=["assignment"])

LaneName = Annotated[str, Path(min_length=1, max_length=100)]


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: Literal["pick", "round_robin", "least_loaded", "random"]


class RulePublic(BaseModel):
    center: str
    lane: str
    rule: str
    set_by: str
    set_at: datetime

    @classmethod
    def of(cls, code: str, row: AssignmentRule) -> RulePublic:
        return cls(center=code, lane=row.lane, rule=row.rule, set_by=row.set_by, set_at=row.set_at)


class AbsenceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    starts: IsoDate = Field(alias="from")  # the first day away (YYYY-MM-DD, Arabic digits too)
    ends: IsoDate = Field(alias="to")  # the last day away, included
    delegate: str | None = Field(default=None, min_length=1, max_length=64)  # who takes their open tasks


class AbsencePublic(BaseModel):
    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)
    id: int
    username: str
    starts: date = Field(serialization_alias="from")
    ends: date = Field(serialization_alias="to")
    delegate: str | None
    created_by: str
    handed_over: bool  # the open tasks were handed over at the absence's start

    @classmethod
    def of(cls, absence: Absence, handed_over: set[int] | None = None) -> AbsencePublic:
        """``handed_over``: the absences this node handed over (distribution.handed_over); else the row says."""
        assert absence.id is not None
        done = absence.handed_over_at is not None if handed_over is None else absence.id in handed_over
        return cls(id=absence.id, username=absence.username, starts=absence.starts, ends=absence.ends,
                   delegate=absence.delegate, created_by=absence.created_by, handed_over=done)


class Availability(BaseModel):
    model_config = ConfigDict(extra="forbid")
    available: bool


# Deliberate mirror of engine/cases/distribution.py's OfficerLoad: the API's response shape is its own, so a field
# added to the engine's view does not appear in the API's contract unannounced.
class OfficerWorkload(BaseModel):
    username: str
    full_name: str
    center_id: int | None
    lanes: list[str]
    open_assigned: int
    overdue: int
    completed_today: int
    unavailable_today: bool
    absences: list[AbsencePublic]


class LaneWorkload(BaseModel):
    lane: str
    center_id: int | None
    rule: str | None  # the center's own rule; null: the services' rules (or pick)
    waiting: int  # ready and given to nobody
    open: int
    oldest: datetime | None


class Workload(BaseModel):
    officers: list[OfficerWorkload]
    lanes: list[LaneWorkload]


@router.put("/centers/{code}/assignment/{lane}", dependencies=[allow("assignment.configure"), central_only()],
            response_model=RulePublic)
def set_rule(code: str, lane: LaneName, body: RuleSet, session: SessionDep, actor: CurrentActor) -> RulePublic:
    """How the lane's tasks are given out at the center: ``pick`` (officers claim), ``round_robin``,
    ``least_loaded`` or ``random`` (given as soon as ready). The center's supervisor (or one above), admins."""
    row = distribution.set_rule(session=session, center_code=code, lane=lane, rule=body.rule, actor=actor)
    return RulePublic.of(code, row)


@router.get("/centers/{code}/assignment", dependencies=[allow("assignment.configure")],
            response_model=list[RulePublic])
def rules(code: str, session: SessionDep, actor: CurrentActor) -> list[RulePublic]:
    """The center's own rules (lanes without one follow their services' service.toml, else ``pick``)."""
    return [RulePublic.of(code, row) for row in distribution.rules_of(session=session, center_code=code,
                                                                       actor=actor)]


@router.post("/users/{username}/absences", dependencies=[allow("presence"), central_only()],
             response_model=AbsencePublic,
             status_code=201)
def add_absence(username: str, body: AbsenceCreate, response: Response, session: SessionDep,
                settings: SettingsDep, actor: CurrentActor) -> AbsencePublic:
    """Record an absence (the officer, their supervisor, an admin). The same absence sent again is answered
    with the one recorded (200)."""
    absence, new = presence.add_absence(session=session, username=username, starts=body.starts, ends=body.ends,
                                        delegate=body.delegate, actor=actor, settings=settings)
    if not new:
        response.status_code = 200
    return AbsencePublic.of(absence)


@router.get("/users/{username}/absences", dependencies=[allow("presence")], response_model=list[AbsencePublic])
def list_absences(username: str, session: SessionDep, settings: SettingsDep,
                  actor: CurrentActor) -> list[AbsencePublic]:
    found = presence.absences_of(session=session, username=username, actor=actor, settings=settings)
    done = distribution.handed_over(session, settings, found)
    return [AbsencePublic.of(a, done) for a in found]


@router.delete("/users/{username}/absences/{absence_id}", dependencies=[allow("presence"), central_only()],
               status_code=204)
def cancel_absence(username: str, absence_id: IntRowId, session: SessionDep, settings: SettingsDep,
                   actor: CurrentActor) -> Response:
    """Cancel an absence; one that had begun gives the officer back the tasks it handed over."""
    distribution.cancel_absence(session=session, username=username, absence_id=absence_id, actor=actor,
                                settings=settings)
    return Response(status_code=204)


@router.put("/me/availability", dependencies=[allow("me")], response_model=Availability)
def set_availability(body: Availability, session: SessionDep, settings: SettingsDep,
                     actor: CurrentActor) -> Availability:
    """Available or not for today (a break, training): no new work is given while unavailable."""
    return Availability(available=presence.set_available(session=session, actor=actor, available=body.available,
                                                         settings=settings))


@router.get("/me/availability", dependencies=[allow("me")], response_model=Availability)
def availability(session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> Availability:
    return Availability(available=presence.is_available(session=session, actor=actor, settings=settings))


@router.get("/supervisor/workload", dependencies=[allow("workload.read")], response_model=Workload)
def workload(session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> Workload:
    """Per officer of one's centers: open tasks given to them, overdue, completed today, absences; per lane and
    center: tasks waiting for nobody, and the oldest."""
    officers, lanes = distribution.workload(session=session, actor=actor, settings=settings)
    done = distribution.handed_over(session, settings, [a for o in officers for a in o.absences])
    return Workload(
        officers=[OfficerWorkload(username=o.username, full_name=o.full_name, center_id=o.center_id, lanes=o.lanes,
                                  open_assigned=o.open_assigned, overdue=o.overdue,
                                  completed_today=o.completed_today, unavailable_today=o.unavailable_today,
                                  absences=[AbsencePublic.of(a, done) for a in o.absences]) for o in officers],
        lanes=[LaneWorkload(lane=lane.lane, center_id=lane.center_id, rule=lane.rule, waiting=lane.waiting,
                            open=lane.open, oldest=lane.oldest) for lane in lanes])


class BulkFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")
    task_ids: list[str] = Field(default_factory=list, max_length=1000)
    lane: str | None = Field(default=None, max_length=100)
    service_code: str | None = Field(default=None, max_length=100)
    # The officer the tasks are assigned to; "" for tasks assigned to nobody.
    officer: str | None = Field(default=None, max_length=64)
    older_than_days: float | None = Field(default=None, ge=0, le=36500)
    overdue: bool | None = None


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["reassign", "return", "cancel"]
    filter: BulkFilter
    to: str | None = Field(default=None, max_length=64)  # reassign: the officer
    reason: str | None = Field(default=None, max_length=2000)  # cancel: required
    dry_run: bool = True  # say what would change; nothing is written unless this is false


class BulkItem(BaseModel):
    task_id: str
    case_id: int | None  # null for a named task that is no waiting task of one's centers (refused)
    tracking_number: str
    lane: str
    name: str
    before: str | None  # assigned to before
    after: str | None  # assigned to after (or, in a dry run, would be)
    rule: str | None  # a return to an automatic lane: the rule that picks the officer
    ok: bool
    unchanged: bool = False  # already as asked (a retried request): nothing was written
    error: str | None
    error_ar: str | None = None
    error_id: str | None = None  # the refusal's message id


class BulkResult(BaseModel):
    action: str
    dry_run: bool
    matched: int
    failed: int
    items: list[BulkItem]


@router.post("/supervisor/bulk", dependencies=[allow("tasks.bulk")], response_model=BulkResult)
def bulk_operation(body: BulkRequest, session: SessionDep, settings: SettingsDep, actor: CurrentActor) -> BulkResult:
    """Reassign, return to the lane or cancel the cases of the ready tasks the filter names, at one's centers.
    ``dry_run`` (the default) shows exactly what would change and writes nothing; a real run takes each task in
    its own transaction and audit event and lists what failed and why."""
    f = body.filter
    done = bulk.run(session=session, actor=actor, action=body.action, to=body.to, reason=body.reason,
                    dry_run=body.dry_run, settings=settings,
                    wanted=bulk.Filter(task_ids=tuple(f.task_ids), lane=f.lane, service_code=f.service_code,
                                       officer=f.officer, older_than_days=f.older_than_days, overdue=f.overdue))
    return BulkResult(action=done.action, dry_run=done.dry_run, matched=len(done.items), failed=done.failed,
                      items=[BulkItem(task_id=i.task_id, case_id=i.case_id, tracking_number=i.tracking_number,
                                      lane=i.lane, name=i.name, before=i.before, after=i.after, rule=i.rule, ok=i.ok,
                                      unchanged=i.unchanged, error=i.error, error_ar=i.error_ar, error_id=i.error_id)
                             for i in done.items])
