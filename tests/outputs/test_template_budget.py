"""An analyst's output template cannot hold a worker's CPU: every loop round, call and made item is paid from a
budget per render (``document_template_budget``), so nested loops, loops over long texts and macros calling
themselves stop with ``outputs.template_too_costly`` at preview, at deploy, and when a document is issued.

The CPU a refusal takes is measured with ``time.process_time`` (what this process spent), never wall time."""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, select

from engine.catalog.output_templates import TooCostly, render_text
from engine.catalog.packages import read_package
from engine.catalog.processes import encode_files
from engine.core.settings import Settings
from harness.api import Api
from storage.db import engine_for
from storage.models.outputs import IssuedOutput
from tests.outputs.conftest import World
from tests.services.papers import provide_papers
from tests.services.paths import PROCESSES, find_path, ready_task, take

BUDGET = Settings.model_fields["document_template_budget"].default
#: What a hostile template tries; each would run for minutes, or fill the memory, without the budget.
ATTACKS = {
    "nested_ranges": "{% for a in range(10**5) %}{% for b in range(10**5) %}x{% endfor %}{% endfor %}",
    "nested_small_ranges": "{% for a in range(999) %}{% for b in range(999) %}{{ a }}{% endfor %}{% endfor %}",
    "loop_over_a_long_string": "{% set s = 'x' * 99999 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}",
    "loop_over_the_citizens_text_cubed": "{% for a in data.text %}{% for b in data.text %}{% for c in data.text %}"
                                         "{% endfor %}{% endfor %}{% endfor %}",
    "macro_calling_itself": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "macro_doubling": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(60) }}",
    "recursive_loop": "{% for x in [[1, 2, 3]] * 5000 recursive %}{{ loop([[1, 2]] * 5000) }}{% endfor %}",
    "recursive_loop_over_the_citizens_list": "{% for x in data.entries recursive %}{{ loop(data.entries) }}"
                                             "{% endfor %}",
    "filter_inside_a_loop": "{% for a in range(99999) %}{{ range(99999)|sum }}{% endfor %}",
    "doubling_join": "{% set ns = namespace(s='x' * 9000) %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}"
                     "{% endfor %}{{ ns.s|length }}",
    "doubling_plus": "{% set ns = namespace(s=['x'] * 9000) %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}"
                     "{% endfor %}",
    "replace_blowup": "{{ ('x' * 99999).replace('', 'y' * 99999) }}",
    "wide_padding": "{{ 'x'.ljust(10**9) }}{{ 'x'|center(10**9) }}",
    "wide_percent_format": "{{ '%0999999999d' % 1 }}",
    "wide_format_filter": "{{ '%0999999999d'|format(1) }}",
    "repeated_format_fields": "{{ ('{0}' * 5000).format(data.text) }}{{ ('%(t)s' * 5000) % data }}",
    "expanded_tabs": "{{ ('\t' * 2000).expandtabs(99999) }}",
    "long_join": "{{ (data.text ~ data.text)|list|join(data.text ~ data.text) }}",
    "replace_filter_blowup": "{{ data.text|replace('', data.text)|replace('', data.text) }}",
    "wide_brace_format": "{{ '{:>999999999}'.format(1) }}",
    # Cheap to make, long to print: what each {{ … }} prints is paid for too.
    "one_long_item_repeated": "{{ ['x' * 50000] * 2000 }}",
    "a_long_text_printed_in_a_loop": "{% set s = 'x' * 50000 %}{% for i in range(2000) %}{{ s }}{% endfor %}",
    "keys_of_one_long_value": "{{ {}.fromkeys(range(2000), 'x' * 50000) }}",
    "caller_doubling": "{% macro m() %}{{ caller() }}{{ caller() }}{% endmacro %}{% set s = 'x' * 40000 %}"
                       + "{% call m() %}" * 10 + "{{ s }}" + "{% endcall %}" * 10,
}
#: Refused all the same, but only once made: each must be refused before its result is (memory, not CPU).
MADE_BEFORE_REFUSED = {
    "wide_indent": "{{ ('x\\n' * 2000)|indent(49000) }}",
    "wide_json_indent": "{{ {'a': range(1000)|list}|tojson(indent=49000) }}",
    "many_lorem_ipsum_paragraphs": "{{ lipsum(20000) }}",
    "joined_without_a_separator": "{{ {}.fromkeys(range(2000), 'x' * 50000).values()|join }}",
}


@pytest.mark.parametrize("source", [pytest.param(s, id=k) for k, s in ATTACKS.items()])
def test_a_costly_template_is_stopped_within_bounded_cpu(source: str) -> None:
    started = time.process_time()
    with pytest.raises(TooCostly) as refused:
        render_text(source, {"data": {"text": "ن" * 300, "entries": list(range(1000))}}, budget=BUDGET)
    spent = time.process_time() - started
    assert spent < 5.0, spent  # without the budget: minutes of CPU, or the memory gone
    assert refused.value.args[0].ar  # the catalog's sentence, in Arabic too
    assert str(BUDGET) in str(refused.value)


@pytest.mark.parametrize("source", [pytest.param(s, id=k) for k, s in MADE_BEFORE_REFUSED.items()])
def test_a_long_result_is_refused_before_it_is_made(source: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TooCostly):
            render_text(source, {}, budget=BUDGET)
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000, peak  # what it would make: tens of megabytes (gigabytes at the budget's widths)


def test_lists_cannot_be_grown_in_place() -> None:
    """The sandbox is the immutable one: ``l.extend(l)`` forty times would hold 2**40 items."""
    from jinja2.exceptions import SecurityError

    with pytest.raises(SecurityError):
        render_text("{% set l = [1] %}{% for i in range(40) %}{{ l.extend(l) }}{% endfor %}", {}, budget=BUDGET)


def test_a_document_sized_template_renders_within_the_budget() -> None:
    """What documents do (a table of a few rows, a macro, filters, formats) costs far less than the budget."""
    source = ("{% macro row(k, v) %}<tr><td>{{ k }}</td><td>{{ v|e }}</td></tr>{% endmacro %}"
              "{% for item in data.fees %}{{ row(item.name, '%.2f' % item.amount) }}{% endfor %}"
              "{{ data.notes|replace('\\n', ' ')|truncate(500) }} {{ '{:>6}'.format(data.count) }} "
              "{{ data.fees|map(attribute='name')|join(', ') ~ ' — ' ~ citizen.full_name|upper }}")
    data = {"fees": [{"name": f"رسم {i}", "amount": i * 10.5} for i in range(50)], "notes": "ملاحظة\n" * 200,
            "count": 3}
    text = render_text(source, {"data": data, "citizen": {"full_name": "محمد"}}, budget=BUDGET)
    assert "رسم 49" in text and "514.50" in text and "محمد" in text


def test_the_budget_is_the_settings_and_counts_rounds() -> None:
    """A budget of 1,000 lets 20 x 20 rounds through (with the ranges' calls and items) and stops 40 x 40."""
    loops = "{% for a in range(N) %}{% for b in range(N) %}.{% endfor %}{% endfor %}"
    assert render_text(loops.replace("N", "20"), {}, budget=1000).count(".") == 400
    with pytest.raises(TooCostly):
        render_text(loops.replace("N", "40"), {}, budget=1000)


def test_preview_and_deploy_refuse_a_costly_template_with_the_reason(sqlite_api: Api, tmp_path: Path) -> None:
    analyst = sqlite_api.user("analyst")
    files = encode_files(read_package(PROCESSES / "building_permit"))
    files["permit.html"] = ATTACKS["nested_small_ranges"]
    started = time.process_time()
    r = sqlite_api.client.post("/api/services/building_permit/draft/outputs/building_permit/preview",
                               json={"files": files}, headers=analyst)
    assert r.status_code == 422, r.text
    assert "does more work than one document may" in r.text and str(BUDGET) in r.text

    folder = tmp_path / "building_permit"
    shutil.copytree(PROCESSES / "building_permit", folder)
    (folder / "outputs" / "permit.html").write_text(ATTACKS["macro_doubling"], encoding="utf-8")
    r = sqlite_api.deploy(folder, analyst)
    assert r.status_code == 422, r.text
    [problem] = [d for d in r.json()["detail"] if d["file"] == "permit.html"]
    assert "does more work than one document may" in problem["message"]
    assert "حلقات متداخلة" in problem["message_ar"]
    assert sqlite_api.client.get("/api/processes", headers=analyst).json() == []
    assert time.process_time() - started < 30.0  # the server's CPU too: the test client runs it in this process


LOOPED = ("<p>{% for a in data.plot_address %}{% for b in data.plot_address %}{% for c in citizen.full_name %}"
          "{% endfor %}{% endfor %}{% endfor %}{{ data.plot_address }}</p>")


def test_a_template_that_passes_deploy_but_not_a_real_cases_data_fails_at_issue(world: World,
                                                                                tmp_path: Path) -> None:
    """Short test data passes the deploy's check; the citizen's long address at issue exceeds the budget: the
    document is marked failed with the catalog's reason after its attempts, nothing is signed or stored."""
    api = world.api
    folder = tmp_path / "building_permit"
    shutil.copytree(PROCESSES / "building_permit", folder)
    (folder / "outputs" / "permit.html").write_text(LOOPED, encoding="utf-8")
    assert api.deploy(folder, api.user("analyst")).status_code == 201
    path = find_path("building_permit", "approved")
    long_address = "شارع " + "ن" * 290
    data = {k: (long_address if k == "plot_address" else v) for k, v in path.case_data.items()}
    r = api.open_case("building_permit", world.clerk, data=data)
    assert r.status_code == 201, r.text
    case: dict[str, Any] = r.json()
    provide_papers(api, "building_permit", case["id"])
    for step in path.steps:
        if step.task == "hand_over":
            break
        if "plot_address" in step.data:
            step = dataclasses.replace(step, data={**step.data, "plot_address": long_address})
        if not step.is_task:
            case = take(api, case, step)
            continue
        who = world.clerk if step.lane == "front_desk" else world.engineer
        r = api.complete(ready_task(case, step)["id"], step.data, who)
        assert r.status_code == 200, r.text
        case = r.json()
    assert json.dumps(case, ensure_ascii=False).count("ن" * 290)  # the long address is the case's
    started = time.process_time()
    for _ in range(api.settings.document_issue_attempts):
        assert world.issue_all() == 0
    assert time.process_time() - started < 30.0
    [owed] = world.outputs(case["id"])
    assert owed["status"] == "failed"
    with Session(engine_for(api.settings.database_url)) as session:
        row = session.exec(select(IssuedOutput)).one()
    assert "does more work than one document may" in (row.error or "") and row.storage_key is None


@pytest.mark.parametrize(("template", "english", "arabic"), [
    pytest.param("{{ citizen.__class__ }}", "__class__ of a dict value, which is unsafe", "غير آمن", id="dunder"),
    pytest.param("{{ 2 ** 100 }}", "a power in a template is limited", "الأس في القالب", id="power"),
    pytest.param("{{ 99999999999999999999 * 3 }}", "a product in a template is limited", "حاصل الضرب",
                 id="product"),
])
def test_the_sandboxs_refusals_are_said_in_both_languages(sqlite_api: Api, template: str, english: str,
                                                          arabic: str) -> None:
    files = encode_files(read_package(PROCESSES / "building_permit"))
    files["permit.html"] = template
    r = sqlite_api.client.post("/api/services/building_permit/draft/outputs/building_permit/preview",
                               json={"files": files}, headers=sqlite_api.user("analyst"))
    assert r.status_code == 422, r.text
    [problem] = [d for d in r.json()["detail"] if d["file"] == "permit.html"]
    assert english in problem["message"] and arabic in problem["message_ar"], problem
