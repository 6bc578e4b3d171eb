"""The interface of a logging backend: where `LoggingCallback` writes its rows."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

# Columns every row has, in this order; the algorithm's log and evaluation follow.
LEADING_COLUMNS = (
    "seed",
    "iteration",
    "timesteps",
    "wall_time",
    "steps_per_second",
    "episode_return",
    "episode_length",
    "episodes",
)


def finite_scalars(row: dict[str, Any]) -> dict[str, float]:
    """The entries of a row that are finite numbers (what scalar loggers plot).

    Args:
        row: A logged row.

    Returns:
        The finite numeric entries, as floats, without `seed` and `iteration`.
    """
    out = {}
    for key, value in row.items():
        if key in ("seed", "iteration") or value is None:
            continue
        value = float(value)
        if math.isfinite(value):
            out[key] = value
    return out


class AbstractLoggingBackend(ABC):
    """A destination for the rows of a `LoggingCallback` (a host-side object).

    A backend is never part of the compiled program: `LoggingCallback` keeps it
    on the host and calls it from a JAX host callback. Each call carries one row
    per run: one without `jax.vmap`, one per seed (batch member) under it, each
    with a `seed` entry (the member's index, from 0) so runs are never mixed.
    """

    @abstractmethod
    def start(self, hyperparameters: list[dict[str, Any]]) -> None:
        """Open the destination at the start of a run and record its settings.

        Args:
            hyperparameters: One dict per run (seed) of the algorithm's
                hyperparameters and the run's sizes.
        """

    @abstractmethod
    def write(self, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
        """Record one row per run.

        Args:
            rows: One dict per run; a value is `None` when it does not exist yet
                (no episode has finished, no evaluation has run).
            columns: Every column a row of this run can have, in order (the same
                for every call of a run).
        """

    @abstractmethod
    def close(self) -> None:
        """Flush and close the destination (called at the end of a run; a later
        `start` opens it again)."""
