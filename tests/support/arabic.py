"""What every refusal of the API must carry (api/errors.py): its English and its Arabic, and Arabic beside the
English of each of its problems."""

from __future__ import annotations

import re
from typing import Any

ARABIC_LETTERS = re.compile(r"[\u0621-\u064a]")  # hamza to yeh: letters, not punctuation or digits


def is_arabic(text: Any) -> bool:
    """Arabic prose: a non-empty string with several Arabic letters."""
    return isinstance(text, str) and len(ARABIC_LETTERS.findall(text)) >= 3


def assert_arabic(response: Any, message_id: str | None = None) -> dict[str, Any]:
    """The refusal's body, once it is checked: ``message`` in English, ``message_ar`` in Arabic, the id when
    one is named, and each problem of a list ``detail`` with Arabic beside its English."""
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("message"), str) and body["message"], body
    assert is_arabic(body.get("message_ar")), body
    assert "message_id" in body, body
    if message_id is not None:
        assert body["message_id"] == message_id, body
    if isinstance(body["detail"], list):
        for problem in body["detail"]:
            english, arabic = ("msg", "msg_ar") if "msg" in problem else ("message", "message_ar")
            assert english in problem and is_arabic(problem.get(arabic)), problem
    else:
        assert isinstance(body["detail"], str) and body["detail"], body
    return body
