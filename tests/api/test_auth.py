"""Sign-in, tokens, users and roles."""

from __future__ import annotations

import pytest

from harness.api import Api


def test_token_with_right_password_and_me(api: Api) -> None:
    admin = api.user("admin")
    r = api.client.post("/api/users", headers=admin, json={
        "username": "mona", "password": "s3cret-pass", "full_name": "منى علي", "roles": ["front_desk"],
        "installation_wide": True})
    assert r.status_code == 201, r.text
    assert r.json()["roles"] == ["front_desk"]
    r = api.client.post("/api/auth/token", data={"username": "mona", "password": "s3cret-pass"})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["access_token"]
    me = api.client.get("/api/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "mona" and me.json()["full_name"] == "منى علي"


def test_password_is_stored_hashed_with_argon2(api: Api) -> None:
    from sqlmodel import Session, select

    from storage.db import engine_for
    from storage.models.people import User

    api.user("front_desk", username="hashcheck", password="plain-text-pw")
    with Session(engine_for(api.settings.database_url)) as session:
        user = session.exec(select(User).where(User.username == "hashcheck")).one()
    assert user.password_hash.startswith("$argon2id$")
    assert "plain-text-pw" not in user.password_hash


def test_wrong_password_and_unknown_user_are_401(api: Api) -> None:
    api.user("front_desk", username="karim", password="right-password")
    for form in ({"username": "karim", "password": "wrong-password"},
                 {"username": "nobody", "password": "right-password"}):
        r = api.client.post("/api/auth/token", data=form)
        assert r.status_code == 401
        assert r.json()["detail"] == "wrong username or password"


def test_every_api_route_needs_a_token(api: Api) -> None:
    for method, path in [("get", "/api/me"), ("get", "/api/tasks"), ("get", "/api/cases"),
                         ("get", "/api/cases/1"), ("get", "/api/cases/1/events"), ("get", "/api/services"),
                         ("get", "/api/processes"), ("post", "/api/tasks/x/claim")]:
        r = getattr(api.client, method)(path)
        assert r.status_code == 401, (method, path, r.status_code)
        assert r.headers["www-authenticate"] == "Bearer"


def test_forged_or_expired_token_is_401(api: Api) -> None:
    import jwt

    r = api.client.get("/api/me", headers={"Authorization": "Bearer not.a.token"})
    assert r.status_code == 401
    forged = jwt.encode({"sub": "admin", "exp": 4102444800}, "another-secret-" + "y" * 32, algorithm="HS256")
    assert api.client.get("/api/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    expired = jwt.encode({"sub": "admin", "exp": 1}, api.settings.secret_key, algorithm="HS256")
    assert api.client.get("/api/me", headers={"Authorization": f"Bearer {expired}"}).status_code == 401


def test_only_admin_creates_users_and_duplicates_conflict(api: Api) -> None:
    body = {"username": "dup", "password": "password12", "full_name": "Dup", "roles": [], "installation_wide": True}
    clerk = api.user("front_desk")
    assert api.client.post("/api/users", headers=clerk, json=body).status_code == 403
    admin = api.user("admin")
    assert api.client.post("/api/users", headers=admin, json=body).status_code == 201
    r = api.client.post("/api/users", headers=admin, json=body)
    assert r.status_code == 409
    assert "taken" in r.json()["detail"]


def test_bad_user_fields_are_422_per_field(api: Api) -> None:
    admin = api.user("admin")
    r = api.client.post("/api/users", headers=admin, json={"username": "a b c", "password": "password12",
                                                            "full_name": "X", "roles": ["ok", "bad,role"],
                                                            "installation_wide": True})
    assert r.status_code == 422
    fields = {d["field"] for d in r.json()["detail"]}
    assert fields == {"username", "roles"}
    r = api.client.post("/api/users", headers=admin, json={"username": "abc", "password": "short"})
    assert r.status_code == 422


def test_a_token_that_worked_is_refused_once_it_expires(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token's checked signature is remembered (engine/people/users.py); its expiry is judged on every use."""
    from types import SimpleNamespace

    from engine.people import users

    clerk = api.user("front_desk")
    assert api.client.get("/api/me", headers=clerk).status_code == 200  # checked, and now remembered
    monkeypatch.setattr(users, "time", SimpleNamespace(time=lambda: 4102444800.0))  # the year 2100
    r = api.client.get("/api/me", headers=clerk)
    assert r.status_code == 401 and r.json()["detail"] == "the token is not valid or has expired"
    monkeypatch.undo()
    assert api.client.get("/api/me", headers=clerk).status_code == 200
