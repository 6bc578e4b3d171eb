"""Q(lambda) targets that keep termination and truncation apart (PQN's targets)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float


def q_lambda_returns(
    rewards: Float[Array, " num_steps *batch"],
    next_max_q: Float[Array, " num_steps *batch"],
    terminations: Bool[Array, " num_steps *batch"],
    truncations: Bool[Array, " num_steps *batch"],
    *,
    gamma: Float[ArrayLike, ""],
    q_lambda: Float[ArrayLike, ""],
) -> Float[Array, " num_steps *batch"]:
    """Peng's Q(lambda) returns as a reverse scan, the targets of PQN.

    The recursion of Gallici et al. (2025, eq. 5), shaped like
    `generalized_advantage_estimate`: `next_max_q[t]` is `max_a Q(s', a)` over
    the allowed actions of the observation `s'` reached by step `t` *before*
    any automatic reset, so

        G_t = r_t + gamma * (1 - terminated_t)
                  * [lambda * G_{t+1} + (1 - lambda) * next_max_q_t]   (episode goes on)
        G_t = r_t + gamma * (1 - terminated_t) * next_max_q_t          (episode ended)

    A termination bootstraps from nothing; a truncation bootstraps from the
    Q-values of its true final observation and cuts the recursion (the next
    entry belongs to another episode); the last step of the rollout bootstraps
    fully from `next_max_q`. `q_lambda=0` gives one-step Q-learning targets,
    `q_lambda=1` Monte-Carlo returns bootstrapped only at truncations and at
    the rollout's end.

    Args:
        rewards: Rewards, time-major.
        next_max_q: `max_a Q(s', a)` of the (pre-reset) next observations.
        terminations: Whether each step terminated its episode.
        truncations: Whether each step truncated its episode.
        gamma: The discount factor.
        q_lambda: The lambda of the returns, in [0, 1].

    Returns:
        The returns `G_t`, shaped like `rewards`.
    """
    continues = ~jnp.logical_or(terminations, truncations)

    def backward(next_return, xs):
        reward, max_q, terminated, cont = xs
        # lambda * G_{t+1} + (1 - lambda) * Q, or Q alone where the episode
        # ended. Selected, not multiplied: a terminal state may have no allowed
        # action (max Q = -inf), which a product would turn into NaN.
        mixed = jnp.where(cont, max_q + q_lambda * (next_return - max_q), max_q)
        value = reward + gamma * jnp.where(terminated, 0.0, mixed)
        return value, value

    # Past the last step the return is the bootstrap itself, so the last step
    # mixes Q with Q: a full one-step bootstrap.
    _, returns = jax.lax.scan(
        backward,
        next_max_q[-1],
        (rewards, next_max_q, terminations, continues),
        reverse=True,
    )
    return returns
