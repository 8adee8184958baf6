"""Every catalog service that grants something issues its document on the approved path: a civil registry
extract, a renewed licence's decision, the transfer of a vehicle, the new ID card, the connected meter, a
record's correction. Each path of paths.json is walked through the API at a center; the issued PDF is signed
(pyHanko's check), its file is the one recorded (the public upload check), its verification link answers
``valid``, and its Arabic text (pdftotext) holds the case's own data."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from api.app import create_app
from engine.outputs import issue, seal
from harness.api import CITIZEN, Api
from harness.pages import center_tree
from harness.settings import make_settings
from storage.db import engine_for
from tests.outputs.conftest import pdf_text
from tests.services.papers import provide_papers
from tests.services.paths import PROCESSES, find_path, take

#: (service, approved path, the document's kind, the Arabic title, the data fields its text must show)
GRANTS = [
    ("birth_certificate", "found_and_issued", "birth_certificate_extract", "مستخرج قيد ميلاد",
     ["person_full_name", "mother_full_name", "date_of_birth", "registry_record_number", "certificate_serial_number"]),
    ("death_certificate", "first_registration_issued", "death_certificate", "شهادة وفاة",
     ["deceased_name", "deceased_national_id", "date_of_death", "death_record_number", "security_paper_serial"]),
    ("death_certificate", "extract_found", "death_certificate", "شهادة وفاة",
     ["deceased_name", "place_of_death", "death_record_number"]),
    ("marriage_certificate_extract", "digital_record_issued", "marriage_extract", "مستخرج وثيقة زواج",
     ["husband_name", "wife_name", "husband_national_id", "wife_national_id", "marriage_record_number"]),
    ("marriage_certificate_extract", "archive_record_issued", "marriage_extract", "مستخرج وثيقة زواج",
     ["husband_name", "wife_name", "archive_volume", "security_paper_serial"]),
    ("driving_license_renewal", "renewed_after_fines", "renewal_decision", "قرار تجديد رخصة قيادة",
     ["license_number", "traffic_unit", "new_expiry_date", "card_serial", "fines_receipt_number"]),
    ("vehicle_license_renewal", "renewed", "renewal_decision", "قرار تجديد رخصة تسيير مركبة",
     ["plate_number", "chassis_number", "license_serial", "valid_until", "insurance_policy_number"]),
    ("vehicle_ownership_transfer", "transferred", "transfer_decision", "قرار نقل ملكية مركبة",
     ["plate_number", "seller_national_id", "buyer_national_id", "license_serial"]),
    ("national_id_renewal", "data_changed_after_documents", "card_issue_statement", "إفادة بإصدار بطاقة الرقم القومي",
     ["changes_description", "card_serial", "expiry_date"]),
    ("utility_connection", "connected", "connection_statement", "إفادة بتوصيل التيار الكهربائي وتركيب العداد",
     ["unit_address", "floor_and_unit", "meter_number", "installed_on", "building_license_number"]),
    ("civil_record_correction", "record_corrected", "correction_decision", "قرار بشأن طلب تصحيح قيد مدني",
     ["correct_value", "registry_note"]),
    ("civil_record_correction", "record_not_corrected", "correction_decision", "قرار بشأن طلب تصحيح قيد مدني",
     ["correct_value", "registry_note"]),
]

#: Words each document must print for a coded value (the form's x-enum-titles) or its decision.
WORDS = {
    ("birth_certificate", "found_and_issued"): ["صاحب الشأن"],
    ("driving_license_renewal", "renewed_after_fines"): ["تجديد"],
    ("utility_connection", "connected"): ["مسبق الدفع"],
    # "3381/ب/2025": Latin digits around an Arabic letter, which pdftotext orders its own way
    ("vehicle_ownership_transfer", "transferred"): ["3381", "ملاكي"],
    ("civil_record_correction", "record_corrected"): ["قبول الطلب", "اسم الأم"],
    ("civil_record_correction", "record_not_corrected"): ["رفض الطلب", "تاريخ الميلاد"],
}


def _flat(text: str) -> str:
    """Without any spaces: pdftotext spaces Arabic commas and line ends as it likes, the letters' order stays.
    The font draws the word Allah (الله) as one ligature, which pdftotext reads back as its glyphs' names."""
    return "".join(text.split()).replace("اهلل", "الله")


@pytest.fixture
def center_api(sqlite_url: str, tmp_path: Path) -> Iterator[tuple[Api, int]]:
    settings = make_settings(sqlite_url, tmp_path, public_url="https://shubbak.example")
    with TestClient(create_app(settings)) as client:
        api = Api(client, settings)
        with Session(engine_for(settings.database_url)) as session:
            ids = center_tree(session)
        yield api, ids["CITY-A"]


#: Paths that end without granting and without a refusal task: the letter is issued at the end event. A suspected
#: death is referred to the prosecution: the case ends undecided, and the applicant still carries away a signed,
#: verifiable notice of the referral (not a certificate).
ENDS = [
    ("death_certificate", "referred_to_prosecution", "referral_notice", "إخطار بإحالة واقعة الوفاة إلى النيابة العامة",
     ["deceased_name", "deceased_national_id", "health_office_notification", "medical_notes"]),
]
WORDS[("death_certificate", "referred_to_prosecution")] = ["مكتب الصحة", "أحيلت الواقعة إلى النيابة العامة",
                                                            "ليس شهادة وفاة"]


@pytest.mark.slow
@pytest.mark.parametrize(("service", "path_name", "kind", "title", "fields"),
                         [pytest.param(*g, id=f"{g[0]}-{g[1]}") for g in [*GRANTS, *ENDS]])
def test_the_path_issues_a_signed_verifiable_document(
        center_api: tuple[Api, int], service: str, path_name: str, kind: str, title: str, fields: list[str],
        tmp_path: Path) -> None:
    """A path that grants (GRANTS) issues the signed document, and one that ends elsewhere (ENDS) the signed
    letter that says so."""
    _walk_and_verify(center_api, service, path_name, kind, title, fields, tmp_path)


def _walk_and_verify(center_api: tuple[Api, int], service: str, path_name: str, kind: str, title: str,
                     fields: list[str], tmp_path: Path) -> None:
    api, center = center_api
    assert api.deploy(PROCESSES / service, api.user("analyst")).status_code == 201
    path = find_path(service, path_name)
    clerk = api.user("front_desk", center_id=center)
    r = api.open_case(service, clerk, data=path.case_data, citizen=CITIZEN)
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    provide_papers(api, service, case["id"])
    for step in path.steps:
        case = take(api, case, step, api.user(step.lane, center_id=center) if step.is_task else None)
    assert case["outcome"] == path.end_event

    with Session(engine_for(api.settings.database_url)) as session:
        assert issue.issue_pending(session, api.settings) == 1
    r = api.client.get(f"/api/cases/{case['id']}/outputs", headers=clerk)
    assert r.status_code == 200, r.text
    [output] = r.json()
    assert (output["kind"], output["status"]) == (kind, "valid")
    number = output["number"]

    r = api.client.get(f"/api/outputs/{number}/pdf", headers=clerk)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pdf = r.content
    assert hashlib.sha256(pdf).hexdigest() == output["sha256"]
    # The PDF signature holds, and is the installation's, over this document's number.
    checked = seal.check(pdf, api.settings)
    assert checked.ok and checked.number == number
    forged = bytearray(pdf)
    forged[len(pdf) // 2] ^= 0x01
    assert not seal.check(bytes(forged), api.settings).ok

    # The verification link printed beside the QR code answers for this document, and the file is the issued one.
    text = pdf_text(pdf, tmp_path)
    link = f"https://shubbak.example/verify/{number}"
    assert link in text
    public = api.client.get(f"/api/public/documents/{number}")
    assert public.status_code == 200, public.text
    assert public.json()["status"] == "valid" and public.json()["number"] == number
    assert api.client.get(link.removeprefix("https://shubbak.example")).status_code == 200
    upload = api.client.post(f"/api/public/documents/{number}/check", content=pdf,
                             headers={"Content-Type": "application/pdf"})
    assert upload.json()["file_matches"] is True and upload.json()["signature_valid"] is True

    # The Arabic text, shaped and in logical order: the holder, the title, the department, the case's own data.
    flat = _flat(text)
    assert _flat(CITIZEN["full_name"]) in flat and _flat(title) in flat
    assert case["tracking_number"] in text
    data: dict[str, Any] = dict(path.start_data)
    for step in path.steps:
        data.update(step.data)
    for field in fields:
        assert _flat(str(data[field])) in flat, (field, data[field])
    for words in WORDS.get((service, path_name), []):
        assert _flat(words) in flat, words


#: (service, path where the citizen asks for an English extract, the Arabic kind, the English kind, its title,
#: the Latin names it must print)
ENGLISH = [
    ("birth_certificate", "found_and_issued_in_english", "birth_certificate_extract", "birth_certificate_extract_en",
     "Birth certificate extract", ["person_name_latin", "mother_name_latin", "place_of_birth_latin"]),
    ("death_certificate", "extract_found_in_english", "death_certificate", "death_certificate_en",
     "Death certificate", ["deceased_name_latin", "place_of_death_latin"]),
    ("marriage_certificate_extract", "digital_record_issued_in_english", "marriage_extract", "marriage_extract_en",
     "Marriage certificate extract", ["husband_name_latin", "wife_name_latin"]),
]


@pytest.mark.slow
@pytest.mark.parametrize(("service", "path_name", "arabic_kind", "kind", "title", "fields"),
                         [pytest.param(*g, id=f"{g[0]}-{g[1]}") for g in ENGLISH])
def test_an_english_extract_is_issued_beside_the_arabic_one_when_the_citizen_asks(
        center_api: tuple[Api, int], service: str, path_name: str, arabic_kind: str, kind: str, title: str,
        fields: list[str], tmp_path: Path) -> None:
    """The citizen ticks "also an English extract" at the request: the hand-over issues two signed documents,
    the Arabic one as always and an English one (left to right, English frame, Latin names). The same path
    without the tick issues the Arabic one alone (test_the_path_issues_a_signed_verifiable_document)."""
    api, center = center_api
    assert api.deploy(PROCESSES / service, api.user("analyst")).status_code == 201
    path = find_path(service, path_name)
    clerk = api.user("front_desk", center_id=center)
    case: dict[str, Any] = api.open_case(service, clerk, data=path.case_data, citizen=CITIZEN).json()
    provide_papers(api, service, case["id"])
    for step in path.steps:
        case = take(api, case, step, api.user(step.lane, center_id=center) if step.is_task else None)
    with Session(engine_for(api.settings.database_url)) as session:
        assert issue.issue_pending(session, api.settings) == 2
    outputs = {o["kind"]: o for o in api.client.get(f"/api/cases/{case['id']}/outputs", headers=clerk).json()}
    assert set(outputs) == {arabic_kind, kind} and {o["status"] for o in outputs.values()} == {"valid"}
    pdf = api.client.get(f"/api/outputs/{outputs[kind]['number']}/pdf", headers=clerk).content
    assert seal.check(pdf, api.settings).ok
    text = pdf_text(pdf, tmp_path)
    assert title in text and "Civil registry office" in text and "Document number" in text
    assert "Issued on" in text and "Request number" in text and "رقم المستند" not in text
    assert case["tracking_number"] in text and outputs[kind]["number"] in text
    data: dict[str, Any] = dict(path.start_data)
    for step in path.steps:
        data.update(step.data)
    for field in fields:
        assert data[field] in text, field
    public = api.client.get(f"/api/public/documents/{outputs[kind]['number']}").json()
    assert public["status"] == "valid"
    arabic = pdf_text(api.client.get(f"/api/outputs/{outputs[arabic_kind]['number']}/pdf", headers=clerk).content,
                      tmp_path)
    assert "رقم المستند" in arabic and "Document number" not in arabic


@pytest.mark.parametrize(("flag", "owed"), [
    pytest.param(False, ["birth_certificate_extract"], id="declined"),
    pytest.param("true", None, id="a_string_is_refused"),
    pytest.param(1, None, id="a_number_is_refused"),
])
def test_the_english_extract_is_issued_only_for_a_yes(center_api: tuple[Api, int], flag: Any,
                                                      owed: list[str] | None) -> None:
    """Only a real yes asks for the English extract: "no" issues the Arabic one alone, and a value that merely
    looks like yes ("true", 1) is refused at the request (422), so no case owes a document nobody asked for."""
    api, center = center_api
    assert api.deploy(PROCESSES / "birth_certificate", api.user("analyst")).status_code == 201
    path = find_path("birth_certificate", "found_and_issued_in_english")
    clerk = api.user("front_desk", center_id=center)
    case: dict[str, Any] = api.open_case("birth_certificate", clerk, data=path.case_data, citizen=CITIZEN).json()
    provide_papers(api, "birth_certificate", case["id"])
    first, *rest = path.steps
    task = next(t for t in case["tasks"] if t["name"] == first.task)
    r = api.complete(task["id"], {**first.data, "english_extract": flag}, clerk)
    if owed is None:
        assert r.status_code == 422, r.text
        return
    assert r.status_code == 200, r.text
    case = r.json()
    for step in rest:
        case = take(api, case, step, api.user(step.lane, center_id=center) if step.is_task else None)
    outputs = api.client.get(f"/api/cases/{case['id']}/outputs", headers=clerk).json()
    assert [o["kind"] for o in outputs] == owed
