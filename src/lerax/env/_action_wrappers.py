"""Wrappers that change what the agent's actions mean: `ClipAction`, `RescaleAction`."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from lerax.space import Box

from ._base import AbstractEnvLike
from ._guard import require_env
from ._wrapper import AbstractActionWrapper


def clip_to_action_space(space: Any, action: Any) -> Any:
    """Clip a `Box` action to the space's bounds; leave other actions unchanged.

    What the algorithms (`clip_actions=True`) and `evaluate_policy`
    (`clip_actions=True`) do to the copy of a sampled action they send to the
    environment: a Gaussian policy samples from all of R^n, so the raw sample
    can leave a bounded `Box`.

    Args:
        space: The environment's action space.
        action: An action drawn by the policy.

    Returns:
        `space.clip(action)` for a `Box`, otherwise `action` itself.
    """
    if isinstance(space, Box):
        return space.clip(action)
    return action


def _require_box(owner: str, env: AbstractEnvLike) -> Box:
    space = env.action_space
    if not isinstance(space, Box):
        raise ValueError(
            f"{owner}: the wrapped environment's action_space must be a Box, got "
            f"{space!r}."
        )
    return space


class ClipAction(AbstractActionWrapper[Any, Float[Array, "..."], Any, None]):
    """Clip continuous actions to the inner environment's bounds.

    The agent may act anywhere in R^n: the wrapper's `action_space` is an
    unbounded `Box` of the inner shape, and every action is clipped to the inner
    `Box` before the inner environment sees it (in `transition` and in `reward`).

    Attributes:
        env: The wrapped environment; its action space must be a `Box`.
        action_space: An unbounded `Box` with the inner action shape and dtype.
    """

    env: AbstractEnvLike
    action_space: Box

    def __init__(self, env: AbstractEnvLike):
        """Wrap `env`.

        Args:
            env: An environment (or wrapper) whose action space is a `Box`.

        Raises:
            TypeError: If `env` is not environment-like.
            ValueError: If its action space is
                not a `Box`.
        """
        require_env("ClipAction", env)
        inner = _require_box("ClipAction", env)
        self.env = env
        self.action_space = Box(-np.inf, np.inf, shape=inner.shape, dtype=inner.dtype)

    def convert_action(self, action: Float[Array, "..."]) -> Float[Array, "..."]:
        """Clip `action` to the inner `Box`.

        Args:
            action: An action of any real value.

        Returns:
            The action clipped to the inner bounds, in the inner dtype.
        """
        return self.env.action_space.clip(action)


class RescaleAction(AbstractActionWrapper[Any, Float[Array, "..."], Any, None]):
    """Let the agent act in `[low, high]`, mapped affinely onto the inner `Box`.

    An action `a` becomes
    `inner_low + (a - low) * (inner_high - inner_low) / (high - low)`
    elementwise, so `low` maps to the inner lower bound and `high` to the inner
    upper bound. Actions outside `[low, high]` are extrapolated, not clipped:
    stack `ClipAction` outside this wrapper for that.

    Attributes:
        env: The wrapped environment; its action space must be a bounded `Box`.
        action_space: `Box(low, high)` with the inner shape and dtype.
    """

    env: AbstractEnvLike
    action_space: Box

    def __init__(
        self,
        env: AbstractEnvLike,
        low: ArrayLike = -1.0,
        high: ArrayLike = 1.0,
    ):
        """Wrap `env`.

        Args:
            env: An environment (or wrapper) whose action space is a `Box` with
                finite bounds.
            low: The agent-facing lower bound(s), a scalar or an array of the
                inner action shape.
            high: The agent-facing upper bound(s), a scalar or an array of the
                inner action shape; strictly greater than `low`.

        Raises:
            TypeError: If `env` is not environment-like.
            ValueError: If its action space is not
                a `Box` with finite bounds, `low`/`high` do not match the action
                shape, or `low >= high` anywhere.
        """
        require_env("RescaleAction", env)
        inner = _require_box("RescaleAction", env)
        if not (np.isfinite(inner.low).all() and np.isfinite(inner.high).all()):
            raise ValueError(
                f"RescaleAction: the wrapped action space {inner!r} must have "
                "finite bounds to be rescaled."
            )
        low_np = np.asarray(low, dtype=np.float64)
        high_np = np.asarray(high, dtype=np.float64)
        for arg, arr in (("low", low_np), ("high", high_np)):
            if arr.shape not in ((), inner.shape):
                raise ValueError(
                    f"RescaleAction: {arg} has shape {arr.shape}, but the action "
                    f"shape is {inner.shape}."
                )
            if not np.isfinite(arr).all():
                raise ValueError(f"RescaleAction: {arg} must be finite, got {arr}.")
        if not (low_np < high_np).all():
            raise ValueError(
                f"RescaleAction: low must be < high everywhere, got low={low_np} "
                f"and high={high_np}."
            )
        self.env = env
        self.action_space = Box(low_np, high_np, shape=inner.shape, dtype=inner.dtype)

    def convert_action(self, action: Float[Array, "..."]) -> Float[Array, "..."]:
        """Map `action` affinely from `[low, high]` onto the inner `Box`.

        Args:
            action: An action of `self.action_space`.

        Returns:
            The rescaled action, in the inner dtype.
        """
        inner = self.env.action_space
        outer = self.action_space
        action = jnp.asarray(action, dtype=inner.dtype)
        fraction = (action - outer.low) / (outer.high - outer.low)
        return inner.low + fraction * (inner.high - inner.low)
