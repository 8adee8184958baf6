"""Demo users of every role for the embedded default (``make run``); never created in production."""

from __future__ import annotations

from sqlmodel import Session, select

from engine.settings import Settings
from engine.users import create_user
from storage.models import User

DEMO_PASSWORD = "shubbak-demo"  # noqa: S105 - printed on start of the demo, refused in production

DEMO_USERS: list[tuple[str, str, list[str]]] = [
    ("admin", "مدير النظام — System administrator", ["admin"]),
    ("analyst", "محللة الأعمال — Business analyst", ["analyst"]),
    ("supervisor", "المشرف — Supervisor", ["supervisor"]),
    ("auditor", "المراجع — Auditor", ["auditor"]),
    ("clerk", "موظف الشباك — Front-desk clerk", ["front_desk"]),
    ("engineer", "مهندس المراجعة — Engineering reviewer", ["engineering"]),
    ("registrar", "موظف السجل المدني — Civil registry officer", ["civil_registry"]),
    ("municipal", "الخدمات البلدية — Municipal services officer", ["municipal_services"]),
    ("utilities", "المرافق — Utilities officer", ["utilities"]),
    ("licensing", "التراخيص — Licensing officer", ["licensing"]),
]


def ensure_demo_users(session: Session, settings: Settings) -> list[tuple[str, list[str]]]:
    """Create the demo users that are missing; returns every demo user with its roles."""
    for username, full_name, roles in DEMO_USERS:
        if session.exec(select(User.id).where(User.username == username)).first() is None:
            create_user(session=session, username=username, password=DEMO_PASSWORD, full_name=full_name,
                        roles=roles, settings=settings)
    return [(u, r) for u, _, r in DEMO_USERS]
