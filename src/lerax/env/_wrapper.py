"""The abstract bases of environment wrappers."""

from abc import abstractmethod
from typing import Any

import jax
from equinox import AbstractVar
from jaxtyping import Array, Bool, Float, Key

from lerax.space import AbstractSpace

from ._base import AbstractEnvLike, ActType, MaskType, ObsType, StateType


class AbstractWrapper(AbstractEnvLike[StateType, ActType, ObsType, MaskType]):
    """An environment-like module that modifies an inner environment-like module.

    A wrapper implements the decomposed methods (`initial`, `transition`,
    `observation`, `reward`, `terminal`, `truncate`, `action_mask`) in terms of
    its inner `env`; `reset` and `step` come from `AbstractEnvLike` unchanged, so
    wrappers stack in any order and never reset the episode themselves.

    Wrappers that keep no state of their own pass the inner state through
    unchanged; wrappers that do (such as `TimeLimit`) hold the inner state in a
    field of their own state.

    Attributes:
        env: The wrapped environment (or wrapper).
    """

    env: AbstractVar[AbstractEnvLike]

    @property
    def unwrapped(self) -> "AbstractEnvLike":
        """The innermost environment, below every wrapper."""
        return self.env.unwrapped

    @property
    def reset_scheme(self) -> Any:
        """The inner environment's `reset_scheme` (a wrapper's reset calls its)."""
        return self.env.reset_scheme

    @property
    def critic_observation_space(self) -> AbstractSpace | None:
        """The inner environment's `critic_observation_space`.

        A wrapper that keeps a state of its own must also forward
        `critic_observation` (unwrapping its state, as `TimeLimit` does); the
        stateless bases below forward it already.
        """
        return self.env.critic_observation_space


class AbstractStatelessWrapper(AbstractWrapper[StateType, ActType, ObsType, MaskType]):
    """A wrapper that keeps no state: every decomposed method delegates to `env`.

    The inner state passes through unchanged. The spaces are left to subclasses
    (a concrete wrapper declares the one it changes as a field), so each of the
    action, observation and reward bases below overrides only the pieces its
    conversion touches.
    """

    @property
    def name(self) -> str:
        """The inner environment's name."""
        return self.env.name

    def initial(self, *, key: Key[Array, ""]) -> Any:
        return self.env.initial(key=key)

    def transition(self, state: Any, action: Any, *, key: Key[Array, ""]) -> Any:
        return self.env.transition(state, action, key=key)

    def observation(self, state: Any, *, key: Key[Array, ""]) -> Any:
        return self.env.observation(state, key=key)

    def reward(
        self, state: Any, action: Any, next_state: Any, *, key: Key[Array, ""]
    ) -> Float[Array, ""]:
        return self.env.reward(state, action, next_state, key=key)

    def terminal(self, state: Any, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return self.env.terminal(state, key=key)

    def truncate(self, state: Any) -> Bool[Array, ""]:
        return self.env.truncate(state)

    def action_mask(self, state: Any, *, key: Key[Array, ""]) -> Any:
        return self.env.action_mask(state, key=key)

    def critic_observation(self, state: Any, *, key: Key[Array, ""]) -> Any:
        return self.env.critic_observation(state, key=key)


class AbstractActionWrapper(
    AbstractStatelessWrapper[StateType, ActType, ObsType, MaskType]
):
    """A stateless wrapper that changes only what actions mean.

    The agent's action goes through `convert_action` before the inner
    `transition` and `reward` see it; everything else delegates to `env`. A
    concrete subclass declares `env` and `action_space` and implements
    `convert_action`.
    """

    @abstractmethod
    def convert_action(self, action: ActType) -> Any:
        """Map an action of this wrapper's `action_space` to one of the inner env's.

        Args:
            action: An action of `self.action_space`.

        Returns:
            The action the inner environment receives.
        """

    @property
    def observation_space(self) -> AbstractSpace:
        """The inner environment's observation space."""
        return self.env.observation_space

    def transition(self, state: Any, action: ActType, *, key: Key[Array, ""]) -> Any:
        return self.env.transition(state, self.convert_action(action), key=key)

    def reward(
        self, state: Any, action: ActType, next_state: Any, *, key: Key[Array, ""]
    ) -> Float[Array, ""]:
        return self.env.reward(state, self.convert_action(action), next_state, key=key)


class AbstractObservationWrapper(
    AbstractStatelessWrapper[StateType, ActType, ObsType, MaskType]
):
    """A stateless wrapper that changes only observations.

    The inner observation goes through `convert_observation`; everything else
    delegates to `env`. A concrete subclass declares `env` and
    `observation_space` and implements `convert_observation`.
    """

    @abstractmethod
    def convert_observation(self, observation: Any) -> ObsType:
        """Map an inner observation to one of this wrapper's `observation_space`.

        Args:
            observation: An observation of the inner environment.

        Returns:
            The observation the agent sees.
        """

    @property
    def action_space(self) -> AbstractSpace:
        """The inner environment's action space."""
        return self.env.action_space

    def observation(self, state: Any, *, key: Key[Array, ""]) -> ObsType:
        return self.convert_observation(self.env.observation(state, key=key))


class AbstractRewardWrapper(
    AbstractStatelessWrapper[StateType, ActType, ObsType, MaskType]
):
    """A stateless wrapper that changes only rewards.

    The inner reward goes through `convert_reward`; everything else delegates to
    `env`. A concrete subclass declares `env` and implements `convert_reward`.
    """

    @abstractmethod
    def convert_reward(self, reward: Float[Array, ""]) -> Float[Array, ""]:
        """Map an inner reward to the reward the agent receives.

        Args:
            reward: The inner environment's scalar reward.

        Returns:
            A scalar reward.
        """

    @property
    def action_space(self) -> AbstractSpace:
        """The inner environment's action space."""
        return self.env.action_space

    @property
    def observation_space(self) -> AbstractSpace:
        """The inner environment's observation space."""
        return self.env.observation_space

    def reward(
        self, state: Any, action: Any, next_state: Any, *, key: Key[Array, ""]
    ) -> Float[Array, ""]:
        return self.convert_reward(self.env.reward(state, action, next_state, key=key))


def _example(space: Any) -> Any:
    """Shape/dtype structs of one element of `space`, without drawing one."""
    return jax.eval_shape(lambda: space.sample(key=jax.random.key(0)))
