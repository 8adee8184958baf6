"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2): outside applications list the services offered
to them (those with ``[open311]`` in ``service.toml``: the complaint and the inquiry or suggestion), read a
service's definition (the attributes are its intake form's fields), file a request with an ``api_key``
(engine/citizen/open311_keys.py) and follow requests by their ``service_request_id``, the case's tracking number.

A request opens a case as the front desk's intake would, through the same commands (the citizen's details are
checked, the form's fields validated, its owners kept); the case waits at its intake step, where the front desk
checks the papers as for any request. The same POST sent again by the same application (every field alike)
answers with the case it opened the first time.

The faces render what these functions return as JSON or XML; refusals are domain errors whose status is the
specification's: 403 for the key, 404 for a service or request that does not exist, 400 for anything else.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from engine.bpmn.compiler import CompiledProcess
from engine.cases import intake, lifecycle
from engine.catalog import processes
from engine.citizen import open311_keys
from engine.core import clock, throttle, tracking
from engine.core.client_address import counted_as
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import problem, problem_arabic
from engine.core.settings import Settings
from engine.people import centers
from engine.people.users import Actor
from forms.digits import ascii_digits, parse_number
from storage.models.cases import Case
from storage.models.catalog import ProcessVersion
from storage.models.open311 import Open311Request

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CLOSED = frozenset({"completed", "cancelled"})
# The citizen's national ID is asked as an attribute: GeoReport v2 has no field for it, and every case needs it.
NATIONAL_ID = "national_id"
_ATTRIBUTE = re.compile(r"^attribute\[([^\[\]]{1,64})\](\[\])?$")
STANDARD = frozenset({"api_key", "jurisdiction_id", "service_code", "lat", "long", "address_string", "address_id",
                      "email", "device_id", "account_id", "first_name", "last_name", "phone", "description",
                      "media_url"})


def _offered(session: Session) -> dict[str, tuple[int, dict[str, Any]]]:
    """The live services offered through Open311: code -> (newest live version id, its service.toml)."""
    rows = session.execute(select(col(ProcessVersion.id), col(ProcessVersion.service_code), col(ProcessVersion.service))
                           .where(col(ProcessVersion.retired).is_(False))
                           .order_by(col(ProcessVersion.service_code), col(ProcessVersion.version))).all()
    latest: dict[str, tuple[int, dict[str, Any]]] = {}
    for version_id, code, service in rows:
        latest[code] = (version_id, service)
    return {code: found for code, found in latest.items() if found[1].get("open311") is not None}


def _pick(names: Mapping[str, str] | None, lang: str) -> str:
    return str((names or {}).get(lang) or (names or {}).get("en") or "")


def services(*, session: Session, lang: str) -> list[dict[str, Any]]:
    """GET Service List: every offered service, in the specification's fields and order."""
    out = []
    for code, (_v, service) in sorted(_offered(session).items()):
        out.append({"service_code": code, "service_name": _pick(service.get("name"), lang),
                    "description": _pick(service.get("agency"), lang), "metadata": True, "type": "realtime",
                    "keywords": ", ".join((service.get("synonyms") or {}).get(lang, [])),
                    "group": (service.get("open311") or {}).get("group", "")})
    return out


def _service(session: Session, code: str | None, settings: Settings) -> tuple[dict[str, Any], CompiledProcess]:
    if not code:
        raise Invalid("open311.service_code_missing", [problem("service_code", "open311.service_code_missing")])
    found = _offered(session).get(code)
    if found is None:
        raise NotFound("open311.service_unknown", service_code=code)
    return found[1], processes.cache.get(session, found[0], settings)


def _intake_schema(process: CompiledProcess) -> dict[str, Any]:
    _task, schema = intake.intake_form(process)
    return schema or {"properties": {}, "required": []}


def _datatype(spec: Mapping[str, Any]) -> str:
    if "enum" in spec or spec.get("type") == "boolean":
        return "singlevaluelist"
    if spec.get("type") == "array":
        return "multivaluelist"
    if spec.get("type") in ("number", "integer"):
        return "number"
    if spec.get("format") == "date-time":
        return "datetime"
    if spec.get("x-widget") == "textarea" or int(spec.get("maxLength", 0)) > 300:
        return "text"
    return "string"


def _values(spec: Mapping[str, Any], lang: str) -> list[dict[str, Any]]:
    if spec.get("type") == "boolean":
        return [{"key": "true", "name": "نعم" if lang == "ar" else "Yes"},
                {"key": "false", "name": "لا" if lang == "ar" else "No"}]
    source = spec.get("items", spec) if spec.get("type") == "array" else spec
    keys = list(source.get("enum", []))
    titles = (source.get("x-enum-titles") or {}).get(lang) or keys
    return [{"key": k, "name": str(t)} for k, t in zip(keys, titles, strict=False)]


def _attribute_fields(service: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The intake form's fields an application answers as attributes, in the form's order."""
    setup = service.get("open311") or {}
    taken = {setup.get("description"), setup.get("address"), *(setup.get("fixed") or {})}
    return {name: spec for name, spec in (schema.get("properties") or {}).items()
            if name not in taken and not spec.get("readOnly")}


def definition(*, session: Session, code: str, settings: Settings, lang: str) -> dict[str, Any]:
    """GET Service Definition: the attributes, the citizen's national ID first, then the intake form's fields."""
    service, process = _service(session, code, settings)
    schema = _intake_schema(process)
    required = set(schema.get("required") or [])
    attributes = [{"variable": True, "code": NATIONAL_ID, "datatype": "string", "required": True,
                   "datatype_description": "14 أرقام" if lang == "ar" else "14 digits", "order": 1,
                   "description": "الرقم القومي لمقدم الطلب" if lang == "ar" else
                   "National ID number of the person submitting the request", "values": []}]
    for order, (name, spec) in enumerate(_attribute_fields(service, schema).items(), start=2):
        arabic = lang == "ar"
        attributes.append({
            "variable": True, "code": name, "datatype": _datatype(spec), "required": name in required,
            "datatype_description": (spec.get("x-description-ar") if arabic else None) or spec.get("description"),
            "order": order, "description": (spec.get("x-title-ar") if arabic else None) or spec.get("title", name),
            "values": _values(spec, lang)})
    return {"service_code": code, "attributes": attributes}


def _first(form: Mapping[str, Sequence[str]], name: str) -> str:
    values = form.get(name) or []
    return values[0].strip() if values else ""


def _typed(spec: Mapping[str, Any], values: Sequence[str]) -> Any:
    """An attribute's text as its field stores it (numbers with Arabic-Indic digits too); the form's own check
    says what is wrong with a value that is not of its type."""
    if spec.get("type") == "array":
        return [v.strip() for v in values]
    text = values[-1].strip() if values else ""
    kind = spec.get("type")
    if kind in ("number", "integer"):
        return parse_number(text, str(kind))  # never NaN or an infinity: those stay text, which the form refuses
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.lower(), text)
    return text


def _field_problem(field: str, message_id: str, **params: Any) -> dict[str, Any]:
    return problem(field, message_id, loc=["body", field], kind="value_error", **params)


def _form_problem(field: str, found: Mapping[str, Any], label: str) -> dict[str, Any]:
    english, arabic = str(found.get("msg", "")), problem_arabic(found.get("msg", ""))
    return {"field": field, "loc": ["body", field], "type": "value_error",
            "msg": f"{label}: {english}", "msg_ar": f"{label}: {arabic}"}


def _degrees(text: str) -> float:
    """Degrees as typed: Arabic-Indic digits and the Arabic decimal separator too."""
    return float(ascii_digits(text).replace("\u066b", ".").replace("\u066c", ""))


def _location(form: Mapping[str, Sequence[str]], problems: list[dict[str, Any]]) -> tuple[str, float | None,
                                                                                         float | None]:
    address = _first(form, "address_string") or _first(form, "address_id")
    lat_text, long_text = _first(form, "lat"), _first(form, "long")
    lat = long = None
    if lat_text or long_text:
        try:
            lat, long = _degrees(lat_text), _degrees(long_text)
        except ValueError:
            problems.append(_field_problem("lat", "open311.field_invalid", what="lat & long",
                                           reason="two numbers in WGS84 degrees"))
        else:
            if not (-90 <= lat <= 90 and -180 <= long <= 180):
                problems.append(_field_problem("lat", "open311.field_invalid", what="lat & long",
                                               reason="outside WGS84 degrees"))
    if not address and (lat is None or long is None):
        if not any(p["field"] == "lat" for p in problems):
            problems.append(_field_problem("location", "open311.location_missing"))
    elif not address:
        address = f"{lat}, {long}"
    return address, lat, long


def _request_hash(form: Mapping[str, Sequence[str]], settings: Settings) -> str:
    """What makes a retried POST the same request: every field but the key, in a fixed order; on a center node, the
    node too (docs/center-nodes.md): the same POST sent to central and to a node (or to two nodes) opens a case on
    each, which no node can know, and two rows of one key and hash would meet when they replicate."""
    fields: dict[str, Any] = {k: [v.strip() for v in vs] for k, vs in sorted(form.items()) if k != "api_key"}
    if settings.node_role == "center":
        fields = {**fields, "": settings.node_center}  # "" is no field's name: the node is never a field's value
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def count_read(settings: Settings, client: str) -> None:
    """One public read (the discovery, the lists, a definition, a request) counted against the asking address:
    ``open311_reads_per_address`` per ``open311_window_seconds``, 429 with Retry-After past it."""
    pair = (throttle.Rule.fixed("open311-read-address", limit=settings.open311_reads_per_address,
                                window_seconds=settings.open311_window_seconds), counted_as(client))
    throttle.check(settings, "open311.too_many_reads", pair)
    throttle.fail(settings, pair)


def file(*, session: Session, form: Mapping[str, Sequence[str]], settings: Settings, lang: str) -> dict[str, Any]:
    """POST Service Request: check the key, the service, the attributes, the location and the person; open the
    case (or find the one the same POST opened before); the answer's ``service_request_id`` is its tracking
    number."""
    app = open311_keys.application(session, _first(form, "api_key"))
    per_key = (throttle.Rule.fixed("open311-key", limit=settings.open311_requests_per_key,
                                   window_seconds=settings.open311_window_seconds), str(app.id))
    throttle.check(settings, "open311.too_many", per_key)
    service, process = _service(session, _first(form, "service_code"), settings)
    request_hash = _request_hash(form, settings)
    assert app.id is not None
    again = session.execute(select(col(Open311Request.case_id)).where(
        col(Open311Request.key_id) == app.id, col(Open311Request.request_hash) == request_hash)).scalar()
    if again is not None:
        case = lifecycle.load_case(session, again)
        return _filed(case, service, lang)
    schema = _intake_schema(process)
    fields = _attribute_fields(service, schema)
    required = set(schema.get("required") or [])
    setup = service.get("open311") or {}
    problems: list[dict[str, Any]] = []
    answers: dict[str, list[str]] = {}
    for key, values in form.items():
        if key in STANDARD:
            continue
        found = _ATTRIBUTE.match(key)
        name = found.group(1) if found else key
        if found is None or (name not in fields and name != NATIONAL_ID):
            problems.append(_field_problem(key, "open311.attribute_unknown", code=name))
            continue
        answers[name] = [*answers.get(name, []), *values]
    for name in [NATIONAL_ID, *fields]:
        if (name == NATIONAL_ID or name in required) and not "".join(answers.get(name, [])).strip():
            problems.append(_field_problem(f"attribute[{name}]", "open311.attribute_required", code=name))
    for name in ("first_name", "last_name", "phone"):
        if not _first(form, name):
            problems.append(_field_problem(name, "open311.field_required", what=name))
    address, lat, long = _location(form, problems)
    description = _first(form, "description")
    if problems:
        raise Invalid("open311.attribute_required", problems, code=problems[0]["field"])
    data: dict[str, Any] = {name: _typed(fields[name], values) for name, values in answers.items()
                            if name in fields and "".join(values).strip()}
    data.update(setup.get("fixed") or {})
    if setup.get("description") and description:
        data[setup["description"]] = description
    if setup.get("address") and address:
        data[setup["address"]] = address
    citizen = {"national_id": "".join(answers.get(NATIONAL_ID, [])).strip(),
               "full_name": f"{_first(form, 'first_name')} {_first(form, 'last_name')}",
               "phone": _first(form, "phone"), "email": _first(form, "email") or None,
               "language": lang}
    data, refused = intake.check_intake(process, data)
    if refused:
        labels = {setup.get("description"): "description", setup.get("address"): "address_string"}
        raise Invalid("open311.attribute_invalid", [
            _form_problem(str(p.get("field")), p, labels.get(str(p.get("field")).split(".")[0])
                          or f"attribute[{p.get('field')}]") for p in refused], code=refused[0].get("field"),
            reason=refused[0].get("msg"))
    center_id = centers.by_code(session, settings.open311_center).id if settings.open311_center else None
    actor = Actor(f"open311:{app.name}"[:64], frozenset(process.start_lanes), app.name, center_id)
    throttle.fail(settings, per_key)  # every request filed counts against the key
    kept_description, kept_address, key_id = description[:4000] or None, address[:300] or None, app.id

    def attach(inner: Session, case_id: int) -> None:
        # In the case's own transaction: the request row and the case are written together or not at all, so
        # two identical POSTs at the same moment (both past the look-up above) cannot leave two cases: the
        # second one's row breaks the unique (key, request) and takes its case back with it.
        inner.add(Open311Request(key_id=key_id, request_hash=request_hash, case_id=case_id,
                                 description=kept_description, address=kept_address, lat=lat, long=long,
                                 created_at=clock.now()))
        inner.flush()

    try:
        case = lifecycle.open_case(session=session, service_code=process.service.code, citizen=citizen, data=data,
                                   actor=actor, settings=settings, attach=attach).case
    except (IntegrityError, Conflict):
        session.rollback()
        twin = session.execute(select(col(Open311Request.case_id)).where(
            col(Open311Request.key_id) == app.id, col(Open311Request.request_hash) == request_hash)).scalar()
        if twin is None:
            raise
        case = lifecycle.load_case(session, twin)  # the client is given its twin's number
    return _filed(case, service, lang)


def _filed(case: Case, service: Mapping[str, Any], lang: str) -> dict[str, Any]:
    sla = service.get("sla_days")
    notice = None
    if sla:
        notice = (f"يُرد على طلبك خلال {sla:g} يوم عمل؛ تابعه برقم {case.tracking_number}" if lang == "ar" else
                  f"Expect an answer within {sla:g} working days; follow it with number {case.tracking_number}")
    return {"service_request_id": case.tracking_number, "service_notice": notice, "account_id": None}


def w3(moment: datetime | None) -> str | None:
    """A moment in the specification's w3 format, in UTC: 2010-01-01T00:00:00Z."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date(name: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(ascii_digits(text.strip()).replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in text or not 1900 <= moment.year <= 2999:
        raise Invalid("open311.bad_date", [_field_problem(name, "open311.bad_date", what=name)], what=name)
    return moment


def _row(case: Case, filed: Open311Request | None, service: Mapping[str, Any], lang: str) -> dict[str, Any]:
    closed = case.status in CLOSED
    return {"service_request_id": case.tracking_number, "status": "closed" if closed else "open",
            "status_notes": case.outcome if closed else None,
            "service_name": _pick(service.get("name"), lang), "service_code": case.service_code,
            # What the application sent is public to it; a request taken at the desk shows nothing of the citizen.
            "description": filed.description if filed else None,
            "agency_responsible": _pick(service.get("agency"), lang), "service_notice": None,
            "requested_datetime": w3(case.created_at),
            "updated_datetime": w3(case.completed_at if closed and case.completed_at else case.updated_at),
            "expected_datetime": w3(case.due_at), "address": filed.address if filed else None,
            "address_id": None, "zipcode": None, "lat": filed.lat if filed else None,
            "long": filed.long if filed else None, "media_url": None}


def _rows(session: Session, query: Any, offered: Mapping[str, tuple[int, dict[str, Any]]],
          lang: str) -> list[dict[str, Any]]:
    # Only what an application filed is public here: a request taken at the desk is the citizen's to follow
    # (its number and phone digits at /track), and no list may hand its tracking number out.
    found = session.execute(query.join(Open311Request, col(Open311Request.case_id) == col(Case.id))).all()
    return [_row(case, filed, offered[case.service_code][1], lang) for case, filed in found]


def one(*, session: Session, number: str, lang: str) -> list[dict[str, Any]]:
    """GET Service Request: the request as a list of one (the specification's shape); 404 when unknown."""
    offered = _offered(session)
    number = tracking.normalise(number)
    rows = _rows(session, select(Case, Open311Request).where(
        col(Case.tracking_number) == number, col(Case.service_code).in_(list(offered))), offered, lang)
    if not rows:
        raise NotFound("open311.request_unknown", number=number)
    return rows


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def find(*, session: Session, params: Mapping[str, str], settings: Settings, lang: str) -> list[dict[str, Any]]:
    """GET Service Requests: by ``service_request_id`` (which overrides every other argument), else by
    ``service_code``, ``status`` and ``start_date``/``end_date`` (by default the last 90 days, never more than
    90), newest first, at most ``open311_max_results`` (the specification's 1000)."""
    offered = _offered(session)
    query = select(Case, Open311Request).where(col(Case.service_code).in_(list(offered)))
    ids = _list(params.get("service_request_id", ""))
    if ids:
        query = query.where(col(Case.tracking_number).in_([tracking.normalise(i) for i in ids]))
        return _rows(session, query.order_by(col(Case.created_at).desc()).limit(settings.open311_max_results),
                     offered, lang)
    span = timedelta(days=settings.open311_max_span_days)
    start_text, end_text = params.get("start_date", "").strip(), params.get("end_date", "").strip()
    end = _date("end_date", end_text) if end_text else None
    start = _date("start_date", start_text) if start_text else None
    if end is None:
        end = start + span if start is not None else clock.now()
    if start is None:
        start = end - span
    if end - start > span:
        raise Invalid("open311.span_too_long", [_field_problem("end_date", "open311.span_too_long",
                                                               days=settings.open311_max_span_days)],
                      days=settings.open311_max_span_days)
    statuses = {s.lower() for s in _list(params.get("status", ""))}
    if statuses - {"open", "closed"}:
        raise Invalid("open311.bad_status", [_field_problem("status", "open311.bad_status")])
    query = query.where(col(Case.created_at) >= start, col(Case.created_at) <= end)
    codes = _list(params.get("service_code", ""))
    if codes:
        query = query.where(col(Case.service_code).in_(codes))
    if statuses == {"open"}:
        query = query.where(col(Case.status).not_in(list(CLOSED)))
    elif statuses == {"closed"}:
        query = query.where(col(Case.status).in_(list(CLOSED)))
    return _rows(session, query.order_by(col(Case.created_at).desc()).limit(settings.open311_max_results),
                 offered, lang)
