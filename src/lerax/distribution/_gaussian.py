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

# The smallest distance from a bound, in units of `finfo(dtype).eps * (high - low)`,
# that `SquashedDiagGaussian.log_prob` uses: an action on (or rounded onto) a bound
# is treated as this far inside it, so its density stays finite. A squashed sample
# is `centre + half * tanh(z)` and the last representable `tanh(z)` below 1 is
# `1 - eps / 2`, so every sample not on a bound is at least this far inside it and
# is left alone.
_SQUASH_EPS_UNITS = 0.25


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

    Samples are not clipped: for bounded `Box` actions the algorithms clip the
    copy sent to the environment (`clip_actions`), or a `ClipAction` wrapper does.
    The log-density and entropy are sums over the event.

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

    `x = low + (high - low) * (tanh(z) + 1) / 2` with `z ~ N(mean, exp(log_std)^2)`.
    Samples always lie within the bounds (float rounding can land exactly on
    them).

    * `log_prob(x)` inverts the squash in a numerically stable form: with
      `a = x - low` and `b = high - x` (exact in floating point near a bound),
      `z = (log a - log b) / 2` and
      `log |dx/dz| = log a + log b - log((high - low) / 2)`. `a` and `b` are
      floored at `eps * (high - low) / 4` (`eps` the dtype's machine epsilon, so
      only values on a bound move), so actions on a bound have a finite density.
    * `sample_and_log_prob` returns `log_prob` of the sample it returns. A float32
      sample cannot carry the pre-squash value exactly (`tanh(z)` rounds to
      within an ulp of the bound for `|z| > 8` or so), so the density of the
      pre-squash draw and that of the returned action can differ by a large
      fraction of a nat when the mean is large. Evaluating the returned action
      makes `sample_and_log_prob` and `log_prob` agree to float rounding, so
      PPO's importance ratio starts at exactly 1 on the data it collected.
    * `mode()` is the squashed mean, `low + (high - low) * (tanh(mean) + 1) / 2`.
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
        """The log-density of `x`, inverted stably (see the class).

        Args:
            x: A value in `[low, high]`; values on or beyond a bound are treated
                as `eps * (high - low) / 4` inside it.

        Returns:
            A scalar, finite even for `x` on a bound.
        """
        x = jnp.asarray(x, self.mean.dtype)
        floor = _SQUASH_EPS_UNITS * jnp.finfo(self.mean.dtype).eps
        floor = floor * (self.high - self.low)
        above_low = jnp.maximum(x - self.low, floor)
        below_high = jnp.maximum(self.high - x, floor)
        log_a, log_b = jnp.log(above_low), jnp.log(below_high)
        z = (log_a - log_b) / 2
        log_det = log_a + log_b - jnp.log((self.high - self.low) / 2)
        std = jnp.exp(self.log_std)
        log_normal = (
            -0.5 * jnp.square((z - self.mean) / std)
            - self.log_std
            - 0.5 * jnp.log(2 * jnp.pi)
        )
        return jnp.sum(log_normal - log_det)

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
        """Draw one sample with `log_prob` of exactly that sample.

        Args:
            key: A JAX PRNG key.

        Returns:
            The sample and its log-density, equal to `log_prob(sample)`.
        """
        sample = self.sample(key=key)
        return sample, self.log_prob(sample)
