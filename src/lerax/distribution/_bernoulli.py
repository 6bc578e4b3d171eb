"""Independent Bernoulli variables for `MultiBinary` actions."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from ._base import AbstractDistraxDistribution, as_float_array, as_mask, masked_logit
from ._distrax import Distribution, bernoulli


class Bernoulli(AbstractDistraxDistribution[Int[Array, " n"]]):
    """`n` independent 0/1 variables given by logits, with an optional mask.

    The mask follows `MultiBinary`: shape `(n, 2)`, `mask[i, v]` says whether entry
    `i` may take value `v`. An entry allowed only one value is forced to it (its
    logit becomes a large finite number of the right sign, so it has probability
    exactly one and zero entropy); an entry allowed neither value is left as is.
    The log-probability and entropy are sums over the entries.

    Attributes:
        logits: `log p(1) - log p(0)` per entry after masking, shape `(n,)`.
    """

    logits: Float[Array, " n"]

    def __init__(
        self,
        logits: Float[ArrayLike, " n"],
        mask: Bool[ArrayLike, "n 2"] | None = None,
    ):
        """Create the distribution.

        Args:
            logits: `log p(1) - log p(0)` for each entry, shape `(n,)`.
            mask: Optional boolean array of shape `(n, 2)`.

        Raises:
            ValueError: If `logits` is not 1-D or the mask shape is not `(n, 2)`.
        """
        logits = as_float_array(logits, owner="Bernoulli", name="logits")
        if logits.ndim != 1 or logits.shape[0] == 0:
            raise ValueError(
                f"Bernoulli: logits must have shape (n,) with n >= 1, got "
                f"{logits.shape}; batch with jax.vmap."
            )
        if mask is not None:
            mask = as_mask(mask, (logits.shape[0], 2), owner="Bernoulli")
            big = -masked_logit(logits.dtype)
            only_one = mask[:, 1] & ~mask[:, 0]
            only_zero = mask[:, 0] & ~mask[:, 1]
            logits = jnp.where(only_one, big, jnp.where(only_zero, -big, logits))
        self.logits = logits

    def distrax_distribution(self) -> Distribution:
        """The equivalent distrax distribution.

        Returns:
            A distrax distribution over one event.
        """
        return bernoulli(self.logits)
