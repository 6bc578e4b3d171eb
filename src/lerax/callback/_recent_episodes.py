"""Episode returns and lengths counted from each rollout, once per iteration.

The reporting callbacks need the returns and lengths of the episodes that ended.
Counting them with a per-step hook would add work to every step of the rollout
loop (on XLA:CPU each extra op in the loop body costs about a microsecond per
step). Instead `EpisodeTracker` reads the rollout's raw rewards and done flags
(`IterationContext.rewards` / `.dones`) once per iteration, with a handful of
vectorized ops, and carries each environment's unfinished episode to the next
iteration.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from ._base import IterationContext


def _safe_mean(total: Array, count: Array) -> Float[Array, ""]:
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def rollout_of(ctx: IterationContext, owner: str) -> tuple[Array, Array]:
    """The rollout's raw rewards and done flags from an iteration context.

    Args:
        ctx: The iteration's data.
        owner: The callback's name, for the error message.

    Returns:
        `rewards` and `dones`, both with axes `(num_steps, num_envs)`.

    Raises:
        ValueError: If the context carries no rollout (an algorithm that builds
            `IterationContext` without `rewards` and `dones`).
    """
    if ctx.rewards is None or ctx.dones is None:
        raise ValueError(
            f"{owner} counts episodes from the rollout, but this algorithm's "
            "IterationContext has no `rewards`/`dones`; pass the rollout's raw "
            "rewards and done flags (axes (num_steps, num_envs)) when building it."
        )
    return ctx.rewards, ctx.dones


class EpisodeTracker(eqx.Module):
    """Unfinished episodes per environment, and the episodes finished since a report.

    Attributes:
        partial_return: Each environment's return so far in its current episode.
        partial_length: Each environment's length so far in its current episode.
        return_sum: Total return of the episodes finished since the last report.
        length_sum: Total length of those episodes.
        count: How many episodes finished since the last report.
    """

    partial_return: Float[Array, " num_envs"]
    partial_length: Int[Array, " num_envs"]
    return_sum: Float[Array, ""]
    length_sum: Int[Array, ""]
    count: Int[Array, ""]

    @staticmethod
    def initial(num_envs: int) -> EpisodeTracker:
        """Every environment at the start of an episode; nothing finished.

        Args:
            num_envs: The number of parallel environments.

        Returns:
            The empty tracker.
        """
        return EpisodeTracker(
            partial_return=jnp.zeros((num_envs,), jnp.float32),
            partial_length=jnp.zeros((num_envs,), jnp.int32),
            return_sum=jnp.zeros((), jnp.float32),
            length_sum=jnp.zeros((), jnp.int32),
            count=jnp.zeros((), jnp.int32),
        )

    def observe(
        self,
        rewards: Float[Array, "num_steps num_envs"],
        dones: Bool[Array, "num_steps num_envs"],
    ) -> EpisodeTracker:
        """Add one rollout.

        An environment's steps up to its last done flag belong to episodes that
        finished in this rollout (the first of them began in an earlier one:
        its carried part is added); the steps after it start the next unfinished
        episode.

        Args:
            rewards: The raw (unnormalized) rewards, axes `(num_steps, num_envs)`.
            dones: Termination or truncation flags, same axes.

        Returns:
            The tracker after the rollout.
        """
        num_steps = rewards.shape[0]
        rewards = jnp.asarray(rewards, jnp.float32)
        step = jnp.arange(num_steps, dtype=jnp.int32)[:, None]
        last = jnp.max(jnp.where(dones, step, -1), axis=0)  # (num_envs,)
        finished = last >= 0
        inside = step <= last[None, :]
        finished_return = jnp.sum(jnp.where(inside, rewards, 0.0), axis=0)
        rest_return = jnp.sum(rewards, axis=0) - finished_return
        return EpisodeTracker(
            partial_return=jnp.where(
                finished, rest_return, self.partial_return + rest_return
            ),
            partial_length=jnp.where(
                finished, num_steps - 1 - last, self.partial_length + num_steps
            ),
            return_sum=self.return_sum
            + jnp.sum(jnp.where(finished, finished_return + self.partial_return, 0.0)),
            length_sum=self.length_sum
            + jnp.sum(jnp.where(finished, last + 1 + self.partial_length, 0)),
            count=self.count + jnp.sum(dones, dtype=jnp.int32),
        )

    def means(self) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """The mean return and length of the episodes finished since the report.

        Returns:
            Both means, NaN when no episode finished.
        """
        return (
            _safe_mean(self.return_sum, self.count),
            _safe_mean(self.length_sum.astype(jnp.float32), self.count),
        )

    def cleared(self) -> EpisodeTracker:
        """The tracker after a report: unfinished episodes kept, totals zeroed.

        Returns:
            The cleared tracker.
        """
        return dataclasses.replace(
            self,
            return_sum=jnp.zeros_like(self.return_sum),
            length_sum=jnp.zeros_like(self.length_sum),
            count=jnp.zeros_like(self.count),
        )


class RecentEpisodes(eqx.Module):
    """An episode tracker plus the latest means, carried in callback state.

    Attributes:
        tracker: The episodes since the last report.
        last_return: Mean return of the episodes of the latest report that had
            any (NaN before the first episode ends).
        last_length: Their mean length (NaN before the first episode ends).
    """

    tracker: EpisodeTracker
    last_return: Float[Array, ""]
    last_length: Float[Array, ""]

    @staticmethod
    def initial(num_envs: int) -> RecentEpisodes:
        """No episodes seen.

        Args:
            num_envs: The number of parallel environments.

        Returns:
            An empty tracker and NaN means.
        """
        return RecentEpisodes(
            tracker=EpisodeTracker.initial(num_envs),
            last_return=jnp.full((), jnp.nan, jnp.float32),
            last_length=jnp.full((), jnp.nan, jnp.float32),
        )

    def observe(self, ctx: IterationContext, owner: str) -> RecentEpisodes:
        """Add the iteration's rollout.

        Args:
            ctx: The iteration's data.
            owner: The callback's name, for errors.

        Returns:
            The updated episodes.
        """
        return self.observe_rewards(*rollout_of(ctx, owner))

    def observe_rewards(
        self,
        rewards: Float[Array, "num_steps num_envs"],
        dones: Bool[Array, "num_steps num_envs"],
    ) -> RecentEpisodes:
        """Add a rollout given as rewards and done flags (one agent's, say).

        Args:
            rewards: The raw rewards, axes `(num_steps, num_envs)`.
            dones: The done flags, same axes.

        Returns:
            The updated episodes.
        """
        return dataclasses.replace(self, tracker=self.tracker.observe(rewards, dones))

    def report(self) -> tuple[RecentEpisodes, dict[str, Array]]:
        """The episodes finished since the last report.

        Returns:
            The state after the report, and `episode_return` / `episode_length`
            (the means of the episodes finished since the last report, or the
            latest means when none finished) and `episodes` (how many finished).
        """
        mean_return, mean_length = self.tracker.means()
        new = self.tracker.count
        last_return = jnp.where(new > 0, mean_return, self.last_return)
        last_length = jnp.where(new > 0, mean_length, self.last_length)
        seen = RecentEpisodes(
            tracker=self.tracker.cleared(),
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
