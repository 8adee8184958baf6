"""``shubbak users list|deactivate|activate|passwd|sign-out``: each change recorded, sessions ended at once."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from api.app import create_app
from cli.main import main
from engine.core.settings import Settings
from harness.api import Api
from storage.db import engine_for
from storage.models.accounts import UserEvent
from storage.models.people import User


@pytest.fixture
def cli(sqlite_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr("cli.main.get_settings", lambda: sqlite_settings)
    return sqlite_settings


def events(settings: Settings, username: str) -> list[tuple[str, str]]:
    with Session(engine_for(settings.database_url)) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        rows = session.exec(select(UserEvent).where(UserEvent.user_id == user.id).order_by(col(UserEvent.seq))).all()
        return [(e.actor, e.kind) for e in rows]


def test_list_deactivate_passwd_and_sign_out(cli: Settings, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(create_app(cli)) as client:
        api = Api(client, cli)
        api.user("admin", username="root")
        token = api.user("front_desk", username="clerk")
        assert main(["users", "list", "--role", "front_desk"]) == 0
        out = capsys.readouterr().out
        assert "clerk" in out and "root" not in out and "1 of 1 user(s)" in out

        assert main(["users", "deactivate", "clerk"]) == 0
        assert client.get("/api/me", headers=token).status_code == 401
        assert main(["users", "list", "--active", "no"]) == 0
        assert "clerk" in capsys.readouterr().out
        assert main(["users", "activate", "clerk"]) == 0

        monkeypatch.setattr("sys.stdin", io.StringIO("weak\n"))
        assert main(["users", "passwd", "clerk", "--password-stdin"]) == 1
        assert "at least 10 characters" in capsys.readouterr().err
        monkeypatch.setattr("sys.stdin", io.StringIO("long enough now\n"))
        assert main(["users", "passwd", "clerk", "--password-stdin"]) == 0
        r = client.post("/api/auth/token", data={"username": "clerk", "password": "long enough now"})
        assert r.status_code == 200
        fresh = {"Authorization": f"Bearer {r.json()['access_token']}"}
        assert main(["users", "sign-out", "clerk"]) == 0
        assert client.get("/api/me", headers=fresh).status_code == 401
    assert events(cli, "clerk") == [("system", "created"), ("cli", "updated"), ("cli", "updated"),
                                    ("cli", "password_reset"), ("cli", "signed_out")]


def test_refusals_from_the_command_line(cli: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    with TestClient(create_app(cli)) as client:
        Api(client, cli).user("admin", username="last_admin")
    assert main(["users", "deactivate", "nobody"]) == 1
    assert "no user 'nobody'" in capsys.readouterr().err
    assert main(["users", "deactivate", "last_admin"]) == 1  # nobody could manage users afterwards
    assert "last active admin" in capsys.readouterr().err
    assert main(["users", "list", "--center", "NOPE"]) == 1
    assert events(cli, "last_admin") == [("system", "created")]
