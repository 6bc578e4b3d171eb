"""Linear learning-rate annealing whose horizon is set when a run starts.

A run's length (`num_iterations`) is only known in `learn`, after the algorithm
is built, so the anneal cannot be an optax schedule fixed at construction. It is
an optax transformation placed after Adam that multiplies Adam's update by
`max(1 - k / horizon, 0)` at update `k` (from 0); the horizon lives in the
optimizer state and `PPO.reset` fills it in. Scaling Adam's update is the same as
scaling its learning rate, so this is a learning rate decaying linearly to 0.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float, Int, PyTree


class LinearAnnealState(NamedTuple):
    """The state of `scale_by_linear_anneal`.

    Attributes:
        count: Updates applied so far.
        horizon: Updates over which the factor goes from 1 to 0; 0 means not
            set yet (factor 1).
    """

    count: Int[Array, ""]
    horizon: Int[Array, ""]


def anneal_factor(state: LinearAnnealState) -> Float[Array, ""]:
    """The factor the next update is multiplied by: `max(1 - count / horizon, 0)`.

    Args:
        state: The transformation's state.

    Returns:
        The factor (1 while the horizon is unset).
    """
    horizon = jnp.maximum(state.horizon, 1).astype(jnp.float32)
    factor = jnp.clip(1.0 - state.count.astype(jnp.float32) / horizon, 0.0, 1.0)
    return jnp.where(state.horizon > 0, factor, 1.0)


def scale_by_linear_anneal() -> optax.GradientTransformation:
    """Multiply updates by `max(1 - k / horizon, 0)` at update `k`.

    The horizon starts unset (0, factor 1); set it with `set_anneal_horizon`.

    Returns:
        The optax transformation.
    """

    def init(params: PyTree) -> LinearAnnealState:
        del params
        return LinearAnnealState(
            count=jnp.zeros((), jnp.int32), horizon=jnp.zeros((), jnp.int32)
        )

    def update(updates, state, params=None):
        del params
        factor = anneal_factor(state)
        updates = jax.tree.map(lambda u: u * factor.astype(u.dtype), updates)
        return updates, LinearAnnealState(count=state.count + 1, horizon=state.horizon)

    return optax.GradientTransformation(init, update)


def _is_anneal_state(x) -> bool:
    return isinstance(x, LinearAnnealState)


def set_anneal_horizon(opt_state: optax.OptState, horizon: int) -> optax.OptState:
    """Set the horizon of every `LinearAnnealState` inside an optimizer state.

    Args:
        opt_state: An optimizer state (any nesting of optax states).
        horizon: The number of updates over which to anneal to 0.

    Returns:
        The optimizer state with the horizon set (unchanged if it has none).
    """
    return jax.tree.map(
        lambda x: (
            x._replace(horizon=jnp.full((), horizon, jnp.int32))
            if _is_anneal_state(x)
            else x
        ),
        opt_state,
        is_leaf=_is_anneal_state,
    )


def find_anneal_state(opt_state: optax.OptState) -> LinearAnnealState | None:
    """The first `LinearAnnealState` in an optimizer state, if any.

    Args:
        opt_state: An optimizer state.

    Returns:
        The anneal state, or `None`.
    """
    for leaf in jax.tree.leaves(opt_state, is_leaf=_is_anneal_state):
        if _is_anneal_state(leaf):
            return leaf
    return None


def last_anneal_factor(opt_state: optax.OptState) -> Float[Array, ""]:
    """The factor the latest update was multiplied by (1 if none was annealed).

    Args:
        opt_state: An optimizer state after at least one update.

    Returns:
        `max(1 - (count - 1) / horizon, 0)`, or 1 without an anneal state.
    """
    state = find_anneal_state(opt_state)
    if state is None:
        return jnp.ones((), jnp.float32)
    return anneal_factor(state._replace(count=jnp.maximum(state.count - 1, 0)))
