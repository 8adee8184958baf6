"""Settings for a throw-away installation: a test environment on a given database, fast password hashing,
documents and secrets under a temporary folder."""

from __future__ import annotations

from pathlib import Path

from engine.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
# The process packages made for the tests (the product's own services are under processes/).
TEST_PROCESSES = ROOT / "tests" / "processes"


def make_settings(database_url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = dict(
        database_url=database_url, environment="test", var_dir=tmp_path, timer_tick_seconds=0, message_poll_seconds=0,
        report_project_seconds=0, document_issue_seconds=0, payment_reconcile_seconds=0,
        booking_round_seconds=0, orphan_sweep_seconds=0,
        storage_url=f"file://{tmp_path / 'documents'}", password_time_cost=1, password_memory_kib=64,
        processes_dir=ROOT / "processes", secret_key="test-secret-" + "x" * 32,
    )
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]
