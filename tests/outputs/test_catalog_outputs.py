"""Every document the catalog's services declare, rendered with the analysts' own paths (paths.json) that reach
its issuing element (and asks for it, for a document issued on the citizen's request): a real PDF whose text holds
the citizen, the title in the document's language and the deciding department."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine.bpmn.compiler import compile_package
from engine.catalog.packages import read_package
from engine.core.settings import Settings
from engine.outputs import issue, pdf
from tests.outputs.conftest import pdf_text
from tests.services.paths import PROCESSES, service_paths


def _cases() -> list[Any]:
    found = []
    for folder in sorted(PROCESSES.iterdir()):
        if not (folder / "service.toml").exists() or not (folder / "outputs").is_dir():
            continue
        process = compile_package(read_package(folder), max_xml_bytes=5_000_000, default_lane="front_desk")
        for output in process.service.outputs:
            for path in service_paths(folder.name):
                tasks = [step.task for step in path.steps]
                asked = output.when is None or any(step.data.get(output.when) is True for step in path.steps)
                if asked and any(element in tasks or element == path.end_event for element in output.on):
                    found.append(pytest.param(process, output, path, id=f"{folder.name}-{output.kind}-{path.name}"))
                    break
    return found


CASES = _cases()


def test_the_catalog_declares_documents() -> None:
    services = {param.values[0].service.code for param in CASES}
    assert {"building_permit", "renovation_permit", "shop_signage_license", "commercial_activity_license",
            "road_occupancy_permit", "birth_certificate", "death_certificate", "driving_license_renewal",
            "marriage_certificate_extract", "national_id_renewal", "social_pension", "utility_connection",
            "vehicle_license_renewal", "vehicle_ownership_transfer", "civil_record_correction"} <= services
    english = {(param.values[0].service.code, param.values[1].kind) for param in CASES
               if param.values[1].language == "en"}
    assert english == {("birth_certificate", "birth_certificate_extract_en"),
                       ("death_certificate", "death_certificate_en"),
                       ("marriage_certificate_extract", "marriage_extract_en")}


@pytest.mark.parametrize(("process", "output", "path"), CASES)
def test_each_document_renders_in_its_language(process: Any, output: Any, path: Any, tmp_path: Path) -> None:
    data: dict[str, Any] = dict(path.start_data)
    for step in path.steps:
        data.update(step.data)
    settings = Settings(var_dir=tmp_path, public_url="https://shubbak.example")
    page, body = issue.compose(process, output, number="D2026-TEST-TEST-TEST", data=data,
                               tracking_number="1234-5678-9012", center={"ar": "مركز خدمات الدقي", "en": "Dokki"},
                               moment=datetime(2026, 12, 5, 10, tzinfo=UTC), outcome=output.on[0],
                               settings=settings)
    text = pdf_text(pdf.render(page, body), tmp_path)
    assert data["citizen"]["full_name"] in text
    assert {"ar": output.ar, "en": output.en}[output.language] in text
    assert page.department in text
    assert "D2026-TEST-TEST-TEST" in text and "1234-5678-9012" in text
