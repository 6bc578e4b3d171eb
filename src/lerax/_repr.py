"""A `__repr__` that shows hyperparameters as numbers.

Equinox prints array leaves by shape (`learning_rate=f32[]`): right for weights,
useless for the scalar hyperparameters lerax stores as array leaves so that
sweeps reuse one compiled program. `readable_repr` prints every 0-d concrete
array by value (`learning_rate=0.0003`) and everything else as Equinox does.
"""

from typing import Any

import equinox as eqx
import jax
import numpy as np


class _Number:
    """A leaf stand-in whose repr is the scalar's value as the user wrote it."""

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _scalar_text(x: Any) -> Any:
    if not isinstance(x, jax.Array) or isinstance(x, jax.core.Tracer):
        return x
    if x.ndim != 0 or jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return x
    value = np.asarray(x).item()
    if isinstance(value, float):
        # float32 -> the shortest text that rounds back to the same float32.
        return _Number(str(np.dtype(x.dtype).type(value)))
    return _Number(repr(value))


def readable_repr(module: eqx.Module) -> str:
    """`repr` of a module with its scalar array leaves shown by value.

    Args:
        module: An Equinox module.

    Returns:
        Equinox's pretty-printed representation, with every concrete 0-d array
        leaf replaced by its value (`gamma=0.99` instead of `gamma=f32[]`).
    """
    shown = jax.tree.map(_scalar_text, module)
    return eqx.tree_pformat(shown)
