"""Spaces made of other spaces: `Dict` and `Tuple`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Key

from ._base import AbstractSpace


def _check_subspaces(owner: str, spaces: Any) -> None:
    for name, space in spaces:
        if not isinstance(space, AbstractSpace):
            raise ValueError(
                f"{owner}: entry {name!r} is {type(space).__name__}, not a lerax space."
            )


class Dict(AbstractSpace[dict[str, Any], dict[str, Any]]):
    """A dictionary of named sub-spaces; elements are dicts with the same keys.

    Attributes:
        spaces: The sub-spaces, keyed by name (kept in sorted-key order).

    Masks are dicts with the same keys (a missing key or `None` means unmasked).
    """

    spaces: dict[str, AbstractSpace]

    def __init__(self, spaces: Mapping[str, AbstractSpace]):
        """Create the space.

        Args:
            spaces: A non-empty mapping from names to lerax spaces.

        Raises:
            ValueError: If `spaces` is empty or holds something other than a space.
        """
        if len(spaces) == 0:
            raise ValueError("Dict: spaces must not be empty.")
        _check_subspaces("Dict", spaces.items())
        self.spaces = {k: spaces[k] for k in sorted(spaces)}

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    @property
    def dtype(self) -> Any:
        return None

    @property
    def flat_size(self) -> int:
        return sum(s.flat_size for s in self.spaces.values())

    def sample(
        self, *, key: Key[Array, ""], mask: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        mask = {} if mask is None else mask
        unknown = sorted(set(mask) - set(self.spaces))
        if unknown:
            raise ValueError(
                f"Dict.sample: mask has key(s) {unknown} that are not in the space "
                f"(keys {sorted(self.spaces)})."
            )
        keys = jax.random.split(key, len(self.spaces))
        return {
            name: space.sample(key=k, mask=mask.get(name))
            for k, (name, space) in zip(keys, self.spaces.items(), strict=True)
        }

    def contains(self, x: Any) -> Bool[Array, ""]:
        if not isinstance(x, Mapping) or set(x) != set(self.spaces):
            return jnp.asarray(False)
        return jnp.all(jnp.stack([s.contains(x[k]) for k, s in self.spaces.items()]))

    def flatten(self, x: dict[str, Any]) -> Float[Array, " flat_size"]:
        return jnp.concatenate([s.flatten(x[k]) for k, s in self.spaces.items()])

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {s!r}" for k, s in self.spaces.items())
        return f"Dict({{{inner}}})"


class Tuple(AbstractSpace[tuple[Any, ...], tuple[Any, ...]]):
    """A tuple of sub-spaces; elements are tuples of the same length.

    Attributes:
        spaces: The sub-spaces, in order.

    Masks are tuples of sub-masks (or `None` per entry).
    """

    spaces: tuple[AbstractSpace, ...]

    def __init__(self, spaces: Sequence[AbstractSpace]):
        """Create the space.

        Args:
            spaces: A non-empty sequence of lerax spaces.

        Raises:
            ValueError: If `spaces` is empty or holds something other than a space.
        """
        spaces = tuple(spaces)
        if len(spaces) == 0:
            raise ValueError("Tuple: spaces must not be empty.")
        _check_subspaces("Tuple", enumerate(spaces))
        self.spaces = spaces

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    @property
    def dtype(self) -> Any:
        return None

    @property
    def flat_size(self) -> int:
        return sum(s.flat_size for s in self.spaces)

    def sample(
        self, *, key: Key[Array, ""], mask: tuple[Any, ...] | None = None
    ) -> tuple[Any, ...]:
        mask = (None,) * len(self.spaces) if mask is None else tuple(mask)
        if len(mask) != len(self.spaces):
            raise ValueError(
                f"Tuple.sample: mask has {len(mask)} entries, expected "
                f"{len(self.spaces)}."
            )
        keys = jax.random.split(key, len(self.spaces))
        return tuple(
            s.sample(key=k, mask=m)
            for s, k, m in zip(self.spaces, keys, mask, strict=True)
        )

    def contains(self, x: Any) -> Bool[Array, ""]:
        if not isinstance(x, (tuple, list)) or len(x) != len(self.spaces):
            return jnp.asarray(False)
        return jnp.all(
            jnp.stack([s.contains(v) for s, v in zip(self.spaces, x, strict=True)])
        )

    def flatten(self, x: tuple[Any, ...]) -> Float[Array, " flat_size"]:
        return jnp.concatenate(
            [s.flatten(v) for s, v in zip(self.spaces, x, strict=True)]
        )

    def __repr__(self) -> str:
        return f"Tuple({', '.join(repr(s) for s in self.spaces)})"
