"""Helpers to drive the pages in tests: users with roles, signing in, forms with their CSRF token."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from sqlmodel import Session

from engine.catalog import processes
from engine.catalog.packages import read_package
from engine.core.settings import Settings
from engine.people import centers
from engine.people.users import Actor, create_user
from storage.db import engine_for

PASSWORD = "correct horse"
DEPLOYER = Actor("tests", frozenset({"admin"}), "Tests")
_counter = itertools.count(1)
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def deploy(settings: Settings, folder: Path) -> None:
    with Session(engine_for(settings.database_url)) as session:
        processes.deploy(session=session, files=read_package(folder), actor=DEPLOYER, settings=settings)


def add_user(settings: Settings, *roles: str, username: str | None = None, full_name: str | None = None) -> str:
    name = username or f"p{next(_counter)}_{'_'.join(roles) or 'none'}"[:60]
    with Session(engine_for(settings.database_url)) as session:
        create_user(session=session, username=name, password=PASSWORD, full_name=full_name or name.title(),
                    roles=list(roles), settings=settings, installation_wide=True)
    return name


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


class Pages:
    """A browser-like client of the pages (cookies kept), plus ways to make users and sign them in."""

    def __init__(self, client: TestClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    def user(self, *roles: str, username: str | None = None, full_name: str | None = None) -> str:
        return add_user(self.settings, *roles, username=username, full_name=full_name)

    def token(self, path: str = "/login") -> str:
        return csrf_of(self.client.get(path).text)

    def post(self, path: str, data: dict[str, Any], *, token_from: str = "/login", **kw: Any) -> httpx.Response:
        return self.client.post(path, data={"csrf_token": self.token(token_from), **data}, **kw)

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        return self.post("/login", {"username": username, "password": password})

    def sign_out(self) -> httpx.Response:
        return self.post("/logout", {}, token_from="/track")

    def as_user(self, *roles: str, full_name: str | None = None) -> str:
        name = self.user(*roles, full_name=full_name)
        self.sign_out()
        r = self.sign_in(name)
        assert r.status_code == 303, r.text
        return name


def center_tree(session: Session, *below: tuple[str, str, str]) -> dict[str, int]:
    """A governorate (GOV) with two cities (CITY-A, CITY-B), and the centers ``below`` them given as (code, level,
    parent code): their ids by code."""
    ids = {}
    for code, level, parent in [("GOV", "governorate", None), ("CITY-A", "city", "GOV"), ("CITY-B", "city", "GOV"),
                                *below]:
        made = centers.create_center(session=session, code=code, name_ar=code, name_en=code, level=level,
                                     parent_code=parent)
        assert made.id is not None
        ids[code] = made.id
    return ids
