"""`TransformReward`: apply a function to every reward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Key

from lerax.space import AbstractSpace

from ._base import AbstractEnvLike
from ._wrapper import AbstractWrapper, _check_env


class TransformReward(AbstractWrapper[Any, Any, Any, Any]):
    """Apply a pure scalar function to every reward (scaling, clipping, ...).

    Attributes:
        env: The wrapped environment.
        fn: The function applied to each inner reward.
    """

    env: AbstractEnvLike
    fn: Callable[[Float[Array, ""]], Float[Array, ""]]

    def __init__(
        self,
        env: AbstractEnvLike,
        fn: Callable[[Float[Array, ""]], Float[Array, ""]],
    ):
        """Wrap `env`.

        Args:
            env: The environment (or wrapper) whose rewards to transform.
            fn: A pure, jit-compatible function from a scalar reward to a scalar.

        Raises:
            ValueError: If `env` is not environment-like, `fn` is not callable, or
                `fn` does not return a scalar for a scalar float reward.
        """
        _check_env("TransformReward", env)
        if not callable(fn):
            raise ValueError(
                f"TransformReward: fn must be callable, got {type(fn).__name__}."
            )
        out = jax.eval_shape(fn, jax.ShapeDtypeStruct((), jnp.float32))
        if not (isinstance(out, jax.ShapeDtypeStruct) and out.shape == ()):
            raise ValueError(
                "TransformReward: fn must map a scalar reward to a scalar, got "
                f"{jax.tree.map(lambda s: f'{s.dtype}{list(s.shape)}', out)}."
            )
        self.env = env
        self.fn = fn

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def action_space(self) -> AbstractSpace:
        return self.env.action_space

    @property
    def observation_space(self) -> AbstractSpace:
        return self.env.observation_space

    def initial(self, *, key: Key[Array, ""]) -> Any:
        return self.env.initial(key=key)

    def transition(self, state: Any, action: Any, *, key: Key[Array, ""]) -> Any:
        return self.env.transition(state, action, key=key)

    def observation(self, state: Any, *, key: Key[Array, ""]) -> Any:
        return self.env.observation(state, key=key)

    def reward(
        self, state: Any, action: Any, next_state: Any, *, key: Key[Array, ""]
    ) -> Float[Array, ""]:
        return self.fn(self.env.reward(state, action, next_state, key=key))

    def terminal(self, state: Any, *, key: Key[Array, ""]) -> Bool[Array, ""]:
        return self.env.terminal(state, key=key)

    def truncate(self, state: Any) -> Bool[Array, ""]:
        return self.env.truncate(state)

    def action_mask(self, state: Any, *, key: Key[Array, ""]) -> Any:
        return self.env.action_mask(state, key=key)
