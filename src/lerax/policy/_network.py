"""A multilayer perceptron whose activation is static configuration.

`eqx.nn.MLP` keeps its activation functions as pytree leaves. A policy holding one
is then not a pytree of arrays, so `jax.vmap(learn)` cannot return it. This module
holds the same layers with the activation as a static field.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
from jaxtyping import Array, Float


class MLP(eqx.Module):
    """Linear layers with a static hidden activation and an identity output.

    Attributes:
        layers: The linear layers, input to output.
        activation: The hidden-layer activation (static).
    """

    layers: tuple[eqx.nn.Linear, ...]
    activation: Callable[[Array], Array] = eqx.field(static=True)

    @classmethod
    def from_equinox(cls, mlp: eqx.nn.MLP, activation: Callable) -> MLP:
        """Take the layers of an `eqx.nn.MLP` (identity final activation).

        Args:
            mlp: The Equinox MLP.
            activation: Its hidden activation.

        Returns:
            The same network with a static activation.
        """
        return cls(
            layers=tuple(mlp.layers),
            activation=activation,
        )

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, "..."]:
        """Apply the network.

        Args:
            x: One input vector.

        Returns:
            The output (a scalar when the last layer's output is `"scalar"`).
        """
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)
