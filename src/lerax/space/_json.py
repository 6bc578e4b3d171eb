"""Spaces as JSON-compatible data, and back (for files that carry a recipe).

A saved policy can record the spaces it was built for, so that `lerax.load` can
rebuild it without the environment. Every lerax space is fully described by its
static configuration, so the description is exact: `space_from_json(
space_to_json(s)) == s` for every space (tested).
"""

import math
from typing import Any

import numpy as np

from ._base import AbstractSpace
from ._box import Box
from ._composite import Dict, Tuple
from ._discrete import Discrete
from ._multi_binary import MultiBinary
from ._multi_discrete import MultiDiscrete


def _number(x: float) -> float | str:
    # JSON has no infinities: unbounded Box entries are written as strings.
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def space_to_json(space: AbstractSpace) -> dict[str, Any]:
    """Describe a lerax space as JSON-compatible data.

    Args:
        space: A lerax space (`Box`, `Discrete`, `MultiDiscrete`, `MultiBinary`,
            `Dict`, `Tuple`).

    Returns:
        A dict of plain Python values (`json.dumps` writes it as it is).

    Raises:
        TypeError: If `space` is not one of lerax's spaces (a user-defined space
            class has no known description).
    """
    if isinstance(space, Box):
        return {
            "type": "Box",
            "low": [_number(float(v)) for v in space.low.reshape(-1).tolist()],
            "high": [_number(float(v)) for v in space.high.reshape(-1).tolist()],
            "shape": list(space.shape),
            "dtype": str(space.dtype),
        }
    if isinstance(space, Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, MultiBinary):
        return {"type": "MultiBinary", "n": int(space.n)}
    if isinstance(space, MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": [int(n) for n in space.nvec]}
    if isinstance(space, Dict):
        return {
            "type": "Dict",
            "spaces": {k: space_to_json(s) for k, s in space.spaces.items()},
        }
    if isinstance(space, Tuple):
        return {"type": "Tuple", "spaces": [space_to_json(s) for s in space.spaces]}
    raise TypeError(
        f"space_to_json: {type(space).__name__} is not one of lerax's spaces "
        "(Box, Discrete, MultiDiscrete, MultiBinary, Dict, Tuple)."
    )


def space_from_json(description: dict[str, Any]) -> AbstractSpace:
    """Rebuild a space from `space_to_json`'s output.

    Args:
        description: What `space_to_json` returned (after a JSON round trip).

    Returns:
        An equal space.

    Raises:
        ValueError: If the description is not one `space_to_json` writes.
    """
    kind = description.get("type") if isinstance(description, dict) else None
    try:
        if kind == "Box":
            shape = tuple(int(s) for s in description["shape"])
            low = [float(v) for v in description["low"]]
            high = [float(v) for v in description["high"]]
            if shape == ():
                low, high = low[0], high[0]
            else:
                low = np.reshape(low, shape)
                high = np.reshape(high, shape)
            return Box(low, high, shape=shape, dtype=description["dtype"])
        if kind == "Discrete":
            return Discrete(int(description["n"]))
        if kind == "MultiBinary":
            return MultiBinary(int(description["n"]))
        if kind == "MultiDiscrete":
            return MultiDiscrete([int(n) for n in description["nvec"]])
        if kind == "Dict":
            return Dict(
                {k: space_from_json(s) for k, s in description["spaces"].items()}
            )
        if kind == "Tuple":
            return Tuple([space_from_json(s) for s in description["spaces"]])
    except (KeyError, TypeError) as err:
        raise ValueError(
            f"space_from_json: malformed {kind} description ({err!r})."
        ) from None
    raise ValueError(f"space_from_json: unknown space type {kind!r}.")
