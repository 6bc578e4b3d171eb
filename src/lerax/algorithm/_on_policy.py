"""The on-policy interface: what an algorithm provides, and its public methods.

`AbstractOnPolicyAlgorithm` declares the contract (the attributes and hooks a
concrete algorithm fills) and the methods users call (`learn`, `learn_state`,
`resume`, `reset`, `iteration`, `collect_rollout`). Those methods are thin: the
loop itself is written once, top to bottom, in `lerax.algorithm._driver`.
"""

# No `from __future__ import annotations` here: Equinox recognises an
# `eqx.AbstractVar` annotation only when it is evaluated; as a string it becomes
# an ordinary dataclass field of the abstract class (inherited by every
# subclass as a required argument).

import warnings
from abc import abstractmethod
from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import numpy as np
import optax
from jaxtyping import Array, Float, Key, Scalar

from lerax._checks import plain
from lerax.buffer import RolloutBuffer
from lerax.callback import AbstractCallback, EmptyCallback, ListCallback
from lerax.checkpoint import Checkpointer
from lerax.env import AbstractEnvLike

from . import _driver
from ._base import AbstractAlgorithm, PolicyType
from ._hyperparameter import check_hyperparameters
from ._nonfinite import check_on_nonfinite
from ._on_policy_state import (
    AbstractOnPolicyState,
    AbstractOnPolicyStepState,
    OnPolicyState,
)


class AbstractOnPolicyAlgorithm(AbstractAlgorithm[PolicyType, OnPolicyState]):
    """Base class for on-policy algorithms: collect a rollout, post-process, train.

    Each iteration collects a rollout of `num_steps` steps in `num_envs`
    environments with the current policy (`step`, vmapped over environments and
    scanned over steps), post-processes it (`post_collect`), trains on it
    (`train`) and calls the callbacks; `learn` compiles `reset` and all the
    iterations into one program (`lerax.algorithm.run_on_policy`), so it is
    pure (key in, policy out) and can be `jax.vmap`-ed over keys or over a stack
    of algorithm instances.

    A concrete subclass is a final class (fields and `__init__` in it, nothing
    subclasses it) that provides:

    - the attributes `num_envs` and `num_steps` (static ints: they set shapes),
      `gamma` (the discount; also used by reward scaling), `batch_size` (an int,
      for the reader: the base does not use it) and `optimizer` (an optax
      transformation; a property built from array-leaf hyperparameters keeps
      them sweepable);
    - the methods `step` (one environment step, returning the next carry and a
      `RolloutBuffer` entry; `lerax.algorithm.actor_critic_step` is the
      actor-critic one, with auto-reset) and `train` (policy, optimizer state
      and buffer in; policy, optimizer state and a log of scalars out).

    Everything else has a default, so a subclass written against the
    specification's members alone instantiates and trains: the hooks
    `post_collect` (returns the buffer; fill returns and advantages there,
    `lerax.algorithm.gae_post_collect` does GAE), `per_step` (after every step
    of one environment), `per_iteration` (after every iteration) and
    `post_reset` (adjust the initial state: PPO sets its learning-rate anneal
    horizon there) do nothing, `behaviour_policy` (the policy the rollout acts
    with: `PQN` explores epsilon-greedily) returns `state.policy`, and
    `on_nonfinite` is `"error"` (see below).
    `AbstractActorCriticAlgorithm` fills `step` and `post_collect` for
    actor-critic policies, leaving `train`.

    Floats that could be swept (learning rate, discount, loss coefficients)
    should be array leaves, declared with `lerax.algorithm.hyperparameter`:
    then a new value compiles nothing and `eqx.filter_vmap` over instances is a
    sweep. Such fields are range-checked when an instance is built.

    `on_nonfinite` decides what a NaN or Inf does. The loop checks each
    rollout's observations and rewards; `train` may report a skipped update
    through the log keys `nonfinite_loss` and `nonfinite_gradient` (non-zero
    when it skipped one; `lerax.algorithm.guarded_update` gives both). With
    `"error"` the run stops at the first fault and `learn` raises
    `NonFiniteError`; with `"skip"` a bad update is dropped and counted;
    `"ignore"` checks nothing. A subclass that wants it configurable declares a
    static field, `on_nonfinite: str = eqx.field(static=True, default="error")`.

    Attributes:
        optimizer: The optimizer used for training the policy.
        gamma: The discount factor.
        num_envs: The number of parallel environments.
        num_steps: The number of steps to collect per environment.
        batch_size: The batch size for training.
        on_nonfinite: What a NaN or Inf in training does: "error" (the
            default), "skip" or "ignore".
    """

    optimizer: eqx.AbstractVar[optax.GradientTransformation]
    gamma: eqx.AbstractVar[float]
    num_envs: eqx.AbstractVar[int]
    num_steps: eqx.AbstractVar[int]
    batch_size: eqx.AbstractVar[int]
    # A default, not an obligation: a plain class attribute (an annotation would
    # make it a dataclass field whose position every subclass inherits). A
    # subclass overrides it with a static field of its own.
    on_nonfinite = "error"

    def __check_init__(self):
        check_on_nonfinite(type(self).__name__, self.on_nonfinite)
        check_hyperparameters(self)

    def nonfinite_mode(self) -> str:
        """How this algorithm treats NaN and Inf: "error", "skip" or "ignore".

        Returns:
            The value of the algorithm's `on_nonfinite` attribute ("error" unless
            the subclass declares another).
        """
        return self.on_nonfinite

    # ------------------------------------------------------------------ hooks

    def per_iteration(self, state: OnPolicyState) -> OnPolicyState:
        """Process the algorithm state after each iteration (default: no-op).

        An optional hook for algorithm-specific bookkeeping; it runs after the
        callbacks' `on_iteration`.

        Args:
            state: The current algorithm state.

        Returns:
            The updated algorithm state.
        """
        return state

    def per_step(
        self, step_state: AbstractOnPolicyStepState[PolicyType]
    ) -> AbstractOnPolicyStepState[PolicyType]:
        """Process one environment's step carry after each step (default: no-op).

        An optional hook; it runs inside the rollout scan, vmapped over
        environments.

        Args:
            step_state: The step state after the step.

        Returns:
            The updated step state.
        """
        return step_state

    def post_reset(self, state: OnPolicyState[PolicyType]) -> OnPolicyState[PolicyType]:
        """Adjust the initial state `reset` built (default: no-op).

        An optional hook: `reset` calls it last, so an algorithm can set up
        what its options need (PPO sets the learning-rate anneal horizon and the
        reward-scaling state here). The planned number of iterations is
        `state.num_iterations`.

        Args:
            state: The initial state.

        Returns:
            The adjusted initial state.
        """
        return state

    def agent_names(self, env: Any) -> tuple[str, ...] | None:
        """The names of the agents a run trains (default: `None`, one agent).

        An optional hook: a multi-agent algorithm (`IPPO`, `MAPPO`) returns
        its environment's agents, and callbacks see them in `ResetContext`.

        Args:
            env: The environment of the run.

        Returns:
            The agents' names in order, or `None`.
        """
        del env
        return None

    def agent_rewards(
        self, buffer: RolloutBuffer
    ) -> Float[Array, "num_steps num_envs num_agents"] | None:
        """Each agent's raw rewards in a collected rollout (default: `None`).

        An optional hook, called on the buffer `collect_rollout` returned
        (before `post_collect`); callbacks see the result as
        `IterationContext.agent_rewards`.

        Args:
            buffer: The collected rollout.

        Returns:
            The rewards, axes `(num_steps, num_envs, num_agents)`, or `None`.
        """
        del buffer
        return None

    def behaviour_policy(self, state: OnPolicyState[PolicyType]) -> Any:
        """The policy that collects this iteration's rollout (default: `state.policy`).

        An optional hook: the rollout's `step` acts with what it returns, while
        `post_collect` and `train` get `state.policy`. A value-based algorithm
        wraps its Q-policy here in an exploring one whose exploration rate
        depends on the iteration (`PQN` returns an `EpsilonGreedyPolicy`).

        Args:
            state: The algorithm state before the iteration.

        Returns:
            The behaviour policy.
        """
        return state.policy

    @abstractmethod
    def step(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        state: AbstractOnPolicyStepState[PolicyType],
        *,
        key: Key[Array, ""],
        callback: AbstractCallback,
    ) -> tuple[AbstractOnPolicyStepState[PolicyType], RolloutBuffer]:
        """Perform a single environment step and collect rollout data.

        Works on one environment; `collect_rollout` vmaps it.

        Args:
            env: The environment.
            policy: The current policy.
            state: The current step state.
            key: A JAX PRNG key.
            callback: The callback for this step.

        Returns:
            A tuple of the new step state and a rollout buffer entry.
        """

    def post_collect(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        step_state: AbstractOnPolicyStepState[PolicyType],
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> RolloutBuffer:
        """Process the rollout buffer after collection.

        Override to compute returns, advantages, or other post-collection
        processing. By default returns the buffer unchanged.

        Args:
            env: The environment.
            policy: The current policy.
            step_state: The step state after the rollout.
            buffer: The collected rollout buffer.
            key: A JAX PRNG key.

        Returns:
            The processed rollout buffer.
        """
        del env, policy, step_state, key
        return buffer

    @abstractmethod
    def train(
        self,
        policy: PolicyType,
        opt_state: optax.OptState,
        buffer: RolloutBuffer,
        *,
        key: Key[Array, ""],
    ) -> tuple[PolicyType, optax.OptState, dict[str, Scalar]]:
        """Train the policy using the rollout buffer.

        Args:
            policy: The current policy.
            opt_state: The current optimizer state.
            buffer: The rollout buffer containing collected experiences.
            key: A JAX PRNG key.

        Returns:
            A tuple containing the updated policy, updated optimizer state,
            and a log dictionary of scalars.
        """

    # ---------------------------------------- the loop (in `_driver`), once

    def num_iterations(self, total_timesteps: int) -> int:
        """The number of iterations `learn` makes for `total_timesteps`.

        Each iteration collects `num_envs * num_steps` steps; the count is rounded
        down, so at most `total_timesteps` steps are taken, and a budget that is
        not a whole number of iterations warns (once per process, before
        anything compiles) with the steps that will run and the nearest budgets
        that are whole. (Stable-Baselines3 rounds up instead; lerax keeps the
        budget an upper bound, which sweeps and benchmarks rely on.)

        Args:
            total_timesteps: The training budget in environment steps.

        Returns:
            `total_timesteps // (num_envs * num_steps)`.

        Raises:
            ValueError: If the budget is smaller than one iteration.

        Warns:
            UserWarning: If `total_timesteps` is not a multiple of
                `num_envs * num_steps`.
        """
        if isinstance(total_timesteps, bool) or not isinstance(
            total_timesteps, (int, np.integer)
        ):
            raise ValueError(
                f"total_timesteps must be a Python int, got {plain(total_timesteps)}."
            )
        per_iteration = self.num_envs * self.num_steps
        if total_timesteps < per_iteration:
            raise ValueError(
                f"total_timesteps={total_timesteps} is smaller than one iteration "
                f"(num_envs * num_steps = {self.num_envs} * {self.num_steps} = "
                f"{per_iteration}); raise total_timesteps or lower num_envs/num_steps."
            )
        iterations = int(total_timesteps) // per_iteration
        if total_timesteps % per_iteration:
            ran = iterations * per_iteration
            warnings.warn(
                f"{type(self).__name__}: total_timesteps={int(total_timesteps)} is "
                f"not a multiple of num_envs * num_steps = {per_iteration}: "
                f"{iterations} iterations run {ran} steps. Pass {ran} or "
                f"{ran + per_iteration} to say which you mean.",
                UserWarning,
                stacklevel=3,
            )
        return iterations

    def consolidate_callbacks(
        self,
        callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
    ) -> AbstractCallback:
        """Turn `None`, one callback or a sequence of callbacks into one callback.

        Args:
            callback: `None`, a callback, or a sequence of callbacks.

        Returns:
            `EmptyCallback()` for `None`, the callback itself, or a `ListCallback`.

        Raises:
            TypeError: If `callback` is none of these.
        """
        if callback is None:
            return EmptyCallback()
        if isinstance(callback, AbstractCallback):
            return callback
        if isinstance(callback, Sequence) and not isinstance(callback, str):
            return ListCallback(callback)
        raise TypeError(
            f"callback must be None, an AbstractCallback or a sequence of them, "
            f"got {type(callback).__name__}."
        )

    def collect_rollout(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        step_state: AbstractOnPolicyStepState[PolicyType],
        callback: AbstractCallback,
        key: Key[Array, ""],
    ) -> tuple[AbstractOnPolicyStepState[PolicyType], RolloutBuffer]:
        """Collect a rollout using the current policy.

        A `lax.scan` over `num_steps` of `step` vmapped over `num_envs`.

        Args:
            env: The environment.
            policy: The current policy.
            step_state: The batched step state (leading axis `num_envs`).
            callback: The callback.
            key: A JAX PRNG key.

        Returns:
            The new batched step state and the buffer, with leading axes
            `(num_steps, num_envs)`.
        """
        return _driver.collect_rollout(self, env, policy, step_state, callback, key)

    def reset(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        *,
        key: Key[Array, ""],
        callback: AbstractCallback,
        num_iterations: int = 1,
    ) -> OnPolicyState[PolicyType]:
        """The state of a run before its first iteration.

        Builds the rollout carry of every environment, the optimizer state and
        the callbacks' state, then passes the result through `post_reset`.

        Args:
            env: The environment.
            policy: The policy.
            key: A JAX PRNG key.
            callback: The (consolidated) callback.
            num_iterations: The planned number of iterations (callbacks size their
                records by it).

        Returns:
            The initial algorithm state.
        """
        return _driver.reset(
            self, env, policy, key=key, callback=callback, num_iterations=num_iterations
        )

    def iteration(
        self,
        state: AbstractOnPolicyState[PolicyType],
        *,
        key: Key[Array, ""],
        callback: AbstractCallback,
    ) -> AbstractOnPolicyState[PolicyType]:
        """One iteration: collect, post-process, train, then the callback.

        Args:
            state: The algorithm state (an `OnPolicyState`, as `reset` builds).
            key: A JAX PRNG key.
            callback: The (consolidated) callback.

        Returns:
            The algorithm state after the iteration.
        """
        return _driver.iteration(self, state, key=key, callback=callback)

    def resume(
        self,
        state: OnPolicyState[PolicyType],
        num_iterations: int,
        *,
        callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
    ) -> OnPolicyState[PolicyType]:
        """Continue a run from `state` for `num_iterations` more iterations.

        Compiled as one program; `resume(learn_state(..., n1), n2)` is bit-for-bit
        a run of `n1 + n2` iterations. The run's planned total becomes
        `state.iteration_count + num_iterations` (progress shows it) and the
        callbacks' per-iteration records grow to it (`AbstractCallback.extend`).
        The callback must be the one the state was made with (its state is in
        `state`).

        Args:
            state: A state from `reset`, `learn_state` or an earlier `resume`.
            num_iterations: How many iterations to run.
            callback: The callback(s) the run was started with.

        Returns:
            The state after the iterations.

        Raises:
            ValueError: If `num_iterations` is not a positive int.
            NonFiniteError: If a NaN or Inf stopped the run.
        """
        return _driver.resume(self, state, num_iterations, callback=callback)

    def learn_state(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
        checkpointer: Checkpointer | None = None,
        mesh: jax.sharding.Mesh | None = None,
    ) -> OnPolicyState[PolicyType]:
        """Like `learn`, but return the whole final state, callback states included.

        Args:
            env: The environment to train on.
            policy: The policy to train.
            total_timesteps: The total number of timesteps to train for.
            key: A JAX PRNG key.
            callback: A callback or list of callbacks to use during training.
            checkpointer: A `lerax.checkpoint.Checkpointer`: save the state
                periodically and continue from the newest checkpoint in its
                directory, if any.
            mesh: A one-axis `jax.sharding.Mesh`: the environments (and the
                rollout buffer and minibatches) are split along `num_envs` over
                its devices, the policy and optimizer state are replicated, and
                XLA inserts the gradient all-reduce. None (the default) runs on
                the default device and adds nothing to the program.

        Returns:
            The final algorithm state.

        Raises:
            TypeError: If `env` is not a lerax environment, `checkpointer` not a
                `Checkpointer`, or `mesh` not a `jax.sharding.Mesh`.
            ValueError: If a size, the budget or the env/policy pairing is
                invalid, the checkpoint directory holds another run, or the
                mesh has more than one axis or does not divide `num_envs`.
            NonFiniteError: If a NaN or Inf stopped the run (with
                `on_nonfinite="error"`).
        """
        return _driver.learn_state(
            self,
            env,
            policy,
            total_timesteps,
            key=key,
            callback=callback,
            checkpointer=checkpointer,
            mesh=mesh,
        )

    def learn(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
        checkpointer: Checkpointer | None = None,
        mesh: jax.sharding.Mesh | None = None,
    ) -> PolicyType:
        """Train the policy on the environment for a given number of timesteps.

        The whole run is one compiled program; a second call with the same
        shapes and static configuration compiles nothing.

        Args:
            env: The environment to train on.
            policy: The policy to train.
            total_timesteps: The total number of timesteps to train for (rounded
                down to whole iterations of `num_envs * num_steps`).
            key: A JAX PRNG key.
            callback: A callback or list of callbacks to use during training.
            checkpointer: A `lerax.checkpoint.Checkpointer`: save the state
                periodically and continue from the newest checkpoint in its
                directory, if any.
            mesh: A one-axis `jax.sharding.Mesh`: the environments (and the
                rollout buffer and minibatches) are split along `num_envs` over
                its devices, the policy and optimizer state are replicated, and
                XLA inserts the gradient all-reduce. None (the default) runs on
                the default device and adds nothing to the program.

        Returns:
            The trained policy.

        Raises:
            TypeError: If `env` is not a lerax environment, or `mesh` not a
                `jax.sharding.Mesh`.
            ValueError: If a size, the budget or the env/policy pairing is
                invalid, the checkpoint directory holds another run, or the
                mesh has more than one axis or does not divide `num_envs`.
            NonFiniteError: If a NaN or Inf stopped the run (with
                `on_nonfinite="error"`).
        """
        return _driver.learn_state(
            self,
            env,
            policy,
            total_timesteps,
            key=key,
            callback=callback,
            checkpointer=checkpointer,
            mesh=mesh,
        ).policy
