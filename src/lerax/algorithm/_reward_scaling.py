"""Reward scaling by the running standard deviation of the discounted return."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Bool, Float

from lerax.policy import RunningMeanStd

_EPSILON = 1e-8


class RewardNormalizerState(eqx.Module):
    """What reward scaling carries from rollout to rollout.

    Stable-Baselines3's `VecNormalize(norm_reward=True)` rule, step by step:
    each environment's discounted return `G <- gamma * G + r` is updated, the
    running variance of `G` over all environments and steps is updated with the
    `num_envs` new values, the reward is divided by `sqrt(var + 1e-8)` and
    clipped to `[-clip, clip]`, and `G` is reset to 0 where the episode ended
    (terminated or truncated). Rewards are scaled, never shifted.

    Attributes:
        returns: Each environment's running discounted return.
        statistics: Running mean and variance of the discounted returns.
    """

    returns: Float[Array, " num_envs"]
    statistics: RunningMeanStd

    def __init__(self, num_envs: int, *, clip: float = 10.0):
        """Zero returns and empty statistics.

        Args:
            num_envs: The number of parallel environments.
            clip: The clip of scaled rewards, > 0.
        """
        self.returns = jnp.zeros((num_envs,), jnp.float32)
        self.statistics = RunningMeanStd(1, clip=clip)

    def scale(
        self,
        rewards: Float[Array, "num_steps num_envs"],
        dones: Bool[Array, "num_steps num_envs"],
        *,
        gamma: Float[ArrayLike, ""],
    ) -> tuple[RewardNormalizerState, Float[Array, "num_steps num_envs"]]:
        """Scale a rollout's rewards, updating the statistics step by step.

        Args:
            rewards: The raw rewards.
            dones: Whether each step ended its episode.
            gamma: The discount factor.

        Returns:
            The new state and the scaled rewards.
        """

        def step(carry, inputs):
            returns, statistics = carry
            reward, done = inputs
            returns = gamma * returns + reward
            statistics = statistics.update(returns[:, None])
            std = jnp.sqrt(statistics.var[0] + _EPSILON)
            scaled = jnp.clip(reward / std, -statistics.clip, statistics.clip)
            return (jnp.where(done, 0.0, returns), statistics), scaled

        (returns, statistics), scaled = jax.lax.scan(
            step, (self.returns, self.statistics), (rewards, dones)
        )
        new = eqx.tree_at(
            lambda s: (s.returns, s.statistics), self, (returns, statistics)
        )
        return new, scaled
