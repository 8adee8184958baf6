"""``shubbak users list|deactivate|activate|passwd|sign-out``: the user lifecycle from the command line.

Every change is recorded as an event of the user, by ``cli`` (engine/people/user_events.py).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from sqlmodel import Session

from cli.refusals import tell
from engine.core.errors import Invalid
from engine.core.settings import Settings
from engine.people import accounts
from engine.people.users import Actor
from storage.db import session_for

CLI_ACTOR = Actor("cli", frozenset({"admin"}), "Command line")


def _session(settings: Settings) -> Session:
    return session_for(settings.database_url)


def cmd_list(settings: Settings, args: argparse.Namespace) -> int:
    active = {"yes": True, "no": False}.get(args.active) if args.active else None
    with _session(settings) as session:
        page = accounts.list_users(session, role=args.role, center_code=args.center, active=active,
                                   limit=args.limit, offset=args.offset)
        for u in page.users:
            state = "active" if u.active else "DEACTIVATED"
            print(f"{u.username:<24} {state:<11} {','.join(u.roles) or '-':<40} {u.full_name}")
    print(f"{len(page.users)} of {page.total} user(s)")
    return 0


def _change(settings: Settings, username: str, changes: dict[str, Any]) -> None:
    with _session(settings) as session:
        accounts.update_user(session=session, username=username, changes=changes, actor=CLI_ACTOR,
                             settings=settings)


def cmd_deactivate(settings: Settings, args: argparse.Namespace) -> int:
    _change(settings, args.username, {"active": False})
    print(f"user {args.username} deactivated; every sign-in of theirs has ended")
    return 0


def cmd_activate(settings: Settings, args: argparse.Namespace) -> int:
    _change(settings, args.username, {"active": True})
    print(f"user {args.username} is active again")
    return 0


def _new_password(settings: Settings, args: argparse.Namespace) -> str | None:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        tell(settings, "cli.passwords_differ")
        return None
    return first


def cmd_passwd(settings: Settings, args: argparse.Namespace) -> int:
    password = _new_password(settings, args)
    if password is None:
        return 1
    try:
        _change(settings, args.username, {"password": password})
    except Invalid as exc:
        tell(settings, exc)
        return 1
    print(f"password of {args.username} set; every sign-in of theirs has ended")
    return 0


def cmd_sign_out(settings: Settings, args: argparse.Namespace) -> int:
    with _session(settings) as session:
        accounts.sign_out(session=session, username=args.username, actor=CLI_ACTOR.username)
    print(f"every sign-in of {args.username} has ended")
    return 0


def add_commands(users: Any) -> None:
    """Add the lifecycle commands to the ``users`` sub-command group."""
    ls = users.add_parser("list", help="list users (filter by role, center, state)")
    ls.add_argument("--role")
    ls.add_argument("--center", help="a center's code")
    ls.add_argument("--active", choices=["yes", "no"])
    ls.add_argument("--limit", type=int, default=1000)
    ls.add_argument("--offset", type=int, default=0)
    ls.set_defaults(func=cmd_list)
    for name, func, text in (("deactivate", cmd_deactivate, "deactivate a user and end their sign-ins"),
                             ("activate", cmd_activate, "let a deactivated user sign in again"),
                             ("sign-out", cmd_sign_out, "end every sign-in of a user")):
        one = users.add_parser(name, help=text)
        one.add_argument("username")
        one.set_defaults(func=func)
    pw = users.add_parser("passwd", help="set a user's password (prompted twice) and end their sign-ins")
    pw.add_argument("username")
    pw.add_argument("--password-stdin", action="store_true", help="read the password from the first line of stdin")
    pw.set_defaults(func=cmd_passwd)
