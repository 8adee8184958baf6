"""Citizens' ratings per service (storage/models/ratings.py), counted on the day they were given."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from engine.reports.scope import Scope
from storage.models.base import table
from storage.models.ratings import Rating

_RATINGS = table(Rating)
SCORES = ("happy", "neutral", "unhappy")


def by_service(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Per service: ratings given in the range by score, and the share of happy ones."""
    start = datetime.combine(scope.start, time(), tzinfo=UTC)
    end = datetime.combine(scope.end + timedelta(days=1), time(), tzinfo=UTC)
    query = (select(_RATINGS.c.service_code, _RATINGS.c.score, func.count())
             .where(_RATINGS.c.created_at >= start, _RATINGS.c.created_at < end))
    if scope.center_ids is not None:
        query = query.where(func.coalesce(_RATINGS.c.center_id, 0).in_(sorted(scope.center_ids)))
    if scope.service_code:
        query = query.where(_RATINGS.c.service_code == scope.service_code)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(SCORES, 0))
    for service_code, score, count in conn.execute(query.group_by(_RATINGS.c.service_code, _RATINGS.c.score)):
        counts[service_code][score] = int(count)
    out = []
    for service_code, row in sorted(counts.items()):
        rated = sum(row.values())
        out.append({"service_code": service_code, **row, "rated": rated,
                    "happy_share": round(row["happy"] / rated, 4) if rated else None})
    return out
