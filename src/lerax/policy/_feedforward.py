"""The feed-forward actor-critic: a trunk, then an actor head and a critic head."""

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

import equinox as eqx
from jaxtyping import Array, Float, Key

from lerax.distribution import AbstractDistribution

from ._base import AbstractActorCriticPolicy, NullPolicyState
from ._heads import action_distribution, label_actor_critic


class AbstractFeedForwardActorCriticPolicy(
    AbstractActorCriticPolicy[NullPolicyState, Any, Any, Any]
):
    """A stateless actor-critic whose heads read the features of a trunk.

    This base implements acting and evaluation once: a subclass provides its
    trunk (`features`, one observation to one feature vector) and the fields
    below, and gets `__call__`, `reset`, `action_and_value`, `evaluate_action`,
    `evaluate_actions` and `value`. `MLPActorCriticPolicy` (flattened
    observation, optional shared MLP) and `CNNActorCriticPolicy` (convolutions)
    are its subclasses.

    The actor's output parameterises the action distribution: `Categorical`
    for `Discrete`, `MultiCategorical` for `MultiDiscrete`, `Bernoulli` for
    `MultiBinary` (action masks honoured for all three) and a `DiagGaussian`
    for `Box`, with the free parameter `log_std`, or, when `log_std` is `None`,
    a state-dependent log-std (the actor's output is the means, then the
    log-stds, clipped to [-20, 2]). The policy state is `NullPolicyState()`.

    Attributes:
        name: The name of the policy (a class variable).
        action_space: The action space.
        observation_space: The observation space.
        actor: The actor head (a module, such as `eqx.nn.Linear`), from the
            features to the distribution's parameters: `action_space.flat_size`
            outputs (twice that for a state-dependent log-std).
        critic: The critic head, from the features to the scalar value (for
            example `eqx.nn.Linear(n, "scalar")`).
        log_std: The free log standard deviation for `Box` actions (shape
            `action_space.shape`), or `None` (non-`Box` actions, or a
            state-dependent log-std).
    """

    actor: eqx.AbstractVar[Callable[[Float[Array, " features"]], Float[Array, " out"]]]
    critic: eqx.AbstractVar[Callable[[Float[Array, " features"]], Float[Array, ""]]]
    log_std: eqx.AbstractVar[Float[Array, "*action_shape"] | None]

    @abstractmethod
    def features(self, observation: Any) -> Float[Array, " features"]:
        """The trunk's output for one observation: what both heads read.

        Args:
            observation: One observation from `observation_space`.

        Returns:
            The feature vector.

        Raises:
            ValueError: At trace time, if the observation is malformed.
        """

    def _distribution(
        self, output: Float[Array, " out_size"], action_mask: Any
    ) -> AbstractDistribution:
        return action_distribution(
            self.name, self.action_space, output, self.log_std, action_mask
        )

    def _cast_action(self, action: Array) -> Array:
        return action.astype(self.action_space.dtype)

    def __call__(
        self,
        state: NullPolicyState,
        observation: Any,
        *,
        key: Key[Array, ""] | None = None,
        action_mask: Any = None,
    ) -> tuple[NullPolicyState, Any]:
        """Pick an action: sampled with `key`, the distribution's mode without.

        Args:
            state: The policy state (returned unchanged).
            observation: One observation from `observation_space`.
            key: A JAX PRNG key, or `None` for the deterministic (mode) action.
            action_mask: An optional mask of the kind `action_space` takes.

        Returns:
            `(state, action)`.

        Raises:
            ValueError: At trace time, if the observation or mask has the wrong
                structure or shape, or a mask is given for `Box` actions.
        """
        features = self.features(observation)
        dist = self._distribution(self.actor(features), action_mask)
        action = dist.mode() if key is None else dist.sample(key=key)
        return state, self._cast_action(action)

    def reset(self, *, key: Key[Array, ""]) -> NullPolicyState:
        """Return the (trivial) initial state.

        Args:
            key: Unused; the policy is stateless.

        Returns:
            `NullPolicyState()`.
        """
        del key
        return NullPolicyState()

    def action_and_value(
        self,
        state: NullPolicyState,
        observation: Any,
        *,
        key: Key[Array, ""],
        action_mask: Any = None,
    ) -> tuple[NullPolicyState, Any, Float[Array, ""], Float[Array, ""]]:
        """Sample an action and compute its log-probability and the value.

        The trunk runs once for both heads.

        Args:
            state: The policy state (returned unchanged).
            observation: One observation from `observation_space`.
            key: A JAX PRNG key.
            action_mask: An optional mask of the kind `action_space` takes.

        Returns:
            `(state, action, value, log_prob)`; `value` and `log_prob` are scalars.

        Raises:
            ValueError: At trace time, if the observation or mask is malformed.
        """
        features = self.features(observation)
        dist = self._distribution(self.actor(features), action_mask)
        action, log_prob = dist.sample_and_log_prob(key=key)
        return state, self._cast_action(action), self.critic(features), log_prob

    def _statistics(
        self, output: Float[Array, " out_size"], action: Any, action_mask: Any
    ) -> tuple[Float[Array, ""], Float[Array, ""]]:
        """The log-probability of `action` and the entropy, from the actor's output."""
        dist = self._distribution(output, action_mask)
        return dist.log_prob(action), dist.entropy()

    def evaluate_action(
        self,
        state: NullPolicyState,
        observation: Any,
        action: Any,
        *,
        action_mask: Any = None,
    ) -> tuple[NullPolicyState, Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Value, log-probability and entropy for an action already taken.

        The trunk runs once for both heads.

        Args:
            state: The policy state (returned unchanged).
            observation: One observation from `observation_space`.
            action: An action from `action_space`.
            action_mask: The mask in force when the action was taken, if any.

        Returns:
            `(state, value, log_prob, entropy)`, all scalars but the state.

        Raises:
            ValueError: At trace time, if the observation, action or mask is
                malformed.
        """
        self.action_space.validate(action, name=f"{self.name}: action")
        features = self.features(observation)
        log_prob, entropy = self._statistics(self.actor(features), action, action_mask)
        return state, self.critic(features), log_prob, entropy

    def parameter_labels(self) -> Any:
        """Which part each leaf belongs to, for separate optimisers.

        Returns:
            A pytree of the policy's structure: `"actor"` for the actor head
            and `log_std`, `"critic"` for the critic head, `"shared"` for
            everything else (the trunk, such as a shared MLP or the
            convolutions, and observation statistics).
        """
        return label_actor_critic(self)

    def value(
        self, state: NullPolicyState, observation: Any
    ) -> tuple[NullPolicyState, Float[Array, ""]]:
        """The critic's value of an observation (the actor is not run).

        Args:
            state: The policy state (returned unchanged).
            observation: One observation from `observation_space`.

        Returns:
            `(state, value)` with a scalar value.

        Raises:
            ValueError: At trace time, if the observation is malformed.
        """
        return state, self.critic(self.features(observation))
