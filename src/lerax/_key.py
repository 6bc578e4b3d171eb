"""The check that a `key=` argument is a JAX PRNG key, shared by every entry point.

`learn(..., key=0)` used to fail fifteen frames deep inside `jax.random.split`
with "invalid PRNG key data"; every public function that takes a key calls
`check_key` first, so the same mistake gives the same `TypeError`, naming the
argument and showing what to pass, from every entry point.
"""

from typing import Any

import jax
import numpy as np

_HOW = "pass a JAX PRNG key, e.g. key=jax.random.key(0)"


def _describe(value: Any) -> str:
    if isinstance(value, (bool, int, float, str)) or value is None:
        return f"{type(value).__name__} {value!r}"
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{type(value).__name__} of dtype {dtype} and shape {tuple(shape)}"
    return type(value).__name__


def is_key(value: Any) -> bool:
    """Whether `value` is a JAX PRNG key: typed, or raw `uint32[..., 2]` data.

    Args:
        value: Anything.

    Returns:
        `True` for a typed key array (`jax.random.key`) of any shape, or for a
        JAX array (or tracer) of dtype `uint32` whose last axis has 2 entries (a
        legacy `jax.random.PRNGKey`).
    """
    if not isinstance(value, jax.Array):
        return False
    if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
        return True
    return value.dtype == np.uint32 and value.ndim >= 1 and value.shape[-1] == 2


def check_key(
    owner: str, key: Any, *, name: str = "key", batched: bool = False
) -> None:
    """Raise a `TypeError` unless `key` is a JAX PRNG key.

    Args:
        owner: What takes the key, for the message (`"PPO.learn"`).
        key: The value passed.
        name: The argument's name, for the message.
        batched: Whether a stack of keys is expected (`train_seeds`' `keys`);
            then the message asks for `jax.random.split(jax.random.key(0), n)`.

    Raises:
        TypeError: If `key` is not a typed key array or legacy `uint32` key data;
            the message names `owner`, `name` and what was passed.
    """
    if is_key(key):
        return
    how = (
        f"pass a stack of JAX PRNG keys, e.g. {name}=jax.random.split("
        "jax.random.key(0), 4)"
        if batched
        else _HOW.replace("key=", f"{name}=")
    )
    raise TypeError(
        f"{owner}: {name} must be a JAX PRNG key; got {_describe(key)}: {how}."
    )
