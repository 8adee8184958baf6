"""``shubbak documents …``: check an official document's PDF offline, print the signing certificate."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cli.refusals import status
from engine.core.refusals import say
from engine.core.settings import Settings
from engine.outputs import certificate, public
from storage.db import session_for


def cmd_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when the PDF's signature holds against the certificate (and, with --record, the database has it
    as issued and valid); 1 otherwise."""
    content = Path(args.file).read_bytes()
    roots = certificate.load_pem(args.certificate) if args.certificate else None
    if args.record:
        with session_for(settings.database_url) as session:
            result = public.verify_file(session=session, content=content, settings=settings, roots=roots)
    else:
        result = public.verify_file(session=None, content=content, settings=settings, roots=roots)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if result["ok"]:
        print(f"OK: document {result['number']} is signed by this installation and unaltered")
        return 0
    print(status(settings, "NOT VALID", say("cli.document_not_valid")))
    return 1


def cmd_certificate(settings: Settings, _args: argparse.Namespace) -> int:
    print(certificate.certificate_pem(settings), end="")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    docs = sub.add_parser("documents", help="official documents").add_subparsers(dest="documents_command",
                                                                               required=True)
    ver = docs.add_parser("verify", help="check a document's PDF: its signature, offline")
    ver.add_argument("file")
    ver.add_argument("--certificate", help="a PEM certificate to trust instead of this installation's own")
    ver.add_argument("--record", action="store_true",
                     help="also check the database: the number is issued with this SHA-256 and still valid")
    ver.set_defaults(func=cmd_verify)
    docs.add_parser("certificate", help="print the certificate that signs the documents (PEM), to publish"
                    ).set_defaults(func=cmd_certificate)
