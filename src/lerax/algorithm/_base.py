"""The most general algorithm interfaces: algorithm, algorithm state, step state."""

# No `from __future__ import annotations` here: Equinox recognises an
# `eqx.AbstractVar` annotation only when it is evaluated; as a string it becomes
# an ordinary dataclass field of the abstract class.

import dataclasses
from abc import abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Generic, TypeVar

import equinox as eqx
from jaxtyping import Array, Int, Key

from lerax._repr import readable_repr
from lerax.callback import AbstractCallback, AbstractCallbackStepState
from lerax.env import AbstractEnvLike

if TYPE_CHECKING:
    from lerax.policy import AbstractPolicy

PolicyType = TypeVar("PolicyType", bound="AbstractPolicy")
StateType = TypeVar("StateType", bound="AbstractAlgorithmState")
StepStateType = TypeVar("StepStateType", bound="AbstractStepState")


class AbstractStepState(eqx.Module):
    """The carry of an algorithm's innermost (per-environment-step) loop.

    Attributes:
        callback_state: The callback's step state.
    """

    callback_state: eqx.AbstractVar[AbstractCallbackStepState]

    def with_callback_state(
        self: StepStateType, callback_state: AbstractCallbackStepState | None
    ) -> StepStateType:
        """Return a new step state with the given callback state.

        Args:
            callback_state: The new callback state; `None` keeps the existing one.

        Returns:
            A new step state with the updated callback state.
        """
        if callback_state is None:
            return self
        return dataclasses.replace(self, callback_state=callback_state)


class AbstractAlgorithmState(eqx.Module, Generic[PolicyType]):
    """The complete state of a training run: everything needed to continue it.

    Attributes:
        iteration_count: Iterations completed.
        policy: The policy being trained.
    """

    iteration_count: eqx.AbstractVar[Int[Array, ""]]
    policy: eqx.AbstractVar[PolicyType]


class AbstractAlgorithm(eqx.Module, Generic[PolicyType, StateType]):
    """A training algorithm: `learn` is pure, key in and policy out."""

    def __repr__(self) -> str:
        """Equinox's representation, with scalar hyperparameters shown by value.

        Returns:
            E.g. `PPO(..., learning_rate=0.0003, gamma=0.99, ...)` rather than
            `learning_rate=f32[]`.
        """
        return readable_repr(self)

    @abstractmethod
    def learn(
        self,
        env: AbstractEnvLike,
        policy: PolicyType,
        total_timesteps: int,
        *,
        key: Key[Array, ""],
        callback: Sequence[AbstractCallback] | AbstractCallback | None = None,
    ) -> PolicyType:
        """Train `policy` on `env` for `total_timesteps` environment steps.

        Args:
            env: The environment to train on.
            policy: The policy to train.
            total_timesteps: The number of environment steps to train for.
            key: A JAX PRNG key.
            callback: A callback or a sequence of callbacks.

        Returns:
            The trained policy.
        """
