"""PPO steps/s on Gymnasium's CartPole-v1: lerax (through GymnasiumToLeraxEnv)
next to Stable-Baselines3, same environment and settings.

    python benchmarks/gymnasium_vs_sb3.py            # 2**17 steps each
    python benchmarks/gymnasium_vs_sb3.py --smoke    # tiny budget: checks the script

Both train PPO with 4 Gymnasium `CartPole-v1` environments stepped in this
process (SB3: `DummyVecEnv`; lerax: a `SyncVectorEnv` stepped from inside the
compiled rollout), 512 steps per environment per update, 16 epochs of 32
minibatches (64 samples), Adam at 3e-4, gamma 0.99, GAE lambda 0.95, clip 0.2,
value coefficient 0.5, no entropy bonus, gradient norm 0.5, normalised
advantages, separate 64x64 tanh actor and critic. lerax is timed twice: the
first run includes compilation, the second (same shapes) compiles nothing.
Stable-Baselines3 (and PyTorch) are optional: without them only lerax's rows
are printed. Writes the table as Markdown to `--out`.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import jax
import numpy as np
from _smoke import announce_smoke

from lerax.algorithm import PPO
from lerax.compatibility.gymnasium import GymnasiumToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy

NUM_ENVS, NUM_STEPS, NUM_EPOCHS, NUM_BATCHES = 4, 512, 16, 32


def run_lerax(timesteps: int, seed: int, num_steps: int) -> list[dict]:
    env = GymnasiumToLeraxEnv("CartPole-v1", num_envs=NUM_ENVS)
    algo = PPO(
        num_envs=NUM_ENVS,
        num_steps=num_steps,
        num_epochs=NUM_EPOCHS,
        num_batches=NUM_BATCHES if num_steps == NUM_STEPS else 4,
    )
    rows = []
    try:
        for label in ("lerax (compile included)", "lerax (compiled)"):
            policy_key, learn_key, eval_key = jax.random.split(jax.random.key(seed), 3)
            policy = MLPActorCriticPolicy(env=env, key=policy_key)
            start = time.perf_counter()
            policy = jax.block_until_ready(
                algo.learn(env, policy, timesteps, key=learn_key)
            )
            elapsed = time.perf_counter() - start
            result = evaluate_policy(env, policy, key=eval_key, num_episodes=NUM_ENVS)
            rows.append(
                {
                    "impl": label,
                    "seconds": elapsed,
                    "steps_per_second": timesteps / elapsed,
                    "eval_return": float(result.returns.mean()),
                }
            )
    finally:
        env.close()
    return rows


def run_sb3(timesteps: int, seed: int, num_steps: int, threads: int) -> list[dict]:
    try:
        import gymnasium
        import torch
        from stable_baselines3 import PPO as SB3PPO
        from stable_baselines3.common.env_util import make_vec_env
    except ImportError as err:
        print(f"Stable-Baselines3 rows skipped: {err}")
        return []
    torch.set_num_threads(threads)
    vec_env = make_vec_env("CartPole-v1", n_envs=NUM_ENVS, seed=seed)
    batches = NUM_BATCHES if num_steps == NUM_STEPS else 4
    model = SB3PPO(
        "MlpPolicy",
        vec_env,
        n_steps=num_steps,
        batch_size=NUM_ENVS * num_steps // batches,
        n_epochs=NUM_EPOCHS,
        learning_rate=3e-4,
        gamma=0.99,
        gae_lambda=0.95,
        clip_range=0.2,
        ent_coef=0.0,
        vf_coef=0.5,
        max_grad_norm=0.5,
        normalize_advantage=True,
        policy_kwargs={"net_arch": {"pi": [64, 64], "vf": [64, 64]}},
        seed=seed,
        device="cpu",
    )
    start = time.perf_counter()
    model.learn(total_timesteps=timesteps)
    elapsed = time.perf_counter() - start
    env = gymnasium.make("CartPole-v1")
    returns = []
    for episode in range(NUM_ENVS):
        observation, _ = env.reset(seed=seed + episode)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(observation, deterministic=True)
            observation, reward, terminated, truncated, _ = env.step(int(action))
            total += reward
            done = terminated or truncated
        returns.append(total)
    return [
        {
            "impl": f"Stable-Baselines3 {sys.modules['stable_baselines3'].__version__}"
            f" (torch {torch.__version__}, {torch.get_num_threads()} threads)",
            "seconds": elapsed,
            "steps_per_second": timesteps / elapsed,
            "eval_return": float(np.mean(returns)),
        }
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**17)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="PyTorch intra-op threads for SB3 (default 1: small networks)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/results/gymnasium_vs_sb3.md")
    )
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
    num_steps = 16 if args.smoke else NUM_STEPS
    timesteps = 2 * NUM_ENVS * num_steps if args.smoke else args.timesteps

    rows = run_lerax(timesteps, args.seed, num_steps)
    rows += run_sb3(timesteps, args.seed, num_steps, args.torch_threads)
    lines = [
        "# PPO on Gymnasium CartPole-v1: lerax vs Stable-Baselines3",
        "",
        f"- Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; "
        f"{platform.processor() or platform.machine()}; jax {jax.__version__}",
        f"- Command: `python {' '.join(sys.argv)}`",
        f"- {timesteps} steps, {NUM_ENVS} envs x {num_steps} steps per update",
        "",
        "| implementation | seconds | steps/s | greedy return |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['impl']} | {row['seconds']:.1f} | "
            f"{row['steps_per_second']:.0f} | {row['eval_return']:.1f} |"
        )
    report = "\n".join(lines) + "\n"
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    ok = all(np.isfinite(r["steps_per_second"]) for r in rows) and len(rows) >= 2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
