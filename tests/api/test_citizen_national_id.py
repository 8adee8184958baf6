"""A citizen adds their national ID to their session (engine/citizen/signin.py ``add_national_id``), tried from the
side of a family sharing one phone: the relative's case disappears from the list and from reads, a wrong ID is a
422 in Arabic, an ID with no case lists nothing in the same shape, another citizen's token stays theirs, a retried
request answers the same, and a token cannot be moved to another ID."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from engine.citizen import signin
from harness.api import CITIZEN, Api
from tests.support.citizens import OTHER, cases_of

# The same family phone as CITIZEN, another person.
RELATIVE = {"national_id": "29505051234561", "full_name": "أحمد محمود علي", "phone": CITIZEN["phone"]}
NOBODY = "28811111234569"  # a valid number no case carries
ARABIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.fixture
def family(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Api, dict[str, Any]]]:
    with cases_of(sqlite_url, tmp_path, {"mine": CITIZEN, "relative": RELATIVE, "other": OTHER}) as found:
        yield found


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _narrow(api: Api, token: str, national_id: Any) -> Any:
    return api.client.put("/api/citizen/national-id", json={"national_id": national_id}, headers=_bearer(token))


def _ids(api: Api, token: str) -> list[int]:
    r = api.client.get("/api/citizen/cases", headers=_bearer(token))
    assert r.status_code == 200, r.text
    return sorted(c["id"] for c in r.json())


def test_a_shared_phone_shows_only_the_cases_of_the_national_id_added(family: tuple[Api, dict[str, Any]]) -> None:
    api, cases = family
    phone_only = signin.issue_token(CITIZEN["phone"], api.settings)
    assert _ids(api, phone_only) == sorted([cases["mine"]["id"], cases["relative"]["id"]])  # the whole family
    # Arabic-Indic digits and spaces around are read as the desk reads them.
    r = _narrow(api, phone_only, f" {CITIZEN['national_id'].translate(ARABIC_DIGITS)} ")
    assert r.status_code == 200, r.text
    assert r.json()["national_id"] == CITIZEN["national_id"] and r.json()["token_type"] == "bearer"
    assert 0 < r.json()["expires_in"] <= api.settings.citizen_token_minutes * 60
    mine = r.json()["access_token"]
    assert _ids(api, mine) == [cases["mine"]["id"]]
    relative = api.client.get(f"/api/citizen/cases/{cases['relative']['id']}", headers=_bearer(mine))
    nothing = api.client.get("/api/citizen/cases/999999", headers=_bearer(mine))
    assert relative.status_code == nothing.status_code == 404 and relative.json() == nothing.json()
    assert RELATIVE["full_name"] not in relative.text
    assert api.client.get(f"/api/citizen/cases/{cases['mine']['id']}", headers=_bearer(mine)).status_code == 200
    # The relative narrows their own token the other way; the phone-only token still sees both.
    theirs = _narrow(api, phone_only, RELATIVE["national_id"]).json()["access_token"]
    assert _ids(api, theirs) == [cases["relative"]["id"]]
    assert len(_ids(api, phone_only)) == 2


def test_the_narrowed_token_ends_when_the_first_one_ends(family: tuple[Api, dict[str, Any]]) -> None:
    api, _ = family
    issued = datetime.now(UTC) - timedelta(minutes=api.settings.citizen_token_minutes - 1)
    first = signin.issue_token(CITIZEN["phone"], api.settings, issued)
    r = _narrow(api, first, CITIZEN["national_id"])
    assert r.status_code == 200 and r.json()["expires_in"] <= 60  # no longer life than the token it replaces
    old = signin.issue_token(CITIZEN["phone"], api.settings, issued - timedelta(minutes=5))
    assert _narrow(api, old, CITIZEN["national_id"]).status_code == 401


@pytest.mark.parametrize("national_id", ["123", "2900101123456x", "29013401234567", "19001011234567",
                                         "29001019934567", "", 29001011234567, None])
def test_a_wrong_national_id_is_a_422_in_arabic(family: tuple[Api, dict[str, Any]], national_id: Any) -> None:
    api, _ = family
    token = signin.issue_token(CITIZEN["phone"], api.settings)
    r = _narrow(api, token, national_id)
    assert r.status_code == 422, r.text
    assert re.search(r"[\u0600-\u06FF]", r.text), r.text  # Arabic words, not only English
    assert len(_ids(api, token)) == 2  # nothing narrowed


def test_the_desk_words_say_what_is_wrong(family: tuple[Api, dict[str, Any]]) -> None:
    api, _ = family
    token = signin.issue_token(CITIZEN["phone"], api.settings)
    body = _narrow(api, token, "29013401234567").json()  # the 34th day of month 1
    said = [d for d in body["detail"] if d.get("field") == "citizen.national_id"]
    assert said and said[0]["loc"] == ["body", "national_id"] and said[0]["msg_ar"], body


def test_an_id_no_case_carries_lists_nothing_in_the_same_shape(family: tuple[Api, dict[str, Any]]) -> None:
    api, cases = family
    token = signin.issue_token(CITIZEN["phone"], api.settings)
    r = _narrow(api, token, NOBODY)
    assert r.status_code == 200 and set(r.json()) == {"access_token", "token_type", "expires_in", "national_id"}
    nobody = r.json()["access_token"]
    listed = api.client.get("/api/citizen/cases", headers=_bearer(nobody))
    assert listed.status_code == 200 and listed.json() == []
    for case in cases.values():
        assert api.client.get(f"/api/citizen/cases/{case['id']}", headers=_bearer(nobody)).status_code == 404


def test_another_citizens_token_stays_theirs(family: tuple[Api, dict[str, Any]]) -> None:
    api, cases = family
    other = signin.issue_token(OTHER["phone"], api.settings)
    # Adding someone else's national ID to one's own phone opens none of their cases.
    narrowed = _narrow(api, other, CITIZEN["national_id"]).json()["access_token"]
    assert _ids(api, narrowed) == []
    assert api.client.get(f"/api/citizen/cases/{cases['mine']['id']}", headers=_bearer(narrowed)).status_code == 404
    # A staff token, no token, a forged one: 401, as on every citizen route.
    forged = signin.issue_token(CITIZEN["phone"], api.settings.model_copy(update={"secret_key": "x" * 40}))
    for name, headers in (("staff", api.user("front_desk")), ("none", {}), ("forged", _bearer(forged))):
        r = api.client.put("/api/citizen/national-id", json={"national_id": CITIZEN["national_id"]}, headers=headers)
        assert r.status_code == 401, (name, r.text)


def test_a_retried_request_answers_the_same_and_the_id_cannot_be_moved(family: tuple[Api, dict[str, Any]]) -> None:
    api, cases = family
    token = signin.issue_token(CITIZEN["phone"], api.settings)
    first, again = _narrow(api, token, CITIZEN["national_id"]), _narrow(api, token, CITIZEN["national_id"])
    assert first.status_code == again.status_code == 200
    assert first.json()["national_id"] == again.json()["national_id"]
    mine = first.json()["access_token"]
    # Narrowing the narrowed token again with the same ID is the same session.
    same = _narrow(api, mine, CITIZEN["national_id"].translate(ARABIC_DIGITS))
    assert same.status_code == 200 and _ids(api, same.json()["access_token"]) == [cases["mine"]["id"]]
    # Another ID on a narrowed token is refused: the relative's case stays out of it.
    moved = _narrow(api, mine, RELATIVE["national_id"])
    assert moved.status_code == 409 and re.search(r"[\u0600-\u06FF]", moved.text), moved.text
    assert _ids(api, mine) == [cases["mine"]["id"]]


def test_the_claim_cannot_be_added_by_the_client(family: tuple[Api, dict[str, Any]]) -> None:
    """The ID is read from the signed token only: a token whose claims were edited is refused."""
    api, _ = family
    mine = _narrow(api, signin.issue_token(CITIZEN["phone"], api.settings),
                   CITIZEN["national_id"]).json()["access_token"]
    head, _body, sig = mine.split(".")
    other = signin.issue_token(CITIZEN["phone"], api.settings, national_id=RELATIVE["national_id"]).split(".")[1]
    assert api.client.get("/api/citizen/cases", headers=_bearer(f"{head}.{other}x.{sig}")).status_code == 401
    assert api.client.get("/api/citizen/cases", headers=_bearer(f"{head}.{other}.{sig}")).status_code == 401


def test_the_page_form_narrows_the_session(family: tuple[Api, dict[str, Any]]) -> None:
    api, cases = family
    client = api.client
    client.cookies.set("shubbak_citizen", signin.issue_token(CITIZEN["phone"], api.settings), path="/citizen")
    page = client.get("/citizen/cases")
    assert page.status_code == 200 and 'id="citizen-nid"' in page.text
    assert cases["relative"]["tracking_number"] in page.text
    csrf = re.search(r'name="(\w*csrf\w*)" value="([^"]+)"', page.text)
    assert csrf is not None
    forged = client.post("/citizen/national-id", data={"national_id": CITIZEN["national_id"]}, follow_redirects=False)
    assert forged.status_code == 403  # another site's form: no CSRF token, nothing narrowed
    wrong = client.post("/citizen/national-id", data={csrf.group(1): csrf.group(2), "national_id": "123"},
                        follow_redirects=False)
    assert wrong.status_code == 422 and 'id="citizen-nid-error"' in wrong.text
    done = client.post("/citizen/national-id", data={csrf.group(1): csrf.group(2),
                                                     "national_id": CITIZEN["national_id"].translate(ARABIC_DIGITS)},
                       follow_redirects=False)
    assert done.status_code in (302, 303), done.text
    page = client.get("/citizen/cases")
    assert 'id="citizen-nid-added"' in page.text and 'id="citizen-nid"' not in page.text
    assert cases["mine"]["tracking_number"] in page.text and cases["relative"]["tracking_number"] not in page.text
    assert client.get(f"/citizen/cases/{cases['relative']['id']}").status_code == 404
