"""Run the Alembic migrations of ``storage/migrations`` against a database URL."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser treats % as interpolation: escape it (passwords in URLs may contain it).
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def revision(url: str, message: str) -> None:
    command.revision(alembic_config(url), message=message, autogenerate=True)


@lru_cache(maxsize=1)
def heads() -> frozenset[str]:
    """The revisions the code's migrations end at."""
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def current_heads(conn: Connection) -> frozenset[str]:
    """The revisions the database on ``conn`` is at."""
    from alembic.migration import MigrationContext

    return frozenset(MigrationContext.configure(conn).get_current_heads())
