"""Who may read the figures, and over what: dates, centers, service, department."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session

from engine.core import clock
from engine.core.errors import Forbidden, Invalid
from engine.core.refusals import problem
from engine.core.settings import Settings
from engine.people import centers, policy
from engine.people.users import Actor

# Days a range may name: wide of any real figures, narrow enough that the day and month arithmetic stays in
# the calendar (a range ending in December 9999 would run past date.max).
EARLIEST, LATEST = date(1900, 1, 1), date(9998, 12, 31)


@dataclass(frozen=True)
class Scope:
    """``start``..``end`` are UTC days, both included. ``center_ids`` None: every center (and cases of none)."""

    start: date
    end: date
    center_ids: frozenset[int] | None = None
    service_code: str | None = None
    lane: str | None = None

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def scope_for(*, session: Session, actor: Actor, settings: Settings, start: date | None = None,
              end: date | None = None, center: str | None = None, service_code: str | None = None,
              lane: str | None = None) -> Scope:
    """The checked scope: Forbidden for other roles or a center outside the actor's; Invalid for a reversed or
    too long range. Without dates: the last ``report_default_days`` days up to today in the display time zone."""
    policy.require(actor, "reports.read", settings)
    for field, day in (("from", start), ("to", end)):
        if day is not None and not EARLIEST <= day <= LATEST:
            raise Invalid("reports.dates_out_of_range", [problem(field, "field.date_between", loc=["query", field],
                                                                 kind="range", earliest=EARLIEST, latest=LATEST)])
    # Today where the centers are: their collections are counted by their days (engine/payments/ledger.py), and a
    # range ending on the UTC day would leave out what was paid after midnight there.
    end = end or clock.now().astimezone(ZoneInfo(settings.display_timezone)).date()
    start = start or end - timedelta(days=settings.report_default_days - 1)
    if start > end:
        raise Invalid("reports.range_reversed",
                      [problem("from", "field.on_or_before_to", loc=["query", "from"], kind="range")])
    if (end - start).days + 1 > settings.report_max_days:
        raise Invalid("reports.range_too_long",
                      [problem("to", "field.days_after_from", loc=["query", "to"], kind="range",
                               days=settings.report_max_days)],
                      report_max_days=settings.report_max_days)
    visible = policy.centers_seen(session, actor)
    chosen: set[int] | None = visible
    if center:
        wanted = centers.by_code(session, center)
        assert wanted.id is not None
        if visible is not None and wanted.id not in visible:
            raise Forbidden("reports.center_not_seen", center=center)
        chosen = centers.below(session, wanted.id)
    return Scope(start=start, end=end, center_ids=frozenset(chosen) if chosen is not None else None,
                 service_code=service_code or None, lane=lane or None)
