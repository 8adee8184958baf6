"""Fixed log-scale buckets for durations, so percentiles can be summed across days, centers and services.

Bucket 0 holds durations under one second; bucket ``b >= 1`` holds ``[2**((b-1)/4), 2**(b/4))`` seconds: four
buckets per doubling, each 19% wider than the one before. A percentile read from the buckets is the upper
bound of the bucket that holds it: never below the exact value, and at most 19% (``RATIO``) above it.
Averages are exact (each row keeps the sum of its seconds).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

PER_DOUBLING = 4
RATIO = 2 ** (1 / PER_DOUBLING)


def bucket(seconds: float) -> int:
    if seconds < 1:
        return 0
    b = math.floor(PER_DOUBLING * math.log2(seconds)) + 1
    # Guard against floating error at the exact bounds: the value must lie below the bucket's upper bound.
    if seconds >= upper(b):
        b += 1
    return b


def upper(b: int) -> float:
    """The upper bound of bucket ``b``, in seconds."""
    return 1.0 if b <= 0 else 2 ** (b / PER_DOUBLING)


def percentile(counts: Iterable[tuple[int, int]], q: float) -> float | None:
    """The ``q``-th percentile (0 < q <= 1, nearest rank) of ``(bucket, count)`` pairs, as a bucket's upper
    bound; None when there is nothing counted."""
    ordered = sorted((b, c) for b, c in counts if c > 0)
    total = sum(c for _, c in ordered)
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for b, c in ordered:
        seen += c
        if seen >= rank:
            return _tenths(upper(b))
    return _tenths(upper(ordered[-1][0]))  # pragma: no cover - the loop always reaches the rank


def _tenths(seconds: float) -> float:
    """Rounded up to a tenth of a second, so a percentile is never below the exact value."""
    return math.ceil(seconds * 10 - 1e-9) / 10
