"""One status per refusal, on both faces: each domain error class carries its HTTP status (engine/core/errors.py),
and the API's JSON and the pages' error page answer with that same status. A face that maps errors on its own
again (as the pages once answered a damaged stored file with 400 and the API with 500) fails here."""

from __future__ import annotations

import html
import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

import admin_ui
import api
import engine
from engine.cases import lifecycle as cases
from engine.cases.documents import store_for
from engine.core import refusals
from engine.core.errors import (
    Conflict,
    Corrupted,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    Unavailable,
)
from harness.api import Api
from harness.pages import Pages
from harness.settings import TEST_PROCESSES
from storage.db import engine_for
from storage.models.cases import Document
from tests.support.documents import PDF

# Written out by hand: what a client of either face may rely on.
STATUS = {DomainError: 400, NotFound: 404, Unauthorized: 401, Forbidden: 403, Conflict: 409, Invalid: 422,
          TooLarge: 413, RateLimited: 429, Corrupted: 500, Unavailable: 502}


def _every_error_class() -> list[type[DomainError]]:
    """Every DomainError subclass defined anywhere in the engine and the faces (their modules imported)."""
    for package in (engine, api, admin_ui):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name not in ("cli.worker",):  # the Celery app builds itself from the environment
                importlib.import_module(info.name)
    found: list[type[DomainError]] = []
    todo: list[type[DomainError]] = [DomainError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_each_error_class_has_the_status_clients_rely_on() -> None:
    for cls, status in STATUS.items():
        assert cls.status == status, cls.__name__


def test_every_refusal_in_the_code_is_a_4xx_except_damaged_storage() -> None:
    """A refusal is the client's to mend (4xx); only damaged storage (500) and an outside service that did not
    answer (502, a payment provider: nothing was changed, the same request may be tried again) are not."""
    classes = _every_error_class()
    assert len(classes) > len(STATUS)  # subclasses elsewhere (throttle, compiler, queue, CSRF) were found
    for cls in classes:
        want = 500 if issubclass(cls, Corrupted) else 502 if issubclass(cls, Unavailable) else None
        assert (cls.status == want) if want else (400 <= cls.status < 500), (cls.__name__, cls.status)


@pytest.fixture
def both(sqlite_api: Api) -> Iterator[tuple[Api, Pages, dict[str, str], int]]:
    """The API and a signed-in browser of the pages on one app, a supervisor on both, and a case."""
    api_ = sqlite_api
    assert api_.deploy(TEST_PROCESSES / "papers", api_.user("analyst")).status_code == 201
    headers = api_.user("supervisor", "front_desk", username="both_faces")
    case = api_.open_case("papers", headers).json()
    with TestClient(api_.client.app, follow_redirects=False) as client:  # type: ignore[arg-type]
        pages = Pages(client, api_.settings)
        assert pages.sign_in("both_faces").status_code == 303
        yield api_, pages, headers, case["id"]


@pytest.mark.parametrize("error", list(STATUS), ids=[c.__name__ for c in STATUS])
def test_an_engine_refusal_has_the_same_status_on_the_api_and_the_pages(
        both: tuple[Api, Pages, dict[str, str], int], monkeypatch: pytest.MonkeyPatch,
        error: type[DomainError]) -> None:
    api_, pages, headers, case_id = both

    def refuse(**_kw: Any) -> Any:
        raise error("refused on purpose by the test")

    monkeypatch.setattr(cases, "get_case", refuse)  # what both faces' case routes ask the engine
    from_api = api_.client.get(f"/api/cases/{case_id}", headers=headers)
    from_page = pages.client.get(f"/cases/{case_id}")
    assert from_api.status_code == from_page.status_code == STATUS[error]
    assert from_api.headers["content-type"].startswith("application/json")
    assert "refused on purpose by the test" in from_api.text
    assert from_page.headers["content-type"].startswith("text/html")
    assert "refused on purpose by the test" in from_page.text
    # Words in no catalog: both faces say so in Arabic, with the English beside it (the reader reads Arabic).
    general = "تعذّر تنفيذ الطلب: refused on purpose by the test"
    assert from_api.json()["message_ar"] == general and general in html.unescape(from_page.text)


def test_a_lost_stored_file_is_a_500_on_both_faces_and_nothing_of_it_is_served(
        both: tuple[Api, Pages, dict[str, str], int]) -> None:
    api_, pages, headers, case_id = both
    r = api_.client.post(f"/api/cases/{case_id}/documents", data={"kind": "national_id_copy"},
                         files={"file": ("id.pdf", PDF, "application/pdf")}, headers=headers)
    assert r.status_code == 201, r.text
    document_id = r.json()["id"]
    with Session(engine_for(api_.settings.database_url)) as session:
        key = session.exec(select(Document.storage_key).where(Document.id == document_id)).one()
    store_for(api_.settings).delete(key)  # a disk fault behind the database's back
    from_api = api_.client.get(f"/api/documents/{document_id}/content", headers=headers)
    from_page = pages.client.get(f"/documents/{document_id}")
    assert from_api.status_code == from_page.status_code == 500
    english = f"the stored file of document {document_id} is missing; it cannot be served"
    assert from_api.json() == {"detail": english, "message": english, "message_id": "documents.stored_file_missing",
                               "message_ar": f"الملف المحفوظ للمستند {document_id} مفقود؛ لا يمكن عرضه"}
    said = refusals.say("documents.stored_file_missing", document_id=document_id)
    assert html.unescape(from_page.text).count(said.lang("ar")) == 1 and b"%PDF" not in from_page.content
