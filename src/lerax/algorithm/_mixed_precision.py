"""Mixed precision: the loss's forward and backward passes in a 16-bit float.

`PPO(compute_dtype=jnp.bfloat16)` keeps the master parameters and the
optimiser state in float32 and evaluates the loss on a copy of the policy whose
floating arrays are cast to the compute dtype. The cast is differentiable (its
transpose casts the gradient back), so the gradient arrives in float32 for the
optimiser. The policy's layers take their input in the weights' dtype, the
action distribution is built in float32 from the network's output (so the
log-probabilities and the importance ratio keep float32 precision), and the
loss is summed in float32.

No loss scaling: bfloat16 has float32's 8-bit exponent (normal numbers down to
about 1e-38), so gradients do not underflow the way they do in float16 (whose
smallest normal is about 6e-5), which is what loss scaling is for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import PyTree

COMPUTE_DTYPES = (jnp.bfloat16, jnp.float16)


def check_compute_dtype(owner: str, dtype: Any) -> Any:
    """The compute dtype as a NumPy dtype, or `None`.

    Args:
        owner: The class, for the message.
        dtype: `None`, `jnp.bfloat16` or `jnp.float16` (or their names).

    Returns:
        `None` or the dtype.

    Raises:
        ValueError: If the dtype is not a 16-bit float.
    """
    if dtype is None:
        return None
    try:
        resolved = jnp.dtype(dtype)
    except TypeError:
        resolved = None
    if resolved is None or resolved not in [jnp.dtype(d) for d in COMPUTE_DTYPES]:
        raise ValueError(
            f"{owner}: compute_dtype must be None, jnp.bfloat16 or jnp.float16, "
            f"got {dtype!r}."
        )
    return resolved


def cast_floats(tree: PyTree, dtype: Any) -> PyTree:
    """`tree` with every floating-point array cast to `dtype`.

    Args:
        tree: A pytree (a policy, a policy state).
        dtype: The target dtype.

    Returns:
        The cast pytree; other leaves unchanged.
    """

    def one(x):
        if eqx.is_inexact_array(x) and jnp.issubdtype(x.dtype, jnp.floating):
            return x.astype(dtype)
        return x

    return jax.tree.map(one, tree)


def in_compute_dtype(loss: Callable[..., Any], dtype: Any) -> Callable[..., Any]:
    """`loss(policy, batch, *args)` evaluated with the policy cast to `dtype`.

    The batch's policy states (a recurrent policy's memory) are cast too; the
    observations are cast by the policy's first layer.

    Args:
        loss: PPO's loss, `(policy, batch, *args) -> (loss, stats)`.
        dtype: The compute dtype.

    Returns:
        The loss in mixed precision; its value is float32.
    """

    def mixed(policy, batch, *args):
        if jax.tree.leaves(batch.policy_states):
            batch = eqx.tree_at(
                lambda b: b.policy_states,
                batch,
                cast_floats(batch.policy_states, dtype),
            )
        total, stats = loss(cast_floats(policy, dtype), batch, *args)
        return total.astype(jnp.float32), stats

    return mixed
