"""The shipped policy objectives: PPO's clip, DPO, SPO, a KL penalty, a drift net."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Key

from ._hyperparameter import hyperparameter
from ._objective import (
    AbstractDriftObjective,
    AbstractPolicyObjective,
    AbstractStatefulObjective,
    ObjectiveInputs,
)


class ClippedSurrogate(AbstractPolicyObjective):
    """PPO's clipped surrogate objective (Schulman et al., 2017, eq. 7).

    `loss = -mean(min(ratio * A, clip(ratio, 1 - eps, 1 + eps) * A))`: once the
    ratio leaves `[1 - eps, 1 + eps]` in the direction the advantage favours,
    the sample stops contributing a gradient. `PPO()` uses it at PPO's
    `clip_coefficient` (the paper's 0.2), exactly as before objectives were
    modules.

    Attributes:
        clip_coefficient: The clip range `eps`, > 0.
    """

    clip_coefficient: Float[Array, ""] = hyperparameter(0.2, low=0.0, low_open=True)

    def __call__(
        self, inputs: ObjectiveInputs
    ) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
        """The clipped surrogate loss; no diagnostics (PPO logs `clip_fraction`).

        Args:
            inputs: The minibatch's quantities.

        Returns:
            `(policy_loss, {})`.
        """
        ratio, advantages = inputs.ratio, inputs.advantages
        clipped_ratio = jnp.clip(
            ratio, 1.0 - self.clip_coefficient, 1.0 + self.clip_coefficient
        )
        loss = jnp.maximum(-advantages * ratio, -advantages * clipped_ratio).mean()
        return loss, {}


class DPO(AbstractDriftObjective):
    """Discovered Policy Optimisation (Lu et al., NeurIPS 2022).

    The closed-form drift that Lu et al. distilled from a drift function
    meta-learned by evolution (LPO):
    for `A >= 0`, `relu((r - 1) A - alpha tanh((r - 1) A / alpha))`; for `A < 0`,
    `relu(log(r) A - beta tanh(log(r) A / beta))`. Unlike the clip it never
    stops the gradient outright: the drift grows smoothly, and asymmetrically
    in the ratio for positive and negative advantages.

    Attributes:
        alpha: The drift's scale for non-negative advantages (paper: 2.0), > 0.
        beta: Its scale for negative advantages (paper: 0.6), > 0.
    """

    alpha: Float[Array, ""] = hyperparameter(2.0, low=0.0, low_open=True)
    beta: Float[Array, ""] = hyperparameter(0.6, low=0.0, low_open=True)

    def drift(self, inputs: ObjectiveInputs) -> Float[Array, "*batch"]:
        """DPO's drift of each sample.

        Args:
            inputs: The minibatch's quantities.

        Returns:
            The drift, >= 0 and zero where the ratio is 1.
        """
        advantages = inputs.advantages
        positive = (inputs.ratio - 1.0) * advantages
        negative = inputs.log_ratio * advantages
        drift_positive = jax.nn.relu(
            positive - self.alpha * jnp.tanh(positive / self.alpha)
        )
        drift_negative = jax.nn.relu(
            negative - self.beta * jnp.tanh(negative / self.beta)
        )
        return jnp.where(advantages >= 0.0, drift_positive, drift_negative)


class SPO(AbstractDriftObjective):
    """Simple Policy Optimization (Xie et al., ICML 2025).

    Objective `r A - |A| / (2 eps) (r - 1)^2`: a quadratic penalty whose
    maximiser in `r` is exactly `1 + sign(A) eps`, so the ratio is pulled back to
    the clip boundary instead of losing its gradient past it (as under the
    clip).

    Attributes:
        epsilon: The ratio deviation the penalty targets (paper: 0.2), > 0.
    """

    epsilon: Float[Array, ""] = hyperparameter(0.2, low=0.0, low_open=True)

    def drift(self, inputs: ObjectiveInputs) -> Float[Array, "*batch"]:
        """SPO's quadratic penalty of each sample.

        Args:
            inputs: The minibatch's quantities.

        Returns:
            `|A| / (2 epsilon) * (ratio - 1)^2`.
        """
        return (
            jnp.abs(inputs.advantages)
            / (2.0 * self.epsilon)
            * (inputs.ratio - 1.0) ** 2
        )


class KLPenalty(AbstractStatefulObjective):
    """PPO's KL-penalised objective (Schulman et al., 2017, section 4).

    `loss = -mean(r A - beta * kl)`, with `kl = (r - 1) - log r` per sample (an
    unbiased, non-negative estimate of KL(old || new) from the taken actions;
    the paper uses the exact KL of the two distributions). With `target_kl`, the
    coefficient adapts after each iteration, by the paper's rule: with `d` the
    KL estimate of the rollout under the updated policy, `beta` is halved if
    `d < target_kl / 1.5` and doubled if `d > 1.5 * target_kl`. The current
    coefficient is the objective's state (carried in PPO's optimizer state) and
    is logged as `kl_coefficient`.

    Attributes:
        beta: The (initial) penalty coefficient (paper: 1; "not important" when
            adaptive), > 0.
        target_kl: The target KL `d_targ` of the adaptive rule (paper's best:
            0.01), > 0; `None`: a fixed coefficient.
    """

    beta: Float[Array, ""] = hyperparameter(1.0, low=0.0, low_open=True)
    target_kl: Float[Array, ""] | None = hyperparameter(0.01, low=0.0, low_open=True)

    def init_state(self, num_iterations: int) -> Float[Array, ""]:
        """The initial coefficient, `beta`.

        Args:
            num_iterations: The run's planned iterations (unused).

        Returns:
            `beta` as a float32 scalar.
        """
        del num_iterations
        return jnp.asarray(self.beta, jnp.float32)

    def next_state(
        self, state: Float[Array, ""], kl: Float[Array, ""]
    ) -> Float[Array, ""]:
        """The paper's rule: halve below `target_kl / 1.5`, double above `1.5x`.

        Args:
            state: The current coefficient.
            kl: The rollout's KL estimate under the updated policy.

        Returns:
            The next coefficient (unchanged when `target_kl` is `None`).
        """
        if self.target_kl is None:
            return state
        halved = jnp.where(kl < self.target_kl / 1.5, state / 2.0, state)
        return jnp.where(kl > 1.5 * self.target_kl, state * 2.0, halved)

    def __call__(
        self, inputs: ObjectiveInputs
    ) -> tuple[Float[Array, ""], dict[str, Float[Array, ""]]]:
        """`-mean(r A - beta * ((r - 1) - log r))` at the current coefficient.

        Args:
            inputs: The minibatch's quantities; `inputs.state` is the current
                coefficient.

        Returns:
            `(policy_loss, {"kl_coefficient": beta})`.
        """
        beta = jax.lax.stop_gradient(inputs.state)
        kl = (inputs.ratio - 1.0) - inputs.log_ratio
        loss = -(inputs.ratio * inputs.advantages - beta * kl).mean()
        return loss, {"kl_coefficient": beta}


def drift_features(
    ratio: Float[Array, "*batch"],
    log_ratio: Float[Array, "*batch"],
    advantages: Float[Array, "*batch"],
) -> Float[Array, "*batch 6"]:
    """The inputs of `LearnedDrift`'s network, per sample.

    Args:
        ratio: The probability ratios.
        log_ratio: Their logarithms.
        advantages: The advantages.

    Returns:
        `[r - 1, log r, (r - 1) A, log(r) A, A, |A|]` on a last axis.
    """
    r1 = ratio - 1.0
    return jnp.stack(
        [
            r1,
            log_ratio,
            r1 * advantages,
            log_ratio * advantages,
            advantages,
            jnp.abs(advantages),
        ],
        axis=-1,
    )


class LearnedDrift(AbstractDriftObjective):
    """A drift given by a small network, to be meta-learned as in LPO (Lu et al., 2022).

    With `g` an MLP of the features `[r - 1, log r, (r - 1) A, log(r) A, A,
    |A|]` (see `drift_features`), the drift is `(g(x) - g(x_1))^2`, `x_1` being
    the features at `r = 1` with the same advantage: non-negative, zero at
    `r = 1` and with zero gradient there, as mirror learning requires, whatever
    the weights. The weights are array leaves: an evolution strategy perturbs
    them (`examples/learned_objective.py`) and `eqx.filter_vmap` trains a
    population of them in one program.

    Attributes:
        network: The MLP `g` (6 inputs, one output).
    """

    network: eqx.nn.MLP

    def __init__(self, *, width: int = 16, depth: int = 2, key: Key[Array, ""]):
        """Build a randomly initialised drift network.

        Args:
            width: Hidden units per layer, >= 1.
            depth: Hidden layers, >= 1.
            key: A JAX PRNG key for the initial weights.

        Raises:
            ValueError: If `width` or `depth` is below 1.
        """
        for name, value in (("width", width), ("depth", depth)):
            if int(value) < 1:
                raise ValueError(f"LearnedDrift: {name} must be >= 1, got {value}.")
        self.network = eqx.nn.MLP(
            6, "scalar", int(width), int(depth), activation=jnp.tanh, key=key
        )

    def drift(self, inputs: ObjectiveInputs) -> Float[Array, "*batch"]:
        """`(g(x) - g(x_1))^2` per sample.

        Args:
            inputs: The minibatch's quantities.

        Returns:
            The drift of each sample.
        """
        return self.drift_of(inputs.ratio, inputs.advantages)

    def drift_of(
        self, ratio: Float[Array, "*batch"], advantages: Float[Array, "*batch"]
    ) -> Float[Array, "*batch"]:
        """The drift at given ratios and advantages (for plots and tests).

        Args:
            ratio: Probability ratios, > 0.
            advantages: Advantages, broadcastable with `ratio`.

        Returns:
            The drift, shaped like the broadcast inputs.
        """
        ratio, advantages = jnp.broadcast_arrays(ratio, advantages)
        features = drift_features(ratio, jnp.log(ratio), advantages)
        at_one = drift_features(jnp.ones_like(ratio), jnp.zeros_like(ratio), advantages)
        flat = features.reshape(-1, features.shape[-1])
        flat_one = at_one.reshape(-1, at_one.shape[-1])
        g = jax.vmap(self.network)(flat) - jax.vmap(self.network)(flat_one)
        return (g**2).reshape(ratio.shape)
