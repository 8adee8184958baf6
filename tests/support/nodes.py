"""A center node's database in tests: what central writes (users, deploys, centers) arrives by replication, so a
test writes it as central would (``at_central``), then works as the center node."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.api import Api
from storage import nodes


@contextmanager
def at_central(url: str) -> Iterator[None]:
    """What central does (a user, a deploy), as replication brings it to the center node's database."""
    role = nodes.role_of(url)
    nodes.configure(url, "central", None)
    try:
        yield
    finally:
        nodes.configure(url, *role)


class CenterApi(Api):
    """The API of a center node whose users and services come from central."""

    def user(self, *roles: str, username: str | None = None, password: str = "correct horse",
             center_id: int | None = None) -> dict[str, str]:
        with at_central(self.settings.database_url):
            return super().user(*roles, username=username, password=password, center_id=center_id)

    def deploy(self, folder: Path, headers: dict[str, str]) -> Any:
        """The deploy made at central, its rows replicated here."""
        from types import SimpleNamespace

        from harness.pages import deploy

        with at_central(self.settings.database_url):
            deploy(self.settings, folder)
        return SimpleNamespace(status_code=201, text="")

    def deploy_here(self, folder: Path, headers: dict[str, str]) -> Any:
        """A deploy asked of the center node itself."""
        return super().deploy(folder, headers)
