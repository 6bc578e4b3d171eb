"""A multilayer perceptron whose activation is static configuration.

`eqx.nn.MLP` keeps its activation functions as pytree leaves. A policy holding one
is then not a pytree of arrays, so `jax.vmap(learn)` cannot return it. This module
holds the same layers with the activation as a static field.

`MLP.apply_batch` runs the same layers on a whole batch with a hand-written
gradient (`dense`): the weight gradient `dy.T @ x` is computed from an explicit
transpose of `dy`. Left to autodiff, it is a dot contracting both operands'
leading axis, which XLA:CPU runs on a slower path than an ordinary matrix
product (about 3 us per minibatch update of the default policy, see
docs/benchmarks.md).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


@jax.custom_vjp
def _dense(
    x: Float[Array, "batch in_size"],
    weight: Float[Array, "out_size in_size"],
    bias: Float[Array, " out_size"],
) -> Float[Array, "batch out_size"]:
    return x @ weight.T + bias


def _dense_forward(x, weight, bias):
    return _dense(x, weight, bias), (x, weight)


def _dense_backward(residuals, cotangent):
    x, weight = residuals
    # The barrier keeps XLA from folding the transpose back into the dot.
    cotangent_t = jax.lax.optimization_barrier(cotangent.T)
    return cotangent @ weight, cotangent_t @ x, cotangent.sum(axis=0)


_dense.defvjp(_dense_forward, _dense_backward)


def dense(
    x: Float[Array, "batch in_size"], layer: eqx.nn.Linear
) -> Float[Array, "batch out_size"]:
    """An `eqx.nn.Linear` applied to a batch of rows, with a fast gradient.

    Equal to `jax.vmap(layer)(x)` (a `"scalar"` layer gives shape `(batch,)`),
    differentiable in reverse mode (`jax.grad`, `jax.vjp`); forward-mode
    (`jax.jvp`) is not defined for it.

    Args:
        x: Inputs, one row per sample.
        layer: The layer.

    Returns:
        The outputs, one row per sample.
    """
    bias = layer.bias
    if bias is None:
        bias = jnp.zeros(layer.weight.shape[0], layer.weight.dtype)
    out = _dense(x, layer.weight, bias)
    return out[:, 0] if layer.out_features == "scalar" else out


def _in_weight_dtype(x: Array, weight: Array) -> Array:
    # Weights cast to a 16-bit float (mixed precision, `PPO(compute_dtype=...)`)
    # take their input in that dtype too: JAX would otherwise promote the
    # float32 observation and run the layer in float32. A no-op otherwise.
    if jnp.issubdtype(weight.dtype, jnp.floating) and weight.dtype.itemsize < 4:
        return x.astype(weight.dtype)
    return x


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
        x = _in_weight_dtype(x, self.layers[0].weight)
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)

    def apply_batch(
        self, x: Float[Array, "batch in_size"]
    ) -> Float[Array, "batch ..."]:
        """Apply the network to a batch: `jax.vmap(self)(x)`, with fast gradients.

        Args:
            x: Input vectors, one row per sample.

        Returns:
            The outputs, one per sample (shape `(batch,)` for a scalar output).
        """
        x = _in_weight_dtype(x, self.layers[0].weight)
        for layer in self.layers[:-1]:
            x = self.activation(dense(x, layer))
        return dense(x, self.layers[-1])
