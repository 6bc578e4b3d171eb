"""Printing training progress from inside the compiled run."""

from __future__ import annotations

import math
import time

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, Key

from ._base import (
    AbstractCallbackState,
    IterationContext,
    ResetContext,
    check_log_keys,
)
from ._episode_statistics import AbstractEpisodeCallback
from ._recent_episodes import EpisodeTracker, rollout_of


class ProgressCallbackState(AbstractCallbackState):
    """The unfinished episodes, to report per-iteration means.

    Attributes:
        episodes: Each environment's unfinished episode (totals cleared every
            iteration).
    """

    episodes: EpisodeTracker


class _Throttle:
    """Host-side clock shared by the prints of one callback (not part of any pytree)."""

    def __init__(self) -> None:
        self.last = -math.inf


class ProgressCallback(AbstractEpisodeCallback):
    """Print one line of progress per iteration, at most every `min_interval` s.

    The line holds the iteration, the timesteps so far, the mean return of the
    episodes completed in the iteration and the training statistics. Printing goes
    through `jax.debug.callback`; the first and last iterations always print. Under
    `jax.vmap` over seeds each seed prints its own line.

    Attributes:
        every: Consider printing every `every` iterations.
        min_interval: Minimum seconds between two printed lines.
        keys: The log entries to print (all when `None`).

    Raises:
        ValueError: If `every < 1` or `min_interval < 0`.
    """

    every: int = eqx.field(static=True, default=1)
    min_interval: float = eqx.field(static=True, default=0.0)
    keys: tuple[str, ...] | None = eqx.field(static=True, default=None)
    _throttle: _Throttle = eqx.field(static=True, default_factory=_Throttle)

    def __check_init__(self):
        if self.every < 1:
            raise ValueError(f"ProgressCallback: every must be >= 1, got {self.every}.")
        if self.min_interval < 0:
            raise ValueError(
                f"ProgressCallback: min_interval must be >= 0, got {self.min_interval}."
            )

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> ProgressCallbackState:
        """Start with no episode seen.

        Args:
            ctx: The run's sizes.
            key: Ignored.

        Returns:
            An empty episode tracker.
        """
        return ProgressCallbackState(episodes=EpisodeTracker.initial(ctx.num_envs))

    def _print(self, iteration, num_iterations, timesteps, mean_return, log) -> None:
        iteration = int(iteration)
        last = iteration + 1 == num_iterations
        now = time.monotonic()
        if not (
            iteration == 0
            or last
            or (
                (iteration + 1) % self.every == 0
                and now - self._throttle.last >= self.min_interval
            )
        ):
            return
        self._throttle.last = now
        parts = [
            f"iter {iteration + 1:>{len(str(num_iterations))}}/{num_iterations}",
            f"steps {int(timesteps):>9d}",
            f"return {float(mean_return):9.2f}"
            if np.isfinite(mean_return)
            else "return       n/a",
        ]
        parts += [f"{k} {float(v):.4g}" for k, v in log.items()]
        print(" | ".join(parts), flush=True)

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> ProgressCallbackState:
        """Print the iteration's line (host callback) and update the totals.

        Args:
            ctx: The iteration's data.
            key: Ignored.

        Returns:
            The updated totals.

        Raises:
            KeyError: If `keys` names an entry the training log lacks (raised
                while tracing, before anything runs).
        """
        state = ctx.state
        assert isinstance(state, ProgressCallbackState)
        episodes = state.episodes.observe(*rollout_of(ctx, "ProgressCallback"))
        mean_return, _ = episodes.means()
        if self.keys is not None:
            check_log_keys("ProgressCallback", self.keys, ctx.log)
        log = ctx.log if self.keys is None else {k: ctx.log[k] for k in self.keys}
        jax.debug.callback(
            lambda i, t, r, lg: self._print(i, ctx.num_iterations, t, r, lg),
            ctx.iteration,
            ctx.timesteps,
            mean_return,
            log,
        )
        return ProgressCallbackState(episodes=episodes.cleared())
