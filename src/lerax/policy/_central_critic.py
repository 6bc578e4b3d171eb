"""A feed-forward actor-critic whose critic reads a different input: MAPPO's policy."""

from collections.abc import Callable
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Key

from lerax._checks import check_size
from lerax._key import check_key
from lerax.env import AbstractEnvLike
from lerax.space import AbstractSpace, Dict

from ._feedforward import AbstractFeedForwardActorCriticPolicy
from ._heads import (
    actor_output_size,
    check_activation,
    free_log_std,
    linear_stack,
    orthogonal,
    orthogonal_gains,
    resolve_spaces,
)
from ._network import MLP

_OWNER = "MLPCentralCriticPolicy"


class _Part(eqx.Module):
    """An MLP applied to the slice `[start, stop)` of a feature vector."""

    mlp: MLP
    start: int = eqx.field(static=True)
    stop: int = eqx.field(static=True)

    def __call__(self, features: Float[Array, " features"]) -> Array:
        return self.mlp(features[self.start : self.stop])


def _tower(
    sizes: tuple[Any, ...], gains: tuple[float, float] | None, activation, key
) -> MLP:
    layer_key, init_key = jax.random.split(key)
    layers = linear_stack(sizes, key=layer_key)
    if gains is not None:
        layers = orthogonal(
            layers, hidden_gain=gains[0], final_gain=gains[1], key=init_key
        )
    return MLP(layers=layers, activation=activation)


def central_sizes(owner: str, observation_space: AbstractSpace) -> tuple[int, int]:
    """The flat sizes of the `"observation"` and `"state"` entries of MAPPO's Dict.

    `Dict` flattens its entries in sorted key order, so the flat observation is
    the agent's observation followed by the global state.

    Raises:
        ValueError: If the space is not a `Dict` with exactly those two entries.
    """
    if not isinstance(observation_space, Dict) or set(observation_space.spaces) != {
        "observation",
        "state",
    }:
        raise ValueError(
            f"{owner}: the observation space must be Dict(observation=..., "
            f"state=...) (build the env with AgentBatchEnv(env, "
            f"central_critic=True)), got {observation_space!r}."
        )
    return (
        observation_space.spaces["observation"].flat_size,
        observation_space.spaces["state"].flat_size,
    )


def two_towers(
    owner: str,
    actor_inputs: int,
    critic_inputs: int,
    action_space: AbstractSpace,
    *,
    width_size: int,
    depth: int,
    activation: Callable[[Array], Array],
    ortho_init: bool,
    key: Key[Array, ""],
) -> tuple[MLP, MLP]:
    """An actor MLP and a critic MLP with separate inputs (the sizes checked).

    Orthogonal gains `sqrt(2)` (hidden), `0.01` (actor head), `1.0` (critic head).
    """
    check_size(owner, "width_size", width_size)
    check_size(owner, "depth", depth)
    check_activation(owner, activation)
    gains = orthogonal_gains(owner, ortho_init, float(np.sqrt(2.0)), 0.01, 1.0)
    out_size = actor_output_size(owner, action_space)
    hidden = (int(width_size),) * int(depth)
    actor_key, critic_key = jax.random.split(key)
    actor = _tower(
        (actor_inputs, *hidden, out_size),
        None if gains is None else (gains[0], gains[1]),
        activation,
        actor_key,
    )
    critic = _tower(
        (critic_inputs, *hidden, "scalar"),
        None if gains is None else (gains[0], gains[2]),
        activation,
        critic_key,
    )
    return actor, critic


class MLPCentralCriticPolicy(AbstractFeedForwardActorCriticPolicy):
    """An MLP actor on the agent's observation and an MLP critic on the global state.

    MAPPO's policy: the observation space is a `Dict` with an `"observation"`
    entry (what the actor sees, and all it needs to act at execution time) and a
    `"state"` entry (what the critic sees during training), as
    `AgentBatchEnv(env, central_critic=True)` provides. Each entry is
    flattened; acting and evaluation are those of every feed-forward
    actor-critic (the actor's and critic's inputs are disjoint slices of one
    feature vector). Initialisation follows `MLPActorCriticPolicy`
    (orthogonal, gains `sqrt(2)`, `0.01`, `1.0`).

    Attributes:
        name: `"MLPCentralCriticPolicy"`.
        observation_space: `Dict(observation=..., state=...)`.
        action_space: The action space.
        actor: The actor MLP, on the flat `"observation"` entry.
        critic: The critic MLP, on the flat `"state"` entry.
        log_std: The free log standard deviation for `Box` actions, else `None`.
        width_size: Units per hidden layer.
        depth: Number of hidden layers of each tower.
        activation: The hidden-layer activation.
    """

    name: ClassVar[str] = "MLPCentralCriticPolicy"

    action_space: AbstractSpace
    observation_space: AbstractSpace
    actor: _Part
    critic: _Part
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
        width_size: int = 64,
        depth: int = 2,
        activation: Callable[[Array], Array] = jax.nn.tanh,
        log_std_init: float = 0.0,
        ortho_init: bool = True,
    ):
        """Create the policy.

        Args:
            env: The environment to take both spaces from (an
                `AgentBatchEnv(..., central_critic=True)`), or `None` with both
                spaces given.
            key: A JAX PRNG key for the initial weights.
            observation_space: `Dict(observation=..., state=...)`, when `env`
                is not given.
            action_space: The action space, when `env` is not given.
            width_size: Units per hidden layer (at least 1).
            depth: Hidden layers of each tower (at least 1).
            activation: Hidden-layer activation (a hashable function).
            log_std_init: Initial log-std (`Box` actions only).
            ortho_init: Orthogonal initialisation (else Equinox's default).

        Raises:
            TypeError: If `env` is not a lerax environment or `key` not a key.
            ValueError: If the observation space is not a `Dict` with exactly
                the entries `"observation"` and `"state"`, or a size is invalid.
        """
        check_key(_OWNER, key)
        observation_space, action_space = resolve_spaces(
            _OWNER, env, observation_space, action_space
        )
        n_obs, n_state = central_sizes(_OWNER, observation_space)
        actor, critic = two_towers(
            _OWNER,
            n_obs,
            n_state,
            action_space,
            width_size=width_size,
            depth=depth,
            activation=activation,
            ortho_init=ortho_init,
            key=key,
        )
        self.actor = _Part(actor, 0, n_obs)
        self.critic = _Part(critic, n_obs, n_obs + n_state)
        self.observation_space = observation_space
        self.action_space = action_space
        self.log_std = free_log_std(action_space, log_std_init)
        self.width_size = int(width_size)
        self.depth = int(depth)
        self.activation = activation

    def features(self, observation: Any) -> Float[Array, " features"]:
        """The flat observation, then the flat global state.

        Args:
            observation: `{"observation": ..., "state": ...}`.

        Returns:
            The two flattened entries, concatenated (the actor reads the first
            part, the critic the second).

        Raises:
            ValueError: At trace time, if the observation is malformed.
        """
        self.observation_space.validate(observation, name=f"{self.name}: observation")
        return jnp.concatenate(
            [
                self.observation_space.spaces["observation"].flatten(
                    observation["observation"]
                ),
                self.observation_space.spaces["state"].flatten(observation["state"]),
            ]
        )
