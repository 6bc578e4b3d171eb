"""Argument checks and number formatting shared by every layer of lerax.

They run in Python before anything is compiled, so a mistake is reported with a
message that names it instead of surfacing from inside XLA. This module is the
bottom of the package: it imports nothing from lerax (not even inside a
function), so every subpackage can use it. Checks that need a lerax type live
beside that type: the environment type guard is `lerax.env.require_env`, the
env/policy match `lerax.policy.check_env_and_policy`.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

_MAX_SHOWN = 6  # numbers `plain` shows of a larger array


def plain(value: Any) -> str:
    """Format a number (or a small array of them) as plain numbers.

    `plain(jnp.asarray(-1.0))` is `"-1.0"`, not `"Array(-1., dtype=float32)"`,
    so error messages read the way the user wrote the value.

    Args:
        value: A Python number, a NumPy or JAX scalar or array, or anything else.

    Returns:
        A short string: a number, a list of numbers (the first few, then the
        count, for a large array), or `repr(value)` for values that are not
        numeric.
    """
    if isinstance(value, (bool, str)) or value is None:
        return repr(value)
    try:
        arr = np.asarray(value)
    except Exception:  # a tracer or an object NumPy cannot convert
        return repr(value)
    if arr.dtype.kind not in "biuf":
        return repr(value)
    if arr.ndim == 0:
        return repr(arr.item())
    flat = arr.reshape(-1)
    if flat.size > _MAX_SHOWN:
        head = ", ".join(repr(v) for v in flat[:_MAX_SHOWN].tolist())
        return f"[{head}, ... ({flat.size} values)]"
    return repr(arr.tolist())


def check_size(owner: str, name: str, value: Any) -> None:
    """Raise a `ValueError` naming `name` unless `value` is a positive int.

    Args:
        owner: The class or function the value belongs to, for the message.
        name: The argument's name.
        value: The value.

    Raises:
        ValueError: If `value` is not a positive integer (bools are rejected).
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or int(value) < 1
    ):
        raise ValueError(f"{owner}: {name} must be a positive int, got {plain(value)}.")
