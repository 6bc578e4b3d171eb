"""A vector of independent binary choices."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key

from lerax._checks import plain

from ._base import AbstractSpace
from ._discrete import _masked_uniform_logits, _uniform_if_nothing_allowed


class MultiBinary(AbstractSpace[Int[Array, " n"], Bool[Array, "n 2"]]):
    """A vector of `n` entries, each 0 or 1.

    Attributes:
        n: The number of entries.

    Masks are boolean arrays of shape `(n, 2)`: `mask[i, v]` says whether entry `i`
    may take value `v` (an entry allowed neither is drawn uniformly).
    """

    n: int = eqx.field(static=True)

    def __init__(self, n: int):
        """Create the space.

        Args:
            n: The number of entries, at least 1.

        Raises:
            ValueError: If `n` is not a positive integer.
        """
        if isinstance(n, bool) or int(n) != n or n <= 0:
            raise ValueError(
                f"MultiBinary: n must be a positive integer, got n={plain(n)}."
            )
        self.n = int(n)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.n,)

    @property
    def dtype(self) -> Any:
        return jnp.int32

    @property
    def flat_size(self) -> int:
        return self.n

    def sample(
        self, *, key: Key[Array, ""], mask: Bool[Array, "n 2"] | None = None
    ) -> Int[Array, " n"]:
        logits = jax.vmap(_uniform_if_nothing_allowed)(
            _masked_uniform_logits(mask, (self.n, 2), owner="MultiBinary.sample")
        )
        return jax.random.categorical(key, logits, axis=-1).astype(jnp.int32)

    def contains(self, x: Any) -> Bool[Array, ""]:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all((x == 0) | (x == 1))

    def flatten(self, x: Int[Array, " n"]) -> Float[Array, " n"]:
        return jnp.asarray(x, dtype=jnp.float32)

    def __repr__(self) -> str:
        return f"MultiBinary({self.n})"
