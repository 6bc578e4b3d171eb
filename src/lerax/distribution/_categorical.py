"""Categorical distributions for `Discrete` and `MultiDiscrete` actions."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from ._base import AbstractDistraxDistribution, as_float_array, as_mask, masked_logit
from ._distrax import Distribution, categorical


class Categorical(AbstractDistraxDistribution[Int[Array, ""]]):
    """A distribution over `0, ..., n - 1` given by logits, with an optional mask.

    Masked-out choices get a large finite negative logit (see `masked_logit`), so
    they have probability exactly zero: they are never sampled, never the mode,
    and contribute nothing to the entropy, while `log_prob` of allowed choices,
    `entropy` and their gradients stay finite. The `log_prob` of a masked-out
    choice is a huge finite negative number. If every choice is masked out the
    distribution is uniform over all of them (there is nothing valid to pick).

    Attributes:
        logits: The logits after masking, shape `(n,)`.
    """

    logits: Float[Array, " n"]

    def __init__(
        self, logits: Float[ArrayLike, " n"], mask: Bool[ArrayLike, " n"] | None = None
    ):
        """Create the distribution.

        Args:
            logits: Unnormalised log-probabilities, shape `(n,)`.
            mask: Optional boolean array of shape `(n,)`; `True` marks allowed
                choices.

        Raises:
            ValueError: If `logits` is not 1-D or the mask shape differs from it.
        """
        logits = as_float_array(logits, owner="Categorical", name="logits")
        if logits.ndim != 1 or logits.shape[0] == 0:
            raise ValueError(
                f"Categorical: logits must have shape (n,) with n >= 1, got "
                f"{logits.shape}; batch with jax.vmap."
            )
        if mask is not None:
            mask = as_mask(mask, logits.shape, owner="Categorical")
            logits = jnp.where(mask, logits, masked_logit(logits.dtype))
        self.logits = logits

    def distrax_distribution(self) -> Distribution:
        """The equivalent distrax distribution.

        Returns:
            A distrax distribution over one event.
        """
        return categorical(self.logits)


class MultiCategorical(AbstractDistraxDistribution[Int[Array, " k"]]):
    """Independent categoricals, one per entry of a `MultiDiscrete` action.

    Entry `i` chooses among `nvec[i]` values using its own slice of a flat logit
    vector. The log-probability and entropy are sums over the entries. Masks follow
    `MultiDiscrete`: a flat boolean array of length `sum(nvec)`. Internally the
    logits are padded to a `(k, max(nvec))` table whose padding is masked out, so
    the whole thing is a single distrax categorical with an independent batch axis.
    An entry whose mask allows none of its choices is uniform over its own
    `nvec[i]` choices (as `Categorical` is when everything is masked), so a sample
    always lies in the action space.

    Attributes:
        logits: The padded, masked logits, shape `(k, max(nvec))`.
        nvec: The number of choices of each entry.
    """

    logits: Float[Array, "k max_n"]
    nvec: tuple[int, ...] = eqx.field(static=True)

    def __init__(
        self,
        logits_flat: Float[ArrayLike, " total"],
        nvec: Sequence[int],
        mask: Bool[ArrayLike, " total"] | None = None,
    ):
        """Create the distribution.

        Args:
            logits_flat: The logits of entry 0, then of entry 1, and so on; shape
                `(sum(nvec),)`.
            nvec: The number of choices of each entry (positive integers).
            mask: Optional flat boolean array of shape `(sum(nvec),)`; `True` marks
                allowed choices.

        Raises:
            ValueError: If `nvec` is empty or non-positive, or if the shapes of
                `logits_flat` or `mask` are not `(sum(nvec),)`.
        """
        nvec = tuple(int(n) for n in np.asarray(nvec).reshape(-1))
        if len(nvec) == 0 or any(n <= 0 for n in nvec):
            raise ValueError(
                f"MultiCategorical: nvec must be non-empty with positive entries, "
                f"got {nvec!r}."
            )
        total = sum(nvec)
        logits_flat = as_float_array(
            logits_flat, owner="MultiCategorical", name="logits_flat"
        )
        if logits_flat.shape != (total,):
            raise ValueError(
                f"MultiCategorical: logits_flat has shape {logits_flat.shape}, "
                f"expected ({total},) = (sum(nvec),) for nvec={list(nvec)}."
            )
        fill = masked_logit(logits_flat.dtype)
        # Static gather indices: row i takes its nvec[i] logits, then padding.
        width = max(nvec)
        starts = np.cumsum((0,) + nvec[:-1])
        index = np.zeros((len(nvec), width), dtype=np.int32)
        valid = np.zeros((len(nvec), width), dtype=bool)
        for i, (start, n) in enumerate(zip(starts, nvec, strict=True)):
            index[i, :n] = start + np.arange(n)
            valid[i, :n] = True
        table = logits_flat[index]
        if mask is not None:
            mask = as_mask(mask, (total,), owner="MultiCategorical")
            allowed = mask[index] & valid
            # An entry whose mask allows nothing is uniform over its own nvec[i]
            # choices (as `Categorical` is), never over the padding.
            nothing_allowed = ~jnp.any(allowed, axis=-1, keepdims=True)
            table = jnp.where(
                allowed, table, jnp.where(nothing_allowed, 0.0, fill)
            ).astype(table.dtype)
        self.logits = jnp.where(valid, table, fill)
        self.nvec = nvec

    def distrax_distribution(self) -> Distribution:
        """The equivalent distrax distribution.

        Returns:
            A distrax distribution over one event.
        """
        return categorical(self.logits)
