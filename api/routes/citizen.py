"""The citizen's own API (engine/citizen/): a code by SMS, the token it buys, and their requests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from api import multipart
from api.deps import CitizenNationalId, CitizenPhone, ClientAddress, SessionDep, SettingsDep, StoreDep, allow, oauth2
from api.params import RowId
from engine.citizen import apply, requests, returns, signin

router = APIRouter(tags=["citizen"])


class CodeAsked(BaseModel):
    phone: str = Field(max_length=40, description="the phone the requests carry: +201001234567, 01001234567, "
                       "Arabic-Indic digits too")


class CodeGiven(CodeAsked):
    code: str = Field(max_length=16, description="the 6 digits sent by SMS")


class CodeAccepted(BaseModel):
    detail: str
    detail_ar: str


class CitizenToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


class Words(BaseModel):
    ar: str
    en: str


class CitizenCaseSummary(BaseModel):
    id: int
    tracking_number: str
    service: dict[str, Any]
    status: str
    status_words: Words
    current_step: list[Words]
    expected_by: datetime | None
    opened_at: datetime | None
    updated_at: datetime | None


class CitizenMessage(BaseModel):
    channel: str
    body: str
    sent_at: datetime | None


class CitizenDocument(BaseModel):
    number: str
    title: Words
    status: str
    verify_url: str


class CitizenBill(BaseModel):
    number: str
    amount: str
    currency: str
    due_at: datetime | None


class CitizenPaperKind(BaseModel):
    kind: str
    ar: str
    en: str


class CitizenReturn(BaseModel):
    """A step waiting for the citizen: a department returned the request for a paper."""

    id: str
    name: str
    title: Words
    due_at: datetime | None
    kinds: list[CitizenPaperKind]


class CitizenCase(CitizenCaseSummary):
    messages: list[CitizenMessage]
    documents: list[CitizenDocument]
    bills_due: list[CitizenBill]
    returns: list[CitizenReturn]


@router.post("/api/citizen/code", dependencies=[allow("public")], response_model=CodeAccepted, status_code=202)
def ask_code(body: CodeAsked, session: SessionDep, settings: SettingsDep, client: ClientAddress) -> CodeAccepted:
    """202 whether or not a request carries the phone: the answer says nothing about who is known."""
    signin.request_code(session=session, settings=settings, phone=body.phone, client=client)
    return CodeAccepted(detail="if a request carries this phone, a code is on its way",
                        detail_ar="إذا كان هذا الرقم مسجلًا على طلب، فسيصلك رمز الدخول برسالة قصيرة")


@router.post("/api/citizen/token", dependencies=[allow("public")], response_model=CitizenToken)
def token(body: CodeGiven, session: SessionDep, settings: SettingsDep, client: ClientAddress) -> CitizenToken:
    issued = signin.exchange(session=session, settings=settings, phone=body.phone, code=body.code, client=client)
    return CitizenToken(access_token=issued, expires_in=settings.citizen_token_minutes * 60)


class NationalIdGiven(BaseModel):
    national_id: str = Field(max_length=40, description="the citizen's national ID as the desk takes it (Egypt's "
                             "14 digits, Arabic-Indic digits too)")


class NarrowedToken(CitizenToken):
    national_id: str


@router.put("/api/citizen/national-id", dependencies=[allow("citizen.own")], response_model=NarrowedToken)
def add_national_id(body: NationalIdGiven, settings: SettingsDep,
                    token: Annotated[str | None, Depends(oauth2)]) -> NarrowedToken:
    """Narrow the session to the cases carrying this national ID too (a shared family phone): a new token
    carrying it, to use from now on; it ends when the token it replaces ends. 409 when the token already carries
    another ID; the same ID again answers the same way (a retried request)."""
    issued, expires = signin.add_national_id(token, settings, body.national_id)
    left = max(0, int((expires - datetime.now(UTC)).total_seconds()))
    _phone, nid = signin.who_from_token(issued, settings)
    assert nid is not None
    return NarrowedToken(access_token=issued, expires_in=left, national_id=nid)


@router.get("/api/citizen/cases", dependencies=[allow("citizen.own")], response_model=list[CitizenCaseSummary])
def my_cases(phone: CitizenPhone, nid: CitizenNationalId, session: SessionDep,
             settings: SettingsDep) -> list[dict[str, Any]]:
    return requests.list_cases(session=session, settings=settings, phone=phone, national_id=nid)


@router.get("/api/citizen/cases/{case_id}", dependencies=[allow("citizen.own")], response_model=CitizenCase)
def my_case(case_id: RowId, phone: CitizenPhone, nid: CitizenNationalId, session: SessionDep,
            settings: SettingsDep) -> dict[str, Any]:
    return requests.read_case(session=session, settings=settings, phone=phone, case_id=case_id, national_id=nid)


_ANSWER_FORM: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["kind", "file"],
    "properties": {"kind": {"type": "string", "description": "a paper kind of the case's service"},
                   "file": {"type": "string", "format": "binary", "description": "PDF, JPEG or PNG (a phone's photo)"},
                   "note": {"type": "string", "description": "the citizen's note to the department"}}}}}}}


@router.post("/api/citizen/tasks/{task_id}/answer", dependencies=[allow("citizen.own")], response_model=CitizenCase,
             openapi_extra=_ANSWER_FORM)
async def answer_return(task_id: str, request: Request, phone: CitizenPhone, nid: CitizenNationalId,
                        session: SessionDep, settings: SettingsDep, store: StoreDep) -> dict[str, Any]:
    """Answer a return of one's own request (multipart ``kind``, ``file``, ``note``): the paper is checked and
    stored as the desk's scans are, and the step completes in the same commit; the request as it is now."""
    def run(form: multipart.StreamingForm, size_hint: int | None) -> dict[str, Any]:
        done = returns.answer(session=session, settings=settings, store=store, phone=phone, task_id=task_id,
                              parts=form, size_hint=size_hint, national_id=nid)
        assert done.case.id is not None
        return requests.read_case(session=session, settings=settings, phone=phone, case_id=done.case.id,
                                  national_id=nid)

    return await multipart.read_streamed(request, run)


class CitizenDetails(BaseModel):
    full_name: str = Field(max_length=200)
    national_id: str = Field(max_length=32, description="10 to 14 digits, Arabic-Indic digits too")
    email: str | None = Field(default=None, max_length=254)
    language: Literal["ar", "en"] | None = None


class Application(BaseModel):
    service_code: str = Field(max_length=100)
    center: str = Field(max_length=64, description="the code of the center the citizen will visit")
    citizen: CitizenDetails
    data: dict[str, Any] = Field(default_factory=dict, description="the service's intake form (its JSON Schema: "
                                 "GET /api/citizen/services/{code})")


class Fee(BaseModel):
    amount: float
    currency: str


class Applied(BaseModel):
    case: CitizenCase
    fee: Fee
    verify_originals: bool


class PaperSent(BaseModel):
    kind: str
    version: int
    filename: str
    size: int


@router.get("/api/citizen/services/{service_code}", dependencies=[allow("citizen.own")])
def online_service(service_code: str, session: SessionDep, settings: SettingsDep,
                   _phone: CitizenPhone) -> dict[str, Any]:
    """A service one may apply for online: its names, papers, fee rule and intake form (JSON Schema); 403 for a
    service not marked ``online``."""
    return apply.service_form(session=session, settings=settings, service_code=service_code[:100])


@router.post("/api/citizen/applications", dependencies=[allow("citizen.own")], response_model=Applied,
             status_code=201)
def apply_online(body: Application, phone: CitizenPhone, nid: CitizenNationalId, session: SessionDep,
                 settings: SettingsDep) -> Applied:
    """Apply for an online service: the case opens at the center named, in the channel ``citizen_portal``."""
    outcome, fee = apply.apply(session=session, settings=settings, phone=phone, service_code=body.service_code,
                               center=body.center, citizen=body.citizen.model_dump(exclude_none=True),
                               data=body.data, national_id=nid)
    assert outcome.case.id is not None
    case = requests.read_case(session=session, settings=settings, phone=phone, case_id=outcome.case.id,
                              national_id=nid)
    return Applied(case=CitizenCase.model_validate(case), fee=Fee(**fee),
                   verify_originals=apply.verifies(session, settings, outcome.case))


_PAPER_FORM: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["kind", "file"],
    "properties": {"kind": {"type": "string", "description": "a paper kind of the service"},
                   "file": {"type": "string", "format": "binary",
                            "description": "PDF, JPEG or PNG (a phone's photo)"}}}}}}}


@router.post("/api/citizen/cases/{case_id}/papers", dependencies=[allow("citizen.own")], response_model=PaperSent,
             status_code=201, openapi_extra=_PAPER_FORM)
async def add_paper(case_id: RowId, request: Request, phone: CitizenPhone, nid: CitizenNationalId,
                    session: SessionDep, settings: SettingsDep, store: StoreDep) -> PaperSent:
    """A paper of one's own online application (multipart ``kind``, ``file``), before it is registered."""
    def run(form: multipart.StreamingForm, size_hint: int | None) -> PaperSent:
        doc = apply.add_paper(session=session, settings=settings, store=store, phone=phone, case_id=case_id,
                              parts=form, size_hint=size_hint, national_id=nid)
        return PaperSent(kind=doc.kind, version=doc.version, filename=doc.filename, size=doc.size)

    return await multipart.read_streamed(request, run)


@router.post("/api/citizen/cases/{case_id}/submit", dependencies=[allow("citizen.own")], response_model=CitizenCase)
def submit(case_id: RowId, phone: CitizenPhone, nid: CitizenNationalId, session: SessionDep,
           settings: SettingsDep) -> dict[str, Any]:
    """Register one's online application (a service whose front desk needs no originals): 409 otherwise."""
    apply.submit(session=session, settings=settings, phone=phone, case_id=case_id, national_id=nid)
    return requests.read_case(session=session, settings=settings, phone=phone, case_id=case_id, national_id=nid)
