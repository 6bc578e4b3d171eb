"""PQN on CartPole-v1: a Q-network trained on the on-policy engine, then saved.

`lerax.presets.pqn("CartPole-v1")` bundles a configured `PQN` (Gallici et al.,
ICLR 2025: epsilon-greedy rollouts from parallel environments, Q(lambda)
targets, no replay buffer or target network) and the `MLPQPolicy` sizes. The
trained Q-policy acts greedily: it is evaluated over 16 episodes, saved and
loaded back from its file alone. Run with `LERAX_QUICK=1` (or `--quick`) for a
two-iteration budget (CI); the full run solves CartPole-v1 in 512,000 steps.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import lerax
from lerax import presets
from lerax.evaluation import evaluate_policy


def main() -> None:
    quick = os.environ.get("LERAX_QUICK") == "1" or "--quick" in sys.argv
    preset = presets.pqn("CartPole-v1")
    env = preset.make_env()
    algorithm = preset.algorithm
    budget = algorithm.num_envs * algorithm.num_steps * 2 if quick else None
    budget = budget or preset.total_timesteps
    policy = preset.make_policy(env, key=jax.random.key(0))

    start = time.perf_counter()
    trained = jax.block_until_ready(
        algorithm.learn(env, policy, budget, key=jax.random.key(1))
    )
    print(f"trained {budget} steps in {time.perf_counter() - start:.1f} s")

    result = evaluate_policy(env, trained, key=jax.random.key(3), num_episodes=16)
    mean = float(result.returns.mean())
    print(f"greedy return over 16 episodes: {mean:.1f} (solved at {preset.solved_at})")

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pqn_cartpole.eqx"
        trained.serialize(path)
        loaded = lerax.load(path)
    observation = env.observation_space.sample(key=jax.random.key(4))
    state = loaded.reset(key=jax.random.key(5))
    _, q_loaded = loaded.q_values(state, observation)
    _, q_trained = trained.q_values(state, observation)
    np.testing.assert_array_equal(np.asarray(q_loaded), np.asarray(q_trained))
    print(f"{type(loaded).__name__} loaded back; Q-values: {np.asarray(q_loaded)}")


if __name__ == "__main__":
    main()
