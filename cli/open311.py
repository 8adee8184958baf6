"""``shubbak open311 add-key NAME`` and ``revoke-key NAME``: the api_key of an outside application that files
Open311 requests (docs/api.md, "Open311"). The key is printed once; only its hash is kept."""

from __future__ import annotations

import argparse

from engine.citizen import open311_keys
from engine.core.settings import Settings
from engine.people.users import Actor
from storage.db import session_for

CLI_ADMIN = Actor("cli", frozenset({"admin"}), "Command line")  # issuing keys is the admins' (users.manage)


def cmd_add_key(settings: Settings, args: argparse.Namespace) -> int:
    with session_for(settings.database_url) as session:
        row, api_key = open311_keys.issue(session=session, name=args.name, actor=CLI_ADMIN)
    print(f"api_key for {row.name} (shown once, keep it secret): {api_key}")
    return 0


def cmd_revoke_key(settings: Settings, args: argparse.Namespace) -> int:
    with session_for(settings.database_url) as session:
        row = open311_keys.revoke(session=session, name=args.name, actor=CLI_ADMIN)
    print(f"api_key of {row.name} revoked")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    o311 = sub.add_parser("open311", help="Open311 GeoReport v2: keys of outside applications"
                          ).add_subparsers(dest="open311_command", required=True)
    for name, words, func in (("add-key", "issue an api_key to an outside application", cmd_add_key),
                              ("revoke-key", "revoke an application's api_key", cmd_revoke_key)):
        command = o311.add_parser(name, help=words)
        command.add_argument("name")
        command.set_defaults(func=func)
