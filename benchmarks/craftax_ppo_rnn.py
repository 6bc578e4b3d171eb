"""PPO with a GRU policy on Craftax-Classic-Symbolic, over seeds, vs a random policy.

    python benchmarks/craftax_ppo_rnn.py --timesteps 262144 --seeds 4
    python benchmarks/craftax_ppo_rnn.py --smoke     # tiny budget (CI)

Trains `PPO` with `GRUActorCriticPolicy` on `CraftaxToLeraxEnv(--env)` for
`--seeds` seeds at once (`jax.vmap` over `learn`: one compiled program), with
Craftax_Baselines' PPO-RNN hyperparameters (`ppo_rnn.py`'s argument defaults:
gamma 0.99, GAE lambda 0.8, clip 0.2, entropy 0.01, value 0.5, gradient norm 1.0,
learning rate 2e-4 annealed, 4 epochs x 8 minibatches, 64 steps per rollout)
except the sizes a CPU cannot afford: `--num-envs` (theirs 1024) and `--width`
(theirs 512; and their actor and critic heads have two hidden layers, lerax's
are linear). The rollout resets Craftax only where an episode ended (the
adapter's `reset_scheme`). Each trained policy then plays `--episodes`
episodes (sampling, as it trained; capped at `--max-steps`), and a uniformly
random policy as many. Prints one Markdown row per seed and the mean.
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
from lerax.compatibility.craftax import CraftaxToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import GRUActorCriticPolicy


def random_returns(env, key, episodes: int, max_steps: int) -> jax.Array:
    """Mean return of `episodes` episodes of uniformly random actions."""

    def episode(key):
        reset_key, key = jax.random.split(key)
        state, _, _ = env.reset(key=reset_key)

        def body(carry, key):
            state, total, alive = carry
            act_key, step_key = jax.random.split(key)
            action = env.action_space.sample(key=act_key)
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
    parser.add_argument("--env", default="Craftax-Classic-Symbolic-v1")
    parser.add_argument("--timesteps", type=int, default=2**18)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--num-envs", type=int, default=32)
    parser.add_argument("--num-steps", type=int, default=64)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--episodes", type=int, default=16)
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--smoke", action="store_true", help="tiny budget (CI)")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
        args.seeds, args.num_envs, args.num_steps, args.width = 2, 8, 4, 8
        args.timesteps = args.num_envs * args.num_steps
        args.episodes, args.max_steps = 2, 8

    env = CraftaxToLeraxEnv(args.env)
    policy = GRUActorCriticPolicy(
        env=env,
        key=jax.random.key(0),
        hidden_size=args.width,
        encoder_sizes=(args.width,),
        activation=jax.nn.relu,
    )
    algo = PPO(
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        num_epochs=4,
        num_batches=8 if args.num_envs % 8 == 0 else 1,
        gamma=0.99,
        gae_lambda=0.8,
        clip_coefficient=0.2,
        entropy_loss_coefficient=0.01,
        value_loss_coefficient=0.5,
        max_grad_norm=1.0,
        learning_rate=2e-4,
        anneal_learning_rate=True,
    )
    keys = jax.random.split(jax.random.key(0), args.seeds)
    eval_keys = jax.random.split(jax.random.key(1), args.seeds)

    start = time.perf_counter()
    trained = jax.jit(
        jax.vmap(lambda k: algo.learn(env, policy, args.timesteps, key=k))
    )(keys)
    jax.block_until_ready(trained)
    train_s = time.perf_counter() - start
    print(f"trained in {train_s:.0f} s (compile included)", flush=True)

    returns = jax.jit(
        jax.vmap(
            lambda p, k: evaluate_policy(
                env,
                p,
                key=k,
                num_episodes=args.episodes,
                max_steps=args.max_steps,
                deterministic=False,
            ).returns.mean()
        )
    )(trained, eval_keys)
    ppo = np.asarray(returns)
    rand = jax.jit(
        jax.vmap(lambda k: random_returns(env, k, args.episodes, args.max_steps))
    )(eval_keys)
    rand = np.asarray(rand)

    print(
        f"{args.env}: PPO-RNN (GRU {args.width}), {args.timesteps:,} steps per "
        f"seed ({args.num_envs} envs x {args.num_steps} steps), {args.seeds} "
        f"seeds trained together in {train_s:.0f} s (compile included) on "
        f"{platform.machine()}; {args.episodes} evaluation episodes per seed "
        f"(sampled actions), capped at {args.max_steps} steps"
    )
    print("| seed | PPO-RNN (sampled) | random |")
    print("| --- | --- | --- |")
    for seed in range(args.seeds):
        print(f"| {seed} | {ppo[seed]:.2f} | {rand[seed]:.2f} |")
    print(
        f"| mean +- sd | {ppo.mean():.2f} +- {ppo.std():.2f} | "
        f"{rand.mean():.2f} +- {rand.std():.2f} |"
    )
    if not all(np.isfinite(x).all() for x in (ppo, rand)):
        raise SystemExit("a return is not finite")


if __name__ == "__main__":
    main()
