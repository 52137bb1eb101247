"""Timing several forms of one computation side by side, for the benchmarks' ratios."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable


def alternating_seconds(steps: dict[str, Callable[[object], None]], batches: Iterable[object]) -> dict[str, float]:
    """Mean seconds per call of each ``steps[form](batch)`` over ``batches``, the forms taking
    turns on every batch so that all of them see the same machine load (a ratio of two forms
    then holds on a busy machine, where their absolute times do not)."""
    spent, count = dict.fromkeys(steps, 0.0), 0
    for batch in batches:
        count += 1
        for form, step in steps.items():
            start = time.perf_counter()
            step(batch)
            spent[form] += time.perf_counter() - start
    if not count:
        raise ValueError("batches is empty: expected at least one batch to time")
    return {form: seconds / count for form, seconds in spent.items()}
