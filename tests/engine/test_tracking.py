"""Tracking numbers: short, check-digited, unguessable."""

from __future__ import annotations

import itertools

import pytest

from engine.core import tracking


def test_format_and_check_digit() -> None:
    number = tracking.new_tracking_number(10)
    groups = number.split("-")
    assert [len(g) for g in groups] == [4, 4, 3]
    assert tracking.is_valid(number)


def test_every_single_digit_error_and_adjacent_swap_is_caught() -> None:
    for _ in range(50):
        digits = tracking.new_tracking_number(10).replace("-", "")
        for i in range(len(digits)):
            for d in "0123456789":
                if d != digits[i]:
                    assert not tracking.is_valid(digits[:i] + d + digits[i + 1:])
        for i in range(len(digits) - 1):
            if digits[i] != digits[i + 1]:
                swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:]
                assert not tracking.is_valid(swapped)


def test_numbers_are_not_sequential() -> None:
    numbers = [int(tracking.new_tracking_number(10).replace("-", "")[:-1]) for _ in range(2000)]
    assert len(set(numbers)) == len(numbers)
    gaps = {abs(b - a) for a, b in itertools.pairwise(numbers)}
    assert min(gaps) > 1000  # consecutive numbers say nothing about each other


def test_normalise_accepts_spaces_and_missing_dashes() -> None:
    assert tracking.normalise("4821 9135 567") == "4821-9135-567"
    assert tracking.normalise("48219135567") == "4821-9135-567"
    assert not tracking.is_valid("abc")


# A center node's numbers (engine/core/tracking.py): never one central or another center's node draws.

CENTERS = [1, 7, 9, 10, 42, 99, 100, 123, 999, 1000, 65_432, 123_456, 9_223_371, 999_999_999]
ARABIC = "٠١٢٣٤٥٦٧٨٩"


def _digits(number: str) -> str:
    return number.replace("-", "")


def test_a_center_number_starts_with_0_its_ids_length_and_its_id_and_keeps_its_check_digit() -> None:
    number = tracking.new_tracking_number(10, center_id=7)
    assert _digits(number).startswith("017") and len(_digits(number)) == 11  # tracking_digits kept, plus the check
    assert [len(g) for g in number.split("-")] == [4, 4, 3]
    assert tracking.is_valid(number) and tracking.center_of(number) == 7
    number = tracking.new_tracking_number(10, center_id=42)
    assert _digits(number).startswith("0242") and len(_digits(number)) == 12  # seven random digits at least
    assert tracking.center_of(number) == 42


def test_many_draws_of_many_centers_and_of_central_never_meet() -> None:
    drawn: dict[str, int | None] = {}
    for center in [None, *CENTERS]:
        for length in (6, 10, 18):
            for _ in range(300):
                number = tracking.new_tracking_number(length, center_id=center)
                assert drawn.setdefault(number, center) == center, (number, center, drawn[number])
                assert tracking.is_valid(number)
                assert tracking.center_of(number) == center
                # Central's (and a single installation's) never start with 0; every center's does.
                assert _digits(number).startswith("0") == (center is not None)


def test_no_center_prefix_begins_another_so_no_random_digits_can_make_two_centers_meet() -> None:
    # Sorted, a set of strings is prefix-free when no string begins its successor.
    prefixes = sorted(tracking.center_prefix(c) for c in {*range(1, 30_000), *CENTERS})
    for before, after in zip(prefixes, prefixes[1:], strict=False):
        assert not after.startswith(before), (before, after)


def test_a_center_with_many_digits_gets_a_longer_number_not_fewer_random_digits() -> None:
    for center in CENTERS:
        for length in range(6, 19):
            for random_min in (5, 7, 12):
                digits = _digits(tracking.new_tracking_number(length, center_id=center, random_min=random_min))
                prefix = tracking.center_prefix(center)
                random_part = digits[len(prefix):-1]
                assert len(random_part) >= random_min
                assert len(digits) - 1 >= length  # never shorter than tracking_digits
                assert len(digits) % 8 != 1  # see the test below
                # The stored column holds 32 characters, dashes included (storage/models/cases.py).
                assert len(tracking.new_tracking_number(length, center_id=center, random_min=random_min)) <= 32
    for bad in (0, -1, 1_000_000_000):
        with pytest.raises(ValueError):
            tracking.new_tracking_number(10, center_id=bad)


def test_a_center_number_typed_without_its_leading_0_is_never_valid() -> None:
    # A spreadsheet drops it; Verhoeff's check would still hold on a number of 8k + 1 digits: none is drawn.
    for center in CENTERS:
        for length in range(6, 19):
            for _ in range(20):
                digits = _digits(tracking.new_tracking_number(length, center_id=center))
                assert not tracking.is_valid(digits[1:]), digits


def test_a_center_number_typed_back_in_arabic_digits_with_spaces_is_the_same_number() -> None:
    for center in (7, 42, 123_456):
        number = tracking.new_tracking_number(10, center_id=center)
        typed = " ".join(_digits(number)).translate(str.maketrans("0123456789", ARABIC))
        assert tracking.is_valid(typed)
        assert tracking.normalise(typed) == number  # the leading 0 kept
        assert tracking.center_of(typed) == center
        # Every single-digit mistake and neighbours' swap, the center's digits included, is caught.
        digits = _digits(number)
        for i in range(len(digits)):
            for d in "0123456789":
                if d != digits[i]:
                    assert not tracking.is_valid(digits[:i] + d + digits[i + 1:])
            if i + 1 < len(digits) and digits[i] != digits[i + 1]:
                assert not tracking.is_valid(digits[:i] + digits[i + 1] + digits[i] + digits[i + 2:])


def test_center_of_reads_nothing_from_what_is_not_a_center_number() -> None:
    for text in ("", "0", "00", "abc", "0171-2345-679", tracking.new_tracking_number(10),
                 # 0, then a length of 0, or an id with a leading 0, or no room for a random digit: no center drew it.
                 *(body + tracking.check_digit(body) for body in ("00123456", "020712345", "0317"))):
        assert tracking.center_of(text) is None, text


def test_a_single_installation_draws_as_before() -> None:
    for length in range(6, 19):
        for _ in range(200):
            digits = _digits(tracking.new_tracking_number(length))
            assert len(digits) == length + 1 and digits[0] != "0"
