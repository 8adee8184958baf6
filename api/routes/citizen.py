"""The citizen's own API (engine/citizen/): a code by SMS, the token it buys, and their requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import CitizenPhone, ClientAddress, SessionDep, SettingsDep, allow
from api.params import RowId
from engine.citizen import requests, signin

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


class CitizenCase(CitizenCaseSummary):
    messages: list[CitizenMessage]
    documents: list[CitizenDocument]
    bills_due: list[CitizenBill]


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


@router.get("/api/citizen/cases", dependencies=[allow("citizen.own")], response_model=list[CitizenCaseSummary])
def my_cases(phone: CitizenPhone, session: SessionDep, settings: SettingsDep) -> list[dict[str, Any]]:
    return requests.list_cases(session=session, settings=settings, phone=phone)


@router.get("/api/citizen/cases/{case_id}", dependencies=[allow("citizen.own")], response_model=CitizenCase)
def my_case(case_id: RowId, phone: CitizenPhone, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    return requests.read_case(session=session, settings=settings, phone=phone, case_id=case_id)
