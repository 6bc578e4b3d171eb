"""Recurrent actor-critic policies: an MLP encoder, a GRU or LSTM core, two heads."""

from abc import abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Key

from lerax._checks import check_size
from lerax._key import check_key
from lerax._keywords import suggest_keywords
from lerax.distribution import AbstractDistribution
from lerax.env import AbstractEnvLike
from lerax.space import AbstractSpace

from ._base import AbstractActorCriticPolicy, AbstractPolicyState
from ._heads import (
    action_distribution,
    actor_output_size,
    check_activation,
    free_log_std,
    label_actor_critic,
    linear_stack,
    orthogonal,
    positive_ints,
    resolve_spaces,
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


@eqx.filter_jit
def _build(in_size, out_size, encoder_sizes, hidden_size, activation, kind, key):
    encoder_key, core_key, actor_key, critic_key, init_key = jax.random.split(key, 5)
    encoder = linear_stack((in_size, *encoder_sizes), key=encoder_key)
    actor = linear_stack((hidden_size, out_size), key=actor_key)
    critic = linear_stack((hidden_size, "scalar"), key=critic_key)
    keys = jax.random.split(init_key, 3)
    gain = float(np.sqrt(2.0))
    encoder = orthogonal(encoder, hidden_gain=gain, final_gain=gain, key=keys[0])
    actor = orthogonal(actor, hidden_gain=gain, final_gain=0.01, key=keys[1])
    critic = orthogonal(critic, hidden_gain=gain, final_gain=1.0, key=keys[2])
    cell_class = eqx.nn.GRUCell if kind == "gru" else eqx.nn.LSTMCell
    core = cell_class(encoder_sizes[-1], hidden_size, key=core_key)
    return (
        MLP(layers=encoder, activation=activation),
        core,
        MLP(layers=actor, activation=activation),
        MLP(layers=critic, activation=activation),
    )


class _Parts(NamedTuple):
    """Everything a recurrent policy's constructor assigns, in field order."""

    action_space: AbstractSpace
    observation_space: AbstractSpace
    encoder: MLP
    core: eqx.Module
    actor: MLP
    critic: MLP
    log_std: Float[Array, "*action_shape"] | None
    hidden_size: int
    encoder_sizes: tuple[int, ...]


def _parts(
    owner: str,
    kind: str,
    env: AbstractEnvLike | None,
    observation_space: AbstractSpace | None,
    action_space: AbstractSpace | None,
    hidden_size: int,
    encoder_sizes: Sequence[int],
    activation: Callable[[Array], Array],
    log_std_init: float,
    key: Key[Array, ""],
) -> _Parts:
    """Check a recurrent policy's arguments and build its fields."""
    check_key(owner, key)
    observation_space, action_space = resolve_spaces(
        owner, env, observation_space, action_space
    )
    check_size(owner, "hidden_size", hidden_size)
    sizes = positive_ints(owner, "encoder_sizes", encoder_sizes)
    if not sizes:
        raise ValueError(f"{owner}: encoder_sizes needs at least one layer size.")
    check_activation(owner, activation)
    encoder, core, actor, critic = _build(
        observation_space.flat_size,
        actor_output_size(owner, action_space),
        sizes,
        int(hidden_size),
        activation,
        kind,
        key,
    )
    return _Parts(
        action_space=action_space,
        observation_space=observation_space,
        encoder=encoder,
        core=core,
        actor=actor,
        critic=critic,
        log_std=free_log_std(action_space, log_std_init),
        hidden_size=int(hidden_size),
        encoder_sizes=sizes,
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

    A subclass declares the fields below and fills in its cell: `advance` (one
    step of the memory) and `reset` (the initial memory). `GRUActorCriticPolicy`
    and `LSTMActorCriticPolicy` are its subclasses.

    Attributes:
        name: The name of the policy (a class variable).
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
    encoder: eqx.AbstractVar[MLP]
    core: eqx.AbstractVar[eqx.Module]
    actor: eqx.AbstractVar[MLP]
    critic: eqx.AbstractVar[MLP]
    log_std: eqx.AbstractVar[Float[Array, "*action_shape"] | None]
    hidden_size: eqx.AbstractVar[int]

    @abstractmethod
    def advance(
        self, state: RecurrentPolicyState, features: Float[Array, " features"]
    ) -> RecurrentPolicyState:
        """Update the memory with one input: the cell's step.

        Args:
            state: The memory before the input.
            features: The encoder's activated output for one observation.

        Returns:
            The memory after the input.
        """

    def _step(
        self, state: RecurrentPolicyState, observation: Any
    ) -> RecurrentPolicyState:
        self.observation_space.validate(observation, name=f"{self.name}: observation")
        flat = self.observation_space.flatten(observation)
        features = self.encoder.activation(self.encoder(flat))
        return self.advance(state, features)

    def _distribution(
        self, state: RecurrentPolicyState, action_mask: Any
    ) -> AbstractDistribution:
        return action_distribution(
            self.name,
            self.action_space,
            self.actor(state.hidden),
            self.log_std,
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

    def parameter_labels(self) -> Any:
        """Which part each leaf belongs to, for separate optimisers.

        Returns:
            A pytree of the policy's structure: `"actor"` for the actor head
            and `log_std`, `"critic"` for the critic head, `"shared"` for
            everything else (the encoder and the recurrent core, which both
            heads read).
        """
        return label_actor_critic(self)

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


def recurrent_arguments(policy: AbstractRecurrentActorCriticPolicy) -> dict[str, Any]:
    """The structural constructor arguments of a GRU or LSTM policy.

    Also those of `GRUCentralCriticPolicy`, which takes the same arguments.

    Args:
        policy: The policy.

    Returns:
        Its spaces, sizes and the encoder's activation.
    """
    return {
        "observation_space": policy.observation_space,
        "action_space": policy.action_space,
        "hidden_size": policy.hidden_size,
        "encoder_sizes": policy.encoder_sizes,
        "activation": policy.encoder.activation,
    }


class GRUActorCriticPolicy(AbstractRecurrentActorCriticPolicy):
    """A recurrent actor-critic with a GRU core (`eqx.nn.GRUCell`).

    Encoder MLP (orthogonal init, activated output) -> GRU -> linear actor head
    (gain 0.01) and critic head (gain 1). The memory starts at zero each episode.

    Attributes:
        name: `"GRUActorCriticPolicy"`.
        action_space: The action space.
        observation_space: The observation space.
        encoder: The encoder MLP.
        core: The GRU cell.
        actor: The actor head.
        critic: The critic head.
        log_std: The free log-std for `Box` actions, else `None`.
        hidden_size: The size of the hidden vector.
        encoder_sizes: The encoder's layer sizes.
    """

    name: ClassVar[str] = "GRUActorCriticPolicy"
    # `action_space` comes first: saved files (and their fingerprints) follow
    # this field order.
    action_space: AbstractSpace
    observation_space: AbstractSpace
    encoder: MLP
    core: eqx.nn.GRUCell
    actor: MLP
    critic: MLP
    log_std: Float[Array, "*action_shape"] | None
    hidden_size: int = eqx.field(static=True)
    encoder_sizes: tuple[int, ...] = eqx.field(static=True)

    @suggest_keywords
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
        parts = _parts(
            self.name,
            "gru",
            env,
            observation_space,
            action_space,
            hidden_size,
            encoder_sizes,
            activation,
            log_std_init,
            key,
        )
        (
            self.action_space,
            self.observation_space,
            self.encoder,
            self.core,
            self.actor,
            self.critic,
            self.log_std,
            self.hidden_size,
            self.encoder_sizes,
        ) = parts

    def constructor_arguments(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this policy's structure (its recipe).

        Returns:
            The spaces and every structural argument; `lerax.load` rebuilds the
            policy from them.
        """
        return recurrent_arguments(self)

    def advance(
        self, state: RecurrentPolicyState, features: Float[Array, " features"]
    ) -> RecurrentPolicyState:
        """One GRU step.

        Args:
            state: The memory before the input.
            features: The encoder's output.

        Returns:
            The new hidden vector.
        """
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
        action_space: The action space.
        observation_space: The observation space.
        encoder: The encoder MLP.
        core: The LSTM cell.
        actor: The actor head.
        critic: The critic head.
        log_std: The free log-std for `Box` actions, else `None`.
        hidden_size: The size of `h` and `c`.
        encoder_sizes: The encoder's layer sizes.
    """

    name: ClassVar[str] = "LSTMActorCriticPolicy"
    # `action_space` comes first: saved files (and their fingerprints) follow
    # this field order.
    action_space: AbstractSpace
    observation_space: AbstractSpace
    encoder: MLP
    core: eqx.nn.LSTMCell
    actor: MLP
    critic: MLP
    log_std: Float[Array, "*action_shape"] | None
    hidden_size: int = eqx.field(static=True)
    encoder_sizes: tuple[int, ...] = eqx.field(static=True)

    @suggest_keywords
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
        parts = _parts(
            self.name,
            "lstm",
            env,
            observation_space,
            action_space,
            hidden_size,
            encoder_sizes,
            activation,
            log_std_init,
            key,
        )
        (
            self.action_space,
            self.observation_space,
            self.encoder,
            self.core,
            self.actor,
            self.critic,
            self.log_std,
            self.hidden_size,
            self.encoder_sizes,
        ) = parts

    def constructor_arguments(self) -> dict[str, Any]:
        """The constructor arguments that rebuild this policy's structure (its recipe).

        Returns:
            The spaces and every structural argument; `lerax.load` rebuilds the
            policy from them.
        """
        return recurrent_arguments(self)

    def advance(
        self, state: RecurrentPolicyState, features: Float[Array, " features"]
    ) -> RecurrentPolicyState:
        """One LSTM step.

        Args:
            state: The memory (`h`, `c`) before the input.
            features: The encoder's output.

        Returns:
            The new `h` and `c`.
        """
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
