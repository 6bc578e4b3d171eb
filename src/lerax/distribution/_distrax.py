"""The single seam between lerax and distrax.

distrax pulls in TensorFlow Probability (its JAX substrate), chex and absl, so it
is imported here and nowhere else in lerax: replacing the backend means editing
this one module. Every builder takes plain arrays and returns a distrax
distribution over one unbatched event.
"""

from __future__ import annotations

import distrax
from jaxtyping import Array, Float

Distribution = distrax.Distribution


def categorical(logits: Float[Array, "*batch n"]) -> distrax.Distribution:
    """A categorical distribution over the last axis of `logits`.

    Args:
        logits: Unnormalised log-probabilities; leading axes are independent
            components that are summed over (one event).

    Returns:
        A distrax distribution whose event is the integer array of shape
        `logits.shape[:-1]`.
    """
    base = distrax.Categorical(logits=logits)
    return _independent(base, logits.ndim - 1)


def bernoulli(logits: Float[Array, "*shape"]) -> distrax.Distribution:
    """Independent Bernoulli variables, one per entry of `logits`.

    Args:
        logits: `log p(1) - log p(0)` for each entry.

    Returns:
        A distrax distribution whose event is the 0/1 array of shape
        `logits.shape`.
    """
    return _independent(distrax.Bernoulli(logits=logits), logits.ndim)


def diag_normal(
    mean: Float[Array, "*shape"], std: Float[Array, "*shape"]
) -> distrax.Distribution:
    """A Gaussian with diagonal covariance over an event of shape `mean.shape`.

    Args:
        mean: The mean.
        std: The standard deviation, same shape as `mean`.

    Returns:
        A distrax distribution whose event has shape `mean.shape`.
    """
    return _independent(distrax.Normal(loc=mean, scale=std), mean.ndim)


def squashed_diag_normal(
    mean: Float[Array, "*shape"],
    std: Float[Array, "*shape"],
    low: Float[Array, "*shape"],
    high: Float[Array, "*shape"],
) -> distrax.Distribution:
    """`low + (high - low) * (tanh(z) + 1) / 2` with `z` a diagonal Gaussian.

    Args:
        mean: The mean of `z`.
        std: The standard deviation of `z`.
        low: Finite lower bounds, same shape as `mean`.
        high: Finite upper bounds, same shape as `mean`.

    Returns:
        A distrax `Transformed` distribution whose event has shape `mean.shape`.
    """
    half = (high - low) / 2
    centre = (high + low) / 2
    # Chain applies its last bijector first: tanh, then the affine rescaling.
    squash = distrax.Chain(
        [distrax.ScalarAffine(shift=centre, scale=half), distrax.Tanh()]
    )
    return distrax.Transformed(
        diag_normal(mean, std), distrax.Block(squash, ndims=mean.ndim)
    )


def _independent(base: distrax.Distribution, ndims: int) -> distrax.Distribution:
    if ndims == 0:
        return base
    return distrax.Independent(base, reinterpreted_batch_ndims=ndims)
