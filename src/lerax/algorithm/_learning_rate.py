"""The learning rate an optimizer actually used, for the training log."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float


def learning_rate_in_use(
    learning_rate: Float[Array, ""] | optax.Schedule, opt_state: optax.OptState
) -> Float[Array, ""]:
    """The learning rate of the latest update made with `opt_state`.

    Args:
        learning_rate: A scalar, or an optax schedule of the update count.
        opt_state: The optimizer state after the update; for a schedule it holds
            the update count (`optax.ScaleByScheduleState`).

    Returns:
        The scalar itself, or the schedule at the count of the latest update.

    Raises:
        ValueError: If `learning_rate` is a schedule but `opt_state` holds no
            `optax.ScaleByScheduleState`.
    """
    if not callable(learning_rate):
        return jnp.asarray(learning_rate, jnp.float32)
    counts = [
        s.count
        for s in jax.tree.leaves(
            opt_state, is_leaf=lambda x: isinstance(x, optax.ScaleByScheduleState)
        )
        if isinstance(s, optax.ScaleByScheduleState)
    ]
    if not counts:
        raise ValueError(
            "learning_rate is a schedule but the optimizer state holds no "
            "update count (optax.ScaleByScheduleState)."
        )
    return jnp.asarray(learning_rate(jnp.maximum(counts[0] - 1, 0)), jnp.float32)
