"""Finding a service (engine/catalog/finder.py) with what citizens really type: the queries of
``data/search_queries.tsv``, in Arabic with its spelling variants and typos and in English, each with the service
that must come first. A query that stops finding its service, or finds another first, fails here."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path

import pytest

from engine.bpmn.dmn_table import readable
from engine.catalog.finder import Entry, entry_of, normalise, rank
from engine.core.settings import Settings
from tests.services.paths import PROCESSES, SERVICES

DATA = Path(__file__).parent / "data" / "search_queries.tsv"
MIN_SCORE = Settings.model_fields["service_search_min_score"].default


def _queries() -> list[tuple[str, str]]:
    with DATA.open(encoding="utf-8") as f:
        rows = [r for r in csv.reader(f, delimiter="\t") if r and not r[0].startswith("#")]
    return [(query, expected) for query, expected, _why in rows]


QUERIES = _queries()


@pytest.fixture(scope="module")
def entries() -> list[Entry]:
    return [entry_of(s, tomllib.loads((PROCESSES / s / "service.toml").read_text(encoding="utf-8")))
            for s in SERVICES]


def test_the_set_is_big_enough_and_names_real_services() -> None:
    assert len(QUERIES) >= 40
    assert {expected for _q, expected in QUERIES} <= set(SERVICES)
    assert len({expected for _q, expected in QUERIES}) == len(SERVICES), "every service is looked for"
    assert any(ch in "٠١٢٣٤٥٦٧٨٩" for q, _e in QUERIES for ch in q), "Arabic-Indic digits are in the set"


@pytest.mark.parametrize(("query", "expected"), QUERIES, ids=[f"{i:02d}" for i in range(len(QUERIES))])
def test_the_expected_service_comes_first(entries: list[Entry], query: str, expected: str) -> None:
    found = rank(entries, query, min_score=MIN_SCORE, limit=3)
    assert found, f"{query!r} found nothing"
    assert found[0][0].code == expected, f"{query!r}: {[(e.code, s) for e, s in found]}"
    if len(found) > 1:  # first on its own merit, not by the tie-break on the code
        assert found[0][1] > found[1][1], f"{query!r} ties: {[(e.code, s) for e, s in found]}"


@pytest.mark.parametrize(("typed", "same_as"), [
    ("أإآٱ", "اااا"), ("مبنى", "مبني"), ("شهادة", "شهاده"), ("شَهَادَةٌ", "شهاده"), ("ميــــلاد", "ميلاد"),
    ("٢٠٢٦", "2026"), ("۲۰۲۶", "2026"), ("Birth-Certificate!", "birth certificate"), ("سؤال", "سوال"),
])
def test_spelling_variants_are_one_spelling(typed: str, same_as: str) -> None:
    assert normalise(typed) == normalise(same_as)


def test_nonsense_finds_nothing(entries: list[Entry]) -> None:
    assert rank(entries, "zzzz qqqq", min_score=MIN_SCORE, limit=3) == []
    assert rank(entries, "xylophone", min_score=MIN_SCORE, limit=3) == []


def test_every_service_has_synonyms_in_both_languages_where_to_go_and_questions() -> None:
    for service in SERVICES:
        info = tomllib.loads((PROCESSES / service / "service.toml").read_text(encoding="utf-8"))
        assert info["synonyms"]["ar"] and info["synonyms"]["en"], service
        assert info["where"]["ar"] and info["where"]["en"], service
        assert len(info["faq"]) >= 2, service
        for qa in info["faq"]:
            assert all(qa[part][lang].strip() for part in ("q", "a") for lang in ("ar", "en")), service


@pytest.mark.parametrize(("entry", "en", "ar"), [
    ("", "any", "أي"), ("-", "any", "أي"), ("< 150", "under 150", "أقل من 150"), (">= 3000", "from 3000", "من 3000"),
    ("150 <= ? < 300", "from 150, under 300", "من 150 إلى أقل من 300"), ("[1..5]", "1 to 5", "من 1 إلى 5"),
    ('"private_car","taxi"', "private car, taxi", "private car, taxi"), ("True", "yes", "نعم"), ("false", "no", "لا"),
    ("350.0 * renewal_years", "350 × renewal years", "350 × renewal years"),
    ("round(occupied_area_m2 * 5.0, 2)", "occupied area m2 × 5", "occupied area m2 × 5"),
])
def test_a_decision_table_entry_in_words(entry: str, en: str, ar: str) -> None:
    said = readable(entry)
    assert (said["en"], said["ar"]) == (en, ar)
