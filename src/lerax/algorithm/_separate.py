"""Separate optimisers for the actor and the critic (skrl's per-network rates).

`split_actor_critic(actor, critic)` is one optax transformation that sends the
actor's gradients to `actor` and the critic's to `critic`, as
`optax.multi_transform` does. It is written for PPO's flat parameter vector
(see `lerax.algorithm._flat`): which entry belongs to which part is a
parameter-shaped 0/1 mask kept in the state, so it is raveled with the
parameters, and each part's optimiser state is parameter-shaped over the whole
policy (zeros outside its part). Each part's transformation sees the gradient
with the other part's entries zeroed and its updates are kept only on its own
entries, which is `multi_transform`'s result for elementwise and norm-based
transformations (Adam, clipping): Adam's moments of the other part's entries
stay zero. The price is a second set of moments (memory twice Adam's).

The mask is set once per run by `set_actor_mask` (PPO's `post_reset`) from the
policy's declared parts (`AbstractActorCriticPolicy.parameter_labels`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import PyTree

_TRUNK = ("actor", "critic")
_LABELS = ("actor", "critic", "shared")


class ActorCriticSplitState(NamedTuple):
    """The state of `split_actor_critic`.

    Attributes:
        actor_mask: Parameter-shaped: 1 where the actor's optimiser updates the
            parameter (the actor, and a shared trunk when it goes to the
            actor), 0 where the critic's does.
        actor: The actor's optimiser state.
        critic: The critic's optimiser state.
    """

    actor_mask: PyTree
    actor: optax.OptState
    critic: optax.OptState


def split_actor_critic(
    actor: optax.GradientTransformation, critic: optax.GradientTransformation
) -> optax.GradientTransformation:
    """One transformation: `actor` on the actor's parameters, `critic` on the rest.

    Args:
        actor: The actor's transformation.
        critic: The critic's transformation.

    Returns:
        The combined transformation. Its mask starts at all-critic; set it with
        `set_actor_mask` before the first update.
    """

    def init(params: PyTree) -> ActorCriticSplitState:
        return ActorCriticSplitState(
            actor_mask=jax.tree.map(jnp.zeros_like, params),
            actor=actor.init(params),
            critic=critic.init(params),
        )

    def update(updates, state, params=None):
        is_actor = jax.tree.map(lambda m: m > 0, state.actor_mask)
        actor_in = jax.tree.map(
            lambda a, u: jnp.where(a, u, jnp.zeros_like(u)), is_actor, updates
        )
        critic_in = jax.tree.map(
            lambda a, u: jnp.where(a, jnp.zeros_like(u), u), is_actor, updates
        )
        actor_updates, actor_state = actor.update(actor_in, state.actor, params)
        critic_updates, critic_state = critic.update(critic_in, state.critic, params)
        combined = jax.tree.map(jnp.where, is_actor, actor_updates, critic_updates)
        return combined, ActorCriticSplitState(
            state.actor_mask, actor_state, critic_state
        )

    return optax.GradientTransformation(init, update)


def actor_mask(policy: Any, shared_trunk: str) -> PyTree:
    """The parameter-shaped 0/1 mask of the parameters the actor's optimiser owns.

    Args:
        policy: An actor-critic policy (it declares its parts with
            `parameter_labels`).
        shared_trunk: Which optimiser trains the `"shared"` parameters:
            `"actor"` or `"critic"`.

    Returns:
        A pytree of the structure of `eqx.filter(policy, eqx.is_inexact_array)`.

    Raises:
        ValueError: If a label is not "actor", "critic" or "shared".
    """
    labels = policy.parameter_labels()
    bad = sorted({str(x) for x in jax.tree.leaves(labels) if x not in _LABELS})
    if bad:
        raise ValueError(
            f"{policy.name}.parameter_labels() returned the labels {bad}; each "
            "leaf must be 'actor', 'critic' or 'shared'."
        )

    def one(label, leaf):
        if not eqx.is_inexact_array(leaf):
            return None
        owner = shared_trunk if label == "shared" else label
        return jnp.full(leaf.shape, owner == "actor", leaf.dtype)

    return jax.tree.map(one, labels, policy)


def _is_split(x) -> bool:
    return isinstance(x, ActorCriticSplitState)


def set_actor_mask(opt_state: optax.OptState, mask: PyTree) -> optax.OptState:
    """Put `mask` into every `ActorCriticSplitState` of an optimizer state.

    Args:
        opt_state: An optimizer state.
        mask: The mask `actor_mask` computed.

    Returns:
        The optimizer state with the mask set.
    """
    return jax.tree.map(
        lambda x: x._replace(actor_mask=mask) if _is_split(x) else x,
        opt_state,
        is_leaf=_is_split,
    )


def find_split_state(opt_state: optax.OptState) -> ActorCriticSplitState | None:
    """The first `ActorCriticSplitState` in an optimizer state, if any.

    Args:
        opt_state: An optimizer state.

    Returns:
        The state, or `None`.
    """
    for leaf in jax.tree.leaves(opt_state, is_leaf=_is_split):
        if _is_split(leaf):
            return leaf
    return None
