"""Charts drawn on the server as inline SVG (no script, so the pages' CSP holds): bars and a daily line.

The functions return geometry only; templates/_charts.html draws it. Every bar and point carries its value in
``data-value`` (and its label as text), which is what a reader's screen reader and the browser test read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

WIDTH, HEIGHT, PAD, LABEL_ROOM = 640, 220, 28, 40


@dataclass
class Bar:
    key: str
    label: str
    value: float
    text: str
    x: float
    y: float
    width: float
    height: float


def bars(items: list[tuple[str, str, float, str]], *, top: float | None = None) -> dict[str, Any]:
    """``(key, label, value, text)`` per bar; heights are value / top (the largest value, or ``top``: 1 for
    shares) of the drawing's height."""
    scale = top if top is not None else max([v for _, _, v, _ in items] or [0]) or 1
    room = HEIGHT - PAD - LABEL_ROOM
    slot = (WIDTH - 2 * PAD) / max(len(items), 1)
    out = []
    for i, (key, label, value, text) in enumerate(items):
        height = round(room * (value / scale), 1)
        out.append(Bar(key=key, label=label, value=value, text=text, x=round(PAD + i * slot + slot * 0.15, 1),
                       y=round(PAD + room - height, 1), width=round(slot * 0.7, 1), height=height))
    return {"bars": out, "width": WIDTH, "height": HEIGHT, "base": PAD + room, "scale": scale}


def line(points: list[tuple[str, float]]) -> dict[str, Any]:
    """One point per day, left to right in time (the chart is drawn left to right in both languages)."""
    top = max([v for _, v in points] or [0]) or 1
    room = HEIGHT - PAD - LABEL_ROOM
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)
    drawn = [{"day": day, "value": value, "x": round(PAD + i * step, 1),
              "y": round(PAD + room - room * value / top, 1)} for i, (day, value) in enumerate(points)]
    return {"points": drawn, "path": " ".join(f"{p['x']},{p['y']}" for p in drawn), "width": WIDTH,
            "height": HEIGHT, "base": PAD + room, "top": top,
            "first": drawn[0]["day"] if drawn else "", "last": drawn[-1]["day"] if drawn else ""}
