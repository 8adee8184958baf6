"""A citizen signs in with a code sent by SMS to the phone their requests carry.

``request_code`` answers the same whether or not the phone is known (the route's 202): it always stores a code
(hashed: HMAC-SHA-256 under a key of its own, never the digits) and writes the SMS to the outbox only when some
case carries that phone, so Shubbak texts no stranger. Asking is counted per phone and per client address
(``citizen_codes_per_*``), wrong codes per address (``citizen_wrong_codes_per_address``); a code is good for
``citizen_code_minutes`` and ``citizen_code_max_tries`` tries, and only the newest code of a phone counts.

``exchange`` turns the right code into a citizen token: a JWT signed by a key derived for citizens only, with
the audience ``shubbak-citizen`` and no session version, so no staff route accepts it (the staff's tokens are
signed by the secret itself and need ``sv``) and a staff token is no citizen token.

``add_national_id`` narrows a session to one person: a shared family phone signs in every member of the family,
so a citizen may add their national ID (checked as the desk checks it), and from then on their requests are the
cases carrying both that phone and that ID. The ID lives in the token itself, as the claim ``nid`` of a new
token signed like the first (same phone, same end of life): nothing is stored, nothing the client sends later is
believed, and a token without the claim keeps reading every case of the phone. A token already carrying an ID
is not moved to another (409); the same ID again gives a new token again (a retried request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete, insert, update
from sqlmodel import Session, col, select

from engine.cases.lifecycle import newest_first
from engine.core import clock, throttle
from engine.core.errors import Conflict, Invalid, Unauthorized
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people.identity import national_id_problem, normalise_national_id, normalise_phone
from forms.digits import ascii_digits
from storage.db import write_lock
from storage.models.base import tables
from storage.models.cases import Case
from storage.models.citizen import CitizenCode
from storage.models.messages import OutboxMessage

AUDIENCE = "shubbak-citizen"
KIND = "citizen"
CODE_DIGITS = 6

_OUTBOX, _CODES = tables(OutboxMessage, CitizenCode)

BODIES = {
    "ar": "رمز الدخول إلى شبّاك: {code}\nصالح {minutes} دقائق. لا تعطه لأحد، ولن يطلبه منك موظف.",
    "en": "Your Shubbak sign-in code: {code}\nValid for {minutes} minutes. Do not share it; no officer will ask.",
}


class TooManyCodes(throttle.Throttled):
    """Too many codes asked for one phone or from one address, or too many wrong codes from one address."""


def _key(settings: Settings, purpose: bytes) -> bytes:
    return hmac.new(settings.signing_secret.encode(), b"shubbak citizen " + purpose, hashlib.sha256).digest()


def _hash(settings: Settings, phone: str, code: str) -> str:
    return hmac.new(_key(settings, b"code"), f"{phone}\x00{code}".encode(), hashlib.sha256).hexdigest()


def phone_of(text: Any, settings: Settings) -> str:
    """The stored form of the phone a citizen typed; Invalid (422) when it is no phone number."""
    phone = normalise_phone(str(text or ""), settings) if isinstance(text, str) else None
    if phone is None:
        raise Invalid("citizen.phone_invalid", [problem("citizen.phone", "citizen.phone_not_a_phone",
                                                        loc=["body", "phone"], kind="value_error")])
    return phone


def _ask_rules(settings: Settings) -> tuple[throttle.Rule, throttle.Rule]:
    window = settings.citizen_code_window_seconds
    return (throttle.Rule.fixed("citizen-code-phone", limit=settings.citizen_codes_per_phone, window_seconds=window),
            throttle.Rule.fixed("citizen-code-address", limit=settings.citizen_codes_per_address,
                                window_seconds=window))


def _wrong_rule(settings: Settings) -> throttle.Rule:
    return throttle.Rule.fixed("citizen-wrong-code", limit=settings.citizen_wrong_codes_per_address,
                               window_seconds=settings.citizen_code_window_seconds)


def request_code(*, session: Session, settings: Settings, phone: Any, client: str | None,
                 now: datetime | None = None) -> None:
    """Store a new code for the phone and, when a case carries it, write its SMS to the outbox."""
    number = phone_of(phone, settings)
    by_phone, by_address = _ask_rules(settings)
    pairs = [(by_phone, number)] + ([(by_address, client)] if client else [])
    throttle.check(settings, "citizen.too_many_codes", *pairs, error=TooManyCodes)
    throttle.fail(settings, *pairs)  # every code asked for counts, sent or not
    moment = now or datetime.now(UTC)
    code = "".join(str(secrets.randbelow(10)) for _ in range(CODE_DIGITS))
    latest = session.exec(select(Case).where(Case.phone == number).order_by(*newest_first()).limit(1)).first()
    with write_lock(session):
        _store(session, settings, number, code, latest, moment)


def _store(session: Session, settings: Settings, number: str, code: str, latest: Case | None,
           moment: datetime) -> None:
    conn = session.connection()
    # Only the newest code of a phone counts: the older ones go, so a phone keeps one row at most.
    conn.execute(delete(_CODES).where(_CODES.c.phone == number))
    conn.execute(insert(_CODES).values(
        phone=number, code_hash=_hash(settings, number, code), tries=0, created_at=moment,
        expires_at=moment + timedelta(minutes=settings.citizen_code_minutes), used_at=None))
    if latest is not None:
        citizen = latest.data.get("citizen") if isinstance(latest.data, dict) else None
        language = citizen.get("language") if isinstance(citizen, dict) else None
        language = language if language in BODIES else "ar"
        body = BODIES[language].format(code=code, minutes=settings.citizen_code_minutes)
        conn.execute(insert(_OUTBOX).values(
            case_id=None, event_seq=None, stage="citizen_code", ref=None, channel="sms", recipient=number,
            language=language, subject=None, body=body,
            # Random: a code's row is replaced by the next one (SQLite may give the new row the same id).
            idempotency_key=secrets.token_hex(32), status="pending",
            attempts=0, next_attempt_at=moment, lease_until=None, last_error=None, gateway=None, gateway_ref=None,
            created_at=moment, sent_at=None))
    session.commit()


def exchange(*, session: Session, settings: Settings, phone: Any, code: Any, client: str | None,
             now: datetime | None = None) -> str:
    """The citizen token for the phone's newest code; Unauthorized (one answer for a wrong, expired, used or
    worn-out code, and for a phone with no code), counted per address."""
    number = phone_of(phone, settings)
    wrong = _wrong_rule(settings)
    pairs = [(wrong, client)] if client else []
    if pairs:
        throttle.check(settings, "citizen.too_many_codes", *pairs, error=TooManyCodes)
    moment = now or datetime.now(UTC)
    typed = ascii_digits(code.strip()) if isinstance(code, str) else ""
    found = session.exec(select(CitizenCode).where(CitizenCode.phone == number)
                         .order_by(col(CitizenCode.id).desc()).limit(1)).first()
    usable = (found is not None and found.used_at is None and found.tries < settings.citizen_code_max_tries
              and _aware(found.expires_at) > moment)
    if found is not None and usable:
        with write_lock(session):
            token = _try(session, settings, found, number, typed, moment)
        if token is not None:
            return token
    else:
        _hash(settings, number, typed)  # the same work as a real check
    if pairs:
        throttle.fail(settings, *pairs)
    raise Unauthorized("citizen.code_wrong")


def _try(session: Session, settings: Settings, found: CitizenCode, number: str, typed: str,
         moment: datetime) -> str | None:
    """Use one try of the code; the token when it is the right one (the try is committed either way)."""
    # One try used, atomically: two requests racing cannot both use the last try.
    counted = session.connection().execute(
        update(_CODES).where(_CODES.c.id == found.id, _CODES.c.tries < settings.citizen_code_max_tries,
                             _CODES.c.used_at.is_(None)).values(tries=_CODES.c.tries + 1)).rowcount
    right = hmac.compare_digest(found.code_hash, _hash(settings, number, typed))
    if counted == 1 and right:
        session.connection().execute(update(_CODES).where(_CODES.c.id == found.id).values(used_at=moment))
        session.commit()
        return issue_token(number, settings, moment)
    session.commit()
    return None


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def issue_token(phone: str, settings: Settings, now: datetime | None = None, *, national_id: str | None = None,
                expires: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    claims: dict[str, Any] = {"sub": phone, "kind": KIND, "aud": AUDIENCE, "iat": moment,
                              "exp": expires or moment + timedelta(minutes=settings.citizen_token_minutes)}
    if national_id is not None:
        claims["nid"] = national_id
    return jwt.encode(claims, _key(settings, b"token"), algorithm="HS256")


def _claims(token: str | None, settings: Settings) -> dict[str, Any]:
    if not token:
        raise Unauthorized("citizen.sign_in_first")
    try:
        claims: dict[str, Any] = jwt.decode(token, _key(settings, b"token"), algorithms=["HS256"],
                                            audience=AUDIENCE, options={"require": ["sub", "exp", "aud", "kind"]})
    except jwt.PyJWTError as exc:
        raise Unauthorized("citizen.token_invalid") from exc
    if claims.get("kind") != KIND or not isinstance(claims.get("sub"), str):
        raise Unauthorized("citizen.token_invalid")
    if "nid" in claims and not isinstance(claims["nid"], str):
        raise Unauthorized("citizen.token_invalid")
    return claims


def phone_from_token(token: str | None, settings: Settings) -> str:
    """The phone a citizen token was issued to; Unauthorized for anything else (a staff token included)."""
    return str(_claims(token, settings)["sub"])


def who_from_token(token: str | None, settings: Settings) -> tuple[str, str | None]:
    """The phone a citizen token was issued to and the national ID the citizen added to it (None: not added)."""
    claims = _claims(token, settings)
    return str(claims["sub"]), claims.get("nid")


def national_id_of(text: Any, settings: Settings) -> str:
    """The stored form of the national ID a citizen typed (Arabic-Indic digits too); Invalid (422) with the desk's
    words when the desk would refuse it."""
    nid = normalise_national_id(text) if isinstance(text, str) else ""
    wrong = national_id_problem(nid, settings)
    if wrong is not None:
        raise Invalid("citizen.national_id_invalid", [problem("citizen.national_id", wrong,
                                                              loc=["body", "national_id"], kind="value_error")])
    return nid


def add_national_id(token: str | None, settings: Settings, national_id: Any,
                    now: datetime | None = None) -> tuple[str, datetime]:
    """A new token for the same phone carrying the national ID, ending when the old one ends; Conflict when the
    token already carries another ID."""
    claims = _claims(token, settings)
    nid = national_id_of(national_id, settings)
    if claims.get("nid") not in (None, nid):
        raise Conflict("citizen.national_id_already_set")
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    return issue_token(str(claims["sub"]), settings, now, national_id=nid, expires=expires), expires


def forget_codes(*, session: Session, settings: Settings, now: datetime | None = None) -> int:
    """Delete the codes expired or used more than ``citizen_code_keep_hours`` ago (the periodic job); how many.
    A live code stays, and so does a spent one for a while (to answer what happened to a code)."""
    moment = now or clock.now()
    cutoff = moment - timedelta(hours=settings.citizen_code_keep_hours)
    result: Any = session.connection().execute(
        delete(_CODES).where((_CODES.c.expires_at < cutoff) | (_CODES.c.used_at < cutoff)))
    session.commit()
    return int(result.rowcount or 0)
