"""A learning rate that follows the policy's KL divergence (skrl's `KLAdaptiveLR`).

The rule is rl_games' adaptive schedule, which skrl's `KLAdaptiveLR` and Isaac
Lab's configurations use: after an update whose approximate KL divergence is
`kl`, the learning rate becomes

- `max(lr / lr_factor, min_lr)` if `kl > kl_threshold * kl_factor`,
- `min(lr * lr_factor, max_lr)` if `kl < kl_threshold / kl_factor`,
- `lr` otherwise.

The rate is training state: it lives in the optimizer state (a
`KLAdaptiveLRState` after Adam in the chain), so it is checkpointed with the
run, resumes exactly, and under `jax.vmap` each seed carries its own.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Float, PyTree

from ._hyperparameter import as_leaf, check_number

_PER = ("epoch", "minibatch")


class KLAdaptiveLR(eqx.Module):
    """Configuration of the KL-adaptive learning rate (`PPO(kl_adaptive_lr=...)`).

    The initial rate is PPO's `learning_rate` (a scalar). The numbers are array
    leaves (sweepable without recompiling); `per` is static.

    Attributes:
        kl_threshold: The target KL divergence (skrl's `kl_threshold`).
        min_lr: The smallest rate the rule goes to.
        max_lr: The largest rate the rule goes to.
        kl_factor: The band around the target: the rate moves when the KL
            leaves `[kl_threshold / kl_factor, kl_threshold * kl_factor]`.
        lr_factor: The factor the rate is divided or multiplied by.
        per: "epoch" (skrl: after each epoch, with the mean KL of its
            minibatches) or "minibatch" (rl_games' "legacy" schedule: after
            each minibatch, with that minibatch's KL).
    """

    kl_threshold: Float[Array, ""]
    min_lr: Float[Array, ""]
    max_lr: Float[Array, ""]
    kl_factor: Float[Array, ""]
    lr_factor: Float[Array, ""]
    per: str = eqx.field(static=True)

    def __init__(
        self,
        kl_threshold: float = 0.008,
        *,
        min_lr: float = 1e-6,
        max_lr: float = 1e-2,
        kl_factor: float = 2.0,
        lr_factor: float = 1.5,
        per: str = "epoch",
    ):
        """Configure the rule; the defaults are skrl's.

        Args:
            kl_threshold: The target KL divergence, > 0.
            min_lr: The lower clamp of the rate, > 0.
            max_lr: The upper clamp of the rate, >= `min_lr`.
            kl_factor: Width of the band around the target, > 1.
            lr_factor: Factor of each move, > 1.
            per: "epoch" (skrl) or "minibatch" (rl_games' legacy schedule).

        Raises:
            ValueError: If a value is out of range (the message names it).
        """
        for name, value, low in (
            ("kl_threshold", kl_threshold, 0.0),
            ("min_lr", min_lr, 0.0),
            ("max_lr", max_lr, 0.0),
            ("kl_factor", kl_factor, 1.0),
            ("lr_factor", lr_factor, 1.0),
        ):
            check_number("KLAdaptiveLR", name, value, low=low, low_open=True)
        if per not in _PER:
            raise ValueError(
                f"KLAdaptiveLR: per must be 'epoch' or 'minibatch', got {per!r}."
            )
        if not isinstance(min_lr, jax.core.Tracer) and not isinstance(
            max_lr, jax.core.Tracer
        ):
            if float(min_lr) > float(max_lr):
                raise ValueError(
                    f"KLAdaptiveLR: min_lr={float(min_lr)} is greater than "
                    f"max_lr={float(max_lr)}."
                )
        self.kl_threshold = as_leaf(kl_threshold)
        self.min_lr = as_leaf(min_lr)
        self.max_lr = as_leaf(max_lr)
        self.kl_factor = as_leaf(kl_factor)
        self.lr_factor = as_leaf(lr_factor)
        self.per = per

    def next_learning_rate(
        self, learning_rate: Float[ArrayLike, ""], kl: Float[ArrayLike, ""]
    ) -> Float[Array, ""]:
        """The rate after an update (or epoch) whose approximate KL was `kl`.

        A NaN `kl` (a skipped non-finite update) leaves the rate unchanged.

        Args:
            learning_rate: The current rate.
            kl: The approximate KL divergence measured.

        Returns:
            The new rate (float32).
        """
        lr = jnp.asarray(learning_rate, jnp.float32)
        kl = jnp.asarray(kl, jnp.float32)
        lower = jnp.maximum(lr / self.lr_factor, self.min_lr)
        higher = jnp.minimum(lr * self.lr_factor, self.max_lr)
        lr = jnp.where(kl < self.kl_threshold / self.kl_factor, higher, lr)
        return jnp.where(kl > self.kl_threshold * self.kl_factor, lower, lr)


class KLAdaptiveLRState(NamedTuple):
    """The state of `scale_by_kl_adaptive_lr`.

    Attributes:
        learning_rate: The rate the next update uses.
        last_used: The rate the latest update used (what the log reports).
    """

    learning_rate: Float[Array, ""]
    last_used: Float[Array, ""]


def scale_by_kl_adaptive_lr(
    initial_learning_rate: Float[ArrayLike, ""],
) -> optax.GradientTransformation:
    """Multiply updates by minus the rate held in the state.

    Placed after `optax.scale_by_adam`, this is Adam at a rate that
    `adapt_learning_rate` changes between updates.

    Args:
        initial_learning_rate: The first update's rate.

    Returns:
        The optax transformation.
    """

    def init(params: PyTree) -> KLAdaptiveLRState:
        del params
        lr = jnp.asarray(initial_learning_rate, jnp.float32)
        return KLAdaptiveLRState(learning_rate=lr, last_used=lr)

    def update(updates, state, params=None):
        del params
        lr = state.learning_rate
        updates = jax.tree.map(lambda u: -lr.astype(u.dtype) * u, updates)
        return updates, KLAdaptiveLRState(learning_rate=lr, last_used=lr)

    return optax.GradientTransformation(init, update)


def _is_state(x) -> bool:
    return isinstance(x, KLAdaptiveLRState)


def adapt_learning_rate(
    opt_state: optax.OptState, rule: KLAdaptiveLR, kl: Float[ArrayLike, ""]
) -> optax.OptState:
    """Apply the rule to every `KLAdaptiveLRState` inside an optimizer state.

    Args:
        opt_state: An optimizer state.
        rule: The rule's configuration.
        kl: The approximate KL divergence measured.

    Returns:
        The optimizer state with the next rate set (unchanged without a
        `KLAdaptiveLRState`).
    """
    return jax.tree.map(
        lambda x: (
            x._replace(learning_rate=rule.next_learning_rate(x.learning_rate, kl))
            if _is_state(x)
            else x
        ),
        opt_state,
        is_leaf=_is_state,
    )


def find_kl_adaptive_state(opt_state: optax.OptState) -> KLAdaptiveLRState | None:
    """The first `KLAdaptiveLRState` in an optimizer state, if any.

    Args:
        opt_state: An optimizer state.

    Returns:
        The state, or `None`.
    """
    for leaf in jax.tree.leaves(opt_state, is_leaf=_is_state):
        if _is_state(leaf):
            return leaf
    return None
