"""PPO's loss: a policy objective (the clipped surrogate by default), the value
and entropy terms, and the statistics it reports."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PyTree

from lerax.buffer import RolloutBuffer

from ._actor_critic import evaluate_buffer, explained_variance
from ._objective import AbstractPolicyObjective, ObjectiveInputs
from ._objectives import ClippedSurrogate


class PPOStats(eqx.Module):
    """Diagnostics of one PPO minibatch update (or their mean over an iteration).

    Attributes:
        approx_kl: Estimate of KL(old || new), `mean((ratio - 1) - log ratio)`.
        clip_fraction: Fraction of samples whose ratio left the clip range.
        total_loss: The optimised loss.
        policy_loss: The policy objective's loss (the clipped surrogate loss by
            default).
        value_loss: The (optionally clipped) squared value error.
        entropy_loss: Minus the mean entropy.
        explained_variance: Explained variance of the returns by the critic
            being trained, on this minibatch before its update (NaN when the
            minibatch's returns are constant).
        nonfinite_loss: 1 if the loss was NaN/Inf and the update was skipped.
        nonfinite_gradient: 1 if the loss was finite but the gradient was not
            and the update was skipped.
        objective: The policy objective's diagnostics (`{}` for the clipped
            surrogate), logged under their own keys.
    """

    approx_kl: Float[Array, ""]
    clip_fraction: Float[Array, ""]
    total_loss: Float[Array, ""]
    policy_loss: Float[Array, ""]
    value_loss: Float[Array, ""]
    entropy_loss: Float[Array, ""]
    explained_variance: Float[Array, ""]
    nonfinite_loss: Float[Array, ""]
    nonfinite_gradient: Float[Array, ""]
    objective: dict[str, Float[Array, ""]] = eqx.field(default_factory=dict)


# The `PPOStats` fields a training log reports, stacked per minibatch.
_STACKED = (
    "approx_kl",
    "clip_fraction",
    "total_loss",
    "policy_loss",
    "value_loss",
    "entropy_loss",
)


def _ppo_loss(
    policy,
    rollout_buffer: RolloutBuffer,
    normalize_advantages: bool,
    clip_coefficient: Float[ArrayLike, ""],
    clip_value_loss: bool,
    value_loss_coefficient: Float[ArrayLike, ""],
    entropy_loss_coefficient: Float[ArrayLike, ""],
    clip_value_coefficient: Float[ArrayLike, ""] | None = None,
    objective: AbstractPolicyObjective | None = None,
    objective_state: PyTree = None,
) -> tuple[Float[Array, ""], PPOStats]:
    buffer = rollout_buffer
    if clip_value_coefficient is None:
        clip_value_coefficient = clip_coefficient
    if objective is None:
        # Built here from the (possibly traced) coefficient, so a sweep over
        # `clip_coefficient` sweeps the clip.
        objective = ClippedSurrogate(clip_coefficient=clip_coefficient)

    values, log_probs, entropy = evaluate_buffer(policy, buffer)
    log_ratio = log_probs - buffer.log_probs
    ratio = jnp.exp(log_ratio)

    advantages = buffer.advantages
    if normalize_advantages:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss, diagnostics = objective(
        ObjectiveInputs(
            log_ratio=log_ratio,
            ratio=ratio,
            advantages=advantages,
            log_probs=log_probs,
            old_log_probs=buffer.log_probs,
            state=objective_state,
        )
    )

    # In the critic's units: the identity unless the policy normalises values
    # (`MLPActorCriticPolicy(normalize_values=...)`), then standardised.
    new_values = policy.normalize_value(values)
    returns = policy.normalize_value(buffer.returns)
    value_error = (new_values - returns) ** 2
    if clip_value_loss:
        old_values = policy.normalize_value(buffer.values)
        clipped_values = old_values + jnp.clip(
            new_values - old_values, -clip_value_coefficient, clip_value_coefficient
        )
        value_error = jnp.maximum(value_error, (clipped_values - returns) ** 2)
    value_loss = 0.5 * value_error.mean()

    entropy_loss = -entropy.mean()
    total_loss = (
        policy_loss
        + value_loss_coefficient * value_loss
        + entropy_loss_coefficient * entropy_loss
    )
    stats = PPOStats(
        approx_kl=jax.lax.stop_gradient(((ratio - 1.0) - log_ratio).mean()),
        clip_fraction=jax.lax.stop_gradient(
            (jnp.abs(ratio - 1.0) > clip_coefficient).mean()
        ),
        total_loss=total_loss,
        policy_loss=policy_loss,
        value_loss=value_loss,
        entropy_loss=entropy_loss,
        explained_variance=explained_variance(
            jax.lax.stop_gradient(values), buffer.returns
        ),
        nonfinite_loss=jnp.zeros((), jnp.float32),
        nonfinite_gradient=jnp.zeros((), jnp.float32),
        objective={
            name: jax.lax.stop_gradient(jnp.asarray(value, jnp.float32))
            for name, value in diagnostics.items()
        },
    )
    return total_loss, stats
