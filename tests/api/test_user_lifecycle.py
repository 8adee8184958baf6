"""The user lifecycle over HTTP: admins list and change users; deactivating, a new password and signing out end
every token issued before, at once, in every API process; each change is an event of the user's own chain."""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from api.app import create_app
from engine.core.settings import Settings
from engine.people import centers
from harness.api import Api
from storage.db import engine_for
from storage.models.accounts import UserEvent
from storage.models.people import User

PASSWORD = "correct horse"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    r = client.post("/api/auth/token", data={"username": username, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["access_token"]
    return token


@pytest.fixture
def second(api: Api) -> Iterator[TestClient]:
    """A second API process on the same database (its own app, its own caches)."""
    with TestClient(create_app(api.settings)) as client:
        yield client


def test_deactivating_a_user_ends_their_tokens_at_once_in_every_process(api: Api, second: TestClient) -> None:
    admin = api.user("admin")
    api.user("front_desk", username="leaving")
    token = sign_in(api.client, "leaving")
    assert second.get("/api/me", headers=bearer(token)).status_code == 200
    r = second.patch("/api/users/leaving", headers=admin, json={"active": False})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False
    for client in (api.client, second):
        r = client.get("/api/me", headers=bearer(token))
        assert r.status_code == 401
        assert "no longer exists" in r.json()["detail"] or "ended" in r.json()["detail"]
    r = api.client.post("/api/auth/token", data={"username": "leaving", "password": PASSWORD})
    assert r.status_code == 401 and r.json()["detail"] == "wrong username or password"
    # Active again: the old token stays dead (its session version was raised), a new sign-in works.
    assert api.client.patch("/api/users/leaving", headers=admin, json={"active": True}).status_code == 200
    assert api.client.get("/api/me", headers=bearer(token)).status_code == 401
    assert second.get("/api/me", headers=bearer(sign_in(api.client, "leaving"))).status_code == 200


def test_an_admin_resets_a_password_old_tokens_die_and_the_record_never_holds_it(api: Api, second: TestClient
                                                                                 ) -> None:
    admin = api.user("admin", username="boss")
    api.user("front_desk", username="forgetful")
    old = sign_in(api.client, "forgetful")
    r = api.client.patch("/api/users/forgetful", headers=admin, json={"password": "brand new secret"})
    assert r.status_code == 200, r.text
    assert second.get("/api/me", headers=bearer(old)).status_code == 401
    assert api.client.post("/api/auth/token", data={"username": "forgetful", "password": PASSWORD}
                           ).status_code == 401
    fresh = sign_in(second, "forgetful", "brand new secret")
    assert api.client.get("/api/me", headers=bearer(fresh)).status_code == 200
    events = api.client.get("/api/users/forgetful/events", headers=admin).json()
    assert [(e["kind"], e["actor"]) for e in events["items"]] == [("created", "system"), ("password_reset", "boss")]
    assert events["chain_intact"] is True
    assert "brand new secret" not in str(events)


def test_a_weak_new_password_is_refused_per_rule(api: Api) -> None:
    admin = api.user("admin")
    api.user("front_desk", username="samir")
    for password, words in [("short1", "at least 10 characters"), ("aaaaaaaaaaaa", "different characters"),
                            ("my-samir-pass", "must not contain the username"),
                            ("x" * (api.settings.password_max_chars + 1), "at most")]:
        r = api.client.patch("/api/users/samir", headers=admin, json={"password": password})
        assert r.status_code == 422, password
        assert any(d["field"] == "password" and words in d["msg"] for d in r.json()["detail"]), r.json()
    assert sign_in(api.client, "samir")  # nothing changed


def test_changing_ones_own_password(api: Api, second: TestClient) -> None:
    api.user("front_desk", username="huda")
    token = sign_in(api.client, "huda")
    other_device = sign_in(second, "huda")
    r = api.client.post("/api/me/password", headers=bearer(token),
                        json={"current_password": "not it at all", "new_password": "a better secret"})
    assert r.status_code == 401 and r.json()["detail"] == "the current password is wrong"
    r = api.client.post("/api/me/password", headers=bearer(token),
                        json={"current_password": PASSWORD, "new_password": "huda-1234567"})
    assert r.status_code == 422
    assert r.json()["detail"] == [{"field": "new_password", "msg": "must not contain the username",
                                   "msg_ar": "يجب ألا تحتوي على اسم المستخدم"}]
    r = api.client.post("/api/me/password", headers=bearer(token),
                        json={"current_password": PASSWORD, "new_password": PASSWORD})
    assert r.status_code == 422 and "must differ" in r.text
    r = api.client.post("/api/me/password", headers=bearer(token),
                        json={"current_password": PASSWORD, "new_password": "a better secret", "extra": 1})
    assert r.status_code == 422  # a field the form does not have
    assert api.client.get("/api/me", headers=bearer(token)).status_code == 200  # nothing changed so far
    r = api.client.post("/api/me/password", headers=bearer(token),
                        json={"current_password": PASSWORD, "new_password": "a better secret"})
    assert r.status_code == 204, r.text
    for client, old in ((api.client, token), (second, other_device)):
        assert client.get("/api/me", headers=bearer(old)).status_code == 401
    assert api.client.get("/api/me", headers=bearer(sign_in(second, "huda", "a better secret"))).status_code == 200
    assert api.client.post("/api/me/password", json={"current_password": "x", "new_password": "y"}
                           ).status_code == 401


def test_wrong_current_passwords_are_slowed_like_sign_ins(api: Api) -> None:
    api.user("front_desk", username="guessed")
    token = sign_in(api.client, "guessed")
    for _ in range(api.settings.login_free_failures + 1):
        r = api.client.post("/api/me/password", headers=bearer(token),
                            json={"current_password": "guess guess", "new_password": "a better secret"})
    assert r.status_code == 401
    r = api.client.post("/api/me/password", headers=bearer(token),
                        json={"current_password": PASSWORD, "new_password": "a better secret"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_sign_out_ends_every_token_of_the_user(api: Api, second: TestClient) -> None:
    api.user("front_desk", username="nadia")
    a, b = sign_in(api.client, "nadia"), sign_in(second, "nadia")
    assert api.client.post("/api/auth/logout", headers=bearer(a)).status_code == 204
    for client in (api.client, second):
        for token in (a, b):
            r = client.get("/api/me", headers=bearer(token))
            assert r.status_code == 401 and "sign in again" in r.json()["detail"]
    assert api.client.post("/api/auth/logout", headers=bearer(a)).status_code == 401
    assert api.client.get("/api/me", headers=bearer(sign_in(api.client, "nadia"))).status_code == 200


def test_tokens_without_a_session_version_or_signed_with_the_old_development_secret_are_refused(api: Api) -> None:
    api.user("admin", username="root")
    claims = {"sub": "root", "exp": 4102444800}
    r = api.client.get("/api/me", headers=bearer(jwt.encode(claims, api.settings.signing_secret, algorithm="HS256")))
    assert r.status_code == 401  # issued before session versions: no "sv"
    old_constant = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105 - the constant that once signed tokens
    forged = jwt.encode({**claims, "sv": 0}, old_constant, algorithm="HS256")
    r = api.client.get("/api/me", headers=bearer(forged))
    assert r.status_code == 401 and r.json()["detail"] == "the token is not valid or has expired"


def test_admins_list_users_by_page_role_center_and_state(api: Api) -> None:
    admin = api.user("admin", username="aa_admin")
    with Session(engine_for(api.settings.database_url)) as session:
        cairo = centers.create_center(session=session, code="CAI", name_ar="القاهرة", name_en="Cairo",
                                      level="governorate")
        assert cairo.id is not None
        cairo_id = cairo.id
    api.user("front_desk", username="ab_clerk", center_id=cairo_id)
    api.user("front_desk", username="ac_clerk")
    api.user("auditor", username="ad_auditor", center_id=cairo_id)
    api.client.patch("/api/users/ac_clerk", headers=admin, json={"active": False})
    r = api.client.get("/api/users", headers=admin, params={"limit": 2})
    body = r.json()
    assert r.status_code == 200 and body["total"] == 4 and body["limit"] == 2
    assert [u["username"] for u in body["items"]] == ["aa_admin", "ab_clerk"]
    page2 = api.client.get("/api/users", headers=admin, params={"limit": 2, "offset": 2}).json()
    assert [u["username"] for u in page2["items"]] == ["ac_clerk", "ad_auditor"]
    names = lambda **q: [u["username"] for u in api.client.get("/api/users", headers=admin, params=q  # noqa: E731
                                                                  ).json()["items"]]
    assert names(role="front_desk") == ["ab_clerk", "ac_clerk"]
    assert names(center="CAI") == ["ab_clerk", "ad_auditor"]
    assert names(active="false") == ["ac_clerk"]
    assert names(role="front_desk", active="true", center="CAI") == ["ab_clerk"]
    assert api.client.get("/api/users", headers=admin, params={"center": "NOPE"}).status_code == 404
    assert api.client.get("/api/users", headers=admin, params={"limit": 0}).status_code == 422
    assert api.client.get("/api/users", headers=admin, params={"active": "maybe"}).status_code == 422
    big = api.client.get("/api/users", headers=admin, params={"limit": 10**6}).json()
    assert big["limit"] == api.settings.max_page_size
    for who in (api.user("front_desk"), api.user("auditor"), api.user("supervisor")):
        r = api.client.get("/api/users", headers=who)
        assert r.status_code == 403 and "admin" in r.json()["detail"]
    assert api.client.get("/api/users").status_code == 401


def test_admins_change_roles_center_and_name_and_each_change_is_recorded(api: Api) -> None:
    admin = api.user("admin", username="chief")
    with Session(engine_for(api.settings.database_url)) as session:
        centers.create_center(session=session, code="GIZ", name_ar="الجيزة", name_en="Giza", level="governorate")
    api.user("front_desk", username="moved")
    token = sign_in(api.client, "moved")
    r = api.client.patch("/api/users/moved", headers=admin,
                         json={"roles": ["reviewer", "front_desk"], "center": "GIZ", "full_name": " Moved Here "})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": r.json()["id"], "username": "moved", "full_name": "Moved Here",
                        "roles": ["front_desk", "reviewer"], "active": True, "center": "GIZ"}
    assert api.client.get("/api/me", headers=bearer(token)).status_code == 200  # new roles: same session
    r = api.client.patch("/api/users/moved", headers=admin, json={"center": None})
    assert r.status_code == 422, r.text  # no center means every center: only on purpose
    assert "installation_wide" in r.text
    r = api.client.patch("/api/users/moved", headers=admin, json={"center": None, "installation_wide": True})
    assert r.json()["center"] is None
    events = api.client.get("/api/users/moved/events", headers=admin).json()["items"]
    assert [e["kind"] for e in events] == ["created", "updated", "updated"]
    changes = events[1]["data"]["changes"]
    assert changes["roles"] == {"from": ["front_desk"], "to": ["front_desk", "reviewer"]}
    assert changes["full_name"] == {"from": "Moved", "to": "Moved Here"}
    assert events[1]["actor"] == "chief"
    assert set(events[2]["data"]["changes"]) == {"center_id"}
    # The same values again change nothing and record nothing.
    api.client.patch("/api/users/moved", headers=admin, json={"full_name": "Moved Here"})
    assert api.client.get("/api/users/moved/events", headers=admin).json()["total"] == 3


def test_patch_refusals(api: Api) -> None:
    admin = api.user("admin", username="only_admin")
    api.user("front_desk", username="target")
    cases = [
        ("target", {"username": "renamed"}, 422),  # a field that cannot be changed
        ("target", {"roles": ["ok", "bad,role"]}, 422),
        ("target", {"roles": "admin"}, 422),
        ("target", {"full_name": "   "}, 422),
        ("target", {"active": None}, 422),
        ("target", {"center": "NOWHERE"}, 404),
        ("nobody", {"active": False}, 404),
        ("only_admin", {"active": False}, 409),  # not oneself
        ("only_admin", {"roles": ["analyst"]}, 409),
    ]
    for username, body, status in cases:
        r = api.client.patch(f"/api/users/{username}", headers=admin, json=body)
        assert r.status_code == status, (body, r.text)
        assert r.json()["detail"]
    assert api.client.patch("/api/users/target", headers=api.user("front_desk"), json={"active": False}
                            ).status_code == 403
    assert api.client.patch("/api/users/target", json={"active": False}).status_code == 401
    # Another admin may take the admin role away; the one taken away is no admin from their next request on.
    second_admin = api.user("admin", username="second_admin")
    assert api.client.patch("/api/users/only_admin", headers=second_admin, json={"roles": []}).status_code == 200
    assert api.client.patch("/api/users/target", headers=admin, json={"active": False}).status_code == 403
    r = api.client.patch("/api/users/second_admin", headers=second_admin, json={"active": False})
    assert r.status_code == 409 and "yourself" in r.json()["detail"]
    with Session(engine_for(api.settings.database_url)) as session:
        assert session.exec(select(User).where(User.username == "target")).one().active is True


def test_user_events_are_for_admins_and_auditors_and_show_a_broken_chain(api: Api) -> None:
    admin = api.user("admin")
    api.user("front_desk", username="watched")
    api.client.patch("/api/users/watched", headers=admin, json={"full_name": "Watched One"})
    assert api.client.get("/api/users/watched/events", headers=api.user("auditor")).status_code == 200
    assert api.client.get("/api/users/watched/events", headers=api.user("front_desk")).status_code == 403
    assert api.client.get("/api/users/nobody/events", headers=admin).status_code == 404
    with Session(engine_for(api.settings.database_url)) as session:
        first = session.exec(select(UserEvent).join(User, User.id == UserEvent.user_id)  # type: ignore[arg-type]
                             .where(User.username == "watched", UserEvent.seq == 1)).one()
        first.data = {**first.data, "roles": ["admin"]}  # somebody edits the record by hand
        session.add(first)
        session.commit()
    assert api.client.get("/api/users/watched/events", headers=admin).json()["chain_intact"] is False


def test_development_secret_is_random_private_and_kept(tmp_path: object, settings: Settings) -> None:
    import stat
    from pathlib import Path

    from engine.core import secret

    var = Path(str(tmp_path)) / "fresh-var"
    one = Settings(database_url=settings.database_url, environment="development", var_dir=var)
    assert one.secret_key is None
    made = one.signing_secret
    path = var / secret.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(made) >= 32 and made != "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105
    secret._read_or_make.cache_clear()  # a restart: read from the file again
    again = Settings(database_url=settings.database_url, environment="development", var_dir=var)
    assert again.signing_secret == made
    other = Settings(database_url=settings.database_url, environment="development", var_dir=var.with_name("other"))
    assert other.signing_secret != made
    with pytest.raises(ValueError, match="SHUBBAK_SECRET_KEY"):
        Settings(environment="production", var_dir=var, signing_key="A" * 43 + "=", public_url="https://x.example")


def test_a_development_install_without_a_secret_refuses_the_old_constant(sqlite_url: str, tmp_path: object) -> None:
    from pathlib import Path

    from harness.settings import make_settings

    dev = make_settings(sqlite_url, Path(str(tmp_path)), environment="development", secret_key=None)
    with TestClient(create_app(dev)) as client:
        api = Api(client, dev)
        own = api.user("admin", username="admin")
        assert client.get("/api/me", headers=own).status_code == 200  # signed with the random secret
        old_constant = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105 - the constant once in the code
        for claims in ({"sub": "admin", "exp": 4102444800}, {"sub": "admin", "exp": 4102444800, "sv": 0}):
            forged = jwt.encode(claims, old_constant, algorithm="HS256")
            r = client.get("/api/me", headers=bearer(forged))
            assert r.status_code == 401 and r.json()["detail"] == "the token is not valid or has expired"
        assert (Path(str(tmp_path)) / "secret-key").is_file()
