"""The states of on-policy algorithms: per-step carry and whole-run state."""

# No `from __future__ import annotations` here: Equinox recognises an
# `eqx.AbstractVar` annotation only when it is evaluated; as a string it becomes
# an ordinary dataclass field of the abstract class. Forward references are
# quoted by hand.
#
# The concrete states declare their fields in the order the abstract bases
# first named them (the order a checkpoint stores their leaves in; it was the
# effective order while the bases still had fields of their own).

import dataclasses
from abc import abstractmethod
from typing import Any, Generic

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, Key, PyTree

from lerax.callback import (
    AbstractCallback,
    AbstractCallbackState,
    AbstractCallbackStepState,
)
from lerax.env import AbstractEnvLike, AbstractEnvLikeState

from ._base import (
    AbstractAlgorithmState,
    AbstractStepState,
    PolicyType,
    StateType,
)


class AbstractOnPolicyStepState(AbstractStepState, Generic[PolicyType]):
    """The carry of the rollout loop for one environment.

    Attributes:
        env_state: The state of the environment.
        policy_state: The state of the policy.
        callback_state: The state of the callback for this step.
    """

    env_state: eqx.AbstractVar[AbstractEnvLikeState]
    policy_state: eqx.AbstractVar[Any]
    callback_state: eqx.AbstractVar[AbstractCallbackStepState]

    @classmethod
    @abstractmethod
    def initial(
        cls,
        env: AbstractEnvLike,
        policy: PolicyType,
        callback: AbstractCallback,
        key: Key[Array, ""],
    ) -> "AbstractOnPolicyStepState[PolicyType]":
        """Initialize the step state: reset the env, the policy and the callback.

        Args:
            env: The environment to initialize.
            policy: The policy to initialize.
            callback: The callback to initialize.
            key: A JAX PRNG key.

        Returns:
            The initialized step state (for one environment).
        """


class OnPolicyStepState(AbstractOnPolicyStepState[PolicyType]):
    """The rollout carry of one environment, with its running episode statistics.

    Attributes:
        env_state: The state of the environment.
        policy_state: The state of the policy.
        callback_state: The state of the callback for this step.
        observation: The current observation (after any automatic reset).
        episode_return: The undiscounted return of the current episode so far.
        episode_length: The length of the current episode so far.
    """

    callback_state: AbstractCallbackStepState
    env_state: AbstractEnvLikeState
    policy_state: Any
    observation: PyTree
    episode_return: Float[Array, ""]
    episode_length: Int[Array, ""]

    @classmethod
    def initial(
        cls,
        env: AbstractEnvLike,
        policy: PolicyType,
        callback: AbstractCallback,
        key: Key[Array, ""],
    ) -> "OnPolicyStepState[PolicyType]":
        """Reset the env, the policy and the callback for one environment.

        Args:
            env: The environment.
            policy: The policy.
            callback: The callback.
            key: A JAX PRNG key.

        Returns:
            The initial step state.
        """
        env_key, policy_key, callback_key = jax.random.split(key, 3)
        env_state, observation, _ = env.reset(key=env_key)
        return cls(
            env_state=env_state,
            policy_state=policy.reset(key=policy_key),
            callback_state=callback.step_reset(key=callback_key),
            observation=observation,
            episode_return=jnp.zeros((), jnp.float32),
            episode_length=jnp.zeros((), jnp.int32),
        )


class AbstractOnPolicyState(AbstractAlgorithmState[PolicyType]):
    """The complete state of an on-policy training run.

    Attributes:
        iteration_count: The current iteration count.
        step_state: The rollout carry (leading axis `num_envs` on every leaf).
        env: The environment being used.
        policy: The policy being trained.
        opt_state: The optimizer state.
        callback_state: The state of the callback for this iteration.
    """

    iteration_count: eqx.AbstractVar[Int[Array, ""]]
    step_state: eqx.AbstractVar[AbstractOnPolicyStepState[PolicyType]]
    env: eqx.AbstractVar[AbstractEnvLike]
    policy: eqx.AbstractVar[PolicyType]
    opt_state: eqx.AbstractVar[optax.OptState]
    callback_state: eqx.AbstractVar[AbstractCallbackState]

    def next(
        self: StateType,
        step_state: AbstractStepState,
        policy: PolicyType,
        opt_state: optax.OptState,
    ) -> StateType:
        """Return the state for the next iteration.

        Increments the iteration count and replaces the step state, policy and
        optimizer state.

        Args:
            step_state: The new step state.
            policy: The new policy.
            opt_state: The new optimizer state.

        Returns:
            The new state.
        """
        return dataclasses.replace(
            self,
            iteration_count=self.iteration_count + 1,
            step_state=step_state,
            policy=policy,
            opt_state=opt_state,
        )

    def with_callback_states(
        self: StateType, callback_state: AbstractCallbackState
    ) -> StateType:
        """Return a new state with the given callback state.

        Args:
            callback_state: The new callback state.

        Returns:
            The new state.
        """
        return dataclasses.replace(self, callback_state=callback_state)


class OnPolicyState(AbstractOnPolicyState[PolicyType]):
    """The state of an on-policy run: one pytree from which training can continue.

    Attributes:
        iteration_count: Iterations completed.
        step_state: The rollout carry (leading axis `num_envs`).
        env: The environment.
        policy: The policy.
        opt_state: The optimizer state.
        callback_state: The callback's state.
        key: The PRNG key the remaining iterations draw from.
        fault: 0, or which quantity first turned non-finite (1 observation,
            2 reward, 3 loss, 4 gradient); with `on_nonfinite="error"` the run
            stops there.
        fault_iteration: The iteration (from 0) of that fault, -1 if none.
        skipped_updates: Updates not applied because a rollout, loss or gradient
            was non-finite (minibatch updates, plus one per bad rollout).
        num_iterations: The planned number of iterations of the run.
        reward_normalizer: The reward-scaling state (`PPO(normalize_rewards=
            True)`), or `None`.
    """

    iteration_count: Int[Array, ""]
    policy: PolicyType
    step_state: OnPolicyStepState[PolicyType]
    env: AbstractEnvLike
    opt_state: optax.OptState
    callback_state: AbstractCallbackState
    key: Key[Array, ""]
    fault: Int[Array, ""]
    fault_iteration: Int[Array, ""]
    skipped_updates: Int[Array, ""]
    num_iterations: int = eqx.field(static=True)
    reward_normalizer: Any = None
