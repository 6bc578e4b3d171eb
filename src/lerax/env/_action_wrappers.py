"""Wrappers that change what the agent's actions mean: `ClipAction`, `RescaleAction`."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Key

from lerax.space import AbstractSpace, Box

from ._base import AbstractEnvLike
from ._wrapper import AbstractWrapper, _check_env


def _require_box(owner: str, env: AbstractEnvLike) -> Box:
    space = env.action_space
    if not isinstance(space, Box):
        raise ValueError(
            f"{owner}: the wrapped environment's action_space must be a Box, got "
            f"{space!r}."
        )
    return space


class ClipAction(AbstractWrapper[Any, Float[Array, "..."], Any, None]):
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
            ValueError: If `env` is not environment-like or its action space is
                not a `Box`.
        """
        _check_env("ClipAction", env)
        inner = _require_box("ClipAction", env)
        self.env = env
        self.action_space = Box(-np.inf, np.inf, shape=inner.shape, dtype=inner.dtype)

    def _clip(self, action: Float[Array, "..."]) -> Float[Array, "..."]:
        inner = self.env.action_space
        return jnp.clip(jnp.asarray(action, dtype=inner.dtype), inner.low, inner.high)

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def observation_space(self) -> AbstractSpace:
        return self.env.observation_space

    def initial(self, *, key: Key[Array, ""]) -> Any:
        return self.env.initial(key=key)

    def transition(
        self, state: Any, action: Float[Array, "..."], *, key: Key[Array, ""]
    ) -> Any:
        return self.env.transition(state, self._clip(action), key=key)

    def observation(self, state: Any, *, key: Key[Array, ""]) -> Any:
        return self.env.observation(state, key=key)

    def reward(
        self,
        state: Any,
        action: Float[Array, "..."],
        next_state: Any,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        return self.env.reward(state, self._clip(action), next_state, key=key)

    def terminal(self, state: Any, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return self.env.terminal(state, key=key)

    def truncate(self, state: Any) -> Bool[Array, ""]:
        return self.env.truncate(state)

    def action_mask(self, state: Any, *, key: Key[Array, ""]) -> None:
        return self.env.action_mask(state, key=key)


class RescaleAction(AbstractWrapper[Any, Float[Array, "..."], Any, None]):
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
            ValueError: If `env` is not environment-like, its action space is not
                a `Box` with finite bounds, `low`/`high` do not match the action
                shape, or `low >= high` anywhere.
        """
        _check_env("RescaleAction", env)
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

    def _rescale(self, action: Float[Array, "..."]) -> Float[Array, "..."]:
        inner = self.env.action_space
        outer = self.action_space
        action = jnp.asarray(action, dtype=inner.dtype)
        fraction = (action - outer.low) / (outer.high - outer.low)
        return inner.low + fraction * (inner.high - inner.low)

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def observation_space(self) -> AbstractSpace:
        return self.env.observation_space

    def initial(self, *, key: Key[Array, ""]) -> Any:
        return self.env.initial(key=key)

    def transition(
        self, state: Any, action: Float[Array, "..."], *, key: Key[Array, ""]
    ) -> Any:
        return self.env.transition(state, self._rescale(action), key=key)

    def observation(self, state: Any, *, key: Key[Array, ""]) -> Any:
        return self.env.observation(state, key=key)

    def reward(
        self,
        state: Any,
        action: Float[Array, "..."],
        next_state: Any,
        *,
        key: Key[Array, ""],
    ) -> Float[Array, ""]:
        return self.env.reward(state, self._rescale(action), next_state, key=key)

    def terminal(self, state: Any, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return self.env.terminal(state, key=key)

    def truncate(self, state: Any) -> Bool[Array, ""]:
        return self.env.truncate(state)

    def action_mask(self, state: Any, *, key: Key[Array, ""]) -> None:
        return self.env.action_mask(state, key=key)
