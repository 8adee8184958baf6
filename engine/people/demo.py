"""Demo users of every role for the embedded default (``make run``); never created in production.

The demo also has a small tree of service centers (a governorate, two cities, a district) with a clerk in
each city and the district, and a leader of the governorate who sees all three below it (engine/people/centers.py).
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from engine.core.settings import Settings
from engine.people.users import create_user
from storage.models.centers import Center
from storage.models.people import User

DEMO_PASSWORD = "shubbak-demo"  # noqa: S105 - printed on start of the demo, refused in production

# (code, Arabic name, English name, level, parent code)
DEMO_CENTERS: list[tuple[str, str, str, str, str | None]] = [
    ("GIZ", "محافظة الجيزة", "Giza Governorate", "governorate", None),
    ("GIZ-DOK", "مركز خدمات الدقي", "Dokki service center", "city", "GIZ"),
    ("GIZ-HAR", "مركز خدمات الهرم", "Haram service center", "city", "GIZ"),
    ("GIZ-DOK-MOH", "مكتب المهندسين", "Mohandessin office", "district", "GIZ-DOK"),
]

# (username, full name, roles, center code or None for every center)
DEMO_USERS: list[tuple[str, str, list[str], str | None]] = [
    ("admin", "مدير النظام — System administrator", ["admin"], None),
    ("analyst", "محللة الأعمال — Business analyst", ["analyst"], None),
    ("supervisor", "المشرف — Supervisor", ["supervisor"], None),
    ("auditor", "المراجع — Auditor", ["auditor"], None),
    ("clerk", "موظف الشباك — Front-desk clerk", ["front_desk"], "GIZ-DOK"),
    ("cashier", "أمين الخزينة — Cashier", ["cashier"], "GIZ-DOK"),
    ("engineer", "مهندس المراجعة — Engineering reviewer", ["engineering"], None),
    ("registrar", "موظف السجل المدني — Civil registry officer", ["civil_registry"], None),
    ("municipal", "الخدمات البلدية — Municipal services officer", ["municipal_services"], None),
    ("utilities", "المرافق — Utilities officer", ["utilities"], None),
    ("licensing", "التراخيص — Licensing officer", ["licensing"], None),
    ("civildefense", "الحماية المدنية — Civil defence inspector", ["civil_defense"], None),
    ("traffic", "وحدة المرور — Traffic officer", ["traffic"], None),
    ("inspector", "الفحص الفني — Vehicle inspector", ["vehicle_inspection"], None),
    ("doctor", "اللجنة الطبية — Medical commission doctor", ["medical_commission"], None),
    ("health", "مكتب الصحة — Health office officer", ["health_office"], None),
    ("notary", "مكتب التوثيق — Notary", ["notary"], None),
    ("researcher", "الباحث الاجتماعي — Social researcher", ["social_affairs"], None),
    ("clerk_haram", "موظف شباك الهرم — Haram front-desk clerk", ["front_desk"], "GIZ-HAR"),
    ("clerk_mohandessin", "موظف شباك المهندسين — Mohandessin front-desk clerk", ["front_desk"], "GIZ-DOK-MOH"),
    ("governor", "قيادة المحافظة — Governorate leadership", ["supervisor"], "GIZ"),
]


def ensure_demo_centers(session: Session) -> dict[str, int]:
    """Create the demo centers that are missing; returns each demo center's id by code."""
    ids: dict[str, int] = {}
    for code, name_ar, name_en, level, parent in DEMO_CENTERS:
        center = session.exec(select(Center).where(col(Center.code) == code)).first()
        if center is None:
            center = Center(code=code, name_ar=name_ar, name_en=name_en, level=level,
                            parent_id=ids[parent] if parent else None)
            session.add(center)
            session.commit()
            session.refresh(center)
        assert center.id is not None
        ids[code] = center.id
    return ids


def ensure_demo_users(session: Session, settings: Settings) -> list[tuple[str, list[str]]]:
    """Create the demo centers and users that are missing; returns every demo user with its roles."""
    centers = ensure_demo_centers(session)
    for username, full_name, roles, center in DEMO_USERS:
        if session.exec(select(User.id).where(User.username == username)).first() is None:
            create_user(session=session, username=username, password=DEMO_PASSWORD, full_name=full_name,
                        roles=roles, settings=settings, center_id=centers[center] if center else None,
                        installation_wide=not center)
    return [(u, r) for u, _, r, _ in DEMO_USERS]
