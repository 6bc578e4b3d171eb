"""Generalized Advantage Estimation that keeps termination and truncation apart."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float


def generalized_advantage_estimate(
    rewards: Float[Array, " num_steps *batch"],
    values: Float[Array, " num_steps *batch"],
    next_values: Float[Array, " num_steps *batch"],
    terminations: Bool[Array, " num_steps *batch"],
    truncations: Bool[Array, " num_steps *batch"],
    *,
    gamma: Float[ArrayLike, ""],
    gae_lambda: Float[ArrayLike, ""],
) -> tuple[Float[Array, " num_steps *batch"], Float[Array, " num_steps *batch"]]:
    """Advantages and returns by GAE (Schulman et al., 2016), as a reverse scan.

    `next_values[t]` is the value of the observation reached by step `t` *before*
    any automatic reset. So a terminated step bootstraps from nothing, a truncated
    step bootstraps from the value of its final observation, and the recursion is
    cut at every episode boundary:

        delta_t = r_t + gamma * (1 - terminated_t) * next_value_t - value_t
        A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}

    where `done_t = terminated_t | truncated_t`, and `A` past the last step is 0
    (the last step's bootstrap is already in `next_values`).

    Args:
        rewards: Rewards, time-major.
        values: Value estimates of the observations the actions were taken from.
        next_values: Value estimates of the (pre-reset) next observations.
        terminations: Whether each step terminated its episode.
        truncations: Whether each step truncated its episode.
        gamma: The discount factor.
        gae_lambda: The GAE lambda.

    Returns:
        `(advantages, returns)` with `returns = advantages + values`.
    """
    not_terminated = 1.0 - terminations.astype(values.dtype)
    continues = 1.0 - jnp.logical_or(terminations, truncations).astype(values.dtype)
    deltas = rewards + gamma * not_terminated * next_values - values

    def backward(advantage, xs):
        delta, cont = xs
        advantage = delta + gamma * gae_lambda * cont * advantage
        return advantage, advantage

    _, advantages = jax.lax.scan(
        backward, jnp.zeros_like(values[0]), (deltas, continues), reverse=True
    )
    return advantages, advantages + values
