"""Every diagram of the BPMN MIWG test suite, as real modelling tools export it, deployed through the API.

Deploying any real-world diagram ends in one of two ways: it is accepted and a case starts (or fails to
start with a 422 naming the step), or it is refused with a 422 whose every problem names the file, the
element where there is one, and the reason in words. Never a 5xx, never a half-deployed version.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from engine.bpmn.safe_xml import parse_untrusted_xml
from harness.api import Api
from tests.conftest import missing
from tests.corpus.conftest import OUTCOMES, REASONS, reason_key

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "bpmn-corpus" / "miwg"
FILES = sorted(CORPUS.rglob("*.bpmn")) if CORPUS.is_dir() else []
# What a message must not look like: Python's insides instead of words.
UNHELPFUL = re.compile(r"<Element |Traceback|\b\w+(?:Error|Exception)\(|\bNone\b")


@pytest.mark.parametrize("path", FILES or [None],
                         ids=[str(p.relative_to(CORPUS)) for p in FILES] or ["corpus-missing"])
def test_deploy_is_accepted_and_starts_or_refused_clearly(sqlite_api: Api, path: Path | None) -> None:
    if path is None:
        missing(f"the BPMN corpus is not at {CORPUS} (see ../shared/bpmn-corpus/README.md)")
        return
    api = sqlite_api
    analyst = api.user("analyst")
    content = path.read_bytes()
    r = api.client.post("/api/processes", files=[("files", (path.name, content))], headers=analyst)
    assert r.status_code in (201, 422), r.text
    versions = api.client.get("/api/processes", headers=analyst).json()
    if r.status_code == 422:
        _check_refusal(r.json(), path.name, content)
        assert versions == [], "a refused diagram left a version behind"
        OUTCOMES["refused"] += 1
        REASONS[reason_key(r.json()["detail"][0]["message"])] += 1
        return
    OUTCOMES["accepted"] += 1
    assert [(v["service_code"], v["version"]) for v in versions] == [(r.json()["service_code"], 1)]
    opened = api.open_case(r.json()["service_code"], api.user("admin"))
    assert opened.status_code in (201, 422), opened.text
    if opened.status_code == 201:
        assert opened.json()["status"] in ("open", "completed")
        OUTCOMES["started"] += 1
    else:
        detail = opened.json()["detail"]
        assert isinstance(detail, list) and detail, opened.text
        assert all(isinstance(d.get("msg"), str) and d["msg"].strip() for d in detail), opened.text
        OUTCOMES["failed at start"] += 1


def _check_refusal(body: dict[str, Any], file: str, content: bytes) -> None:
    detail = body["detail"]
    assert isinstance(detail, list) and detail, body
    ids = {e.get("id") for e in parse_untrusted_xml(content, filename=file, max_bytes=len(content) + 1).iter()
           if isinstance(e.tag, str)}
    for problem in detail:
        message = problem.get("message")
        assert isinstance(message, str) and message.strip(), problem
        assert problem.get("file") == file, problem
        assert not UNHELPFUL.search(message), problem
        about_one_element = message.startswith("this ") or "(element '" in message
        if about_one_element:
            assert problem.get("element_id"), problem
        if problem.get("element_id"):
            assert problem["element_id"] in ids, f"{problem} names an element that is not in the file"
