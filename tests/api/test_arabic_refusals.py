"""Every refusal the API answers is in Arabic too (api/errors.py): the faces' own (sign-in, retries with an
Idempotency-Key, size limits, database trouble, readiness), the router's (404, 405), the framework's request
validation (422) and the engine's; each says its message id, and a refusal whose words are not the catalogs'
(a library's sentence) gets the catalog's general Arabic sentence with the English beside it, never null."""

from __future__ import annotations

import ast
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, update
from sqlalchemy import exc as sa_exc
from sqlmodel import Session

from api.app import create_app
from engine.cases import lifecycle as cases
from engine.core import refusals
from engine.core.errors import Conflict, Invalid
from engine.core.settings import Settings
from harness.api import CITIZEN, Api
from harness.settings import TEST_PROCESSES, make_settings
from storage.db import engine_for
from storage.models.idempotency import IdempotencyKey
from tests.support.arabic import assert_arabic, is_arabic

OPEN = {"service_code": "test_permit", "citizen": CITIZEN, "data": {}}


@pytest.fixture
def permit(sqlite_api: Api) -> Api:
    assert sqlite_api.deploy(TEST_PROCESSES / "test_permit", sqlite_api.user("analyst")).status_code == 201
    return sqlite_api


def test_401_without_a_token_and_with_a_bad_one(sqlite_api: Api) -> None:
    r = sqlite_api.client.get("/api/cases")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    body = assert_arabic(r, "api.sign_in_first")
    assert body["detail"] == "sign in first: send 'Authorization: Bearer <token>'"  # the English clients read
    assert body["message_ar"].startswith("سجّل الدخول أولًا")
    bad = sqlite_api.client.get("/api/cases", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert assert_arabic(bad, "users.token_invalid")["message_ar"] == "رمز الدخول غير صالح أو منتهي الصلاحية"


def test_404_and_405_from_the_router(sqlite_api: Api) -> None:
    r = sqlite_api.client.get("/api/no/such/thing", headers=sqlite_api.user("admin"))
    assert r.status_code == 404 and r.json()["detail"] == "Not Found"  # FastAPI's own words stay
    assert assert_arabic(r, "request.not_found")["message_ar"] == "لا يوجد شيء على هذا العنوان"
    r = sqlite_api.client.delete("/healthz")
    assert r.status_code == 405 and r.json()["detail"] == "Method Not Allowed" and r.headers["allow"] == "GET"
    assert assert_arabic(r, "request.method_not_allowed")["message_ar"] == "هذا العنوان لا يقبل الطريقة DELETE"


def test_422_of_request_validation_has_arabic_beside_each_problem(permit: Api) -> None:
    clerk = permit.user("front_desk")
    r = permit.client.post("/api/cases", json={"citizen": CITIZEN}, headers=clerk)  # no service_code
    assert r.status_code == 422
    body = assert_arabic(r, "request.invalid")
    missing = next(p for p in body["detail"] if p["loc"] == ["body", "service_code"])
    assert missing["type"] == "missing" and missing["msg"] == "Field required"  # pydantic's, as before
    assert missing["msg_ar"] == "هذا الحقل مطلوب"
    r = permit.client.post("/api/cases", content=b'{"service_code": ', headers={**clerk,
                                                                               "Content-Type": "application/json"})
    assert r.status_code == 422
    assert assert_arabic(r)["detail"][0]["msg_ar"] == "المحتوى ليس JSON صالحًا"
    r = permit.client.get("/api/cases", params={"limit": "many"}, headers=clerk)
    assert r.status_code == 422 and assert_arabic(r)["detail"][0]["msg_ar"] == "يجب أن تكون القيمة عددًا صحيحًا"


def test_a_validation_error_the_catalog_does_not_know_gets_the_general_arabic_with_its_english() -> None:
    said = refusals.validation_arabic("some_new_pydantic_type", None, "Value error, the moon is not a date")
    assert is_arabic(said) and said.endswith("Value error, the moon is not a date")
    # A known type whose ctx lacks the placeholder's value: the general sentence, not a raw "%(le)s".
    said = refusals.validation_arabic("less_than_equal", {}, "Input should be less than or equal to 5")
    assert "%(" not in said and said.endswith("Input should be less than or equal to 5")
    assert refusals.validation_arabic("less_than_equal", {"le": 5}, "…") == "يجب ألا تزيد القيمة على 5"


def test_422_and_409_of_an_idempotency_key(permit: Api) -> None:
    clerk = {**permit.user("front_desk"), "Idempotency-Key": "arabic-1"}
    assert permit.client.post("/api/cases", json=OPEN, headers=clerk).status_code == 201
    other = permit.client.post("/api/cases", json={**OPEN, "data": {"channel": "counter 9"}}, headers=clerk)
    assert other.status_code == 422 and "another request" in other.json()["detail"]
    assert "مفتاح Idempotency-Key" in assert_arabic(other, "idempotency.key_reused")["message_ar"]
    malformed = permit.client.post("/api/cases", json=OPEN, headers={**clerk, "Idempotency-Key": "k" * 256})
    assert malformed.status_code == 422
    assert "255" in assert_arabic(malformed, "idempotency.key_invalid")["message_ar"]


def test_409_of_a_lost_answer_is_in_arabic(sqlite_settings: Settings) -> None:
    # The answer of a keyed request that committed was lost, on a route that cannot rebuild it.
    quick = sqlite_settings.model_copy(update={"idempotency_wait_seconds": 0.2})
    with TestClient(create_app(quick)) as client:
        api = Api(client, quick)
        admin = {**api.user("admin"), "Idempotency-Key": "arabic-lost"}
        body = {"username": "nadia", "password": "a long password", "full_name": "Nadia", "roles": ["reviewer"],
                "installation_wide": True}
        assert client.post("/api/users", json=body, headers=admin).status_code == 201
        with Session(engine_for(quick.database_url)) as session:  # as a process killed before recording it
            session.execute(update(IdempotencyKey).values(status=None, body=None, content_type=None))
            session.commit()
        lost = client.post("/api/users", json=body, headers=admin)
    assert lost.status_code == 409 and "answer was lost" in lost.json()["detail"]
    assert "ضاع" in assert_arabic(lost, "idempotency.answer_lost")["message_ar"]


def test_413_of_a_body_over_the_limit(sqlite_api: Api) -> None:
    limit = sqlite_api.settings.max_request_bytes
    r = sqlite_api.client.post("/api/cases", content=b" " * (limit + 1),
                               headers={**sqlite_api.user("front_desk"), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["detail"] == f"the request body is over the limit of {limit} bytes"
    assert str(limit) in assert_arabic(r, "request.too_large")["message_ar"]


def test_429_of_too_many_attempts(sqlite_api: Api) -> None:
    sqlite_api.user("front_desk", username="guessed")
    for _ in range(sqlite_api.settings.login_free_failures + 1):  # the free ones, then the one that starts a wait
        r = sqlite_api.client.post("/api/auth/token", data={"username": "guessed", "password": "wrong wrong"})
        assert r.status_code == 401 and assert_arabic(r)
    r = sqlite_api.client.post("/api/auth/token", data={"username": "guessed", "password": "wrong wrong"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["detail"] == "too many wrong passwords; wait and try again"
    assert assert_arabic(r)["message_id"] is not None


def test_503_of_database_trouble(permit: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    case = permit.open_case("test_permit", permit.user("front_desk")).json()
    def locked(**_kw: Any) -> Any:
        busy = sqlite3.OperationalError("database is locked")
        raise sa_exc.OperationalError("SELECT", {}, busy) from busy

    monkeypatch.setattr(cases, "get_case", locked)  # every try meets it: run once more, then 503
    r = permit.client.get(f"/api/cases/{case['id']}", headers=permit.user("admin"))
    assert r.status_code == 503 and r.headers["retry-after"] == str(permit.settings.retry_after_seconds)
    assert "nothing was saved" in r.json()["detail"]
    assert "لم يُحفظ شيء" in assert_arabic(r, "database.unavailable")["message_ar"]


def test_503_of_readiness_says_each_reason_in_arabic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    create_engine(url).dispose()
    r = TestClient(create_app(make_settings(url, tmp_path))).get("/readyz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "not ready" and "shubbak migrate" in body["checks"]["database"]
    assert is_arabic(body["message_ar"]) and body["message_id"] == "readiness.not_ready"
    assert is_arabic(body["checks_ar"]["database"]) and "shubbak migrate" in body["checks_ar"]["database"]
    assert body["checks_ar"]["documents"] == "ok"


def test_an_engine_refusal_by_id_and_a_sentence_from_elsewhere(permit: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = permit.user("admin")
    case_id = permit.open_case("test_permit", permit.user("front_desk")).json()["id"]
    r = permit.client.get("/api/cases/99999", headers=admin)
    assert r.status_code == 404 and assert_arabic(r, "case.not_found")["message_ar"] == "الطلب 99999 غير موجود"

    def refuse(**_kw: Any) -> Any:
        raise Conflict("SpiffWorkflow said: task is not in a ready state")  # words from outside the catalogs

    monkeypatch.setattr(cases, "get_case", refuse)
    r = permit.client.get(f"/api/cases/{case_id}", headers=admin)
    body = assert_arabic(r)
    assert r.status_code == 409 and body["message_id"] is None
    assert body["detail"] == body["message"] == "SpiffWorkflow said: task is not in a ready state"
    assert body["message_ar"] == "تعذّر تنفيذ الطلب: SpiffWorkflow said: task is not in a ready state"

    def invalid(**_kw: Any) -> Any:  # problems in a library's words: general Arabic beside each, never null
        raise Invalid("deploy.unreadable", [{"file": "a.bpmn", "message": "Unknown element: foo"},
                                            {"field": "x", "msg": "bad value"}])

    monkeypatch.setattr(cases, "get_case", invalid)
    body = assert_arabic(permit.client.get(f"/api/cases/{case_id}", headers=admin), "deploy.unreadable")
    assert [p.get("message_ar") or p.get("msg_ar") for p in body["detail"]] == [
        "مشكلة لم تُترجم بعد (تفاصيلها بالإنجليزية): Unknown element: foo",
        "مشكلة لم تُترجم بعد (تفاصيلها بالإنجليزية): bad value"]


def test_a_bad_service_toml_field_is_refused_in_arabic(sqlite_api: Api, tmp_path: Path) -> None:
    # pydantic's words about service.toml: Arabic from the catalog where the error type is known.
    package = tmp_path / "package"
    shutil.copytree(TEST_PROCESSES / "test_permit", package)
    toml = package / "service.toml"
    toml.write_text(toml.read_text("utf-8") + "\nunknown_key_of_the_test = 1\n", "utf-8")
    r = sqlite_api.deploy(package, sqlite_api.user("analyst"))
    assert r.status_code == 422, r.text
    body = assert_arabic(r)
    assert any(p["message_ar"] == "هذا الحقل غير مسموح به هنا" for p in body["detail"]), body["detail"]


ROOT = Path(__file__).resolve().parents[2]


def _hand_made_refusals(root: Path) -> list[str]:
    """Dict literals with a ``detail`` key in the faces, outside api/errors.py: a refusal body built by hand,
    which would miss ``message_ar``."""
    found = []
    for folder in ("api", "admin_ui", "cli"):
        for path in sorted((root / folder).rglob("*.py")):
            if path.relative_to(root).as_posix() in ("api/errors.py", "api/openapi.py"):
                continue
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "detail"
                                                      for k in node.keys):
                    found.append(f"{path.relative_to(root).as_posix()}:{node.lineno}")
    return found


def test_every_refusal_body_of_the_faces_is_built_by_api_errors(tmp_path: Path) -> None:
    assert _hand_made_refusals(ROOT) == []
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "bad.py").write_text('BODY = {"detail": "refused"}\n', "utf-8")
    assert _hand_made_refusals(tmp_path) == ["api/bad.py:1"]  # the check finds one


def test_a_bug_is_a_500_in_both_languages_that_tells_nothing_of_the_error(permit: Api,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    case_id = permit.open_case("test_permit", permit.user("front_desk")).json()["id"]

    def broken(**_kw: Any) -> Any:
        raise RuntimeError(f"a bug holding a citizen's number {CITIZEN['national_id']}")

    monkeypatch.setattr(cases, "get_case", broken)
    with TestClient(permit.client.app, raise_server_exceptions=False) as client:  # type: ignore[arg-type]
        r = client.get(f"/api/cases/{case_id}", headers=permit.user("admin"))
    assert r.status_code == 500 and r.json()["detail"] == "Internal Server Error"
    assert "سجل" in assert_arabic(r, "request.server_error")["message_ar"]
    assert CITIZEN["national_id"] not in r.text
