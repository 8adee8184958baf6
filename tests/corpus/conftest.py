"""A one-paragraph summary of the corpus run at the end of the session (printed, never written to disk)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

#: "accepted", "started", "refused", "failed at start", filled by test_miwg.
OUTCOMES: Counter[str] = Counter()
#: The MIWG figure (test_miwg_figure): what bare SpiffWorkflow starts, what Shubbak deploys and starts.
FIGURE: Counter[str] = Counter()
#: The first refusal message of each refused file, with names and ids blanked so alike reasons group.
REASONS: Counter[str] = Counter()


def reason_key(message: str) -> str:
    key = re.sub(r"(?<!\w)'[^']*'(?!\w)|\([^()]*\)", "…", message)
    key = re.sub(r"^\d+ ", "N ", key)
    return key[:110] + ("…" if len(key) > 110 else "")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURE["files"]:
        terminalreporter.write_sep("-", "MIWG figure (bare SpiffWorkflow and Shubbak)")
        terminalreporter.write_line(
            f"{FIGURE['files']} files: the library starts {FIGURE['library starts']}; Shubbak deploys "
            f"{FIGURE['Shubbak deploys']} and starts {FIGURE['Shubbak starts']}; only the library "
            f"{FIGURE['only the library: safety'] + FIGURE['only the library: not reached']} "
            f"({FIGURE['only the library: safety']} for a safety rule, {FIGURE['only the library: not reached']} "
            f"for an element no case can run, not reached by the library's run); only Shubbak {FIGURE['only Shubbak']}")
    total = OUTCOMES["accepted"] + OUTCOMES["refused"]
    if not total:
        return
    terminalreporter.write_sep("-", "BPMN corpus (miwg)")
    terminalreporter.write_line(
        f"{total} files: {OUTCOMES['accepted']} accepted ({OUTCOMES['started']} start a case, "
        f"{OUTCOMES['failed at start']} fail while starting), {OUTCOMES['refused']} refused")
    for reason, count in REASONS.most_common(10):
        terminalreporter.write_line(f"  {count:4d}  {reason}")
