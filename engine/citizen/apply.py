"""A signed-in citizen applies online for a service marked ``online = true`` in its service.toml.

``service_form``: what the phone shows before applying: the service's names, its papers, its fee rule, and its
intake form (the same JSON Schema the front desk fills; the page draws it with forms/fields.py). ``apply``: the
citizen's details (their phone is the token's), the center they will visit and the intake form's data, checked
like the desk's (owners, the form); the case opens at that center in the channel ``citizen_portal``
(``Case.channel`` and its ``case_opened`` event), and the answer carries the fee the diagram works out for that
data. Its intake step waits at the front desk, in the desk's inbox like any new request.

The papers (``add_paper``) go through the desk's own upload (engine/cases/documents.py ``receive_form``: magic
bytes, size limit), only to the citizen's own online application and only before its intake is done. Then:

* a service with ``verify_originals = true`` (the certificate extracts) waits for the citizen's first visit: the
  front desk checks the original papers against the uploaded ones and completes the intake (the verification
  step comes first, as the diagram's intake task);
* a service without (an inquiry, a complaint) is registered by the citizen's ``submit``: the intake step is
  completed in the citizen's name with the data given at applying (the papers the service requires are checked
  as at the desk).

A service not marked online is refused (Forbidden), as is anyone else's case (NotFound).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlmodel import Session, select

from engine.bpmn.compiler import CompiledProcess
from engine.cases import documents, intake, tasks
from engine.cases.lifecycle import CITIZEN_PORTAL, Outcome, load_case, start_case
from engine.catalog import processes
from engine.core.errors import Conflict, Forbidden, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import centers
from engine.people.identity import normalise_national_id
from engine.people.users import CITIZEN_ACTOR, CITIZEN_LANE, Actor
from storage.documents import ObjectStore
from storage.models.cases import Case, Document, Task
from storage.models.catalog import ProcessVersion


def _online(session: Session, settings: Settings, service_code: str) -> tuple[ProcessVersion, CompiledProcess]:
    try:
        version = processes.latest_version(session, service_code)
    except NotFound as exc:
        raise NotFound("citizen.no_service") from exc
    assert version.id is not None
    process = processes.cache.get(session, version.id, settings)
    if not process.service.online:
        raise Forbidden("citizen.service_not_online")
    return version, process


def online_services(session: Session) -> list[dict[str, Any]]:
    """The live services citizens may apply for online, with their names."""
    latest: dict[str, ProcessVersion] = {}
    for row in processes.list_versions(session):
        if not row.retired:
            latest[row.service_code] = row
    return [{"code": code, "name": row.service.get("name") or {"ar": code, "en": code}}
            for code, row in sorted(latest.items()) if row.service.get("online")]


def service_form(*, session: Session, settings: Settings, service_code: str) -> dict[str, Any]:
    """The service as the citizen applies for it: names, papers, fee rule and intake form."""
    _version, process = _online(session, settings, service_code)
    service = process.service
    _task, schema = intake.intake_form(process)
    fee = service.fee
    return {"code": service.code,
            "name": service.name.model_dump() if service.name else {"ar": service.code, "en": service.code},
            "papers": [{"kind": d.kind, "ar": d.ar, "en": d.en, "required": d.required} for d in service.documents],
            "fee": {"currency": fee.currency if fee else "EGP",
                    "amount": fee.amount if fee else 0.0,
                    "decided_by_table": bool(fee and fee.decision)},
            "verify_originals": service.verify_originals, "form": schema or {"type": "object", "properties": {}}}


def _center_id(session: Session, code: Any) -> int:
    try:
        center = centers.by_code(session, str(code or "")[:64])
    except NotFound as exc:
        raise Invalid("citizen.center_unknown", [problem("center", "citizen.center_unknown", loc=["body", "center"],
                                                         kind="value_error")]) from exc
    assert center.id is not None
    return center.id


def apply(*, session: Session, settings: Settings, phone: str, service_code: str, center: str,
          citizen: dict[str, Any], data: dict[str, Any],
          national_id: str | None = None) -> tuple[Outcome, dict[str, Any]]:
    """Open the citizen's application (channel ``citizen_portal``) and return it with the fee for its data. With
    the national ID the citizen added to their session, an application under another ID is refused (422): the
    session would not see it."""
    if national_id is not None and normalise_national_id(str(citizen.get("national_id", ""))) != national_id:
        raise Invalid("citizen.details_invalid", [problem("citizen.national_id", "citizen.national_id_not_yours",
                                                          loc=["body", "citizen", "national_id"],
                                                          kind="value_error")])
    version, process = _online(session, settings, service_code)
    center_id = _center_id(session, center)
    person = {**{k: v for k, v in citizen.items() if k in ("full_name", "national_id", "email", "language")},
              "phone": phone}
    quoted = intake.run_intake(process=process, citizen=person, data=data, settings=settings)
    applicant = Actor(CITIZEN_ACTOR, frozenset({CITIZEN_LANE}), "Citizen", center_id=center_id)
    outcome = start_case(session=session, version=version, process=process, citizen=person, data=data,
                         actor=applicant, settings=settings, channel=CITIZEN_PORTAL)
    fee = quoted.get("fee")
    currency = process.service.fee.currency if process.service.fee else "EGP"
    return outcome, {"amount": fee if isinstance(fee, int | float) and not isinstance(fee, bool) else 0.0,
                     "currency": currency}


def verifies(session: Session, settings: Settings, case: Case) -> bool:
    """Whether the case's service has the front desk check the originals before anything else."""
    return processes.cache.get(session, case.process_version_id, settings).service.verify_originals


def _own_application(session: Session, settings: Settings, phone: str, case_id: int,
                     national_id: str | None = None) -> tuple[Case, CompiledProcess, Task]:
    case = session.get(Case, case_id) if 0 < case_id < 2**31 else None
    if case is None or case.phone != phone or (national_id is not None and case.national_id != national_id):
        raise NotFound("citizen.no_case")
    if case.channel != CITIZEN_PORTAL:
        raise Forbidden("citizen.not_an_online_application")
    process = processes.cache.get(session, case.process_version_id, settings)
    names = {t.name for t in intake.intake_tasks(process)}
    waiting = [t for t in session.exec(select(Task).where(Task.case_id == case.id, Task.state == "ready")).all()
               if t.name in names]
    if case.status != "open" or not waiting:
        raise Conflict("citizen.application_registered")
    return case, process, waiting[0]


def add_paper(*, session: Session, settings: Settings, store: ObjectStore, phone: str, case_id: int,
              parts: Iterable[documents.FormPart], size_hint: int | None = None,
              national_id: str | None = None) -> Document:
    """A paper of the citizen's own online application, before its intake: the desk's upload checks."""
    case, process, _task = _own_application(session, settings, phone, case_id, national_id)
    assert case.id is not None
    session.rollback()  # end the read: the file may take minutes to arrive
    with documents.receive_form(store=store, settings=settings, case_id=case.id, parts=parts,
                                kinds=documents.kinds_of(process), size_hint=size_hint) as form:
        return documents.record(session, case.id, CITIZEN_ACTOR, form.kind, form.file)


def submit(*, session: Session, settings: Settings, phone: str, case_id: int,
           national_id: str | None = None) -> Outcome:
    """Register the citizen's online application: its intake completed in the citizen's name with the data given
    at applying. Conflict for a service whose front desk verifies the originals first."""
    case, process, task = _own_application(session, settings, phone, case_id, national_id)
    if process.service.verify_originals:
        raise Conflict("citizen.desk_verifies_first")
    info = process.user_tasks.get(task.name)
    schema = process.forms.get(info.form) if info is not None and info.form else None
    fields = set((schema or {}).get("properties") or {})
    data = {k: v for k, v in case.data.items() if k in fields}
    case = load_case(session, case_id)
    applicant = Actor(CITIZEN_ACTOR, frozenset({CITIZEN_LANE}), "Citizen", center_id=case.center_id)
    return tasks.complete_step(session=session, step=tasks.Step(task, case, process), data=data, actor=applicant,
                               settings=settings)
