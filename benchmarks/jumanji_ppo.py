"""Masked PPO on a Jumanji environment vs a random masked policy, over seeds.

    python benchmarks/jumanji_ppo.py              # Snake-v1, 4 seeds, 2**17 steps
    python benchmarks/jumanji_ppo.py --env Knapsack-v1 --timesteps 65536
    python benchmarks/jumanji_ppo.py --smoke      # tiny budget (CI)

Trains `PPO` with `MLPActorCriticPolicy` on `JumanjiToLeraxEnv(--env)` for
`--seeds` seeds at once (`jax.vmap` over `learn`: one compiled program); the
rollout passes the observation's `action_mask` to the policy. Each trained
policy then plays `--episodes` episodes with `evaluate_policy`, acting
deterministically (the mode) and by sampling (as it trained); the
random baseline plays as many episodes per seed, drawing each action uniformly
among the allowed ones. Both are capped at `--max-steps` steps per episode.
Prints one Markdown row per seed and the mean over seeds.
"""

from __future__ import annotations

import argparse
import platform
import time

import jax
import jax.numpy as jnp
import numpy as np
from _smoke import announce_smoke

from lerax.algorithm import PPO
from lerax.compatibility.jumanji import JumanjiToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy


def random_masked_returns(env, key, episodes: int, max_steps: int) -> jax.Array:
    """Mean return of `episodes` episodes of uniformly random allowed actions."""

    def episode(key):
        reset_key, key = jax.random.split(key)
        state, _, _ = env.reset(key=reset_key)

        def body(carry, key):
            state, total, alive = carry
            mask_key, act_key, step_key = jax.random.split(key, 3)
            mask = env.action_mask(state, key=mask_key)
            action = env.action_space.sample(key=act_key, mask=mask)
            state, _, reward, terminated, truncated, _ = env.step(
                state, action, key=step_key
            )
            total = total + jnp.where(alive, reward, 0.0)
            return (state, total, alive & ~(terminated | truncated)), None

        carry = (state, jnp.float32(0.0), jnp.bool_(True))
        (_, total, _), _ = jax.lax.scan(body, carry, jax.random.split(key, max_steps))
        return total

    return jnp.mean(jax.vmap(episode)(jax.random.split(key, episodes)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="Snake-v1")
    parser.add_argument("--timesteps", type=int, default=2**17)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--episodes", type=int, default=32)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="tiny budget (CI)")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
        args.timesteps, args.seeds, args.num_envs, args.num_steps = 64, 2, 2, 16
        args.episodes, args.max_steps = 2, 20

    env = JumanjiToLeraxEnv.from_name(args.env)
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algo = PPO(
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        num_epochs=4,
        num_batches=4,
        entropy_loss_coefficient=0.01,
        learning_rate=3e-4,
    )
    keys = jax.random.split(jax.random.key(0), args.seeds)
    eval_keys = jax.random.split(jax.random.key(1), args.seeds)

    start = time.perf_counter()
    trained = jax.jit(
        jax.vmap(lambda k: algo.learn(env, policy, args.timesteps, key=k))
    )(keys)
    jax.block_until_ready(trained)
    train_s = time.perf_counter() - start

    def evaluate(deterministic: bool) -> np.ndarray:
        returns = jax.jit(
            jax.vmap(
                lambda p, k: evaluate_policy(
                    env,
                    p,
                    key=k,
                    num_episodes=args.episodes,
                    max_steps=args.max_steps,
                    deterministic=deterministic,
                ).returns.mean()
            )
        )(trained, eval_keys)
        return np.asarray(returns)

    ppo, sampled = evaluate(True), evaluate(False)
    rand = jax.jit(
        jax.vmap(lambda k: random_masked_returns(env, k, args.episodes, args.max_steps))
    )(eval_keys)
    rand = np.asarray(rand)

    print(
        f"{args.env}: masked PPO, {args.timesteps:,} steps per seed "
        f"({args.num_envs} envs x {args.num_steps} steps, 4 epochs x 4 batches), "
        f"{args.seeds} seeds trained together in {train_s:.0f} s (compile "
        f"included) on {platform.machine()}; {args.episodes} evaluation "
        f"episodes per seed, capped at {args.max_steps} steps"
    )
    print("| seed | PPO (deterministic) | PPO (sampled) | random masked |")
    print("| --- | --- | --- | --- |")
    for seed in range(args.seeds):
        print(f"| {seed} | {ppo[seed]:.2f} | {sampled[seed]:.2f} | {rand[seed]:.2f} |")
    print(
        f"| mean +- sd | {ppo.mean():.2f} +- {ppo.std():.2f} | "
        f"{sampled.mean():.2f} +- {sampled.std():.2f} | "
        f"{rand.mean():.2f} +- {rand.std():.2f} |"
    )
    if not all(np.isfinite(x).all() for x in (ppo, sampled, rand)):
        raise SystemExit("a return is not finite")


if __name__ == "__main__":
    main()
