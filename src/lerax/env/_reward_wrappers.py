"""`TransformReward`: apply a function to every reward."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._base import AbstractEnvLike
from ._guard import require_env
from ._wrapper import AbstractRewardWrapper


class TransformReward(AbstractRewardWrapper[Any, Any, Any, Any]):
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
            TypeError: If `env` is not environment-like.
            ValueError: If `fn` is not callable, or
                `fn` does not return a scalar for a scalar float reward.
        """
        require_env("TransformReward", env)
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

    def convert_reward(self, reward: Float[Array, ""]) -> Float[Array, ""]:
        """Apply `fn` to an inner reward.

        Args:
            reward: The inner scalar reward.

        Returns:
            `fn(reward)`.
        """
        return self.fn(reward)
