"""The PPO presets: one tuned configuration per gymnax classic-control env."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
from jaxtyping import Array, Key

from lerax.algorithm import PPO
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy


@dataclasses.dataclass(frozen=True)
class PPOPreset:
    """A tuned PPO configuration for one environment.

    Attributes:
        env_id: The gymnax environment id.
        algorithm: The configured `PPO`.
        policy_kwargs: Keyword arguments for `MLPActorCriticPolicy` (besides
            `env` and `key`).
        total_timesteps: The training budget the preset was tuned for.
        solved_at: The greedy evaluation return that counts as solved (the
            Gymnasium/gymnax reward threshold convention for the env).
        notes: Where the configuration comes from and what it trades.
    """

    env_id: str
    algorithm: PPO
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

    def make_policy(self, env: Any, *, key: Key[Array, ""]) -> MLPActorCriticPolicy:
        """A fresh policy for `env` with the preset's network.

        Args:
            env: The environment (from `make_env`).
            key: A JAX PRNG key for the initial weights.

        Returns:
            The policy (build it outside `jax.jit`/`jax.vmap`).
        """
        return MLPActorCriticPolicy(env=env, key=key, **self.policy_kwargs)

    def train(self, *, key: Key[Array, ""]) -> MLPActorCriticPolicy:
        """Build the env and a policy and train for the preset's budget.

        Args:
            key: A JAX PRNG key (split for the policy and for `learn`).

        Returns:
            The trained policy.
        """
        env = self.make_env()
        policy_key, learn_key = jax.random.split(key)
        policy = self.make_policy(env, key=policy_key)
        return self.algorithm.learn(env, policy, self.total_timesteps, key=learn_key)


def _cartpole() -> PPOPreset:
    return PPOPreset(
        env_id="CartPole-v1",
        algorithm=PPO(
            num_envs=8,
            num_steps=64,
            num_epochs=8,
            num_batches=4,
            learning_rate=1e-3,
            adam_eps=1e-5,
            entropy_loss_coefficient=0.01,
        ),
        policy_kwargs={},
        total_timesteps=81_920,
        solved_at=475.0,
        notes=(
            "Short rollouts and few minibatches (32 updates of 128 samples per "
            "512 steps) at learning rate 1e-3; the entropy bonus keeps late "
            "updates from collapsing a solved policy (64 of 64 seeds solved)."
        ),
    )


def _acrobot() -> PPOPreset:
    return PPOPreset(
        env_id="Acrobot-v1",
        algorithm=PPO(
            num_envs=5,
            num_steps=100,
            num_epochs=5,
            num_batches=5,
            learning_rate=7.5e-4,
            entropy_loss_coefficient=0.01,
        ),
        policy_kwargs={"normalize_observations": True},
        total_timesteps=100_000,
        solved_at=-100.0,
        notes="rejax's tuned gymnax Acrobot-v1 PPO configuration.",
    )


def _mountain_car() -> PPOPreset:
    return PPOPreset(
        env_id="MountainCar-v0",
        algorithm=PPO(
            num_envs=16,
            num_steps=128,
            num_epochs=8,
            num_batches=8,
            learning_rate=1e-3,
            anneal_learning_rate=True,
            entropy_loss_coefficient=0.01,
        ),
        policy_kwargs={"normalize_observations": True},
        total_timesteps=800_000,
        solved_at=-110.0,
        notes=(
            "Sparse reward, exploration-bound: an entropy bonus, normalized "
            "observations and a large budget (rejax records its PPO config as "
            "not fitted within 250k steps); 8 epochs and a learning rate "
            "annealed to 0 refine the found policy (28 of 28 seeds solved)."
        ),
    )


def _pendulum() -> PPOPreset:
    return PPOPreset(
        env_id="Pendulum-v1",
        algorithm=PPO(
            num_envs=16,
            num_steps=256,
            num_epochs=10,
            num_batches=16,
            learning_rate=1e-3,
            anneal_learning_rate=True,
            gamma=0.95,
        ),
        policy_kwargs={"normalize_observations": True},
        total_timesteps=600_000,
        solved_at=-200.0,
        notes=(
            "A short horizon (gamma 0.95) and an annealed learning rate; "
            "rejax's configuration (gamma 0.995, 150k steps) did not learn here."
        ),
    )


def _mountain_car_continuous() -> PPOPreset:
    return PPOPreset(
        env_id="MountainCarContinuous-v0",
        algorithm=PPO(
            num_envs=16,
            num_steps=256,
            num_epochs=4,
            num_batches=8,
            learning_rate=3e-4,
        ),
        policy_kwargs={"normalize_observations": True, "log_std_init": 0.5},
        total_timesteps=600_000,
        solved_at=90.0,
        notes=(
            "A wide initial Gaussian (log-std 0.5) explores far enough to find "
            "the goal before the action cost teaches the policy to stand still."
        ),
    )


_PRESETS: dict[str, Callable[[], PPOPreset]] = {
    "CartPole-v1": _cartpole,
    "Acrobot-v1": _acrobot,
    "MountainCar-v0": _mountain_car,
    "Pendulum-v1": _pendulum,
    "MountainCarContinuous-v0": _mountain_car_continuous,
}


def available() -> tuple[str, ...]:
    """The environment ids that have a PPO preset.

    Returns:
        The ids, in the order of the docs' table.
    """
    return tuple(_PRESETS)


def ppo(env_id: str) -> PPOPreset:
    """The tuned PPO configuration for a gymnax classic-control environment.

    Args:
        env_id: A gymnax id, one of `available()`.

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
            f"lerax.presets.ppo: no preset for {env_id!r}; presets exist for "
            f"{', '.join(_PRESETS)}."
        ) from None
    return make()
