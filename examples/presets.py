"""Train with a tuned preset: `lerax.presets.ppo("CartPole-v1")`, then evaluate.

Shows the presets' public surface: the preset bundles a configured `PPO`, the
policy's arguments, the budget it was tuned for and the score that counts as
solved; `preset.train(key=...)` builds the env and policy and trains. The trained
policy is evaluated greedily over 16 episodes. Run with `LERAX_QUICK=1` (or
`--quick`) for a tiny budget (CI); the full run solves CartPole-v1 in about half a
second of training after compilation on a 2-core CPU.
"""

from __future__ import annotations

import os
import sys
import time

import jax

from lerax import presets
from lerax.evaluation import evaluate_policy


def main() -> None:
    quick = os.environ.get("LERAX_QUICK") == "1" or "--quick" in sys.argv
    preset = presets.ppo("CartPole-v1")
    env = preset.make_env()
    algorithm = preset.algorithm
    budget = algorithm.num_envs * algorithm.num_steps * 2 if quick else None
    budget = budget or preset.total_timesteps
    policy = preset.make_policy(env, key=jax.random.key(0))

    start = time.perf_counter()
    jax.block_until_ready(algorithm.learn(env, policy, budget, key=jax.random.key(1)))
    print(f"first call (compiles): {time.perf_counter() - start:.1f} s")
    start = time.perf_counter()
    trained = jax.block_until_ready(
        algorithm.learn(env, policy, budget, key=jax.random.key(2))
    )
    print(f"second call ({budget} steps): {time.perf_counter() - start:.2f} s")

    result = evaluate_policy(env, trained, key=jax.random.key(3), num_episodes=16)
    mean = float(result.returns.mean())
    print(f"greedy return over 16 episodes: {mean:.1f} (solved at {preset.solved_at})")


if __name__ == "__main__":
    main()
