"""Running mean and variance of observations, kept inside a policy."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

_EPSILON = 1e-8


class RunningMeanStd(eqx.Module):
    """Running mean and (population) variance over every sample seen so far.

    Batches are merged with the parallel formula of Chan et al. (1979), so after
    any sequence of `update` calls the statistics are those of all the samples
    together (up to float32 rounding). Before the first update the mean is 0
    and the variance 1, so `normalize` is the identity (then the clip).

    Attributes:
        mean: The running mean, one entry per feature.
        var: The running variance, one entry per feature.
        count: The number of samples seen (float32).
        clip: Normalized values are clipped to `[-clip, clip]` (static).
    """

    mean: Float[Array, " size"]
    var: Float[Array, " size"]
    count: Float[Array, ""]
    clip: float = eqx.field(static=True)

    def __init__(self, size: int, *, clip: float = 10.0):
        """Empty statistics for vectors of `size` features.

        Args:
            size: The number of features.
            clip: The clip of normalized values, > 0.

        Raises:
            ValueError: If `clip` is not positive.
        """
        if not float(clip) > 0:
            raise ValueError(f"RunningMeanStd: clip must be > 0, got {float(clip)}.")
        self.mean = jnp.zeros((size,), jnp.float32)
        self.var = jnp.ones((size,), jnp.float32)
        self.count = jnp.zeros((), jnp.float32)
        self.clip = float(clip)

    def update(self, batch: Float[Array, "... size"]) -> RunningMeanStd:
        """Merge a batch of samples (all leading axes are samples).

        Args:
            batch: Samples, the features on the last axis.

        Returns:
            The statistics of everything seen so far and `batch`.
        """
        batch = jnp.reshape(batch, (-1, self.mean.shape[0])).astype(jnp.float32)
        batch_count = jnp.asarray(batch.shape[0], jnp.float32)
        batch_mean = batch.mean(axis=0)
        batch_var = batch.var(axis=0)
        total = self.count + batch_count
        delta = batch_mean - self.mean
        mean = self.mean + delta * batch_count / total
        # Before the first update `var` is the placeholder 1 with weight count=0.
        m2 = (
            self.var * self.count
            + batch_var * batch_count
            + delta**2 * self.count * batch_count / total
        )
        return eqx.tree_at(
            lambda s: (s.mean, s.var, s.count), self, (mean, m2 / total, total)
        )

    def normalize(self, x: Float[Array, " size"]) -> Float[Array, " size"]:
        """`clip((x - mean) / sqrt(var + 1e-8), -clip, clip)`.

        The statistics are constants for differentiation: gradients never
        change them (only `update` does).

        Args:
            x: One sample.

        Returns:
            The normalized sample.
        """
        mean = jax.lax.stop_gradient(self.mean)
        var = jax.lax.stop_gradient(self.var)
        return jnp.clip((x - mean) / jnp.sqrt(var + _EPSILON), -self.clip, self.clip)
