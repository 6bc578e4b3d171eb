"""Conversions between Gymnasium spaces and lerax spaces, and of their elements.

Both adapters (`GymnasiumToLeraxEnv`, `LeraxToGymnasiumEnv`) use these. A space
pair knows how to carry an element across: a Gymnasium `Discrete(n, start=s)`
becomes a lerax `Discrete(n)`, so its elements are shifted by `s` on the way in
and back by `s` on the way out; dtypes become the lerax space's dtypes.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from lerax.space import (
    AbstractSpace,
    Box,
    Dict,
    Discrete,
    MultiBinary,
    MultiDiscrete,
    Tuple,
)

try:
    import gymnasium
    from gymnasium import spaces as gym_spaces
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "lerax.compatibility.gymnasium needs Gymnasium: pip install lerax[gymnasium]"
    ) from err

__all__ = ["gymnasium", "gym_spaces"]


def _float_dtype(dtype: Any) -> np.dtype:
    # float64 is only kept where JAX would keep it (x64 enabled).
    dtype = np.dtype(dtype)
    if dtype == np.float64 and not jax.config.jax_enable_x64:
        return np.dtype(np.float32)
    return dtype


def from_gymnasium_space(space: gym_spaces.Space, *, role: str) -> AbstractSpace:
    """Convert a Gymnasium space into the equivalent lerax space.

    `Discrete(n, start)` becomes `Discrete(n)` (elements shifted by `start`);
    `Box` becomes a floating `Box` (an integer Box observation becomes float32;
    float64 becomes float32 unless JAX's x64 mode is on); a one-dimensional
    `MultiDiscrete` becomes `MultiDiscrete` (shifted by its `start`); a
    one-dimensional `MultiBinary` becomes `MultiBinary`; `Dict` and `Tuple` are
    converted recursively.

    Args:
        space: A Gymnasium space.
        role: `"action"` or `"observation"`, for messages and because an integer
            Box is only accepted as an observation.

    Returns:
        The lerax space.

    Raises:
        NotImplementedError: If the space (or a sub-space) has no lerax
            equivalent; the message names it.
    """
    if isinstance(space, gym_spaces.Discrete):
        return Discrete(int(space.n))
    if isinstance(space, gym_spaces.Box):
        if not np.issubdtype(space.dtype, np.floating) and role == "action":
            raise NotImplementedError(
                f"Gymnasium action space {space!r} has integer dtype "
                f"{space.dtype}; lerax Box actions are floating. Use Discrete or "
                "MultiDiscrete for integer actions."
            )
        dtype = (
            _float_dtype(space.dtype)
            if np.issubdtype(space.dtype, np.floating)
            else np.float32
        )
        return Box(
            np.asarray(space.low, np.float64),
            np.asarray(space.high, np.float64),
            shape=space.shape,
            dtype=dtype,
        )
    if isinstance(space, gym_spaces.MultiDiscrete):
        if np.ndim(space.nvec) != 1:
            raise NotImplementedError(
                f"Gymnasium {role} space MultiDiscrete with nvec of shape "
                f"{np.shape(space.nvec)} has no lerax equivalent; lerax "
                "MultiDiscrete is one-dimensional (flatten it with a Gymnasium "
                "wrapper first)."
            )
        return MultiDiscrete([int(n) for n in space.nvec])
    if isinstance(space, gym_spaces.MultiBinary):
        if len(space.shape) != 1:
            raise NotImplementedError(
                f"Gymnasium {role} space MultiBinary of shape {space.shape} has no "
                "lerax equivalent; lerax MultiBinary is one-dimensional."
            )
        return MultiBinary(int(space.shape[0]))
    if isinstance(space, gym_spaces.Dict):
        return Dict(
            {k: from_gymnasium_space(s, role=role) for k, s in space.spaces.items()}
        )
    if isinstance(space, gym_spaces.Tuple):
        return Tuple([from_gymnasium_space(s, role=role) for s in space.spaces])
    raise NotImplementedError(
        f"Gymnasium {role} space {space!r} (of type {type(space).__name__}) has no "
        "lerax equivalent; supported kinds are Discrete, Box, MultiDiscrete, "
        "MultiBinary, Dict and Tuple."
    )


def to_gymnasium_space(space: AbstractSpace) -> gym_spaces.Space:
    """Convert a lerax space into the equivalent Gymnasium space.

    Args:
        space: A lerax space.

    Returns:
        The Gymnasium space (`Box` keeps the lerax dtype; discrete kinds use
        int64 as Gymnasium does).

    Raises:
        NotImplementedError: If the space has no Gymnasium equivalent.
    """
    if isinstance(space, Discrete):
        return gym_spaces.Discrete(space.n)
    if isinstance(space, Box):
        return gym_spaces.Box(
            np.asarray(space.low, space.dtype),
            np.asarray(space.high, space.dtype),
            shape=space.shape,
            dtype=np.dtype(space.dtype),
        )
    if isinstance(space, MultiDiscrete):
        return gym_spaces.MultiDiscrete(np.asarray(space.nvec, np.int64))
    if isinstance(space, MultiBinary):
        return gym_spaces.MultiBinary(space.n)
    if isinstance(space, Dict):
        return gym_spaces.Dict(
            {k: to_gymnasium_space(s) for k, s in space.spaces.items()}
        )
    if isinstance(space, Tuple):
        return gym_spaces.Tuple([to_gymnasium_space(s) for s in space.spaces])
    raise NotImplementedError(
        f"lerax space {space!r} (of type {type(space).__name__}) has no Gymnasium "
        "equivalent."
    )


def to_lerax_value(gym_space: gym_spaces.Space, space: AbstractSpace, x: Any) -> Any:
    """Carry an element (or a batch of elements) of `gym_space` into `space`.

    Works leaf by leaf, so a leading batch axis passes through.

    Args:
        gym_space: The Gymnasium space.
        space: The lerax space converted from it.
        x: The element, as Gymnasium returns it.

    Returns:
        NumPy arrays with the lerax space's dtypes and structure.
    """
    if isinstance(gym_space, gym_spaces.Dict):
        return {
            k: to_lerax_value(gym_space.spaces[k], space.spaces[k], x[k])
            for k in gym_space.spaces
        }
    if isinstance(gym_space, gym_spaces.Tuple):
        return tuple(
            to_lerax_value(g, s, v)
            for g, s, v in zip(gym_space.spaces, space.spaces, x, strict=True)
        )
    x = np.asarray(x)
    if isinstance(gym_space, gym_spaces.Discrete | gym_spaces.MultiDiscrete):
        x = x - np.asarray(gym_space.start)
    return np.asarray(x, dtype=space.dtype)


def to_gymnasium_value(
    gym_space: gym_spaces.Space, space: AbstractSpace, x: Any
) -> Any:
    """Carry an element (or a batch) of lerax `space` into `gym_space`.

    Args:
        gym_space: The Gymnasium space.
        space: The corresponding lerax space.
        x: The element, as lerax makes it (JAX or NumPy arrays).

    Returns:
        NumPy values of `gym_space`'s dtypes and structure (a Python-int-like
        NumPy integer for an unbatched Discrete element).
    """
    if isinstance(gym_space, gym_spaces.Dict):
        return {
            k: to_gymnasium_value(gym_space.spaces[k], space.spaces[k], x[k])
            for k in gym_space.spaces
        }
    if isinstance(gym_space, gym_spaces.Tuple):
        return tuple(
            to_gymnasium_value(g, s, v)
            for g, s, v in zip(gym_space.spaces, space.spaces, x, strict=True)
        )
    x = np.asarray(x)
    if isinstance(gym_space, gym_spaces.Discrete | gym_spaces.MultiDiscrete):
        x = x + np.asarray(gym_space.start)
    x = np.asarray(x, dtype=gym_space.dtype)
    if x.ndim == 0:
        return x[()]
    return x
