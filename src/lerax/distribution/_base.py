"""The abstract distribution interface and the helpers the concrete ones share."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Key

from ._distrax import Distribution

SampleType = TypeVar("SampleType")


def masked_logit(dtype: Any) -> float:
    """The logit given to a masked-out choice.

    A large *finite* negative number rather than `-inf`: its probability still
    underflows to exactly zero (so it is never sampled and adds nothing to the
    entropy), but `log_prob`, `entropy` and their gradients stay free of `inf - inf`
    and `0 * inf`.

    Args:
        dtype: The floating dtype of the logits.

    Returns:
        `-1e9`, or half the most negative finite number of `dtype` if `-1e9` does not
        fit.
    """
    return float(max(-1e9, float(jnp.finfo(dtype).min) / 2))


def as_float_array(x: ArrayLike, *, owner: str, name: str) -> Float[Array, "..."]:
    """Convert `x` to a floating JAX array (integers become float32).

    Args:
        x: The value.
        owner: The class name, for error messages.
        name: The argument name, for error messages.

    Returns:
        A floating JAX array.

    Raises:
        ValueError: If `x` is boolean or complex.
    """
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.integer):
        x = x.astype(jnp.float32)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ValueError(f"{owner}: {name} must be real numbers, got dtype {x.dtype}.")
    return x


def as_mask(
    mask: ArrayLike, shape: tuple[int, ...], *, owner: str
) -> Bool[Array, "..."]:
    """Convert `mask` to a boolean array of exactly `shape`.

    Args:
        mask: The mask (`True` = allowed).
        shape: The required shape.
        owner: The class name, for error messages.

    Returns:
        A boolean JAX array.

    Raises:
        ValueError: If the shape differs from `shape`.
    """
    mask = jnp.asarray(mask)
    if mask.shape != tuple(shape):
        raise ValueError(
            f"{owner}: mask has shape {mask.shape}, expected {tuple(shape)}."
        )
    return mask.astype(bool)


def concrete_or_none(x: Any) -> np.ndarray | None:
    """`x` as a NumPy array when it is concrete, `None` while tracing.

    Args:
        x: An array-like value or a tracer.

    Returns:
        The NumPy array, or `None` if `x` has no concrete value.
    """
    try:
        return np.asarray(x)
    except Exception:  # jax raises TracerArrayConversionError for tracers
        return None


class AbstractDistribution(eqx.Module, Generic[SampleType]):
    """A probability distribution over one (unbatched) action.

    Distributions are pytrees of arrays, so they can be built inside `jax.jit` and
    mapped with `jax.vmap`; batch by mapping, not by passing batched parameters.
    Every scalar result is a `Float[Array, ""]`: multi-dimensional events have their
    log-probabilities and entropies summed over the event.
    """

    @abstractmethod
    def sample(self, *, key: Key[Array, ""]) -> SampleType:
        """Draw one sample.

        Args:
            key: A JAX PRNG key.

        Returns:
            A sample.
        """

    @abstractmethod
    def log_prob(self, x: SampleType) -> Float[Array, ""]:
        """The log-probability (or log-density) of `x`.

        Args:
            x: A value of the kind `sample` returns.

        Returns:
            A scalar.
        """

    @abstractmethod
    def entropy(self) -> Float[Array, ""]:
        """The entropy of the distribution.

        Returns:
            A scalar.
        """

    @abstractmethod
    def mode(self) -> SampleType:
        """The most likely value (the deterministic action).

        Returns:
            A value of the kind `sample` returns.
        """

    @abstractmethod
    def sample_and_log_prob(
        self, *, key: Key[Array, ""]
    ) -> tuple[SampleType, Float[Array, ""]]:
        """Draw one sample and return it with its log-probability.

        Cheaper and, for transformed distributions, more accurate than calling
        `sample` and then `log_prob`.

        Args:
            key: A JAX PRNG key.

        Returns:
            The sample and its log-probability.
        """


class AbstractDistraxDistribution(AbstractDistribution[SampleType]):
    """A distribution that is exactly a distrax distribution over stored arrays.

    Subclasses store plain arrays (so they stay simple pytrees) and implement
    `distrax_distribution`; every method delegates to it.
    """

    @abstractmethod
    def distrax_distribution(self) -> Distribution:
        """The equivalent distrax distribution.

        Returns:
            A distrax distribution over one event.
        """

    def sample(self, *, key: Key[Array, ""]) -> SampleType:
        """Draw one sample (see `AbstractDistribution.sample`).

        Args:
            key: A JAX PRNG key.

        Returns:
            A sample.
        """
        return self.distrax_distribution().sample(seed=key)

    def log_prob(self, x: SampleType) -> Float[Array, ""]:
        """The log-probability of `x`, summed over the event.

        Args:
            x: A value of the kind `sample` returns.

        Returns:
            A scalar.
        """
        return self.distrax_distribution().log_prob(x)

    def entropy(self) -> Float[Array, ""]:
        """The exact entropy, summed over the event.

        Returns:
            A scalar.
        """
        return self.distrax_distribution().entropy()

    def mode(self) -> SampleType:
        """The most likely value.

        Returns:
            A value of the kind `sample` returns.
        """
        return self.distrax_distribution().mode()

    def sample_and_log_prob(
        self, *, key: Key[Array, ""]
    ) -> tuple[SampleType, Float[Array, ""]]:
        """Draw one sample with its log-probability.

        Args:
            key: A JAX PRNG key.

        Returns:
            The sample and its log-probability.
        """
        sample, log_prob = self.distrax_distribution().sample_and_log_prob(seed=key)
        return sample, log_prob
