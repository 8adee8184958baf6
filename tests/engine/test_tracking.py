"""Tracking numbers: short, check-digited, unguessable."""

from __future__ import annotations

import itertools

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
