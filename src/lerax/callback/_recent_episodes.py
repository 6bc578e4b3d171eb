"""Episode returns and lengths since the last report (for the reporting callbacks)."""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._base import AbstractCallbackStepState
from ._episode_statistics import _iteration_totals, _safe_mean


class RecentEpisodes(eqx.Module):
    """Totals at the last report and the latest means, carried in callback state.

    Attributes:
        seen_return_sum: Return total of all environments at the last report.
        seen_length_sum: Length total at the last report.
        seen_count: Episode count at the last report.
        last_return: Mean return of the episodes of the latest report that had
            any (NaN before the first episode ends).
        last_length: Their mean length (NaN before the first episode ends).
    """

    seen_return_sum: Float[Array, ""]
    seen_length_sum: Int[Array, ""]
    seen_count: Int[Array, ""]
    last_return: Float[Array, ""]
    last_length: Float[Array, ""]

    @staticmethod
    def initial() -> RecentEpisodes:
        """No episodes seen.

        Returns:
            Zero totals and NaN means.
        """
        return RecentEpisodes(
            seen_return_sum=jnp.zeros((), jnp.float32),
            seen_length_sum=jnp.zeros((), jnp.int32),
            seen_count=jnp.zeros((), jnp.int32),
            last_return=jnp.full((), jnp.nan, jnp.float32),
            last_length=jnp.full((), jnp.nan, jnp.float32),
        )

    def report(
        self, step_states: AbstractCallbackStepState
    ) -> tuple[RecentEpisodes, dict[str, Array]]:
        """The episodes finished since the last report.

        Args:
            step_states: Every environment's `EpisodeStatisticsStepState`.

        Returns:
            The totals at this report, and `episode_return` / `episode_length`
            (the means of the episodes finished since the last report, or the
            latest means when none finished) and `episodes` (how many finished).
        """
        return_sum, length_sum, count = _iteration_totals(step_states)
        new = count - self.seen_count
        mean_return = _safe_mean(return_sum - self.seen_return_sum, new)
        mean_length = _safe_mean(
            (length_sum - self.seen_length_sum).astype(jnp.float32), new
        )
        last_return = jnp.where(new > 0, mean_return, self.last_return)
        last_length = jnp.where(new > 0, mean_length, self.last_length)
        seen = dataclasses.replace(
            self,
            seen_return_sum=return_sum,
            seen_length_sum=length_sum,
            seen_count=count,
            last_return=last_return,
            last_length=last_length,
        )
        return seen, {
            "episode_return": last_return,
            "episode_length": last_length,
            "episodes": new,
        }


def hyperparameters_of(algorithm) -> dict[str, Array]:
    """The numeric hyperparameters of an algorithm, as arrays to send to the host.

    Args:
        algorithm: An algorithm Module (or `None`).

    Returns:
        Its fields that are numbers, booleans or scalar arrays, by name; fields
        that are schedules or structures are left out.
    """
    if algorithm is None or not dataclasses.is_dataclass(algorithm):
        return {}
    out = {}
    for field in dataclasses.fields(algorithm):
        value = getattr(algorithm, field.name, None)
        if isinstance(value, bool | int | float | np.number | np.bool_):
            out[field.name] = jnp.asarray(value)
        elif isinstance(value, jax.Array | np.ndarray) and jnp.ndim(value) == 0:
            out[field.name] = value
    return out
