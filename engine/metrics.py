"""The engine's own measurements, in Prometheus' terms (exposed at /metrics by api/metrics.py).

Counted in the process that does the work; under several API processes prometheus-client's multiprocess mode
(``PROMETHEUS_MULTIPROC_DIR``) adds them up at scrape time. Labels are catalog codes and BPMN element ids, never
a case's or a citizen's data.
"""

from __future__ import annotations

import time

from prometheus_client import Histogram

# A step runs the diagram from one wait to the next and writes it: tens of milliseconds, seconds when wrong.
STEP_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

STEP_SECONDS = Histogram("shubbak_engine_step_duration_seconds",
                         "Time of one engine step (open a case, complete a task), from load to commit",
                         ["service", "task"], buckets=STEP_BUCKETS)


def observe_step(service: str, task: str, started: float) -> None:
    """Record a step that began at ``started`` (``time.perf_counter()``) and has just been committed."""
    STEP_SECONDS.labels(service=service, task=task).observe(time.perf_counter() - started)
