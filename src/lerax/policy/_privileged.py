"""A privileged (asymmetric) critic: the critic reads what the actor never sees.

An environment may offer a critic observation (`AbstractEnvLike.
critic_observation`, the full state, say) beside the agent's observation. A
policy that declares a critic input (`AbstractPrivilegedActorCriticPolicy`)
gets, in training, a `PrivilegedObservation` holding both: the actor reads the
`observation` entry only, the critic the `critic_observation` entry. Acting
(`__call__`) takes the plain observation, so evaluation, a saved policy and an
exported one need nothing the agent cannot see (Pinto et al. 2018,
"Asymmetric Actor Critic for Image-Based Robot Learning"; skrl's
`state_space`).

No `from __future__ import annotations` here: the abstract base declares an
`eqx.AbstractVar`.
"""

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
from jaxtyping import Array, Float, Key, PyTree

from lerax._key import check_key
from lerax.distribution import AbstractDistribution
from lerax.env import AbstractEnvLike
from lerax.space import AbstractSpace, describe_space

from ._base import AbstractActorCriticPolicy, NullPolicyState
from ._central_critic import two_towers
from ._heads import (
    action_distribution,
    free_log_std,
    resolve_spaces,
)
from ._network import MLP

_OWNER = "MLPPrivilegedCriticPolicy"


class PrivilegedObservation(eqx.Module):
    """What a privileged actor-critic reads in training: both observations.

    The training loop builds it (from the environment's `observation` and
    `critic_observation` of the same state) for the policy's
    `action_and_value`, `evaluate_action(s)` and `value`; the rollout buffer
    stores it as its `observations` and `next_observations`.

    Attributes:
        observation: The agent's observation (all the actor reads).
        critic_observation: The environment's critic observation (all the
            critic reads).
    """

    observation: PyTree
    critic_observation: PyTree


def _require_privileged(owner: str, observation: Any) -> PrivilegedObservation:
    if not isinstance(observation, PrivilegedObservation):
        raise TypeError(
            f"{owner}: the critic needs a PrivilegedObservation(observation, "
            f"critic_observation), got {type(observation).__name__}; the training "
            "loop builds it from env.critic_observation (acting, with __call__, "
            "takes the plain observation)."
        )
    return observation


class AbstractPrivilegedActorCriticPolicy(AbstractActorCriticPolicy):
    """An actor-critic whose critic reads the environment's critic observation.

    The declared capability the training loop looks for: for such a policy
    `actor_critic_step` (PPO, A2C) passes a `PrivilegedObservation` to
    `action_and_value`, stores it in the buffer, and GAE bootstraps with
    `value` of the pre-reset next state's `PrivilegedObservation`, so a
    truncated episode is valued from its final state's critic observation.
    `evaluate_action(s)` and `value` take a `PrivilegedObservation` too;
    `__call__` (acting) takes the plain observation and never reads the critic
    observation. The environment must declare a `critic_observation_space`
    equal to the policy's.

    Attributes:
        critic_observation_space: The space of the critic observation.
    """

    critic_observation_space: eqx.AbstractVar[AbstractSpace]


class MLPPrivilegedCriticPolicy(AbstractPrivilegedActorCriticPolicy):
    """An MLP actor on the observation and an MLP critic on the critic observation.

    The asymmetric actor-critic: both inputs are flattened; the towers share
    nothing, so no gradient of the critic's input reaches the actor.
    Initialisation follows `MLPActorCriticPolicy` (orthogonal, gains
    `sqrt(2)`, `0.01` for the actor's output, `1.0` for the critic's). The
    policy state is `NullPolicyState()`.

    Example:
        ```python
        policy = MLPPrivilegedCriticPolicy(env, key=jax.random.key(0))
        # env.critic_observation_space is not None; in training the critic
        # reads env.critic_observation, acting reads only the observation.
        ```

    Attributes:
        name: `"MLPPrivilegedCriticPolicy"`.
        action_space: The action space.
        observation_space: The agent's observation space (the actor's input).
        critic_observation_space: The critic observation's space.
        actor: The actor MLP, on the flat observation.
        critic: The critic MLP, on the flat critic observation.
        log_std: The free log standard deviation for `Box` actions, else `None`.
        width_size: Units per hidden layer.
        depth: Number of hidden layers of each tower.
        activation: The hidden-layer activation.
    """

    name: ClassVar[str] = "MLPPrivilegedCriticPolicy"

    action_space: AbstractSpace
    observation_space: AbstractSpace
    critic_observation_space: AbstractSpace
    actor: MLP
    critic: MLP
    log_std: Float[Array, "*action_shape"] | None
    width_size: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        env: AbstractEnvLike | None = None,
        *,
        key: Key[Array, ""],
        observation_space: AbstractSpace | None = None,
        action_space: AbstractSpace | None = None,
        critic_observation_space: AbstractSpace | None = None,
        width_size: int = 64,
        depth: int = 2,
        activation: Callable[[Array], Array] = jax.nn.tanh,
        log_std_init: float = 0.0,
        ortho_init: bool = True,
    ):
        """Create the policy.

        Args:
            env: The environment to take the three spaces from (its
                `critic_observation_space` must not be `None`), or `None`
                with the three spaces given.
            key: A JAX PRNG key for the initial weights.
            observation_space: The observation space, when `env` is not given.
            action_space: The action space, when `env` is not given.
            critic_observation_space: The critic observation's space, when
                `env` is not given.
            width_size: Units per hidden layer (at least 1).
            depth: Hidden layers of each tower (at least 1).
            activation: Hidden-layer activation (a hashable function).
            log_std_init: Initial log-std (`Box` actions only).
            ortho_init: Orthogonal initialisation (else Equinox's default).

        Raises:
            TypeError: If `env` is not a lerax environment, `key` not a key,
                or the critic observation space not a lerax space.
            ValueError: If the environment declares no critic observation, a
                space is given beside `env`, or a size is invalid.
        """
        check_key(_OWNER, key)
        observation_space, action_space = resolve_spaces(
            _OWNER, env, observation_space, action_space
        )
        if env is not None:
            if critic_observation_space is not None:
                raise ValueError(
                    f"{_OWNER}: pass either env or critic_observation_space, not both."
                )
            critic_observation_space = env.critic_observation_space
            if critic_observation_space is None:
                raise ValueError(
                    f"{_OWNER}: {env.name} declares no critic observation "
                    "(env.critic_observation_space is None); a privileged critic "
                    "needs one (see docs/ppo-options.md, 'Privileged critic')."
                )
        if not isinstance(critic_observation_space, AbstractSpace):
            raise TypeError(
                f"{_OWNER}: critic_observation_space must be a lerax space, got "
                f"{type(critic_observation_space).__name__}."
            )
        self.actor, self.critic = two_towers(
            _OWNER,
            observation_space.flat_size,
            critic_observation_space.flat_size,
            action_space,
            width_size=width_size,
            depth=depth,
            activation=activation,
            ortho_init=ortho_init,
            key=key,
        )
        self.observation_space = observation_space
        self.action_space = action_space
        self.critic_observation_space = critic_observation_space
        self.log_std = free_log_std(action_space, log_std_init)
        self.width_size = int(width_size)
        self.depth = int(depth)
        self.activation = activation

    def constructor_arguments(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this policy's structure (its recipe).

        Returns:
            The three spaces and the structural arguments; `lerax.load`
            rebuilds the policy from them, with no environment.
        """
        return {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "critic_observation_space": self.critic_observation_space,
            "width_size": self.width_size,
            "depth": self.depth,
            "activation": self.activation,
        }

    def _distribution(self, observation: Any, action_mask: Any) -> AbstractDistribution:
        self.observation_space.validate(observation, name=f"{self.name}: observation")
        output = self.actor(self.observation_space.flatten(observation))
        return action_distribution(
            self.name, self.action_space, output, self.log_std, action_mask
        )

    def _value(self, critic_observation: Any) -> Float[Array, ""]:
        self.critic_observation_space.validate(
            critic_observation, name=f"{self.name}: critic_observation"
        )
        return self.critic(self.critic_observation_space.flatten(critic_observation))

    def __call__(
        self,
        state: NullPolicyState,
        observation: Any,
        *,
        key: Key[Array, ""] | None = None,
        action_mask: Any = None,
    ) -> tuple[NullPolicyState, Any]:
        """Pick an action from the observation alone (the critic is not run).

        Args:
            state: The policy state (returned unchanged).
            observation: One observation from `observation_space`.
            key: A JAX PRNG key, or `None` for the deterministic (mode) action.
            action_mask: An optional mask of the kind `action_space` takes.

        Returns:
            `(state, action)`.

        Raises:
            ValueError: At trace time, if the observation or mask is malformed.
        """
        dist = self._distribution(observation, action_mask)
        action = dist.mode() if key is None else dist.sample(key=key)
        return state, action.astype(self.action_space.dtype)

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
        observation: PrivilegedObservation,
        *,
        key: Key[Array, ""],
        action_mask: Any = None,
    ) -> tuple[NullPolicyState, Any, Float[Array, ""], Float[Array, ""]]:
        """Sample an action from the observation; value the critic observation.

        Args:
            state: The policy state (returned unchanged).
            observation: Both observations of one state.
            key: A JAX PRNG key.
            action_mask: An optional mask of the kind `action_space` takes.

        Returns:
            `(state, action, value, log_prob)`.

        Raises:
            TypeError: At trace time, if `observation` is not a
                `PrivilegedObservation`.
            ValueError: At trace time, if an entry or the mask is malformed.
        """
        observation = _require_privileged(self.name, observation)
        dist = self._distribution(observation.observation, action_mask)
        action, log_prob = dist.sample_and_log_prob(key=key)
        value = self._value(observation.critic_observation)
        return state, action.astype(self.action_space.dtype), value, log_prob

    def evaluate_action(
        self,
        state: NullPolicyState,
        observation: PrivilegedObservation,
        action: Any,
        *,
        action_mask: Any = None,
    ) -> tuple[NullPolicyState, Float[Array, ""], Float[Array, ""], Float[Array, ""]]:
        """Value, log-probability and entropy for an action already taken.

        Args:
            state: The policy state (returned unchanged).
            observation: Both observations of the state the action was taken in.
            action: An action from `action_space`.
            action_mask: The mask in force when the action was taken, if any.

        Returns:
            `(state, value, log_prob, entropy)`.

        Raises:
            TypeError: At trace time, if `observation` is not a
                `PrivilegedObservation`.
            ValueError: At trace time, if an entry, the action or the mask is
                malformed.
        """
        observation = _require_privileged(self.name, observation)
        self.action_space.validate(action, name=f"{self.name}: action")
        dist = self._distribution(observation.observation, action_mask)
        value = self._value(observation.critic_observation)
        return state, value, dist.log_prob(action), dist.entropy()

    def value(
        self, state: NullPolicyState, observation: PrivilegedObservation
    ) -> tuple[NullPolicyState, Float[Array, ""]]:
        """The critic's value of a state (the actor is not run).

        Args:
            state: The policy state (returned unchanged).
            observation: Both observations of the state; only the critic
                observation is read.

        Returns:
            `(state, value)` with a scalar value.

        Raises:
            TypeError: At trace time, if `observation` is not a
                `PrivilegedObservation`.
            ValueError: At trace time, if the critic observation is malformed.
        """
        observation = _require_privileged(self.name, observation)
        return state, self._value(observation.critic_observation)


def check_critic_observation(env: Any, policy: Any, *, owner: str = "learn") -> None:
    """Check that a policy's critic input, if it declares one, fits the env's.

    For an `AbstractPrivilegedActorCriticPolicy` the environment must declare
    the same `critic_observation_space`, and `env.critic_observation` must
    return an element of that structure (checked abstractly, compiling
    nothing). Any other policy reads no critic observation: nothing to check.

    Args:
        env: The environment (already checked to be a lerax environment).
        policy: The policy.
        owner: The function that received them, for the message.

    Raises:
        ValueError: If the environment declares no critic observation or
            another space, or its `critic_observation` does not match it.
    """
    if not isinstance(policy, AbstractPrivilegedActorCriticPolicy):
        return
    space = env.critic_observation_space
    if space is None:
        raise ValueError(
            f"{owner}: {policy.name} reads a critic observation but env "
            f"{env.name} declares none (critic_observation_space is None); "
            "give the env a critic observation or use a symmetric policy."
        )
    if space != policy.critic_observation_space:
        raise ValueError(
            f"{owner}: policy.critic_observation_space is "
            f"{describe_space(policy.critic_observation_space)} but "
            f"env.critic_observation_space is {describe_space(space)}: build "
            "the policy from this env."
        )

    def critic_observation(key):
        init_key, obs_key = jax.random.split(key)
        return env.critic_observation(env.initial(key=init_key), key=obs_key)

    example = jax.eval_shape(critic_observation, jax.random.key(0))
    try:
        space.validate(example, name=f"{env.name}: critic_observation")
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"{owner}: {err} (a wrapper that keeps a state of its own must "
            "forward critic_observation to its inner environment)."
        ) from None
