"""What a citizen sees without signing in: the status of their request, and nothing personal."""

from __future__ import annotations

import hmac
from typing import Any

from sqlmodel import Session, select

from engine import complaints, processes, throttle, tracking
from engine.errors import NotFound
from engine.settings import Settings
from forms.digits import ascii_digits, only_ascii_digits
from storage.models import Case, Task

_NOT_FOUND = "tracking.no_match"


class TooManyAttempts(throttle.Throttled):
    """Too many wrong guesses for one tracking number, or from one address, in the window."""


def guess_rules(settings: Settings) -> tuple[throttle.Rule, throttle.Rule]:
    """(per tracking number, per client address): wrong phone digits, wrong rating links."""
    window = settings.public_track_window_seconds
    return (throttle.Rule.fixed("track-number", limit=settings.public_track_max_failures, window_seconds=window),
            throttle.Rule.fixed("track-address", limit=settings.public_track_max_failures_per_address,
                                window_seconds=window))


def check_guesses(settings: Settings, number: str, client: str | None) -> list[tuple[throttle.Rule, str]]:
    """TooManyAttempts while this number or this address must wait; the pairs to count a wrong guess against."""
    by_number, by_address = guess_rules(settings)
    pairs = [(by_number, number)] + ([(by_address, client)] if client else [])
    throttle.check(settings, "tracking.too_many_attempts", *pairs,
                   error=TooManyAttempts)
    return pairs


def verified_case(*, session: Session, tracking_number: str, phone_last4: str, settings: Settings,
                  client: str | None = None) -> Case:
    """The case of a tracking number whose phone ends in ``phone_last4``; NotFound otherwise, counted per number
    and per client address (TooManyAttempts past the limit)."""
    number = tracking.normalise(tracking_number)
    last4 = ascii_digits(phone_last4.strip())
    pairs = check_guesses(settings, number, client)
    case = session.exec(select(Case).where(Case.tracking_number == number)).first() if tracking.is_valid(
        number) else None
    # Same answer for an unknown number and wrong digits: the endpoint must not confirm that a number exists.
    if case is None or len(last4) != 4 or not only_ascii_digits(last4) or not hmac.compare_digest(
            case.phone[-4:].encode(), last4.encode()):
        throttle.fail(settings, *pairs)
        raise NotFound(_NOT_FOUND)
    return case


def track(*, session: Session, tracking_number: str, phone_last4: str, settings: Settings,
          client: str | None = None) -> dict[str, Any]:
    case = verified_case(session=session, tracking_number=tracking_number, phone_last4=phone_last4,
                         settings=settings, client=client)
    process = processes.cache.get(session, case.process_version_id, settings)
    ready = session.exec(select(Task.name).where(Task.case_id == case.id, Task.state == "ready")).all()
    titles_ar = [process.user_tasks[n].title_ar or process.user_tasks[n].title
                 for n in ready if n in process.user_tasks]
    # A resolved complaint the citizen may still reopen reads as resolved, with the end of that time.
    reopen_until = complaints.window_end(session, case)
    return {"tracking_number": case.tracking_number,
            "service": {"code": case.service_code, "name": process.service.name.model_dump()
                        if process.service.name else None},
            "status": "resolved" if reopen_until is not None else case.status,
            "current_step": case.current_step,
            "current_step_ar": "، ".join(dict.fromkeys(titles_ar)) or None, "updated_at": case.updated_at,
            "reopen_until": reopen_until}
