"""Curricula: environment parameters set by training progress or performance.

An environment's parameters are array leaves of the env (a lerax env's fields,
or a gymnax env's `EnvParams` as `GymnaxToLeraxEnv.params`), and the env is part
of the training state (`OnPolicyState.env`). A curriculum is a Module that,
before every iteration and inside the compiled run, maps the current env, its
own state, the training progress and the recent episode returns (and a key) to
a new env. A schedule, a performance-driven level and per-iteration domain
randomisation are three concrete curricula of that one hook.
"""

# No `from __future__ import annotations`: the abstract base declares no fields,
# and the concrete ones are ordinary Modules.

import dataclasses
from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, Key, PyTree

from lerax._checks import check_size
from lerax._key import check_key
from lerax.algorithm import (
    AbstractOnPolicyAlgorithm,
    OnPolicyState,
    filter_scan,
    raise_if_faulted,
)
from lerax.callback import EpisodeStatisticsCallback
from lerax.env import AbstractEnvLike
from lerax.policy import AbstractPolicy, check_env_and_policy


class CurriculumContext(eqx.Module):
    """What a curriculum sees before an iteration.

    Attributes:
        iteration: Iterations completed (from 0).
        progress: `iteration / num_iterations`, in [0, 1).
        recent_return: The mean episode return over the last `window`
            iterations (NaN if no episode ended in them, or before the first
            iteration).
    """

    iteration: Int[Array, ""]
    progress: Float[Array, ""]
    recent_return: Float[Array, ""]


class AbstractCurriculum(eqx.Module):
    """A rule that sets environment parameters inside the compiled run.

    `init` builds the curriculum's own state from the initial env; before every
    iteration `update` returns the env to train on and the new state;
    `parameters` names what the curriculum sets (recorded once per iteration, so
    a run's parameter sequence can be read back). Write a subclass for any other
    rule; it must keep the env's structure and shapes.
    """

    @abstractmethod
    def init(self, env: AbstractEnvLike) -> PyTree:
        """The curriculum's initial state.

        Args:
            env: The environment as given.

        Returns:
            A pytree of arrays (or `None`).
        """

    @abstractmethod
    def update(
        self,
        env: AbstractEnvLike,
        state: PyTree,
        ctx: CurriculumContext,
        *,
        key: Key[Array, ""],
    ) -> tuple[AbstractEnvLike, PyTree]:
        """The env for the next iteration, and the new curriculum state.

        Args:
            env: The env of the previous iteration.
            state: The curriculum's state.
            ctx: Iteration, progress and recent return.
            key: A JAX PRNG key (for randomisation).

        Returns:
            The env and the curriculum state.
        """

    @abstractmethod
    def parameters(self, env: AbstractEnvLike) -> PyTree:
        """What this curriculum sets, read from `env` (for the record).

        Args:
            env: An environment.

        Returns:
            The parameters (a pytree of arrays).
        """


def _set(where: Callable[[Any], Any], env: AbstractEnvLike, value: Any) -> Any:
    old = where(env)
    return eqx.tree_at(where, env, jnp.asarray(value, jnp.result_type(old)))


def _where_leaf(owner: str, where: Any, env: AbstractEnvLike) -> None:
    if not callable(where):
        raise TypeError(
            f"{owner}: where must be a function env -> parameter (as for "
            f"eqx.tree_at), got {type(where).__name__}."
        )
    leaf = where(env)
    if not eqx.is_array(leaf):
        raise ValueError(
            f"{owner}: where(env) must select an array leaf of the env (a gymnax "
            "env's params are arrays, e.g. lambda env: env.params.goal_position), "
            f"got {type(leaf).__name__}."
        )


class ScheduledCurriculum(AbstractCurriculum):
    """Set one parameter to `schedule(progress)` before every iteration.

    Attributes:
        where: `env -> parameter`, selecting an array leaf (as for `eqx.tree_at`).
        schedule: `progress -> value`, progress in [0, 1) (an optax schedule of
            a float works, as does any jnp function).
    """

    where: Callable[[Any], Any] = eqx.field(static=True)
    schedule: Callable[[Float[Array, ""]], Float[Array, ""]] = eqx.field(static=True)

    def init(self, env: AbstractEnvLike) -> None:
        """No state.

        Args:
            env: The environment (checked: `where` must select an array).

        Returns:
            None.
        """
        _where_leaf("ScheduledCurriculum", self.where, env)
        return None

    def update(
        self,
        env: AbstractEnvLike,
        state: None,
        ctx: CurriculumContext,
        *,
        key: Key[Array, ""],
    ) -> tuple[AbstractEnvLike, None]:
        """Set the parameter to the schedule's value at `ctx.progress`.

        Args:
            env: The env.
            state: None.
            ctx: The context.
            key: Unused.

        Returns:
            The env and None.
        """
        return _set(self.where, env, self.schedule(ctx.progress)), None

    def parameters(self, env: AbstractEnvLike) -> Array:
        """The scheduled parameter.

        Args:
            env: An environment.

        Returns:
            `where(env)`.
        """
        return self.where(env)


class PerformanceCurriculum(AbstractCurriculum):
    """Step through `levels` of one parameter as the agent masters each.

    Starts at `levels[0]`; before an iteration, if the mean return over the
    last `window` iterations is at least `threshold` and the current level has
    been trained on for `window` iterations, the next level is set (the last
    level stays).

    Attributes:
        where: `env -> parameter`, selecting an array leaf.
        levels: The parameter's values, easiest first.
        threshold: The recent mean return that advances a level.
        window: Iterations a level is trained before it can advance (use the
            same `window` as the run's).
    """

    where: Callable[[Any], Any] = eqx.field(static=True)
    levels: Float[Array, " num_levels"]
    threshold: Float[Array, ""]
    window: int = eqx.field(static=True)

    def __init__(
        self,
        where: Callable[[Any], Any],
        levels: Sequence[float] | ArrayLike,
        threshold: float,
        window: int = 10,
    ):
        """Configure the levels.

        Args:
            where: `env -> parameter`, selecting an array leaf.
            levels: The parameter's values, easiest first (at least one).
            threshold: The recent mean return that advances a level.
            window: Iterations each level is trained before it can advance.

        Raises:
            ValueError: If `levels` is empty or not 1-d, or `window` < 1.
        """
        levels = jnp.asarray(levels, jnp.float32)
        if levels.ndim != 1 or levels.shape[0] < 1:
            raise ValueError(
                "PerformanceCurriculum: levels must be a 1-d list of at least one "
                f"value, got shape {levels.shape}."
            )
        check_size("PerformanceCurriculum", "window", window)
        self.where = where
        self.levels = levels
        self.threshold = jnp.asarray(threshold, jnp.float32)
        self.window = int(window)

    def init(self, env: AbstractEnvLike) -> tuple[Int[Array, ""], Int[Array, ""]]:
        """Level 0, trained for 0 iterations.

        Args:
            env: The environment (checked: `where` must select an array).

        Returns:
            `(level, iterations_at_level)`.
        """
        _where_leaf("PerformanceCurriculum", self.where, env)
        return jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32)

    def update(
        self,
        env: AbstractEnvLike,
        state: tuple[Int[Array, ""], Int[Array, ""]],
        ctx: CurriculumContext,
        *,
        key: Key[Array, ""],
    ) -> tuple[AbstractEnvLike, tuple[Int[Array, ""], Int[Array, ""]]]:
        """Advance a level if the recent return reached the threshold.

        Args:
            env: The env.
            state: `(level, iterations_at_level)`.
            ctx: The context.
            key: Unused.

        Returns:
            The env at the (new) level and the new state.
        """
        level, trained = state
        last = self.levels.shape[0] - 1
        advance = (
            (ctx.recent_return >= self.threshold)
            & (trained >= self.window)
            & (level < last)
        )
        level = jnp.where(advance, level + 1, level)
        trained = jnp.where(advance, 0, trained + 1)
        return _set(self.where, env, self.levels[level]), (level, trained)

    def parameters(self, env: AbstractEnvLike) -> Array:
        """The parameter the levels set.

        Args:
            env: An environment.

        Returns:
            `where(env)`.
        """
        return self.where(env)


class DomainRandomization(AbstractCurriculum):
    """Draw one parameter uniformly from `[low, high)` before every iteration.

    Every environment of the iteration shares the draw; a new one is drawn per
    iteration (not per episode reset).

    Attributes:
        where: `env -> parameter`, selecting an array leaf.
        low: The lower bound.
        high: The upper bound.
    """

    where: Callable[[Any], Any] = eqx.field(static=True)
    low: Float[Array, ""]
    high: Float[Array, ""]

    def __init__(self, where: Callable[[Any], Any], low: float, high: float):
        """Configure the range.

        Args:
            where: `env -> parameter`, selecting an array leaf.
            low: The lower bound.
            high: The upper bound (> low).

        Raises:
            ValueError: If `low >= high`.
        """
        if not float(low) < float(high):
            raise ValueError(
                f"DomainRandomization: low must be < high, got ({low}, {high})."
            )
        self.where = where
        self.low = jnp.asarray(low, jnp.float32)
        self.high = jnp.asarray(high, jnp.float32)

    def init(self, env: AbstractEnvLike) -> None:
        """No state.

        Args:
            env: The environment (checked: `where` must select an array).

        Returns:
            None.
        """
        _where_leaf("DomainRandomization", self.where, env)
        return None

    def update(
        self,
        env: AbstractEnvLike,
        state: None,
        ctx: CurriculumContext,
        *,
        key: Key[Array, ""],
    ) -> tuple[AbstractEnvLike, None]:
        """Draw the parameter.

        Args:
            env: The env.
            state: None.
            ctx: Unused.
            key: The key of the draw.

        Returns:
            The env with the drawn parameter, and None.
        """
        value = jax.random.uniform(key, (), jnp.float32, self.low, self.high)
        return _set(self.where, env, value), None

    def parameters(self, env: AbstractEnvLike) -> Array:
        """The randomised parameter.

        Args:
            env: An environment.

        Returns:
            `where(env)`.
        """
        return self.where(env)


def _recent_return(state: OnPolicyState, window: int) -> Float[Array, ""]:
    record = state.callback_state.mean_return
    n = record.shape[0]
    index = jnp.arange(n)
    done = state.iteration_count
    mask = (index < done) & (index >= done - window) & ~jnp.isnan(record)
    count = jnp.sum(mask)
    total = jnp.sum(jnp.where(mask, record, 0.0))
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def curriculum_step(
    curriculum: AbstractCurriculum,
    state: OnPolicyState,
    curriculum_state: PyTree,
    *,
    key: Key[Array, ""],
    window: int,
) -> tuple[OnPolicyState, PyTree]:
    """Apply a curriculum to a run's state before an iteration.

    Args:
        curriculum: The curriculum.
        state: The run's state; its callback state must be an
            `EpisodeStatisticsState`.
        curriculum_state: The curriculum's state.
        key: A JAX PRNG key.
        window: Iterations the recent return averages over.

    Returns:
        The state with the curriculum's env, and the new curriculum state.
    """
    ctx = CurriculumContext(
        iteration=state.iteration_count,
        progress=state.iteration_count.astype(jnp.float32) / state.num_iterations,
        recent_return=_recent_return(state, window),
    )
    env, curriculum_state = curriculum.update(state.env, curriculum_state, ctx, key=key)
    return dataclasses.replace(state, env=env), curriculum_state


class CurriculumRun(eqx.Module):
    """What `learn_with_curriculum` returns.

    Attributes:
        state: The final training state (`state.policy` the trained policy,
            `state.callback_state.mean_return` the per-iteration returns).
        parameters: `curriculum.parameters(env)` in use during each iteration
            (leading axis `num_iterations`).
        curriculum_state: The curriculum's final state.
    """

    state: OnPolicyState
    parameters: PyTree
    curriculum_state: PyTree


@eqx.filter_jit
def _curriculum_program(
    algorithm, env, policy, curriculum, num_iterations, window, key, callback
):
    state = algorithm.reset(
        env, policy, key=key, callback=callback, num_iterations=num_iterations
    )
    cstate = curriculum.init(env)

    def body(carry, _):
        state, cstate = carry
        key, iteration_key, curriculum_key = jax.random.split(state.key, 3)
        state = dataclasses.replace(state, key=key)
        state, cstate = curriculum_step(
            curriculum, state, cstate, key=curriculum_key, window=window
        )
        record = curriculum.parameters(state.env)
        state = algorithm.iteration(state, key=iteration_key, callback=callback)
        return (state, cstate), record

    (state, cstate), records = filter_scan(body, (state, cstate), length=num_iterations)
    return CurriculumRun(state=state, parameters=records, curriculum_state=cstate)


def learn_with_curriculum(
    algorithm: AbstractOnPolicyAlgorithm,
    env: AbstractEnvLike,
    policy: AbstractPolicy,
    total_timesteps: int,
    curriculum: AbstractCurriculum,
    *,
    key: Key[Array, ""],
    window: int = 10,
) -> CurriculumRun:
    """Train with a curriculum, as one compiled program.

    The run is `learn`'s loop with one step added before every iteration: the
    curriculum's `update` sets the env (`OnPolicyState.env`) from the progress,
    the mean episode return of the last `window` iterations and a key. An
    `EpisodeStatisticsCallback` records the returns. Pure and traceable, so
    `jax.vmap` over keys trains many seeds with their own curricula.

    Args:
        algorithm: The algorithm (PPO, A2C, ...).
        env: The environment; the curriculum sets its array leaves.
        policy: The initial policy.
        total_timesteps: The training budget in environment steps.
        curriculum: The curriculum.
        key: A JAX PRNG key.
        window: Iterations `CurriculumContext.recent_return` averages over.

    Returns:
        A `CurriculumRun`: the final state and the parameters used per
        iteration.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a size or the env/policy pairing is invalid, or the
            curriculum's `where` does not select an array.
        NonFiniteError: If a NaN or Inf stopped the run.
    """
    if not isinstance(algorithm, AbstractOnPolicyAlgorithm):
        raise TypeError(
            "learn_with_curriculum: algorithm must be a lerax on-policy algorithm, "
            f"got {type(algorithm).__name__}."
        )
    if not isinstance(curriculum, AbstractCurriculum):
        raise TypeError(
            "learn_with_curriculum: curriculum must be a lerax.scale "
            f"AbstractCurriculum, got {type(curriculum).__name__}."
        )
    check_key("learn_with_curriculum", key)
    check_size("learn_with_curriculum", "window", window)
    check_env_and_policy(env, policy)
    num_iterations = algorithm.num_iterations(total_timesteps)
    curriculum.init(env)  # checks `where` on the host, before compiling
    run = _curriculum_program(
        algorithm,
        env,
        policy,
        curriculum,
        num_iterations,
        int(window),
        key,
        EpisodeStatisticsCallback(),
    )
    if isinstance(run.state.iteration_count, jax.core.Tracer):
        return run
    return dataclasses.replace(run, state=raise_if_faulted(algorithm, run.state))
