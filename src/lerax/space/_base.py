"""The abstract space every lerax space implements."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, Generic, TypeVar

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, Bool, Float, Key

ActType = TypeVar("ActType")
MaskType = TypeVar("MaskType")


class AbstractSpace(eqx.Module, Generic[ActType, MaskType]):
    """A set of values an environment produces or accepts.

    Spaces are pytrees, so they can be closed over or passed through `jax.jit`.
    Every method is pure and works under `jax.jit` and `jax.vmap`.

    The mask type `MaskType` is a boolean array over the choices for the discrete
    kinds and `None` for `Box`.
    """

    @property
    @abstractmethod
    def shape(self) -> tuple[int, ...]:
        """The shape of one element (for composite spaces, `()`)."""

    @property
    @abstractmethod
    def dtype(self) -> Any:
        """The dtype of one element (for composite spaces, `None`)."""

    @property
    @abstractmethod
    def flat_size(self) -> int:
        """The length of `flatten(x)` for any `x` in the space."""

    @abstractmethod
    def sample(self, *, key: Key[Array, ""], mask: MaskType | None = None) -> ActType:
        """Draw a random element, uniformly over the allowed choices.

        Args:
            key: A JAX PRNG key.
            mask: An optional mask of allowed choices (discrete kinds only).

        Returns:
            An element of the space.
        """

    @abstractmethod
    def contains(self, x: Any) -> Bool[Array, ""]:
        """Whether `x` is an element of the space.

        Args:
            x: The candidate value.

        Returns:
            A scalar boolean array (traceable, so usable under `jax.jit`).
        """

    @abstractmethod
    def flatten(self, x: ActType) -> Float[Array, " flat_size"]:
        """Flatten an element into a 1-D float vector of length `flat_size`.

        Discrete kinds are one-hot encoded; `Dict` concatenates in sorted-key order.

        Args:
            x: An element of the space.

        Returns:
            A float32 vector of length `flat_size`.
        """

    def validate(self, x: Any, *, name: str = "value") -> None:
        """Check at trace time that `x` has the structure and shapes of the space.

        Shapes are static under `jax.jit`, so this raises a Python exception while
        tracing rather than an opaque XLA error later. It does not check bounds:
        use `contains` for that.

        Args:
            x: The value to check.
            name: What `x` is, for the error message (for example `"action"`).

        Raises:
            ValueError: If the pytree structure or any leaf shape differs.
        """
        expected = jax.eval_shape(lambda: self.sample(key=jax.random.key(0)))
        expected_leaves, expected_def = jax.tree.flatten(expected)
        try:
            got_leaves = expected_def.flatten_up_to(x)
        except (ValueError, TypeError) as err:
            raise ValueError(
                f"{name} has structure {jax.tree.structure(x)}, but {self!r} "
                f"expects {expected_def}."
            ) from err
        for want, got in zip(expected_leaves, got_leaves, strict=True):
            # np.shape reads the static shape; converters such as jax2onnx
            # turn jnp.shape into a traced op, which cannot be compared.
            got_shape = np.shape(got)
            if got_shape != want.shape:
                raise ValueError(
                    f"{name} has shape {got_shape}, but {self!r} expects shape "
                    f"{want.shape}."
                )
