"""Citizens rate a completed case: three faces and an optional reason, once per case.

The link sent when a case completes carries a token: an HMAC of the tracking number under a key derived from
the installation's secret. Whoever holds the link may rate that one case and no other; a wrong token gets the
same answer as an unknown case, so the link reveals nothing about other numbers.

A rating is the citizen's: besides the link, only the front desk of the case's center may hand the counter's
tablet to the citizen (engine/people/policy.py ``rating.desk``). No other role casts one, whatever it may read: an
auditor or a supervisor who could would use up the citizen's one rating.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from engine.cases import lifecycle as cases
from engine.core import clock, nodes, throttle, tracking
from engine.core.errors import Conflict, Invalid, NotFound
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people.users import Actor
from storage.db import write_lock
from storage.models.cases import Case
from storage.models.ratings import Rating

SCORES = ("happy", "neutral", "unhappy")
# Reasons a citizen may pick instead of (or besides) writing one; the pages word them (admin_ui/i18n.py).
REASONS = ("waiting_time", "staff_courtesy", "clear_information", "speed", "fees", "documents_asked")

_NOT_FOUND = "ratings.no_match"



@dataclass(frozen=True)
class RatingInput:
    score: str
    reason_code: str | None = None
    reason: str | None = None


def check_input(given: RatingInput, settings: Settings) -> RatingInput:
    """The rating cleaned up, or Invalid naming each wrong field."""
    problems: list[dict[str, Any]] = []
    if given.score not in SCORES:
        problems.append(problem("score", "field.choose_one_of", loc=["body", "score"], kind="enum",
                                choices=", ".join(SCORES)))
    code = (given.reason_code or "").strip() or None
    if code is not None and code not in REASONS:
        problems.append(problem("reason_code", "field.choose_one_of", loc=["body", "reason_code"], kind="enum",
                                choices=", ".join(REASONS)))
    reason = (given.reason or "").strip() or None
    if reason is not None and len(reason) > settings.rating_reason_max_chars:
        problems.append(problem("reason", "field.at_most_chars", loc=["body", "reason"], kind="too_long",
                                count=settings.rating_reason_max_chars))
    if problems:
        raise Invalid("ratings.invalid", problems)
    return RatingInput(score=given.score, reason_code=code, reason=reason)


def case_of_link(*, session: Session, tracking_number: str, token: str, settings: Settings,
                 client: str | None = None) -> Case:
    """The case a rating link names, or NotFound: an unknown number and a wrong token get the same answer.

    Wrong links count against the tracking number like wrong phone digits on the tracking page (429)."""
    number = tracking.normalise(tracking_number)
    pairs = tracking.check_guesses(settings, number, client)
    case = (session.exec(select(Case).where(Case.tracking_number == number)).first()
            if tracking.is_valid(number) else None)
    if case is None or not tracking.token_matches(number, token, settings):
        throttle.fail(settings, *pairs)
        raise NotFound(_NOT_FOUND)
    return case


def check_rateable(session: Session, case: Case) -> None:
    """Conflict unless the case is completed and not rated yet."""
    if case.status != "completed":
        raise Conflict("ratings.not_completed", status=case.status)
    if session.exec(select(Rating.id).where(Rating.case_id == case.id)).first() is not None:
        raise Conflict(ALREADY_RATED)


ALREADY_RATED = "ratings.already_rated"


def rate(*, session: Session, tracking_number: str, token: str, rating: RatingInput,
         settings: Settings, client: str | None = None) -> Rating:
    """The citizen rates their case from the link sent when it completed."""
    given = check_input(rating, settings)
    case = case_of_link(session=session, tracking_number=tracking_number, token=token, settings=settings,
                        client=client)
    return _store(session, case, given, channel="link", opened_by=None)


def rate_at_desk(*, session: Session, case_id: int, rating: RatingInput, actor: Actor,
                 settings: Settings) -> Rating:
    """The citizen rates on the counter's tablet, on a page the front desk of the case's center opened."""
    case = cases.get_case(session=session, case_id=case_id, actor=actor, settings=settings, action="rating.desk")
    given = check_input(rating, settings)
    return _store(session, case, given, channel="desk", opened_by=actor.username)


def get_rating(*, session: Session, case_id: int, actor: Actor, settings: Settings) -> Rating:
    """A case's rating, for staff who may read the case; NotFound when it has not been rated."""
    cases.get_case(session=session, case_id=case_id, actor=actor, settings=settings)
    found = session.exec(select(Rating).where(Rating.case_id == case_id)).first()
    if found is None:
        raise NotFound("ratings.not_rated")
    return found


def _store(session: Session, case: Case, given: RatingInput, *, channel: str, opened_by: str | None) -> Rating:
    assert case.id is not None
    nodes.refuse_elsewhere(session, case.node)  # rated where the case is worked on (engine/core/nodes.py)
    check_rateable(session, case)
    row = Rating(case_id=case.id, service_code=case.service_code, center_id=getattr(case, "center_id", None),
                 clerk=case.created_by, score=given.score, reason_code=given.reason_code, reason=given.reason,
                 channel=channel, opened_by=opened_by, created_at=clock.now())
    with write_lock(session):
        session.add(row)
        try:
            session.commit()
        except IntegrityError as exc:  # the unique case_id: a second rating that arrived at the same moment
            session.rollback()
            raise Conflict(ALREADY_RATED) from exc
    session.refresh(row)
    return row
