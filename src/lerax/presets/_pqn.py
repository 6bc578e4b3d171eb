"""The PQN presets: tuned value-based configurations for gymnax environments."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
from jaxtyping import Array, Key

from lerax.algorithm import PQN
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPQPolicy


@dataclasses.dataclass(frozen=True)
class PQNPreset:
    """A tuned PQN configuration for one environment.

    Attributes:
        env_id: The gymnax environment id.
        algorithm: The configured `PQN`.
        policy_kwargs: Keyword arguments for `MLPQPolicy` (besides `env` and
            `key`).
        total_timesteps: The training budget the preset was tuned for.
        solved_at: The greedy evaluation return that counts as solved.
        notes: Where the configuration comes from and what it trades.
    """

    env_id: str
    algorithm: PQN
    policy_kwargs: dict[str, Any]
    total_timesteps: int
    solved_at: float
    notes: str = ""

    def make_env(self) -> GymnaxToLeraxEnv:
        """The environment, through the gymnax adapter.

        Returns:
            `GymnaxToLeraxEnv.from_name(env_id)`.
        """
        return GymnaxToLeraxEnv.from_name(self.env_id)

    def make_policy(self, env: Any, *, key: Key[Array, ""]) -> MLPQPolicy:
        """A fresh Q-network for `env` with the preset's sizes.

        Args:
            env: The environment (from `make_env`).
            key: A JAX PRNG key for the initial weights.

        Returns:
            The policy (build it outside `jax.jit`/`jax.vmap`).
        """
        return MLPQPolicy(env, key=key, **self.policy_kwargs)

    def train(self, *, key: Key[Array, ""]) -> MLPQPolicy:
        """Build the env and a Q-network and train for the preset's budget.

        Args:
            key: A JAX PRNG key (split for the policy and for `learn`).

        Returns:
            The trained Q-policy.
        """
        env = self.make_env()
        policy_key, learn_key = jax.random.split(key)
        policy = self.make_policy(env, key=policy_key)
        return self.algorithm.learn(env, policy, self.total_timesteps, key=learn_key)


def _cartpole() -> PQNPreset:
    return PQNPreset(
        env_id="CartPole-v1",
        algorithm=PQN(
            num_envs=32,
            num_steps=64,
            num_epochs=4,
            num_batches=16,
            gamma=0.99,
            q_lambda=0.95,
            learning_rate=5e-4,
            anneal_learning_rate=True,
            max_grad_norm=10.0,
            epsilon_start=1.0,
            epsilon_finish=0.05,
            epsilon_decay_fraction=0.2,
        ),
        policy_kwargs={"width_size": 128, "depth": 2},
        total_timesteps=512_000,
        solved_at=475.0,
        notes=(
            "purejaxql's CartPole configuration (32 x 64 rollouts, 4 epochs of "
            "16 minibatches, lambda 0.95, epsilon decaying over the first 20 %, "
            "RAdam clipped at 10, learning rate annealed) with learning rate "
            "5e-4 instead of 1e-4, epsilon 0.05 at the end, no reward scaling "
            "and 128 units, for a 512k-step budget (purejaxql: 500k). Measured "
            "(benchmarks/pqn.py): 4 of 4 seeds solved, as the plain PQN (at "
            "204,800 steps: 3 of 4 for both)."
        ),
    )


_PRESETS: dict[str, Callable[[], PQNPreset]] = {"CartPole-v1": _cartpole}


def available_pqn() -> tuple[str, ...]:
    """The environment ids that have a PQN preset.

    Returns:
        The ids.
    """
    return tuple(_PRESETS)


def pqn(env_id: str) -> PQNPreset:
    """The tuned PQN configuration for a gymnax environment.

    Args:
        env_id: A gymnax id, one of `available_pqn()`.

    Returns:
        The preset: algorithm, policy arguments, budget, solved threshold.

    Raises:
        ValueError: If there is no preset for `env_id` (the message lists those
            there are).
    """
    try:
        make = _PRESETS[env_id]
    except (KeyError, TypeError):
        raise ValueError(
            f"lerax.presets.pqn: no preset for {env_id!r}; presets exist for "
            f"{', '.join(_PRESETS)}."
        ) from None
    return make()
