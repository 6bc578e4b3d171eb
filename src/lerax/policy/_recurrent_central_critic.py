"""A recurrent actor-critic whose critic reads a different input: recurrent MAPPO.

`GRUCentralCriticPolicy` is an `AbstractRecurrentActorCriticPolicy` whose
encoder, core and heads are block-diagonal: one GRU tower reads the agent's
`"observation"` entry and feeds the actor head, another (separate weights)
reads the global `"state"` entry and feeds the critic head. Its memory is one
`RecurrentPolicyState` whose hidden vector is the actor's memory followed by
the critic's, so the recurrent machinery (carried, reset at episode starts,
stored, replayed by `evaluate_sequence`) applies unchanged, and the actor's
half never depends on the state entry.
"""

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Key

from lerax._checks import check_size
from lerax._key import check_key
from lerax._keywords import suggest_keywords
from lerax.env import AbstractEnvLike
from lerax.space import AbstractSpace

from ._central_critic import _Part, central_sizes
from ._heads import (
    actor_output_size,
    check_activation,
    free_log_std,
    label_actor_critic,
    positive_ints,
    resolve_spaces,
)
from ._network import MLP
from ._recurrent import (
    AbstractRecurrentActorCriticPolicy,
    RecurrentPolicyState,
    _build,
    recurrent_arguments,
)

_OWNER = "GRUCentralCriticPolicy"


class _SplitEncoder(eqx.Module):
    """Two encoder MLPs on disjoint slices of the flat input, outputs concatenated.

    The actor's encoder reads `[0, split)` (the observation), the critic's
    `[split, end)` (the global state).
    """

    actor: MLP
    critic: MLP
    split: int = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __call__(self, flat: Float[Array, " inputs"]) -> Float[Array, " features"]:
        return jnp.concatenate(
            [self.actor(flat[: self.split]), self.critic(flat[self.split :])]
        )


class _SplitGRU(eqx.Module):
    """Two GRU cells on disjoint slices of the features and of the hidden vector.

    The actor's cell reads the first `features` entries and updates the first
    `hidden_size` entries of the memory; the critic's cell the rest.
    """

    actor: eqx.nn.GRUCell
    critic: eqx.nn.GRUCell
    features: int = eqx.field(static=True)
    hidden_size: int = eqx.field(static=True)

    def __call__(
        self,
        features: Float[Array, " features"],
        hidden: Float[Array, " memory"],
    ) -> Float[Array, " memory"]:
        h = self.hidden_size
        actor = self.actor(features[: self.features], hidden[:h])
        critic = self.critic(features[self.features :], hidden[h:])
        return jnp.concatenate([actor, critic])


class GRUCentralCriticPolicy(AbstractRecurrentActorCriticPolicy):
    """A GRU actor on the agent's observation and a GRU critic on the global state.

    Recurrent MAPPO's policy: the observation space is a `Dict` with an
    `"observation"` entry (all the actor reads) and a `"state"` entry (all the
    critic reads), as `AgentBatchEnv(env, central_critic=True)` provides. Each
    side is its own tower (encoder MLP -> `eqx.nn.GRUCell` -> linear head),
    built and initialised as in `GRUActorCriticPolicy`, with separate weights
    and separate memories. The policy state is one `RecurrentPolicyState`
    whose `hidden` has `2 * hidden_size` entries: the actor's memory, then the
    critic's. Both start at zero at every episode start; the actor's memory
    and action depend only on the history of `"observation"` entries, so the
    trained actor acts from its own observations (pass any `"state"` of the
    right shape, zeros will do).

    `PPO`, `IPPO` and `MAPPO` train it like every recurrent policy: whole
    sequences, replayed from the stored memories. `parameter_labels` gives
    each tower to its part (the actor's encoder, cell and head and `log_std`
    are `"actor"`, the critic's are `"critic"`): nothing is shared, so
    separate optimisers split the towers exactly.

    Attributes:
        name: `"GRUCentralCriticPolicy"`.
        action_space: The action space.
        observation_space: `Dict(observation=..., state=...)`.
        encoder: The two encoder MLPs (actor's on the observation, critic's on
            the state).
        core: The two GRU cells.
        actor: The actor head, on the actor's memory.
        critic: The critic head, on the critic's memory.
        log_std: The free log-std for `Box` actions, else `None`.
        hidden_size: The hidden size of each GRU (the memory has twice as many
            entries).
        encoder_sizes: Each encoder's layer sizes.
    """

    name: ClassVar[str] = "GRUCentralCriticPolicy"
    action_space: AbstractSpace
    observation_space: AbstractSpace
    encoder: _SplitEncoder
    core: _SplitGRU
    actor: _Part
    critic: _Part
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
            env: The environment to take both spaces from (an
                `AgentBatchEnv(..., central_critic=True)`), or `None` with both
                spaces given.
            key: A JAX PRNG key for the initial weights.
            observation_space: `Dict(observation=..., state=...)`, when `env`
                is not given.
            action_space: The action space, when `env` is not given.
            hidden_size: Each GRU's hidden size.
            encoder_sizes: Each encoder MLP's layer sizes (at least one).
            activation: The encoders' activation (a named function).
            log_std_init: The initial log-std (`Box` actions).

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
        check_size(_OWNER, "hidden_size", hidden_size)
        sizes = positive_ints(_OWNER, "encoder_sizes", encoder_sizes)
        if not sizes:
            raise ValueError(f"{_OWNER}: encoder_sizes needs at least one layer size.")
        check_activation(_OWNER, activation)
        hidden = int(hidden_size)
        out_size = actor_output_size(_OWNER, action_space)
        actor_key, critic_key = jax.random.split(key)
        # Each tower is a GRUActorCriticPolicy's network; the actor tower's
        # critic head and the critic tower's actor head are not used.
        actor_encoder, actor_core, actor_head, _ = _build(
            n_obs, out_size, sizes, hidden, activation, "gru", actor_key
        )
        critic_encoder, critic_core, _, critic_head = _build(
            n_state, out_size, sizes, hidden, activation, "gru", critic_key
        )
        self.action_space = action_space
        self.observation_space = observation_space
        self.encoder = _SplitEncoder(actor_encoder, critic_encoder, n_obs, activation)
        self.core = _SplitGRU(actor_core, critic_core, sizes[-1], hidden)
        self.actor = _Part(actor_head, 0, hidden)
        self.critic = _Part(critic_head, hidden, 2 * hidden)
        self.log_std = free_log_std(action_space, log_std_init)
        self.hidden_size = hidden
        self.encoder_sizes = sizes

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
        """One step of both GRUs, each on its own features and memory.

        Args:
            state: The memories (actor's, then critic's) before the input.
            features: The two encoders' activated outputs, concatenated.

        Returns:
            The new memories.
        """
        return RecurrentPolicyState(hidden=self.core(features, state.hidden))

    def parameter_labels(self) -> Any:
        """Which part each leaf belongs to, for separate optimisers.

        Returns:
            A pytree of the policy's structure: `"actor"` for the actor's
            encoder, GRU cell and head and `log_std`, `"critic"` for the
            critic's encoder, GRU cell and head. Nothing is shared.
        """
        labels = label_actor_critic(self)
        return eqx.tree_at(
            lambda p: (p.encoder.actor, p.core.actor, p.encoder.critic, p.core.critic),
            labels,
            (
                jax.tree.map(lambda _: "actor", self.encoder.actor),
                jax.tree.map(lambda _: "actor", self.core.actor),
                jax.tree.map(lambda _: "critic", self.encoder.critic),
                jax.tree.map(lambda _: "critic", self.core.critic),
            ),
        )

    def reset(self, *, key: Key[Array, ""]) -> RecurrentPolicyState:
        """Zero memories for the actor and the critic.

        Args:
            key: Unused.

        Returns:
            The initial state (`2 * hidden_size` zeros).
        """
        del key
        return RecurrentPolicyState(
            hidden=jnp.zeros((2 * self.hidden_size,), jnp.float32)
        )
