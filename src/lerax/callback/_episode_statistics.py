"""Episode returns and lengths, recorded into callback state inside the compiled run."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, Key

from ._base import (
    AbstractCallbackState,
    AbstractIterationCallback,
    IterationContext,
    ResetContext,
    grow_records,
)
from ._recent_episodes import EpisodeTracker, rollout_of


class EpisodeStatisticsState(AbstractCallbackState):
    """Per-iteration means of completed episodes, for the whole run.

    Attributes:
        mean_return: Mean return of the episodes completed in each iteration
            (NaN where none completed).
        mean_length: Mean length of those episodes (NaN where none completed).
        episodes: Number of episodes completed in each iteration.
        tracker: Each environment's unfinished episode.
        agent_mean_return: When the algorithm trains a team (IPPO, MAPPO),
            each agent's mean return over the same episodes (agents in the
            environment's order; `mean_return` is then the team return's);
            `None` otherwise.
        agent_tracker: The per-agent trackers (stacked over the agents), or
            `None`.
    """

    mean_return: Float[Array, " num_iterations"]
    mean_length: Float[Array, " num_iterations"]
    episodes: Int[Array, " num_iterations"]
    tracker: EpisodeTracker
    # Last, so a single-agent record (where they are `None`) keeps its leaves'
    # order in checkpoints.
    agent_mean_return: Float[Array, "num_iterations num_agents"] | None = None
    agent_tracker: EpisodeTracker | None = None


class AbstractEpisodeCallback(AbstractIterationCallback):
    """A callback that reports the episodes the environments finish.

    It keeps no per-environment step state, so it adds no work to the rollout
    loop: `on_iteration` counts the finished episodes from the rollout's raw
    rewards and done flags (`IterationContext.rewards` / `.dones`) with an
    `EpisodeTracker` carried in its state. Subclasses implement `reset` and
    `on_iteration`.
    """


class EpisodeStatisticsCallback(AbstractEpisodeCallback):
    """Record the mean return and length of the episodes completed each iteration.

    The record lives in the callback state (`EpisodeStatisticsState`), so it comes
    out of the compiled run with the algorithm state, also under `jax.vmap` over
    seeds. Returns are undiscounted sums of the environment's rewards. For a
    team (IPPO, MAPPO) `mean_return` is the team return's (the sum of the mean
    agent reward) and `agent_mean_return` records each agent's return too.
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
        state = EpisodeStatisticsState(
            mean_return=jnp.full((n,), jnp.nan, jnp.float32),
            mean_length=jnp.full((n,), jnp.nan, jnp.float32),
            episodes=jnp.zeros((n,), jnp.int32),
            tracker=EpisodeTracker.initial(ctx.num_envs),
        )
        if ctx.agents is None:
            return state
        num_agents = len(ctx.agents)
        return dataclasses.replace(
            state,
            agent_mean_return=jnp.full((n, num_agents), jnp.nan, jnp.float32),
            agent_tracker=jax.tree.map(
                lambda x: jnp.repeat(x[None], num_agents, axis=0),
                EpisodeTracker.initial(ctx.num_envs),
            ),
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

        Raises:
            ValueError: At trace time, if the run was reset for a team but the
                context carries no `agent_rewards`.
        """
        state = ctx.state
        assert isinstance(state, EpisodeStatisticsState)
        rewards, dones = rollout_of(ctx, "EpisodeStatisticsCallback")
        tracker = state.tracker.observe(rewards, dones)
        mean_return, mean_length = tracker.means()
        i = ctx.iteration
        agent_mean_return = agent_tracker = None
        if state.agent_tracker is not None:
            if ctx.agent_rewards is None:
                raise ValueError(
                    "EpisodeStatisticsCallback: the run's ResetContext named "
                    "agents, but this IterationContext has no agent_rewards."
                )

            def observe(agent_tracker, agent_rewards):
                agent_tracker = agent_tracker.observe(agent_rewards, dones)
                return agent_tracker.means()[0], agent_tracker.cleared()

            means, agent_tracker = jax.vmap(observe, in_axes=(0, -1))(
                state.agent_tracker, ctx.agent_rewards
            )
            agent_mean_return = state.agent_mean_return.at[i].set(means)
        return EpisodeStatisticsState(
            mean_return=state.mean_return.at[i].set(mean_return),
            mean_length=state.mean_length.at[i].set(mean_length),
            episodes=state.episodes.at[i].set(tracker.count),
            tracker=tracker.cleared(),
            agent_mean_return=agent_mean_return,
            agent_tracker=agent_tracker,
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
            agent_mean_return=(
                None
                if state.agent_mean_return is None
                else grow_records(state.agent_mean_return, n, jnp.nan)
            ),
        )
