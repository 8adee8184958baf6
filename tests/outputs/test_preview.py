"""An analyst previews an output template of a draft with the data of one of its test paths, before publishing."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.catalog.packages import read_package
from engine.catalog.processes import encode_files
from harness.api import Api
from tests.outputs.conftest import pdf_text
from tests.services.paths import PROCESSES


def _files() -> dict[str, str]:
    return encode_files(read_package(PROCESSES / "building_permit"))


def test_the_preview_is_the_template_filled_with_a_test_path(sqlite_api: Api, tmp_path: Path) -> None:
    analyst = sqlite_api.user("analyst")
    url = "/api/services/building_permit/draft/outputs/rejection_decision/preview"
    r = sqlite_api.client.post(url, json={"files": _files(), "path": "rejected"}, headers=analyst)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    text = pdf_text(r.content, tmp_path)
    assert "قرار برفض طلب ترخيص بناء" in text and "PREVIEW" in text
    assert "أحمد محمود عبد الرحمن" in text  # the rejected path's citizen, from paths.json
    # An edited template shows at once, before anything is saved or published.
    files = _files()
    files["rejection.html"] = "<p>نص جديد للقرار {{ data.review_notes }}</p>"
    r = sqlite_api.client.post(url, json={"files": files, "path": "rejected"}, headers=analyst)
    assert r.status_code == 200 and "نص جديد للقرار" in pdf_text(r.content, tmp_path)


def test_a_broken_template_or_unknown_names_are_refused(sqlite_api: Api) -> None:
    analyst = sqlite_api.user("analyst")
    url = "/api/services/building_permit/draft/outputs/{kind}/preview"
    files = _files()
    files["permit.html"] = "{{ data.plot_area_m2 / 0 }}"
    r = sqlite_api.client.post(url.format(kind="building_permit"), json={"files": files}, headers=analyst)
    assert r.status_code == 422 and "ZeroDivisionError" in r.text
    r = sqlite_api.client.post(url.format(kind="no_such_kind"), json={"files": _files()}, headers=analyst)
    assert r.status_code == 404
    r = sqlite_api.client.post(url.format(kind="building_permit"), json={"files": _files(), "path": "nope"},
                               headers=analyst)
    assert r.status_code == 404
    clerk = sqlite_api.user("front_desk")
    assert sqlite_api.client.post(url.format(kind="building_permit"), json={"files": _files()},
                                  headers=clerk).status_code == 403


def test_a_template_cannot_hold_the_cpu_or_memory_with_powers_or_repetitions() -> None:
    """``**`` and ``*`` are asked at render, not folded at compile (engine/catalog/output_templates.py)."""
    import time

    from jinja2.exceptions import SecurityError

    from engine.catalog.output_templates import _env

    for source in ("{{ (10**10**8)**64 }}", "{{ 'x' * 4000000000 }}", "{{ [1] * 10**9 }}",
                   "{{ 99999999999999999999 * 99999999999999999999 }}", "{{ 2 ** 1000 }}"):
        started = time.process_time()  # CPU, not wall time: a busy machine's wait is not the render's work
        with pytest.raises(SecurityError):
            _env.from_string(source).render()
        assert time.process_time() - started < 1.0, source
    assert _env.from_string("{{ 2 ** 10 }} {{ 3 * 4 }} {{ 'ab' * 3 }} {{ 1.5 * 2 }}").render() == "1024 12 ababab 3.0"
