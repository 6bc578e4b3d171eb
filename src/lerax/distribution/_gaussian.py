"""Diagonal Gaussians for `Box` actions, plain and tanh-squashed."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Key

from ._base import (
    AbstractDistraxDistribution,
    AbstractDistribution,
    as_float_array,
    concrete_or_none,
)
from ._distrax import Distribution, diag_normal, squashed_diag_normal

# How far inside (-1, 1) `SquashedDiagGaussian.log_prob` clips the pre-rescaling
# value, so that actions on (or rounded onto) the bounds keep a finite density.
_SQUASH_EPS = 1e-6


def _broadcast(x: Array, shape: tuple[int, ...], *, owner: str, name: str) -> Array:
    try:
        return jnp.broadcast_to(x, shape)
    except ValueError as err:
        raise ValueError(
            f"{owner}: {name} has shape {x.shape}, which does not broadcast to the "
            f"mean's shape {shape}."
        ) from err


class DiagGaussian(AbstractDistraxDistribution[Float[Array, "*shape"]]):
    """A Gaussian with independent coordinates, over an event of any shape.

    Samples are not clipped: for bounded `Box` actions the environment (or a
    wrapper) clips. The log-density and entropy are sums over the event.

    Attributes:
        mean: The mean; its shape is the event shape.
        log_std: The log standard deviation, broadcast to `mean.shape`.
    """

    mean: Float[Array, "*shape"]
    log_std: Float[Array, "*shape"]

    def __init__(
        self, mean: Float[ArrayLike, "*shape"], log_std: Float[ArrayLike, "*shape"]
    ):
        """Create the distribution.

        Args:
            mean: The mean; its shape is the event shape.
            log_std: The log standard deviation; broadcastable to `mean`.

        Raises:
            ValueError: If `log_std` does not broadcast to the shape of `mean`.
        """
        mean = as_float_array(mean, owner="DiagGaussian", name="mean")
        log_std = as_float_array(log_std, owner="DiagGaussian", name="log_std")
        self.mean = mean
        self.log_std = _broadcast(
            log_std.astype(mean.dtype), mean.shape, owner="DiagGaussian", name="log_std"
        )

    def distrax_distribution(self) -> Distribution:
        """The equivalent distrax distribution.

        Returns:
            A distrax distribution over one event.
        """
        return diag_normal(self.mean, jnp.exp(self.log_std))


class SquashedDiagGaussian(AbstractDistribution[Float[Array, "*shape"]]):
    """A diagonal Gaussian pushed through `tanh` and rescaled to `[low, high]`.

    `x = low + (high - low) * (tanh(z) + 1) / 2` with `z ~ N(mean, exp(log_std)^2)`,
    built as a distrax `Transformed` distribution with a `Tanh` bijector. Samples
    always lie within the bounds (float rounding can land exactly on them).

    * `mode()` is the squashed mean, `low + (high - low) * (tanh(mean) + 1) / 2`.
    * `log_prob(x)` clips `x` to within a relative `1e-6` of the bounds before
      inverting `tanh`, so actions on the bounds have a finite density.
      `sample_and_log_prob` computes the density from the pre-squash sample and
      needs no clipping: prefer it when sampling.
    * `entropy()` has no closed form; it returns the entropy of the *pre-squash*
      Gaussian `z`, `sum(log_std + 0.5 * log(2 * pi * e))`. That is the usual
      surrogate for an entropy bonus: it rises and falls with `log_std` but is not
      the entropy of `x`.

    Attributes:
        mean: The mean of `z`; its shape is the event shape.
        log_std: The log standard deviation of `z`, broadcast to `mean.shape`.
        low: The finite lower bounds, broadcast to `mean.shape`.
        high: The finite upper bounds, broadcast to `mean.shape`.
    """

    mean: Float[Array, "*shape"]
    log_std: Float[Array, "*shape"]
    low: Float[Array, "*shape"]
    high: Float[Array, "*shape"]

    def __init__(
        self,
        mean: Float[ArrayLike, "*shape"],
        log_std: Float[ArrayLike, "*shape"],
        low: Float[ArrayLike, "*shape"],
        high: Float[ArrayLike, "*shape"],
    ):
        """Create the distribution.

        Args:
            mean: The mean of the pre-squash Gaussian; its shape is the event shape.
            log_std: Its log standard deviation; broadcastable to `mean`.
            low: Lower bounds; broadcastable to `mean`.
            high: Upper bounds; broadcastable to `mean`.

        Raises:
            ValueError: If a shape does not broadcast to `mean`, or (when the bounds
                are concrete) if a bound is infinite or NaN or `low >= high`.
        """
        owner = "SquashedDiagGaussian"
        mean = as_float_array(mean, owner=owner, name="mean")
        arrays = {}
        for name, value in (("log_std", log_std), ("low", low), ("high", high)):
            value = as_float_array(value, owner=owner, name=name).astype(mean.dtype)
            arrays[name] = _broadcast(value, mean.shape, owner=owner, name=name)
        low_np = concrete_or_none(arrays["low"])
        high_np = concrete_or_none(arrays["high"])
        if low_np is not None and high_np is not None:
            if not (np.isfinite(low_np).all() and np.isfinite(high_np).all()):
                raise ValueError(f"{owner}: low and high must be finite.")
            if not (low_np < high_np).all():
                raise ValueError(f"{owner}: low must be strictly below high.")
        self.mean = mean
        self.log_std = arrays["log_std"]
        self.low = arrays["low"]
        self.high = arrays["high"]

    def _distribution(self) -> Distribution:
        return squashed_diag_normal(
            self.mean, jnp.exp(self.log_std), self.low, self.high
        )

    def sample(self, *, key: Key[Array, ""]) -> Float[Array, "*shape"]:
        """Draw one squashed sample, within `[low, high]`.

        Args:
            key: A JAX PRNG key.

        Returns:
            A sample of the event shape.
        """
        return self._distribution().sample(seed=key)

    def log_prob(self, x: Float[Array, "*shape"]) -> Float[Array, ""]:
        """The log-density of `x`, clipped to within `1e-6` of the bounds.

        Args:
            x: A value in `[low, high]`.

        Returns:
            A scalar, finite even for `x` on a bound.
        """
        half = (self.high - self.low) / 2
        centre = (self.high + self.low) / 2
        unit = jnp.clip((x - centre) / half, -1 + _SQUASH_EPS, 1 - _SQUASH_EPS)
        return self._distribution().log_prob(centre + half * unit)

    def entropy(self) -> Float[Array, ""]:
        """The entropy of the pre-squash Gaussian (a surrogate; see the class).

        Returns:
            `sum(log_std + 0.5 * log(2 * pi * e))`.
        """
        return diag_normal(self.mean, jnp.exp(self.log_std)).entropy()

    def mode(self) -> Float[Array, "*shape"]:
        """The squashed mean, `low + (high - low) * (tanh(mean) + 1) / 2`.

        Returns:
            A value of the event shape.
        """
        half = (self.high - self.low) / 2
        centre = (self.high + self.low) / 2
        return centre + half * jnp.tanh(self.mean)

    def sample_and_log_prob(
        self, *, key: Key[Array, ""]
    ) -> tuple[Float[Array, "*shape"], Float[Array, ""]]:
        """Draw one sample with its log-density, computed before squashing.

        Args:
            key: A JAX PRNG key.

        Returns:
            The sample and its log-density.
        """
        return self._distribution().sample_and_log_prob(seed=key)
