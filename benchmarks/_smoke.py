"""The line every benchmark's `--smoke` run prints first, once."""

from __future__ import annotations

SMOKE_NOTICE = "smoke run: numbers are not measurements"


def announce_smoke() -> None:
    """Say, before anything else, that a smoke run's numbers mean nothing.

    Smoke runs (what CI runs) use budgets too small to learn or to time
    anything: they check that a script works. Ratios, scores and "solved=False"
    lines they print are not results.
    """
    print(SMOKE_NOTICE, flush=True)
