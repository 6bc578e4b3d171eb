"""A (possibly unbounded) box in R^n."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Key

from ._base import AbstractSpace


class Box(AbstractSpace[Float[Array, "..."], None]):
    """The set of arrays `x` with `low <= x <= high` elementwise.

    Bounds may be infinite. `sample` draws uniformly on bounded dimensions,
    from a shifted exponential on half-bounded ones and from a standard normal on
    unbounded ones. Box spaces take no mask.

    The bounds are static configuration (hashable tuples), not array leaves, so a
    space inside a policy is never differentiated, optimised or traced.

    Attributes:
        low: Lower bounds, broadcast to `shape` (a property returning an array).
        high: Upper bounds, broadcast to `shape` (a property returning an array).
    """

    _low: tuple[float, ...] = eqx.field(static=True)
    _high: tuple[float, ...] = eqx.field(static=True)
    _shape: tuple[int, ...] = eqx.field(static=True)
    _dtype: str = eqx.field(static=True)

    def __init__(
        self,
        low: ArrayLike,
        high: ArrayLike,
        shape: Sequence[int] | None = None,
        dtype: Any = jnp.float32,
    ):
        """Create the space.

        Args:
            low: Lower bound(s); a scalar is broadcast to `shape`.
            high: Upper bound(s); a scalar is broadcast to `shape`.
            shape: The element shape; inferred from `low`/`high` when omitted.
            dtype: A floating dtype for elements.

        Raises:
            ValueError: If the shapes of `low`, `high` and `shape` disagree, if a
                bound is NaN, if `low > high` anywhere, or if `low` is `+inf` or
                `high` is `-inf` somewhere (no finite value fits).
        """
        low_np = np.asarray(low, dtype=np.float64)
        high_np = np.asarray(high, dtype=np.float64)
        if shape is None:
            try:
                shape = np.broadcast_shapes(low_np.shape, high_np.shape)
            except ValueError as err:
                raise ValueError(
                    f"Box: low has shape {low_np.shape} and high has shape "
                    f"{high_np.shape}, which do not broadcast."
                ) from err
        shape = tuple(int(s) for s in shape)
        for arg, arr in (("low", low_np), ("high", high_np)):
            if arr.shape not in ((), shape):
                raise ValueError(
                    f"Box: {arg} has shape {arr.shape}, which does not match "
                    f"shape={shape}."
                )
            if np.isnan(arr).any():
                raise ValueError(f"Box: {arg} contains NaN.")
        low_np = np.broadcast_to(low_np, shape)
        high_np = np.broadcast_to(high_np, shape)
        if (low_np > high_np).any():
            bad = np.argwhere(low_np > high_np)[0]
            raise ValueError(
                f"Box: low > high at index {tuple(int(i) for i in bad)} "
                f"(low={low_np[tuple(bad)]}, high={high_np[tuple(bad)]})."
            )
        for arg, arr, bad_value in (
            ("low", low_np, np.inf),
            ("high", high_np, -np.inf),
        ):
            if (arr == bad_value).any():
                bad = np.argwhere(arr == bad_value)[0]
                raise ValueError(
                    f"Box: {arg} is {bad_value} at index "
                    f"{tuple(int(i) for i in bad)}, so the box holds no finite "
                    "value there."
                )
        if not jnp.issubdtype(dtype, jnp.floating):
            raise ValueError(f"Box: dtype must be floating, got dtype={dtype!r}.")
        self._low = tuple(float(v) for v in low_np.reshape(-1))
        self._high = tuple(float(v) for v in high_np.reshape(-1))
        self._shape = shape
        self._dtype = jnp.dtype(dtype).name

    @property
    def low(self) -> Float[Array, "..."]:
        return jnp.asarray(np.reshape(self._low, self._shape), dtype=self._dtype)

    @property
    def high(self) -> Float[Array, "..."]:
        return jnp.asarray(np.reshape(self._high, self._shape), dtype=self._dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> Any:
        return jnp.dtype(self._dtype)

    @property
    def flat_size(self) -> int:
        return int(np.prod(self.shape, dtype=int))

    def sample(self, *, key: Key[Array, ""], mask: None = None) -> Float[Array, "..."]:
        if mask is not None:
            raise ValueError("Box.sample takes no mask.")
        k_uniform, k_exp, k_normal = jax.random.split(key, 3)
        low_finite = jnp.isfinite(self.low)
        high_finite = jnp.isfinite(self.high)
        # Replace infinities before arithmetic so no inf - inf reaches a branch.
        low = jnp.where(low_finite, self.low, 0.0)
        high = jnp.where(high_finite, self.high, 0.0)
        # A convex combination rather than `low + u * (high - low)`: the width of
        # a box with bounds near the dtype's limits (gymnax writes "unbounded" as
        # +-finfo.max) overflows to inf.
        u = jax.random.uniform(k_uniform, self.shape, self.dtype)
        uniform = low * (1 - u) + high * u
        exponential = jax.random.exponential(k_exp, self.shape, self.dtype)
        normal = jax.random.normal(k_normal, self.shape, self.dtype)
        sample = jnp.where(
            low_finite & high_finite,
            uniform,
            jnp.where(
                low_finite,
                low + exponential,
                jnp.where(high_finite, high - exponential, normal),
            ),
        )
        # Rounding can land a hair outside the bounds; the result must be inside.
        return jnp.clip(sample, self.low, self.high)

    def contains(self, x: Any) -> Bool[Array, ""]:
        x = jnp.asarray(x)
        if x.shape != self.shape:
            return jnp.asarray(False)
        return jnp.all((x >= self.low) & (x <= self.high))

    def clip(self, x: Float[Array, "..."]) -> Float[Array, "..."]:
        """Clip `x` elementwise to `[low, high]`, in the space's dtype.

        Infinite bounds leave their coordinates unchanged.

        Args:
            x: An array of the space's shape.

        Returns:
            The nearest element of the space to `x` (coordinatewise).
        """
        return jnp.clip(jnp.asarray(x, dtype=self.dtype), self.low, self.high)

    def flatten(self, x: Float[Array, "..."]) -> Float[Array, " flat_size"]:
        return jnp.ravel(jnp.asarray(x, dtype=jnp.float32))

    def __repr__(self) -> str:
        return f"Box(shape={self.shape}, dtype={jnp.dtype(self.dtype).name})"
