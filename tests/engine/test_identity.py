"""National ID, phone and name checks, configurable by settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.errors import Invalid
from engine.people.identity import check_citizen
from harness.settings import make_settings

SETTINGS = make_settings("sqlite://", Path("/nonexistent"))


@pytest.mark.parametrize("nid", ["29001011234567", "30012310112345", "1012345678", "784198712345"])
def test_valid_ids(nid: str) -> None:
    citizen = check_citizen({"national_id": f" {nid} ", "full_name": "  Ali   Hassan ", "phone": "+20 100-123-4567"},
                            SETTINGS)
    assert citizen.national_id == nid and citizen.full_name == "Ali Hassan" and citizen.phone == "+201001234567"


@pytest.mark.parametrize("nid", ["123", "1234567890123456", "2900101123456a", "29002301234567", "19001011234567",
                                 "29001019934567"])
def test_invalid_ids(nid: str) -> None:
    with pytest.raises(Invalid) as err:
        check_citizen({"national_id": nid, "full_name": "A", "phone": "+201001234567"}, SETTINGS)
    assert [d["field"] for d in err.value.details] == ["citizen.national_id"]
    assert err.value.details[0]["msg_ar"]


def test_rules_are_settings() -> None:
    lax = make_settings("sqlite://", Path("/nonexistent"), national_id_pattern=r"^[A-Z]\d{6}$",
                        national_id_check_egypt_birth_date=False)
    assert check_citizen({"national_id": "A123456", "full_name": "A", "phone": "+971501234567"}, lax)


def test_all_problems_listed_at_once() -> None:
    with pytest.raises(Invalid) as err:
        check_citizen({"national_id": "", "full_name": "", "phone": "0100"}, SETTINGS)
    assert [d["field"] for d in err.value.details] == ["citizen.national_id", "citizen.full_name", "citizen.phone"]


@pytest.mark.parametrize("name", ["\u200f\u200f", "\u200b \u200c", "\u202e\u202c", "\u2066\u2069 \u00ad", "- . -"])
def test_a_name_of_invisible_marks_or_punctuation_only_is_no_name(name: str) -> None:
    with pytest.raises(Invalid) as err:
        check_citizen({"national_id": "29001011234567", "full_name": name, "phone": "+201001234567"}, SETTINGS)
    assert [d["field"] for d in err.value.details] == ["citizen.full_name"]
