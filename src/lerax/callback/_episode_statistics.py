"""Episode returns and lengths, recorded into callback state inside the compiled run."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
from jaxtyping import Array, Float, Int, Key

from ._base import (
    AbstractCallback,
    AbstractCallbackState,
    AbstractCallbackStepState,
    IterationContext,
    ResetContext,
    StepContext,
    grow_records,
)


class EpisodeStatisticsStepState(AbstractCallbackStepState):
    """Running totals of one environment's completed episodes.

    Attributes:
        return_sum: Sum of the undiscounted returns of completed episodes.
        length_sum: Sum of the lengths of completed episodes.
        count: Number of completed episodes.
    """

    return_sum: Float[Array, ""]
    length_sum: Int[Array, ""]
    count: Int[Array, ""]


class EpisodeStatisticsState(AbstractCallbackState):
    """Per-iteration means of completed episodes, for the whole run.

    Attributes:
        mean_return: Mean return of the episodes completed in each iteration
            (NaN where none completed).
        mean_length: Mean length of those episodes (NaN where none completed).
        episodes: Number of episodes completed in each iteration.
        seen_return_sum: Return total at the end of the last iteration.
        seen_length_sum: Length total at the end of the last iteration.
        seen_count: Episode count at the end of the last iteration.
    """

    mean_return: Float[Array, " num_iterations"]
    mean_length: Float[Array, " num_iterations"]
    episodes: Int[Array, " num_iterations"]
    seen_return_sum: Float[Array, ""]
    seen_length_sum: Int[Array, ""]
    seen_count: Int[Array, ""]


def _initial_step_state() -> EpisodeStatisticsStepState:
    return EpisodeStatisticsStepState(
        return_sum=jnp.zeros((), jnp.float32),
        length_sum=jnp.zeros((), jnp.int32),
        count=jnp.zeros((), jnp.int32),
    )


def _record_step(ctx: StepContext) -> EpisodeStatisticsStepState:
    state = ctx.state
    assert isinstance(state, EpisodeStatisticsStepState)
    done = ctx.done
    return EpisodeStatisticsStepState(
        return_sum=state.return_sum + jnp.where(done, ctx.episode_return, 0.0),
        length_sum=state.length_sum + jnp.where(done, ctx.episode_length, 0),
        count=state.count + done.astype(jnp.int32),
    )


def _iteration_totals(
    step_states: AbstractCallbackStepState,
) -> tuple[Float[Array, ""], Int[Array, ""], Int[Array, ""]]:
    assert isinstance(step_states, EpisodeStatisticsStepState)
    return (
        jnp.sum(step_states.return_sum),
        jnp.sum(step_states.length_sum),
        jnp.sum(step_states.count),
    )


def _safe_mean(total: Array, count: Array) -> Float[Array, ""]:
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


class AbstractEpisodeCallback(AbstractCallback):
    """A callback that counts the episodes each environment finishes.

    Supplies `step_reset` and `on_step`: every environment carries the totals of
    its finished episodes (`EpisodeStatisticsStepState`: return sum, length sum,
    count), so `on_iteration` can report the episodes finished since the last
    report from `ctx.step_states`. Subclasses implement `reset` and
    `on_iteration`.
    """

    def step_reset(self, *, key: Key[Array, ""]) -> EpisodeStatisticsStepState:
        """Zero totals for one environment.

        Args:
            key: Ignored.

        Returns:
            Zero totals.
        """
        return _initial_step_state()

    def on_step(
        self, ctx: StepContext, *, key: Key[Array, ""]
    ) -> EpisodeStatisticsStepState:
        """Add the episode that ended with this step, if one did.

        Args:
            ctx: The step's data.
            key: Ignored.

        Returns:
            The updated totals.
        """
        return _record_step(ctx)


class EpisodeStatisticsCallback(AbstractEpisodeCallback):
    """Record the mean return and length of the episodes completed each iteration.

    The record lives in the callback state (`EpisodeStatisticsState`), so it comes
    out of the compiled run with the algorithm state, also under `jax.vmap` over
    seeds. Returns are undiscounted sums of the environment's rewards.
    """

    def reset(
        self, ctx: ResetContext, *, key: Key[Array, ""]
    ) -> EpisodeStatisticsState:
        """Allocate the per-iteration record.

        Args:
            ctx: The run's sizes (the record has `num_iterations` entries).
            key: Ignored.

        Returns:
            A record filled with NaN means and zero counts.
        """
        n = ctx.num_iterations
        return EpisodeStatisticsState(
            mean_return=jnp.full((n,), jnp.nan, jnp.float32),
            mean_length=jnp.full((n,), jnp.nan, jnp.float32),
            episodes=jnp.zeros((n,), jnp.int32),
            seen_return_sum=jnp.zeros((), jnp.float32),
            seen_length_sum=jnp.zeros((), jnp.int32),
            seen_count=jnp.zeros((), jnp.int32),
        )

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> EpisodeStatisticsState:
        """Write this iteration's means into the record.

        Args:
            ctx: The iteration's data.
            key: Ignored.

        Returns:
            The updated record.
        """
        state = ctx.state
        assert isinstance(state, EpisodeStatisticsState)
        return_sum, length_sum, count = _iteration_totals(ctx.step_states)
        new = count - state.seen_count
        i = ctx.iteration
        return EpisodeStatisticsState(
            mean_return=state.mean_return.at[i].set(
                _safe_mean(return_sum - state.seen_return_sum, new)
            ),
            mean_length=state.mean_length.at[i].set(
                _safe_mean((length_sum - state.seen_length_sum).astype(float), new)
            ),
            episodes=state.episodes.at[i].set(new),
            seen_return_sum=return_sum,
            seen_length_sum=length_sum,
            seen_count=count,
        )

    def extend(
        self, state: EpisodeStatisticsState, ctx: ResetContext
    ) -> EpisodeStatisticsState:
        """Grow the per-iteration record to the new total.

        Args:
            state: The record so far.
            ctx: The run's sizes, with the new total.

        Returns:
            The record with NaN means and zero counts for the new iterations.
        """
        n = ctx.num_iterations
        return dataclasses.replace(
            state,
            mean_return=grow_records(state.mean_return, n, jnp.nan),
            mean_length=grow_records(state.mean_length, n, jnp.nan),
            episodes=grow_records(state.episodes, n, 0),
        )
