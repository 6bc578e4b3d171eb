"""Many seeds and a hyperparameter grid on CartPole, each as one compiled program.

python examples/seeds_and_sweeps.py [--seeds 8] [--timesteps 65536]

1. `lerax.train_seeds`: 8 PPO agents, one per seed, trained at once; the best
   one is taken out with `lerax.select` and saved.
2. `lerax.sweep`: a grid of learning rates x clip coefficients, every cell on
   every seed, and the table of final returns (mean and std over seeds).

`LERAX_QUICK=1` shrinks both to a few iterations.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

import lerax
from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy

QUICK = os.environ.get("LERAX_QUICK") == "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2 if QUICK else 8)
    parser.add_argument("--timesteps", type=int, default=2048 if QUICK else 2**16)
    args = parser.parse_args()

    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    algo = PPO(num_envs=4, num_steps=128, num_epochs=4, num_batches=4)
    keys = jax.random.split(jax.random.key(0), args.seeds)

    # Each seed's initial policy is built here, eagerly, one seed at a time.
    def make_policy(key):
        return MLPActorCriticPolicy(env=env, key=key)

    start = time.perf_counter()
    state = lerax.train_seeds(
        algo,
        env,
        make_policy,
        args.timesteps,
        keys,
        callback=EpisodeStatisticsCallback(),
    )
    returns = np.asarray(state.callback_state.mean_return)  # (seeds, iterations)
    final = np.nanmean(returns[:, -3:], axis=1)
    print(
        f"{args.seeds} seeds x {args.timesteps} steps in "
        f"{time.perf_counter() - start:.1f} s (compile included); final returns "
        + ", ".join(f"{r:.0f}" for r in final)
    )
    best = int(np.nanargmax(final))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "best_seed"
        lerax.select(state.policy, best).serialize(path)
        print(f"seed {best} is best; saved it to {path}.eqx")

    start = time.perf_counter()
    result = lerax.sweep(
        algo,
        env,
        make_policy,
        args.timesteps,
        {"learning_rate": [1e-3, 3e-4], "clip_coefficient": [0.1, 0.2]},
        keys,
    )
    print(
        f"grid of {result.final_returns.shape[0]} configurations x {args.seeds} "
        f"seeds in {time.perf_counter() - start:.1f} s:"
    )
    print(result.table())
    print("best:", result.rows()[result.best()])


if __name__ == "__main__":
    main()
