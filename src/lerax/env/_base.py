"""Abstract environments: pure, jit- and vmap-friendly Equinox modules.

An environment is decomposed into small pure functions (`initial`, `transition`,
`observation`, `reward`, `terminal`, `truncate`, `action_mask`); `reset` and
`step` are built from them once, here. Environments never reset themselves: the
algorithm decides what to do at an episode's end, so termination and truncation
stay distinct and the pre-reset observation is always available.
"""

from abc import abstractmethod
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import equinox as eqx
import jax
from equinox import AbstractVar
from jaxtyping import Array, Bool, Float, Key

from lerax._abstract import AbstractMarker
from lerax.space import AbstractSpace

if TYPE_CHECKING:
    from ._reset import ResetWhereDone

StateType = TypeVar("StateType", bound="AbstractEnvLikeState")
ActType = TypeVar("ActType")
ObsType = TypeVar("ObsType")
MaskType = TypeVar("MaskType")


class AbstractEnvLikeState(AbstractMarker):
    """The state of an environment or a wrapper: a pytree of arrays."""


class AbstractEnvLike(eqx.Module, Generic[StateType, ActType, ObsType, MaskType]):
    """Anything that behaves like an environment: an env or a wrapper around one.

    Attributes:
        name: A human-readable name.
        action_space: The space of valid actions.
        observation_space: The space of observations.
    """

    name: AbstractVar[str]
    action_space: AbstractVar[AbstractSpace[ActType, MaskType]]
    observation_space: AbstractVar[AbstractSpace[ObsType, Any]]

    @abstractmethod
    def initial(self, *, key: Key[Array, ""]) -> StateType:
        """Sample an initial state.

        Args:
            key: A JAX PRNG key.

        Returns:
            The initial state.
        """

    @abstractmethod
    def transition(
        self, state: StateType, action: ActType, *, key: Key[Array, ""]
    ) -> StateType:
        """Advance the state by one action (never resets).

        Args:
            state: The current state.
            action: An element of `action_space`.
            key: A JAX PRNG key.

        Returns:
            The next state.
        """

    @abstractmethod
    def observation(self, state: StateType, *, key: Key[Array, ""]) -> ObsType:
        """The observation emitted in `state`.

        Args:
            state: The state.
            key: A JAX PRNG key (for noisy observations).

        Returns:
            An element of `observation_space`.
        """

    @abstractmethod
    def reward(
        self,
        state: StateType,
        action: ActType,
        next_state: StateType,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        """The reward for the transition `state --action--> next_state`.

        Args:
            state: The state before the action.
            action: The action taken.
            next_state: The state after the action.
            key: A JAX PRNG key.

        Returns:
            A scalar reward.
        """

    @abstractmethod
    def terminal(self, state: StateType, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        """Whether `state` ends the episode by the task's own rules.

        Args:
            state: The state.
            key: A JAX PRNG key.

        Returns:
            A scalar boolean; the value of a terminal state is zero.
        """

    @abstractmethod
    def truncate(self, state: StateType) -> Bool[Array, ""]:
        """Whether the episode is cut short in `state` (a time limit, say).

        Truncation is not termination: the value of the state is not zero, so
        algorithms bootstrap from it.

        Args:
            state: The state.

        Returns:
            A scalar boolean.
        """

    def action_mask(self, state: StateType, *, key: Key[Array, ""]) -> MaskType | None:
        """The valid actions in `state`, or `None` when every action is valid.

        Args:
            state: The state.
            key: A JAX PRNG key.

        Returns:
            A mask of the kind `action_space` takes, or `None`.
        """
        del state, key
        return None

    @property
    def critic_observation_space(self) -> AbstractSpace | None:
        """The space of `critic_observation`, or None (the default): none.

        A privileged (asymmetric) critic reads what the agent cannot see when it
        acts: the full simulator state, a hidden goal. An environment that
        offers one overrides this property (a property, not a field: the
        default here would shadow a field) and `critic_observation`. Only a
        policy that declares a critic input
        (`lerax.policy.AbstractPrivilegedActorCriticPolicy`) reads it, in
        training; acting, evaluation and export need only `observation`.
        Wrappers report their inner environment's space.
        """
        return None

    def critic_observation(self, state: StateType, *, key: Key[Array, ""]) -> Any:
        """What a privileged critic reads in `state`, or None (the default).

        An element of `critic_observation_space` when that is not None. The
        training loop asks for it in the state an action is chosen in and in
        the state reached (before any reset, so a truncated episode is
        bootstrapped from its final state's critic observation).

        Args:
            state: The state.
            key: A JAX PRNG key (for a noisy critic observation).

        Returns:
            The critic observation, or `None` when `critic_observation_space`
            is `None`.
        """
        del state, key
        return None

    def reset(
        self, *, key: Key[Array, ""]
    ) -> tuple[StateType, ObsType, dict[str, Any]]:
        """Start an episode.

        Args:
            key: A JAX PRNG key.

        Returns:
            The initial state, its observation, and an info dict.
        """
        init_key, obs_key = jax.random.split(key)
        state = self.initial(key=init_key)
        return state, self.observation(state, key=obs_key), {}

    def step(
        self, state: StateType, action: ActType, *, key: Key[Array, ""]
    ) -> tuple[
        StateType, ObsType, Float[Array, ""], Bool[Array, ""], Bool[Array, ""], dict
    ]:
        """Take one action. The environment is not reset at an episode's end.

        Args:
            state: The current state.
            action: An element of `action_space`.
            key: A JAX PRNG key.

        Returns:
            `(next_state, observation, reward, terminated, truncated, info)`.

        Raises:
            ValueError: At trace time, if `action` does not have the structure and
                shape of `action_space`.
        """
        self.action_space.validate(action, name=f"{self.name}: action")
        transition_key, obs_key, reward_key, terminal_key = jax.random.split(key, 4)
        next_state = self.transition(state, action, key=transition_key)
        observation = self.observation(next_state, key=obs_key)
        reward = self.reward(state, action, next_state, key=reward_key)
        terminated = self.terminal(next_state, key=terminal_key)
        truncated = self.truncate(next_state)
        return next_state, observation, reward, terminated, truncated, {}

    @property
    def reset_scheme(self) -> "ResetWhereDone | None":
        """How a rollout resets a batch of this environment where episodes end.

        None (the default): `reset` runs for every environment on every step
        and the fresh state is kept where the episode ended (`jnp.where`; no
        branch, right for cheap resets). An environment whose `reset` is
        expensive returns a `lerax.env.ResetWhereDone`: the rollout then runs
        `reset` only on steps where some environment of the batch is done (and
        for at most `pool_size` of them when few are). Both give the same
        states; `lerax.env.auto_reset` is the step that reads this. Wrappers
        report their inner environment's scheme.
        """
        return None

    @property
    def unwrapped(self) -> "AbstractEnvLike":
        """The innermost environment (itself, for an environment)."""
        return self


class AbstractEnvState(AbstractEnvLikeState):
    """The state of a concrete (unwrapped) environment."""


class AbstractEnv(AbstractEnvLike[StateType, ActType, ObsType, MaskType]):
    """A concrete environment: implement the abstract members of `AbstractEnvLike`.

    Subclasses are final, declare `name`, `action_space` and `observation_space`
    (as fields or class attributes) and implement `initial`, `transition`,
    `observation`, `reward`, `terminal` and `truncate`.
    """
