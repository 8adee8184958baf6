"""``shubbak reports rebuild``: count the report aggregates again from the cases and tasks (docs/leadership.md)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from engine.core.settings import Settings
from engine.reports.rebuild import rebuild
from storage.db import session_for


def cmd_rebuild(settings: Settings, _args: argparse.Namespace) -> int:
    started = time.perf_counter()
    with session_for(settings.database_url) as session:
        counted = rebuild(session.connection())
        session.commit()
    print(f"counted {counted['cases']} cases and {counted['tasks']} completed tasks "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def add_commands(sub: Any) -> None:
    reports = sub.add_parser("reports", help="leadership's figures").add_subparsers(dest="reports_command",
                                                                                    required=True)
    reports.add_parser("rebuild", help="count the report aggregates again from every case and task"
                       ).set_defaults(func=cmd_rebuild)
