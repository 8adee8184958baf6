"""A one-paragraph summary of the corpus run at the end of the session (printed, never written to disk)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

#: "accepted", "started", "refused", "failed at start", filled by test_miwg.
OUTCOMES: Counter[str] = Counter()
#: The first refusal message of each refused file, with names and ids blanked so alike reasons group.
REASONS: Counter[str] = Counter()


def reason_key(message: str) -> str:
    key = re.sub(r"(?<!\w)'[^']*'(?!\w)|\([^()]*\)", "…", message)
    key = re.sub(r"^\d+ ", "N ", key)
    return key[:110] + ("…" if len(key) > 110 else "")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    total = OUTCOMES["accepted"] + OUTCOMES["refused"]
    if not total:
        return
    terminalreporter.write_sep("-", "BPMN corpus (miwg)")
    terminalreporter.write_line(
        f"{total} files: {OUTCOMES['accepted']} accepted ({OUTCOMES['started']} start a case, "
        f"{OUTCOMES['failed at start']} fail while starting), {OUTCOMES['refused']} refused")
    for reason, count in REASONS.most_common(10):
        terminalreporter.write_line(f"  {count:4d}  {reason}")
