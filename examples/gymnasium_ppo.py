"""Train lerax's PPO on a Gymnasium environment (CartPole-v1 by default).

python examples/gymnasium_ppo.py [--env CartPole-v1] [--timesteps 131072]
    [--num-envs 4] [--seed 0] [--async]

`LERAX_QUICK=1` (or `--quick`) runs a tiny budget, to check that it works.
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnasium import GymnasiumToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--timesteps", type=int, default=2**17)
    parser.add_argument("--num-envs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--async", dest="use_async", action="store_true")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("LERAX_QUICK") == "1"

    env = GymnasiumToLeraxEnv(
        args.env,
        num_envs=args.num_envs,
        vectorization="async" if args.use_async else "sync",
        async_context="spawn",
    )
    try:
        policy_key, learn_key, eval_key = jax.random.split(jax.random.key(args.seed), 3)
        policy = MLPActorCriticPolicy(env=env, key=policy_key)
        if quick:
            algo = PPO(num_envs=args.num_envs, num_steps=32, num_batches=4)
            timesteps = 2 * args.num_envs * 32
        else:
            algo = PPO(num_envs=args.num_envs)  # 512 steps, 16 epochs, 32 batches
            timesteps = args.timesteps

        start = time.perf_counter()
        state = algo.learn_state(
            env,
            policy,
            timesteps,
            key=learn_key,
            callback=EpisodeStatisticsCallback(),
        )
        policy = jax.block_until_ready(state.policy)
        elapsed = time.perf_counter() - start
        returns = np.asarray(state.callback_state.mean_return)
        print(
            f"{args.env}: {timesteps} steps in {elapsed:.1f} s "
            f"({timesteps / elapsed:.0f} steps/s, compile included); mean "
            f"training return over the last iterations: "
            f"{np.nanmean(returns[-5:]):.1f}"
        )
        result = evaluate_policy(env, policy, key=eval_key, num_episodes=args.num_envs)
        print(
            f"greedy return over {args.num_envs} episodes: "
            f"{float(result.returns.mean()):.1f}"
        )
    finally:
        env.close()


if __name__ == "__main__":
    main()
