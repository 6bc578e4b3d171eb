"""Train PPO on CartPole-v1 and print progress, then save, reload and evaluate it.

python examples/ppo.py [--timesteps 131072] [--seed 0] [--env CartPole-v1] [--quick]
(`--quick`, or LERAX_QUICK=1, trains 8192 steps: what CI runs.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--timesteps", type=int, default=2**17)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick or os.environ.get("LERAX_QUICK") == "1":
        args.timesteps = 2**13
    # Importing JAX, gymnax and lerax takes seconds: say what is coming first.
    print(f"PPO on {args.env}, {args.timesteps:,} steps: importing JAX...", flush=True)

    import jax
    import numpy as np

    from lerax.algorithm import PPO
    from lerax.callback import EpisodeStatisticsCallback, ProgressCallback
    from lerax.compatibility.gymnax import GymnaxToLeraxEnv
    from lerax.evaluation import evaluate_policy
    from lerax.policy import MLPActorCriticPolicy

    env = GymnaxToLeraxEnv.from_name(args.env)
    policy_key, learn_key = jax.random.split(jax.random.key(args.seed))
    policy = MLPActorCriticPolicy(env=env, key=policy_key)
    algo = PPO()  # the library defaults: 4 envs x 512 steps, 16 epochs, 32 batches

    start = time.perf_counter()
    state = algo.learn_state(
        env,
        policy,
        args.timesteps,
        key=learn_key,
        callback=[EpisodeStatisticsCallback(), ProgressCallback(every=4)],
    )
    policy = jax.block_until_ready(state.policy)
    elapsed = time.perf_counter() - start
    returns = np.asarray(state.callback_state.states[0].mean_return)
    print(
        f"trained {args.timesteps:,} steps in {elapsed:.1f} s (compile included); "
        f"mean return of the last 5 iterations: {np.nanmean(returns[-5:]):.1f}"
    )

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ppo_cartpole"
        policy.serialize(path)
        loaded = MLPActorCriticPolicy.deserialize(path, env=env, key=jax.random.key(0))
        returns = evaluate_policy(env, loaded, key=jax.random.key(1)).returns
        print(
            f"saved {path.name}.eqx and loaded it back; greedy return over "
            f"{returns.size} episodes: {float(returns.mean()):.1f} "
            f"(min {float(returns.min()):.0f})"
        )


if __name__ == "__main__":
    main()
