"""A template that cannot render, or an output naming what the package lacks, blocks the deploy with the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.api import Api
from tests.services.paths import PROCESSES


def _package(tmp_path: Path) -> Path:
    folder = tmp_path / "building_permit"
    shutil.copytree(PROCESSES / "building_permit", folder)
    return folder


@pytest.mark.parametrize(("template", "expected"), [
    # the analyst's own test data (paths.json) fills the template: a value of it used wrongly fails the deploy
    pytest.param("{{ data.plot_area_m2 / 0 }}", "ZeroDivisionError", id="fails_at_render"),
    pytest.param("{{ data.plot_address + 1 }}", "TypeError", id="wrong_type"),
    pytest.param("{{ citizen.__class__.__mro__ }}", "unsafe", id="sandbox_refuses_dunders"),
    pytest.param("{% include 'secrets.html' %}", "no loader", id="no_includes"),
    pytest.param("{% for %}", "TemplateSyntaxError", id="syntax"),
])
def test_a_template_that_fails_to_render_blocks_the_deploy(sqlite_api: Api, tmp_path: Path, template: str,
                                                           expected: str) -> None:
    folder = _package(tmp_path)
    (folder / "outputs" / "permit.html").write_text(template, encoding="utf-8")
    analyst = sqlite_api.user("analyst")
    r = sqlite_api.deploy(folder, analyst)
    assert r.status_code == 422, r.text
    details = r.json()["detail"]
    [problem] = [d for d in details if d["file"] == "permit.html"]
    assert problem["element_id"] == "building_permit"
    assert expected.lower() in problem["message"].lower()
    assert problem.get("message_ar")  # in Arabic too
    assert sqlite_api.client.get("/api/processes", headers=analyst).json() == []  # nothing stored


def test_an_output_without_its_template_or_element_blocks_the_deploy(sqlite_api: Api, tmp_path: Path) -> None:
    folder = _package(tmp_path)
    (folder / "outputs" / "rejection.html").unlink()
    toml = folder / "service.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('on = ["hand_over"]', 'on = ["no_such_task"]'),
                    encoding="utf-8")
    r = sqlite_api.deploy(folder, sqlite_api.user("analyst"))
    assert r.status_code == 422, r.text
    text = r.text
    assert "rejection.html" in text and "no_such_task" in text


@pytest.mark.parametrize("field", ["no_such_field", "copies_count", "__class__"])
def test_an_output_issued_on_request_names_a_yes_no_field_of_the_forms(sqlite_api: Api, tmp_path: Path,
                                                                       field: str) -> None:
    """``when`` must name a boolean field of a form: an unknown name or a number would never (or always) issue."""
    folder = tmp_path / "birth_certificate"
    shutil.copytree(PROCESSES / "birth_certificate", folder)
    toml = folder / "service.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('when = "english_extract"', f'when = "{field}"'),
                    encoding="utf-8")
    r = sqlite_api.deploy(folder, sqlite_api.user("analyst"))
    assert r.status_code == 422, r.text
    assert "500" not in str(r.status_code)
    if field == "__class__":  # not even a field name: refused by service.toml's own check
        assert "when" in r.text
        return
    [problem] = [d for d in r.json()["detail"] if d.get("element_id") == "birth_certificate_extract_en"]
    assert field in problem["message"] and "yes/no" in problem["message"] and problem["message_ar"]
