"""Evaluating the policy during training, inside the compiled run."""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, Key

from lerax._checks import check_size
from lerax._host import emit, lookup
from lerax.env import AbstractEnvLike, AgentBatchEnv
from lerax.evaluation import evaluate_policy, evaluate_team

from ._base import (
    AbstractCallbackState,
    AbstractIterationCallback,
    IterationContext,
    ResetContext,
    grow_records,
)
from ._logging import LoggingCallback


class EvalState(AbstractCallbackState):
    """The evaluations of a run and the best policy so far.

    Entry `j` of each record is the evaluation after iteration
    `(j + 1) * every_iterations` (NaN, or -1 for the counters, until it runs).

    Attributes:
        iteration: Iterations done when each evaluation ran.
        timesteps: Timesteps done when each evaluation ran.
        return_mean: Mean episode return of each evaluation.
        return_std: Standard deviation of the episode returns (population).
        length_mean: Mean episode length.
        length_std: Standard deviation of the episode lengths.
        best_return: The highest `return_mean` so far (-inf before the first).
        best_iteration: Iterations done when the best policy was evaluated (-1
            before the first evaluation).
        best_policy: A copy of the policy that got `best_return` (the initial
            policy before the first evaluation).
        agent_return_mean: With an `AgentBatchEnv`, each agent's mean episode
            return of each evaluation (in the environment's `agents` order; the
            `return_*` records are then the team return's); `None` otherwise.
    """

    iteration: Int[Array, " num_evals"]
    timesteps: Int[Array, " num_evals"]
    return_mean: Float[Array, " num_evals"]
    return_std: Float[Array, " num_evals"]
    length_mean: Float[Array, " num_evals"]
    length_std: Float[Array, " num_evals"]
    best_return: Float[Array, ""]
    best_iteration: Int[Array, ""]
    best_policy: Any
    # Last, so the leaves of a single-agent record (where it is `None`) keep
    # their order in checkpoints.
    agent_return_mean: Float[Array, "num_evals num_agents"] | None = None


class EvalCallback(AbstractIterationCallback):
    """Every `every_iterations` iterations, play whole episodes with the policy.

    The evaluation runs inside the compiled program, on the callback's own
    environment instances (`lerax.evaluation.evaluate_policy`: `num_episodes`
    episodes side by side, each from its own reset). The results are kept in
    the callback's state (`EvalState`: one entry per evaluation, so
    `num_iterations // every_iterations` entries), together with a copy of the
    best policy so far, as Stable-Baselines3's `best_model`; read them after
    `learn_state` with `state.callback_state[EvalCallback]`. It also works under
    `jax.vmap` over seeds (one record per seed).

    With `logger=` a `LoggingCallback`, the results (`eval_return_mean`,
    `eval_return_std`, `eval_length_mean`, `eval_length_std`) are also written
    by that logger, on the row of the evaluated iteration when the
    `EvalCallback` comes before the logger in the callback list.

    With an `lerax.env.AgentBatchEnv` (IPPO, MAPPO), the episodes are team
    episodes played by `lerax.evaluation.evaluate_team`: the `return_*`
    records (and the best policy) are the team return's, and
    `EvalState.agent_return_mean` holds each agent's mean return, which a
    logger writes as `eval_return_mean/<agent>`.

    Attributes:
        env: The environment to evaluate on.
        every_iterations: Evaluate after every `every_iterations` iterations.
        num_episodes: Episodes per evaluation.
        deterministic: Act with the policy's deterministic action.
        max_steps: Cut an episode after this many steps.
        logger_handle: The handle of the logger's host side (`None`: no logger).
    """

    env: AbstractEnvLike
    every_iterations: int = eqx.field(static=True)
    num_episodes: int = eqx.field(static=True)
    deterministic: bool = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)
    logger_handle: Int[Array, ""] | None

    def __init__(
        self,
        env: AbstractEnvLike,
        every_iterations: int,
        num_episodes: int = 8,
        deterministic: bool = True,
        *,
        max_steps: int = 100_000,
        logger: LoggingCallback | None = None,
    ):
        """Create the callback.

        Args:
            env: The environment to evaluate on (usually a fresh instance of the
                training environment).
            every_iterations: Evaluate after every `every_iterations` iterations.
            num_episodes: Episodes per evaluation.
            deterministic: Act with the policy's deterministic action (the mode
                of its distribution) rather than sampling.
            max_steps: Cut an episode after this many steps (a guard for
                environments without a time limit).
            logger: A `LoggingCallback` to also write the results with.

        Raises:
            ValueError: If a size is not a positive int.
            TypeError: If `logger` is not a `LoggingCallback`.
        """
        check_size("EvalCallback", "every_iterations", every_iterations)
        check_size("EvalCallback", "num_episodes", num_episodes)
        check_size("EvalCallback", "max_steps", max_steps)
        if logger is not None and not isinstance(logger, LoggingCallback):
            raise TypeError(
                f"EvalCallback: logger must be a LoggingCallback, got "
                f"{type(logger).__name__}."
            )
        self.env = env
        self.every_iterations = int(every_iterations)
        self.num_episodes = int(num_episodes)
        self.deterministic = bool(deterministic)
        self.max_steps = int(max_steps)
        self.logger_handle = None if logger is None else logger.handle
        if logger is not None:
            host = lookup(logger.handle)
            host.with_eval = True
            host.eval_agent_columns = self._agent_columns()

    def _agent_columns(self) -> tuple[str, ...]:
        if not isinstance(self.env, AgentBatchEnv):
            return ()
        return tuple(f"eval_return_mean/{agent}" for agent in self.env.env.agents)

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> EvalState:
        """Allocate one entry per evaluation and copy the initial policy.

        Args:
            ctx: The run's sizes and initial policy.
            key: Ignored.

        Returns:
            An empty record.

        Raises:
            ValueError: If the algorithm gives no initial policy.
        """
        if ctx.policy is None:
            raise ValueError(
                "EvalCallback: the algorithm gave no policy in the ResetContext."
            )
        n = ctx.num_iterations // self.every_iterations
        return EvalState(
            iteration=jnp.full((n,), -1, jnp.int32),
            timesteps=jnp.full((n,), -1, jnp.int32),
            return_mean=jnp.full((n,), jnp.nan, jnp.float32),
            return_std=jnp.full((n,), jnp.nan, jnp.float32),
            length_mean=jnp.full((n,), jnp.nan, jnp.float32),
            length_std=jnp.full((n,), jnp.nan, jnp.float32),
            best_return=jnp.full((), -jnp.inf, jnp.float32),
            best_iteration=jnp.full((), -1, jnp.int32),
            best_policy=ctx.policy,
            agent_return_mean=(
                jnp.full((n, self.env.num_agents), jnp.nan, jnp.float32)
                if isinstance(self.env, AgentBatchEnv)
                else None
            ),
        )

    def extend(self, state: EvalState, ctx: ResetContext) -> EvalState:
        """Grow the evaluation records for a run extended by `resume`.

        Args:
            state: The records so far.
            ctx: The run's sizes, with the new total.

        Returns:
            The records with empty entries (NaN, -1) for the new evaluations.
        """
        n = ctx.num_iterations // self.every_iterations
        return dataclasses.replace(
            state,
            iteration=grow_records(state.iteration, n, -1),
            timesteps=grow_records(state.timesteps, n, -1),
            return_mean=grow_records(state.return_mean, n, jnp.nan),
            return_std=grow_records(state.return_std, n, jnp.nan),
            length_mean=grow_records(state.length_mean, n, jnp.nan),
            length_std=grow_records(state.length_std, n, jnp.nan),
            agent_return_mean=(
                None
                if state.agent_return_mean is None
                else grow_records(state.agent_return_mean, n, jnp.nan)
            ),
        )

    def on_iteration(self, ctx: IterationContext, *, key: Key[Array, ""]) -> EvalState:
        """Evaluate the policy if this iteration is one to evaluate after.

        Args:
            ctx: The iteration's data (its policy is the one evaluated).
            key: The evaluation's PRNG key.

        Returns:
            The updated record and best policy.
        """
        state = ctx.state
        assert isinstance(state, EvalState)
        if state.iteration.shape[0] == 0:
            # A run shorter than `every_iterations`: nothing is ever due.
            return state
        done = ctx.iteration + 1
        should = done % self.every_iterations == 0
        dynamic, static = eqx.partition(state, eqx.is_array)

        def evaluate(dynamic):
            state = eqx.combine(dynamic, static)
            agent_means = None
            if isinstance(self.env, AgentBatchEnv):
                team = evaluate_team(
                    self.env,
                    ctx.policy,
                    key=key,
                    num_episodes=self.num_episodes,
                    deterministic=self.deterministic,
                    max_steps=self.max_steps,
                )
                returns, result_lengths = team.team_returns, team.lengths
                agent_means = jnp.mean(team.agent_returns, axis=0)
            else:
                result = evaluate_policy(
                    self.env,
                    ctx.policy,
                    key=key,
                    num_episodes=self.num_episodes,
                    deterministic=self.deterministic,
                    max_steps=self.max_steps,
                )
                returns, result_lengths = result.returns, result.lengths
            returns = returns.astype(jnp.float32)
            lengths = result_lengths.astype(jnp.float32)
            stats = {
                "eval_return_mean": jnp.mean(returns),
                "eval_return_std": jnp.std(returns),
                "eval_length_mean": jnp.mean(lengths),
                "eval_length_std": jnp.std(lengths),
            }
            if agent_means is not None:
                for column, mean in zip(
                    self._agent_columns(), agent_means, strict=True
                ):
                    stats[column] = mean
            if self.logger_handle is not None:
                emit(
                    self.logger_handle,
                    "eval",
                    {**stats, "iteration": done, "timesteps": ctx.timesteps},
                )
            j = done // self.every_iterations - 1
            better = stats["eval_return_mean"] > state.best_return
            new_policy = eqx.filter(ctx.policy, eqx.is_array)
            old_policy = eqx.filter(state.best_policy, eqx.is_array)
            best_policy = eqx.combine(
                jax.tree.map(
                    lambda new, old: jnp.where(better, new, old), new_policy, old_policy
                ),
                state.best_policy,
            )
            new = EvalState(
                iteration=state.iteration.at[j].set(done, mode="drop"),
                timesteps=state.timesteps.at[j].set(ctx.timesteps, mode="drop"),
                return_mean=state.return_mean.at[j].set(
                    stats["eval_return_mean"], mode="drop"
                ),
                return_std=state.return_std.at[j].set(
                    stats["eval_return_std"], mode="drop"
                ),
                length_mean=state.length_mean.at[j].set(
                    stats["eval_length_mean"], mode="drop"
                ),
                length_std=state.length_std.at[j].set(
                    stats["eval_length_std"], mode="drop"
                ),
                best_return=jnp.where(
                    better, stats["eval_return_mean"], state.best_return
                ),
                best_iteration=jnp.where(better, done, state.best_iteration),
                best_policy=best_policy,
                agent_return_mean=(
                    None
                    if agent_means is None
                    else state.agent_return_mean.at[j].set(agent_means, mode="drop")
                ),
            )
            return eqx.filter(new, eqx.is_array)

        dynamic = jax.lax.cond(should, evaluate, lambda d: d, dynamic)
        return eqx.combine(dynamic, static)
