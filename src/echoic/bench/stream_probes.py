"""What the streaming benchmarks read off the process beside the events: the runner's
per-utterance latency log lines, CPU time, and the schedulers' counters."""

from __future__ import annotations

import json
import logging
import resource
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from echoic.bench.stream_result import stats_sum
from echoic.streaming.scheduler import SchedulerStats
from echoic.streaming.schedulers import Schedulers

#: The per-utterance JSON records the stream runner logs (queue_ms, speculative_hit, …).
LATENCY_LOGGER = "echoic.latency"


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = json.loads(record.getMessage())
        except ValueError:
            return
        if isinstance(data, dict):
            self.records.append(data)


@contextmanager
def latency_records() -> Iterator[list[dict[str, Any]]]:
    """Collect the runner's ``echoic.latency`` lines; switch them on (only for us) if off."""
    logger = logging.getLogger(LATENCY_LOGGER)
    handler = _Collect()
    level, propagate = logger.level, logger.propagate
    if not logger.isEnabledFor(logging.INFO):
        # Enabled here only to be collected: do not let them reach the application's handlers.
        logger.setLevel(logging.INFO)
        logger.propagate = False
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def cpu_s() -> float:
    """CPU seconds this process has used (every thread: the event loop and the models')."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scheduler_stats(schedulers: Schedulers) -> SchedulerStats:
    """The counters of both schedulers of a dual-model set, summed (one in single-model mode)."""
    stats = replace(schedulers.draft.stats)
    if schedulers.dual:
        stats = stats_sum(stats, schedulers.confirm.stats)
    return stats
