"""PPO on a Brax environment through `BraxToLeraxEnv`: the learning curve.

    python benchmarks/brax_ppo.py                     # inverted_pendulum, 2**17 steps
    python benchmarks/brax_ppo.py --env hopper --timesteps 1000000
    python benchmarks/brax_ppo.py --smoke             # tiny budget: checks the script

Prints, per iteration, the mean return of the episodes completed in it (the
stochastic training policy) and, at the end, the deterministic evaluation return
of the final policy; writes the same as Markdown to `--out`. Needs
`pip install lerax[brax]`.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np
from _smoke import announce_smoke

from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy

# Brax warns on every environment it builds that it is no longer maintained (its
# own notice, pointing to MJX): not a result of this benchmark, so left out.
warnings.filterwarnings(
    "ignore",
    message="Brax System, piplines and environments are not actively",
    category=UserWarning,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="inverted_pendulum")
    parser.add_argument("--timesteps", type=int, default=2**17)
    parser.add_argument("--episode-length", type=int, default=1000)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/brax_ppo.md")
    )
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()

    try:
        from lerax.compatibility.brax import BraxToLeraxEnv

        env = BraxToLeraxEnv(args.env, episode_length=args.episode_length)
    except ImportError as err:
        # Also in --smoke: CI installs the brax extra, so a failed import is a fault.
        print(
            f"brax is unavailable: {err} (pip install 'lerax[brax]')", file=sys.stderr
        )
        return 1

    num_envs, num_steps, timesteps = args.num_envs, args.num_steps, args.timesteps
    if args.smoke:
        num_envs, num_steps, timesteps = 2, 16, 64
    algo = PPO(
        num_envs=num_envs,
        num_steps=num_steps,
        num_epochs=10,
        num_batches=8 if not args.smoke else 2,
        gamma=0.99,
        learning_rate=3e-4,
    )
    policy_key, learn_key, eval_key = jax.random.split(jax.random.key(args.seed), 3)
    policy = MLPActorCriticPolicy(env=env, key=policy_key)

    start = time.perf_counter()
    state = algo.learn_state(
        env, policy, timesteps, key=learn_key, callback=EpisodeStatisticsCallback()
    )
    policy = jax.block_until_ready(state.policy)
    elapsed = time.perf_counter() - start
    curve = np.asarray(state.callback_state.mean_return)
    evaluation = evaluate_policy(
        env, policy, key=eval_key, num_episodes=4, max_steps=args.episode_length
    )
    eval_return = float(evaluation.returns.mean())

    per_iteration = num_envs * num_steps
    lines = [
        f"# PPO on Brax {args.env} (lerax)",
        "",
        f"- Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; "
        f"seed {args.seed}; {platform.processor() or platform.machine()}; "
        f"jax {jax.__version__}",
        f"- Command: `python {' '.join(sys.argv)}`",
        f"- PPO: num_envs={num_envs}, num_steps={num_steps}, num_epochs=10, "
        f"num_batches={algo.num_batches}; episode_length={args.episode_length}",
        f"- {timesteps} steps in {elapsed:.1f} s, compile included "
        f"({timesteps / elapsed:.0f} steps/s)",
        f"- Final policy, deterministic, 4 episodes: mean return {eval_return:.1f}",
        "",
        "| timesteps | mean training return |",
        "| --- | --- |",
    ]
    stride = max(1, len(curve) // 16)
    for i in range(0, len(curve), stride):
        lines.append(f"| {(i + 1) * per_iteration} | {curve[i]:.1f} |")
    report = "\n".join(lines) + "\n"
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    if args.smoke and not np.isfinite(eval_return):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
