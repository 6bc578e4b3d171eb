"""A vector of independent discrete choices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Key

from ._base import AbstractSpace
from ._discrete import _masked_uniform_logits, _uniform_if_nothing_allowed


class MultiDiscrete(AbstractSpace[Int[Array, " k"], Bool[Array, " total"]]):
    """A vector whose `i`-th entry is one of `0, ..., nvec[i] - 1`.

    Attributes:
        nvec: The number of choices of each entry.

    Masks are flat boolean arrays of length `sum(nvec)`: the choices of entry 0,
    then those of entry 1, and so on. An entry whose mask allows none of its
    choices is drawn uniformly over its own `nvec[i]` choices.
    """

    nvec: tuple[int, ...] = eqx.field(static=True)

    def __init__(self, nvec: Sequence[int]):
        """Create the space.

        Args:
            nvec: The number of choices per entry; a non-empty sequence of
                positive integers.

        Raises:
            ValueError: If `nvec` is empty or has a non-positive entry.
        """
        nvec = tuple(int(n) for n in np.asarray(nvec).reshape(-1))
        if len(nvec) == 0 or any(n <= 0 for n in nvec):
            raise ValueError(
                f"MultiDiscrete: nvec must be non-empty with positive entries, "
                f"got nvec={nvec!r}."
            )
        self.nvec = nvec

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.nvec),)

    @property
    def dtype(self) -> Any:
        return jnp.int32

    @property
    def flat_size(self) -> int:
        return sum(self.nvec)

    def sample(
        self, *, key: Key[Array, ""], mask: Bool[Array, " total"] | None = None
    ) -> Int[Array, " k"]:
        logits = _masked_uniform_logits(
            mask, (self.flat_size,), owner="MultiDiscrete.sample"
        )
        keys = jax.random.split(key, len(self.nvec))
        bounds = np.cumsum((0,) + self.nvec)
        parts = [
            jax.random.categorical(k, _uniform_if_nothing_allowed(logits[lo:hi]))
            for k, lo, hi in zip(keys, bounds[:-1], bounds[1:], strict=True)
        ]
        return jnp.stack(parts).astype(jnp.int32)

    def contains(self, x: Any) -> Bool[Array, ""]:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        integral = jnp.all(x == jnp.round(x))
        return integral & jnp.all((x >= 0) & (x < jnp.asarray(self.nvec)))

    def flatten(self, x: Int[Array, " k"]) -> Float[Array, " total"]:
        return jnp.concatenate(
            [
                jax.nn.one_hot(x[i], n, dtype=jnp.float32)
                for i, n in enumerate(self.nvec)
            ]
        )

    def __repr__(self) -> str:
        return f"MultiDiscrete({list(self.nvec)})"
