"""Recurrent actor-critic policies: an MLP encoder, a GRU or LSTM core, two heads."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Key

from lerax._checks import plain
from lerax.distribution import AbstractDistribution
from lerax.env import AbstractEnvLike, require_env
from lerax.space import AbstractSpace, Box

from ._base import AbstractActorCriticPolicy, AbstractPolicyState
from ._mlp import (
    _actor_output_size,
    _check_sizes,
    _linear_stack,
    _orthogonal,
    action_distribution,
)
from ._network import MLP


class RecurrentPolicyState(AbstractPolicyState):
    """The memory of a recurrent policy.

    Attributes:
        hidden: The hidden vector (a GRU's state; an LSTM's `h`).
        cell: An LSTM's cell vector `c`; `None` for a GRU.
    """

    hidden: Float[Array, " hidden_size"]
    cell: Float[Array, " hidden_size"] | None = None


def _spaces(owner, env, observation_space, action_space):
    if env is not None:
        if observation_space is not None or action_space is not None:
            raise ValueError(
                f"{owner}: pass either env or observation_space and action_space, "
                "not both."
            )
        require_env(owner, env)
        observation_space, action_space = env.observation_space, env.action_space
    for arg, space in (
        ("observation_space", observation_space),
        ("action_space", action_space),
    ):
        if not isinstance(space, AbstractSpace):
            raise ValueError(
                f"{owner}: {arg} must be a lerax space (pass env or both spaces), "
                f"got {type(space).__name__}."
            )
    return observation_space, action_space


@eqx.filter_jit
def _build(in_size, out_size, encoder_sizes, hidden_size, activation, kind, key):
    encoder_key, core_key, actor_key, critic_key, init_key = jax.random.split(key, 5)
    encoder = _linear_stack((in_size, *encoder_sizes), key=encoder_key)
    actor = _linear_stack((hidden_size, out_size), key=actor_key)
    critic = _linear_stack((hidden_size, "scalar"), key=critic_key)
    keys = jax.random.split(init_key, 3)
    gain = float(np.sqrt(2.0))
    encoder = _orthogonal(encoder, hidden_gain=gain, final_gain=gain, key=keys[0])
    actor = _orthogonal(actor, hidden_gain=gain, final_gain=0.01, key=keys[1])
    critic = _orthogonal(critic, hidden_gain=gain, final_gain=1.0, key=keys[2])
    cell_class = eqx.nn.GRUCell if kind == "gru" else eqx.nn.LSTMCell
    core = cell_class(encoder_sizes[-1], hidden_size, key=core_key)
    return (
        MLP(layers=encoder, activation=activation),
        core,
        MLP(layers=actor, activation=activation),
        MLP(layers=critic, activation=activation),
    )


class AbstractRecurrentActorCriticPolicy(
    AbstractActorCriticPolicy[RecurrentPolicyState, Any, Any, Any]
):
    """An actor-critic whose action and value depend on a carried memory.

    At each step the flattened observation goes through the encoder MLP (its
    output activated), the recurrent core updates the memory from it, and linear
    actor and critic heads read the new hidden vector. The memory is the policy
    state: the training loop carries it through the rollout, resets it at
    episode ends (`reset`) and stores it in the rollout buffer. `PPO` re-runs the
    core over each environment's whole rollout when training (truncated
    backpropagation through time), starting from the stored state.

    Attributes:
        is_recurrent: `True` (the training loop trains on whole sequences).
        observation_space: The observation space.
        action_space: The action space.
        encoder: The encoder MLP.
        core: The recurrent cell.
        actor: The actor head.
        critic: The critic head.
        log_std: The free log-std for `Box` actions, else `None`.
        hidden_size: The size of the hidden vector.
    """

    is_recurrent: ClassVar[bool] = True
    observation_space: eqx.AbstractVar[AbstractSpace]
    action_space: eqx.AbstractVar[AbstractSpace]
    encoder: eqx.AbstractVar[MLP]
    core: eqx.AbstractVar[eqx.Module]
    actor: eqx.AbstractVar[MLP]
    critic: eqx.AbstractVar[MLP]
    log_std: eqx.AbstractVar[Float[Array, "*action_shape"] | None]
    hidden_size: eqx.AbstractVar[int]

    @abstractmethod
    def _advance(
        self, state: RecurrentPolicyState, features: Float[Array, " n"]
    ) -> RecurrentPolicyState:
        """The memory after one input."""

    def _step(
        self, state: RecurrentPolicyState, observation: Any
    ) -> RecurrentPolicyState:
        self.observation_space.validate(observation, name=f"{self.name}: observation")
        flat = self.observation_space.flatten(observation)
        features = self.encoder.activation(self.encoder(flat))
        return self._advance(state, features)

    def _distribution(
        self, state: RecurrentPolicyState, action_mask: Any
    ) -> AbstractDistribution:
        return action_distribution(
            self.name,
            self.action_space,
            self.actor(state.hidden),
            self.log_std,
            False,
            action_mask,
        )

    def __call__(
        self,
        state: RecurrentPolicyState,
        observation: Any,
        *,
        key: Key[Array, ""] | None = None,
        action_mask: Any = None,
    ) -> tuple[RecurrentPolicyState, Any]:
        """Update the memory and pick an action (sampled with `key`, else the mode).

        Args:
            state: The memory before this observation.
            observation: One observation.
            key: A JAX PRNG key, or `None` for the deterministic action.
            action_mask: An optional action mask.

        Returns:
            `(new_state, action)`.
        """
        state = self._step(state, observation)
        dist = self._distribution(state, action_mask)
        action = dist.mode() if key is None else dist.sample(key=key)
        return state, action.astype(self.action_space.dtype)

    def action_and_value(
        self,
        state: RecurrentPolicyState,
        observation: Any,
        *,
        key: Key[Array, ""],
        action_mask: Any = None,
    ) -> tuple[RecurrentPolicyState, Any, Float[Array, ""], Float[Array, ""]]:
        """Update the memory, sample an action, its log-probability and the value.

        Args:
            state: The memory before this observation.
            observation: One observation.
            key: A JAX PRNG key.
            action_mask: An optional action mask.

        Returns:
            `(new_state, action, value, log_prob)`.
        """
        state = self._step(state, observation)
        dist = self._distribution(state, action_mask)
        action, log_prob = dist.sample_and_log_prob(key=key)
        value = self.critic(state.hidden)
        return state, action.astype(self.action_space.dtype), value, log_prob

    def evaluate_action(
        self,
        state: RecurrentPolicyState,
        observation: Any,
        action: Any,
        *,
        action_mask: Any = None,
    ) -> tuple[
        RecurrentPolicyState, Float[Array, ""], Float[Array, ""], Float[Array, ""]
    ]:
        """Update the memory; value, log-probability and entropy of an action.

        Args:
            state: The memory before this observation.
            observation: One observation.
            action: The action taken.
            action_mask: The mask in force, if any.

        Returns:
            `(new_state, value, log_prob, entropy)`.
        """
        self.action_space.validate(action, name=f"{self.name}: action")
        state = self._step(state, observation)
        dist = self._distribution(state, action_mask)
        value = self.critic(state.hidden)
        return state, value, dist.log_prob(action), dist.entropy()

    def value(
        self, state: RecurrentPolicyState, observation: Any
    ) -> tuple[RecurrentPolicyState, Float[Array, ""]]:
        """Update the memory and return the value.

        Args:
            state: The memory before this observation.
            observation: One observation.

        Returns:
            `(new_state, value)`.
        """
        state = self._step(state, observation)
        return state, self.critic(state.hidden)

    def evaluate_sequence(
        self,
        states: RecurrentPolicyState,
        observations: Any,
        actions: Any,
        episode_starts: Bool[Array, " T"],
        action_masks: Any = None,
    ) -> tuple[
        Float[Array, " num_steps"],
        Float[Array, " num_steps"],
        Float[Array, " num_steps"],
    ]:
        """Re-run the memory over one environment's sequence, for training.

        The memory starts from the stored state at step 0 and at every episode
        start (where the stored state is the reset one); elsewhere it is the
        memory computed at the previous step, so gradients flow through time.

        Args:
            states: The stored states, leading axis `num_steps`.
            observations: The observations, leading axis `num_steps`.
            actions: The actions taken.
            episode_starts: Whether each step starts from a stored state (step 0
                and the first step of every episode).
            action_masks: The masks in force, if any.

        Returns:
            `(values, log_probs, entropies)`, one entry per step (`T` is the
            sequence length).
        """
        first = jax.tree.map(lambda x: x[0], states)

        def step(carry, inputs):
            stored, observation, action, mask, start = inputs
            state = jax.tree.map(lambda a, b: jnp.where(start, a, b), stored, carry)
            state, value, log_prob, entropy = self.evaluate_action(
                state, observation, action, action_mask=mask
            )
            return state, (value, log_prob, entropy)

        _, outputs = jax.lax.scan(
            step, first, (states, observations, actions, action_masks, episode_starts)
        )
        return outputs


def _check_recurrent_args(owner, hidden_size, encoder_sizes, activation):
    if (
        isinstance(hidden_size, bool)
        or not isinstance(hidden_size, (int, np.integer))
        or hidden_size < 1
    ):
        raise ValueError(
            f"{owner}: hidden_size must be a positive integer, got "
            f"{plain(hidden_size)}."
        )
    sizes = _check_sizes("encoder_sizes", encoder_sizes)
    if not sizes:
        raise ValueError(f"{owner}: encoder_sizes needs at least one layer size.")
    if not callable(activation):
        raise ValueError(f"{owner}: activation must be callable.")
    return int(hidden_size), sizes


class GRUActorCriticPolicy(AbstractRecurrentActorCriticPolicy):
    """A recurrent actor-critic with a GRU core (`eqx.nn.GRUCell`).

    Encoder MLP (orthogonal init, activated output) -> GRU -> linear actor head
    (gain 0.01) and critic head (gain 1). The memory starts at zero each episode.

    Attributes:
        name: `"GRUActorCriticPolicy"`.
        observation_space: The observation space.
        action_space: The action space.
        encoder: The encoder MLP.
        core: The GRU cell.
        actor: The actor head.
        critic: The critic head.
        log_std: The free log-std for `Box` actions, else `None`.
        hidden_size: The size of the hidden vector.
        encoder_sizes: The encoder's layer sizes.
    """

    name: ClassVar[str] = "GRUActorCriticPolicy"
    observation_space: AbstractSpace
    action_space: AbstractSpace
    encoder: MLP
    core: eqx.nn.GRUCell
    actor: MLP
    critic: MLP
    log_std: Float[Array, "*action_shape"] | None
    hidden_size: int = eqx.field(static=True)
    encoder_sizes: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        env: AbstractEnvLike | None = None,
        *,
        key: Key[Array, ""],
        observation_space: AbstractSpace | None = None,
        action_space: AbstractSpace | None = None,
        hidden_size: int = 64,
        encoder_sizes: Sequence[int] = (64,),
        activation: Callable[[Array], Array] = jax.nn.tanh,
        log_std_init: float = 0.0,
    ):
        """Create the policy.

        Args:
            env: The environment to take both spaces from (or pass both spaces).
            key: A JAX PRNG key for the initial weights.
            observation_space: The observation space, when `env` is not given.
            action_space: The action space, when `env` is not given.
            hidden_size: The GRU's hidden size.
            encoder_sizes: The encoder MLP's layer sizes (at least one).
            activation: The encoder's activation (a named function).
            log_std_init: The initial log-std (`Box` actions).

        Raises:
            TypeError: If `env` is not a lerax environment.
            ValueError: If the spaces or sizes are invalid.
        """
        observation_space, action_space = _spaces(
            self.name, env, observation_space, action_space
        )
        hidden_size, sizes = _check_recurrent_args(
            self.name, hidden_size, encoder_sizes, activation
        )
        self.encoder, self.core, self.actor, self.critic = _build(
            observation_space.flat_size,
            _actor_output_size(action_space),
            sizes,
            hidden_size,
            activation,
            "gru",
            key,
        )
        self.observation_space = observation_space
        self.action_space = action_space
        self.log_std = (
            jnp.full(action_space.shape, log_std_init, jnp.float32)
            if isinstance(action_space, Box)
            else None
        )
        self.hidden_size = hidden_size
        self.encoder_sizes = sizes

    def _advance(self, state, features):
        return RecurrentPolicyState(hidden=self.core(features, state.hidden))

    def reset(self, *, key: Key[Array, ""]) -> RecurrentPolicyState:
        """A zero memory.

        Args:
            key: Unused.

        Returns:
            The initial state.
        """
        del key
        return RecurrentPolicyState(hidden=jnp.zeros((self.hidden_size,), jnp.float32))


class LSTMActorCriticPolicy(AbstractRecurrentActorCriticPolicy):
    """A recurrent actor-critic with an LSTM core (`eqx.nn.LSTMCell`).

    Encoder MLP (orthogonal init, activated output) -> LSTM -> linear actor head
    (gain 0.01) and critic head (gain 1) on the LSTM's `h`. The memory (`h`,
    `c`) starts at zero each episode.

    Attributes:
        name: `"LSTMActorCriticPolicy"`.
        observation_space: The observation space.
        action_space: The action space.
        encoder: The encoder MLP.
        core: The LSTM cell.
        actor: The actor head.
        critic: The critic head.
        log_std: The free log-std for `Box` actions, else `None`.
        hidden_size: The size of `h` and `c`.
        encoder_sizes: The encoder's layer sizes.
    """

    name: ClassVar[str] = "LSTMActorCriticPolicy"
    observation_space: AbstractSpace
    action_space: AbstractSpace
    encoder: MLP
    core: eqx.nn.LSTMCell
    actor: MLP
    critic: MLP
    log_std: Float[Array, "*action_shape"] | None
    hidden_size: int = eqx.field(static=True)
    encoder_sizes: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        env: AbstractEnvLike | None = None,
        *,
        key: Key[Array, ""],
        observation_space: AbstractSpace | None = None,
        action_space: AbstractSpace | None = None,
        hidden_size: int = 64,
        encoder_sizes: Sequence[int] = (64,),
        activation: Callable[[Array], Array] = jax.nn.tanh,
        log_std_init: float = 0.0,
    ):
        """Create the policy.

        Args:
            env: The environment to take both spaces from (or pass both spaces).
            key: A JAX PRNG key for the initial weights.
            observation_space: The observation space, when `env` is not given.
            action_space: The action space, when `env` is not given.
            hidden_size: The LSTM's hidden size.
            encoder_sizes: The encoder MLP's layer sizes (at least one).
            activation: The encoder's activation (a named function).
            log_std_init: The initial log-std (`Box` actions).

        Raises:
            TypeError: If `env` is not a lerax environment.
            ValueError: If the spaces or sizes are invalid.
        """
        observation_space, action_space = _spaces(
            self.name, env, observation_space, action_space
        )
        hidden_size, sizes = _check_recurrent_args(
            self.name, hidden_size, encoder_sizes, activation
        )
        self.encoder, self.core, self.actor, self.critic = _build(
            observation_space.flat_size,
            _actor_output_size(action_space),
            sizes,
            hidden_size,
            activation,
            "lstm",
            key,
        )
        self.observation_space = observation_space
        self.action_space = action_space
        self.log_std = (
            jnp.full(action_space.shape, log_std_init, jnp.float32)
            if isinstance(action_space, Box)
            else None
        )
        self.hidden_size = hidden_size
        self.encoder_sizes = sizes

    def _advance(self, state, features):
        hidden, cell = self.core(features, (state.hidden, state.cell))
        return RecurrentPolicyState(hidden=hidden, cell=cell)

    def reset(self, *, key: Key[Array, ""]) -> RecurrentPolicyState:
        """A zero memory (`h` and `c`).

        Args:
            key: Unused.

        Returns:
            The initial state.
        """
        del key
        zeros = jnp.zeros((self.hidden_size,), jnp.float32)
        return RecurrentPolicyState(hidden=zeros, cell=zeros)
