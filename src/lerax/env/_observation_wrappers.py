"""Wrappers that change observations: `FlattenObservation`, `TransformObservation`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from lerax.space import (
    AbstractSpace,
    Box,
    Dict,
    Discrete,
    MultiBinary,
    MultiDiscrete,
    Tuple,
)

from ._base import AbstractEnvLike
from ._guard import require_env
from ._wrapper import AbstractObservationWrapper, _example


def _flat_bounds(space: AbstractSpace) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of `space.flatten(x)` over every `x` in `space`, in flatten's order."""
    if isinstance(space, Box):
        return np.ravel(space.low), np.ravel(space.high)
    if isinstance(space, Discrete | MultiDiscrete | MultiBinary):
        # One-hot codes and binary entries all lie in [0, 1].
        return np.zeros(space.flat_size), np.ones(space.flat_size)
    if isinstance(space, Dict | Tuple):
        subspaces = space.spaces.values() if isinstance(space, Dict) else space.spaces
        lows, highs = zip(*(_flat_bounds(s) for s in subspaces), strict=True)
        return np.concatenate(lows), np.concatenate(highs)
    # A space kind this module does not know: its flat values are unbounded.
    return np.full(space.flat_size, -np.inf), np.full(space.flat_size, np.inf)


class FlattenObservation(AbstractObservationWrapper[Any, Any, Float[Array, " n"], Any]):
    """Flatten observations into 1-D float vectors with the space's `flatten`.

    Discrete kinds become one-hot codes and `Dict` entries are concatenated in
    sorted-key order. The new observation space is a float32 `Box` of length
    `flat_size` whose bounds are those of the flattened inner space.

    Attributes:
        env: The wrapped environment.
        observation_space: A `Box` of shape `(env.observation_space.flat_size,)`.
    """

    env: AbstractEnvLike
    observation_space: Box

    def __init__(self, env: AbstractEnvLike):
        """Wrap `env`.

        Args:
            env: The environment (or wrapper) whose observations to flatten.

        Raises:
            TypeError: If `env` is not environment-like.
        """
        require_env("FlattenObservation", env)
        low, high = _flat_bounds(env.observation_space)
        self.env = env
        self.observation_space = Box(low, high, dtype=jnp.float32)

    def convert_observation(self, observation: Any) -> Float[Array, " n"]:
        """Flatten an inner observation with the inner space's `flatten`.

        Args:
            observation: An observation of the inner environment.

        Returns:
            Its flat float vector.
        """
        return self.env.observation_space.flatten(observation)


class TransformObservation(AbstractObservationWrapper[Any, Any, Any, Any]):
    """Apply a pure function to every observation.

    `fn` is stored as a field: a plain function is static configuration under
    `eqx.filter_jit`, and an `eqx.Module` (a normaliser with array statistics,
    say) keeps its arrays as leaves.

    Attributes:
        env: The wrapped environment.
        fn: The function applied to each inner observation.
        observation_space: The space of transformed observations.
    """

    env: AbstractEnvLike
    fn: Callable[[Any], Any]
    observation_space: AbstractSpace

    def __init__(
        self,
        env: AbstractEnvLike,
        fn: Callable[[Any], Any],
        observation_space: AbstractSpace | None = None,
    ):
        """Wrap `env`.

        Args:
            env: The environment (or wrapper) whose observations to transform.
            fn: A pure, jit-compatible function from an inner observation to the
                new observation.
            observation_space: The space of `fn`'s outputs. When omitted, `fn`
                must return a single floating array, and the space is an
                unbounded `Box` of that shape and dtype.

        Raises:
            TypeError: If `env` is not environment-like.
            ValueError: If `fn` is not callable,
                `observation_space` is not a lerax space or does not match `fn`'s
                output structure and shapes, or it is omitted while `fn` returns
                something other than one floating array.
        """
        require_env("TransformObservation", env)
        if not callable(fn):
            raise ValueError(
                f"TransformObservation: fn must be callable, got {type(fn).__name__}."
            )
        out = jax.eval_shape(fn, _example(env.observation_space))
        if observation_space is None:
            if not (
                isinstance(out, jax.ShapeDtypeStruct)
                and jnp.issubdtype(out.dtype, jnp.floating)
            ):
                raise ValueError(
                    "TransformObservation: fn returns "
                    f"{jax.tree.map(lambda s: f'{s.dtype}{list(s.shape)}', out)}, "
                    "which is not a single floating array; pass observation_space "
                    "to describe it."
                )
            observation_space = Box(-np.inf, np.inf, shape=out.shape, dtype=out.dtype)
        elif not isinstance(observation_space, AbstractSpace):
            raise ValueError(
                "TransformObservation: observation_space must be a lerax space, got "
                f"{type(observation_space).__name__}."
            )
        else:
            observation_space.validate(
                out, name="TransformObservation: fn(observation)"
            )
        self.env = env
        self.fn = fn
        self.observation_space = observation_space

    def convert_observation(self, observation: Any) -> Any:
        """Apply `fn` to an inner observation.

        Args:
            observation: An observation of the inner environment.

        Returns:
            `fn(observation)`.
        """
        return self.fn(observation)
