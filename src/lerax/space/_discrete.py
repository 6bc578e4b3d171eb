"""A space of `n` integer choices."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int, Key

from lerax._checks import plain

from ._base import AbstractSpace


def _masked_uniform_logits(
    mask: Bool[Array, "..."] | None, shape, *, owner: str = "sample"
) -> Array:
    """Logits uniform over the allowed choices (`-inf` for masked-out ones)."""
    if mask is None:
        return jnp.zeros(shape)
    mask = jnp.asarray(mask, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(
            f"{owner}: mask has shape {mask.shape}, expected {tuple(shape)}."
        )
    return jnp.where(mask, 0.0, -jnp.inf)


def _uniform_if_nothing_allowed(logits: Array) -> Array:
    """Make a row of logits with no allowed choice uniform over the whole row.

    A mask that allows nothing has no valid choice to draw; drawing uniformly
    over the row's own choices (as `lerax.distribution.Categorical` does) keeps
    the sample inside the space instead of always returning 0.
    """
    return jnp.where(jnp.all(jnp.isneginf(logits)), jnp.zeros_like(logits), logits)


class Discrete(AbstractSpace[Int[Array, ""], Bool[Array, " n"]]):
    """The integers `0, 1, ..., n - 1`.

    Attributes:
        n: The number of choices.

    Masks are boolean arrays of shape `(n,)`; `sample` only draws allowed choices
    (uniformly over all `n` if the mask allows none).
    """

    n: int = eqx.field(static=True)

    def __init__(self, n: int):
        """Create the space.

        Args:
            n: The number of choices, at least 1.

        Raises:
            ValueError: If `n` is not a positive integer.
        """
        if isinstance(n, bool) or int(n) != n or n <= 0:
            raise ValueError(
                f"Discrete: n must be a positive integer, got n={plain(n)}."
            )
        self.n = int(n)

    @property
    def shape(self) -> tuple[int, ...]:
        return ()

    @property
    def dtype(self) -> Any:
        return jnp.int32

    @property
    def flat_size(self) -> int:
        return self.n

    def sample(
        self, *, key: Key[Array, ""], mask: Bool[Array, " n"] | None = None
    ) -> Int[Array, ""]:
        logits = _uniform_if_nothing_allowed(
            _masked_uniform_logits(mask, (self.n,), owner="Discrete.sample")
        )
        return jax.random.categorical(key, logits).astype(jnp.int32)

    def contains(self, x: Any) -> Bool[Array, ""]:
        x = jnp.asarray(x)
        if x.shape != ():
            return jnp.asarray(False)
        integral = jnp.issubdtype(x.dtype, jnp.integer) or jnp.all(x == jnp.round(x))
        return jnp.logical_and(integral, (x >= 0) & (x < self.n))

    def flatten(self, x: Int[Array, ""]) -> Float[Array, " n"]:
        return jax.nn.one_hot(x, self.n, dtype=jnp.float32)

    def __repr__(self) -> str:
        return f"Discrete({self.n})"
