"""``shubbak serve`` bounds glibc's malloc arenas (settings.malloc_arenas): the server's memory grew with the cases
it served while the request threads' freed memory stayed spread over glibc's default arenas (docs/performance.md)."""

from __future__ import annotations

import os
import platform

import pytest

from cli.main import _malloc_arenas
from engine.core.settings import Settings


def test_the_arenas_are_bounded_here_and_in_the_workers_to_come(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    bounded = _malloc_arenas(Settings(malloc_arenas=2))
    assert os.environ["MALLOC_ARENA_MAX"] == "2"  # what the worker processes inherit
    if platform.libc_ver()[0] == "glibc":
        assert bounded  # mallopt took it in this process


def test_an_operators_value_and_zero_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert not _malloc_arenas(Settings(malloc_arenas=2))
    assert os.environ["MALLOC_ARENA_MAX"] == "4"
    monkeypatch.delenv("MALLOC_ARENA_MAX")
    assert not _malloc_arenas(Settings(malloc_arenas=0))
    assert "MALLOC_ARENA_MAX" not in os.environ


def test_the_setting_is_bounded() -> None:
    with pytest.raises(ValueError):
        Settings(malloc_arenas=-1)
    with pytest.raises(ValueError):
        Settings(malloc_arenas=65)
