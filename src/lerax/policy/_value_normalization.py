"""A critic that learns standardised returns, with the statistics to undo it.

`MLPActorCriticPolicy(normalize_values="running" | "popart")` wraps its critic
MLP in a `NormalizedValueMLP`: the network's output is a value in units of the
running standard deviation of the returns, and calling the wrapper returns
`mean + std * output`, so `value()` and everything reading it (GAE, exported
critics, evaluation) sees unnormalised values. PPO's value loss compares values
in the standardised units (`normalize`), as skrl's `value_preprocessor =
RunningStandardScaler` does.

"running" only moves the statistics, so the critic's outputs jump when they
move (skrl). "popart" (van Hasselt et al. 2016, "Learning values across many
orders of magnitude") also rescales the network's last layer when the
statistics move so that every output is preserved:
`W' = W * std / std'`, `b' = (std * b + mean - mean') / std'`.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from ._network import MLP
from ._normalization import RunningMeanStd

_EPSILON = 1e-8
MODES = ("running", "popart")


class NormalizedValueMLP(eqx.Module):
    """A scalar-output MLP predicting standardised values, and the statistics.

    Attributes:
        mlp: The network; its output is the standardised value.
        statistics: Running mean and variance of the returns (one feature).
        mode: "running" (skrl's value preprocessor) or "popart" (outputs
            preserved when the statistics move).
    """

    mlp: MLP
    statistics: RunningMeanStd
    mode: str = eqx.field(static=True)

    def __init__(self, mlp: MLP, mode: str):
        """Wrap a critic MLP; the statistics start at mean 0, variance 1.

        Args:
            mlp: The critic network (scalar output).
            mode: "running" or "popart".

        Raises:
            ValueError: If `mode` is neither.
        """
        if mode not in MODES:
            raise ValueError(
                f"NormalizedValueMLP: mode must be 'running' or 'popart', got {mode!r}."
            )
        self.mlp = mlp
        self.statistics = RunningMeanStd(1, clip=float("inf"))
        self.mode = mode

    def _mean_std(self) -> tuple[Float[Array, ""], Float[Array, ""]]:
        mean = jax.lax.stop_gradient(self.statistics.mean[0])
        var = jax.lax.stop_gradient(self.statistics.var[0])
        return mean, jnp.sqrt(var + _EPSILON)

    def __call__(self, x: Float[Array, " in_size"]) -> Float[Array, ""]:
        """The unnormalised value: `mean + std * mlp(x)`.

        Args:
            x: One input vector.

        Returns:
            The value.
        """
        mean, std = self._mean_std()
        return mean + std * self.mlp(x)

    def apply_batch(self, x: Float[Array, "batch in_size"]) -> Float[Array, " batch"]:
        """`jax.vmap(self)(x)`, with the MLP's batched layers.

        Args:
            x: Input vectors, one row per sample.

        Returns:
            The unnormalised values.
        """
        mean, std = self._mean_std()
        return mean + std * self.mlp.apply_batch(x)

    def normalize(self, values: Float[Array, "*batch"]) -> Float[Array, "*batch"]:
        """Values in the standardised units: `(values - mean) / std`.

        The statistics are constants for differentiation.

        Args:
            values: Unnormalised values (or returns).

        Returns:
            The standardised values.
        """
        mean, std = self._mean_std()
        return (values - mean) / std

    def update(self, returns: Float[Array, "..."]) -> NormalizedValueMLP:
        """Merge a batch of returns into the statistics (PopArt: keep outputs).

        Args:
            returns: Returns, any shape (every entry a sample).

        Returns:
            The critic with updated statistics; in "popart" mode its last layer
            is rescaled so that `self(x)` is unchanged for every `x`.
        """
        old_mean, old_std = self._mean_std()
        statistics = self.statistics.update(jnp.reshape(returns, (-1, 1)))
        new = eqx.tree_at(lambda c: c.statistics, self, statistics)
        if self.mode != "popart":
            return new
        mean, std = new._mean_std()
        last = self.mlp.layers[-1]
        weight = last.weight * (old_std / std)
        bias = (old_std * last.bias + old_mean - mean) / std
        return eqx.tree_at(
            lambda c: (c.mlp.layers[-1].weight, c.mlp.layers[-1].bias),
            new,
            (weight, bias),
        )
