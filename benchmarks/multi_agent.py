"""IPPO and MAPPO on JaxMARL's MPE simple_spread, over seeds, vs random actions.

    python benchmarks/multi_agent.py                 # 4 seeds, 204,800 env steps
    python benchmarks/multi_agent.py --algo mappo    # one algorithm per call
    python benchmarks/multi_agent.py --smoke         # tiny budget (CI)

Trains `IPPO` (shared `MLPActorCriticPolicy`, agent id appended) and `MAPPO`
(shared `MLPCentralCriticPolicy`, critic on every agent's observation) on
`JaxMARLToLeraxEnv("MPE_simple_spread_v3")` with the hyperparameters of
JaxMARL's `baselines/IPPO/config/ippo_ff_mpe.yaml` (16 envs x 128 steps, 4
epochs x 4 minibatches, lr 2.5e-4 annealed, entropy 0.01, clip 0.2, tanh,
two hidden layers of 64), `--seeds` seeds at once (`jax.vmap` over `learn`).
Each trained policy then plays `--episodes` episodes (sampling, as it
trained); the score is the episode return of the mean agent reward (the sum
over an episode of the agents' mean reward; simple_spread's rewards are
mostly shared). A uniformly random team plays as many episodes per seed.
Prints one Markdown row per seed and the mean over seeds.
"""

from __future__ import annotations

import argparse
import platform
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _smoke import announce_smoke

from lerax.algorithm import IPPO, MAPPO
from lerax.compatibility.jaxmarl import JaxMARLToLeraxEnv
from lerax.env import AgentBatchEnv
from lerax.policy import MLPActorCriticPolicy, MLPCentralCriticPolicy

MAX_STEPS = 26  # simple_spread's done flag comes with the 26th step


def team_returns(env, policy, key, episodes: int) -> jax.Array:
    """Mean over `episodes` of the summed mean-agent reward (policy or random)."""

    def episode(key):
        reset_key, key = jax.random.split(key)
        state, observation, _ = env.reset(key=reset_key)

        def body(carry, key):
            state, observation, total, alive = carry
            act_key, step_key = jax.random.split(key)
            keys = jax.random.split(act_key, env.num_agents)
            if policy is None:
                action = jax.vmap(lambda k: env.action_space.sample(key=k))(keys)
            else:
                _, action = jax.vmap(lambda o, k: policy(None, o, key=k))(
                    observation, keys
                )
            state, observation, rewards, terminated, truncated = env.agent_step(
                state, action, key=step_key
            )
            total = total + jnp.where(alive, jnp.mean(rewards), 0.0)
            return (state, observation, total, alive & ~(terminated | truncated)), None

        carry = (state, observation, jnp.float32(0.0), jnp.bool_(True))
        (_, _, total, _), _ = jax.lax.scan(
            body, carry, jax.random.split(key, MAX_STEPS)
        )
        return total

    return jnp.mean(jax.vmap(episode)(jax.random.split(key, episodes)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=["ippo", "mappo", "both"], default="both")
    parser.add_argument("--timesteps", type=int, default=100 * 16 * 128)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument("--smoke", action="store_true", help="tiny budget (CI)")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
        args.timesteps, args.seeds, args.num_envs, args.num_steps = 64, 2, 2, 16
        args.episodes = 2

    ma_env = JaxMARLToLeraxEnv.from_name("MPE_simple_spread_v3")
    settings = dict(
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        num_epochs=4,
        num_batches=4,
        learning_rate=2.5e-4,
        anneal_learning_rate=True,
        entropy_loss_coefficient=0.01,
        clip_coefficient=0.2,
        value_loss_coefficient=0.5,
        max_grad_norm=0.5,
        gamma=0.99,
        gae_lambda=0.95,
    )
    keys = jax.random.split(jax.random.key(0), args.seeds)
    eval_keys = jax.random.split(jax.random.key(1), args.seeds)
    names = ["ippo", "mappo"] if args.algo == "both" else [args.algo]
    results = {}
    budget = args.timesteps
    for name in names:
        if name == "ippo":
            env = AgentBatchEnv(ma_env)
            algo = IPPO(**settings)
            policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
        else:
            env = AgentBatchEnv(ma_env, central_critic=True)
            algo = MAPPO(**settings)
            policy = MLPCentralCriticPolicy(env, key=jax.random.key(0))
        start = time.perf_counter()
        trained = eqx.filter_jit(
            jax.vmap(lambda k, a=algo, e=env, p=policy: a.learn(e, p, budget, key=k))
        )(keys)
        jax.block_until_ready(trained)
        seconds = time.perf_counter() - start
        returns = eqx.filter_jit(
            jax.vmap(lambda p, k, e=env: team_returns(e, p, k, args.episodes))
        )(trained, eval_keys)
        results[name] = (np.asarray(returns), seconds)
    random_returns = np.asarray(
        eqx.filter_jit(jax.vmap(lambda k: team_returns(env, None, k, args.episodes)))(
            eval_keys
        )
    )

    agent_steps = args.timesteps * len(ma_env.agents)
    print(
        f"MPE_simple_spread_v3 (3 agents): {args.timesteps:,} env steps "
        f"({agent_steps:,} agent steps) per seed, {args.num_envs} envs x "
        f"{args.num_steps} steps, 4 epochs x 4 minibatches; {args.seeds} seeds "
        f"trained together on {platform.machine()} "
        + ", ".join(f"{n.upper()} {s:.0f} s" for n, (_, s) in results.items())
        + f" (compile included); {args.episodes} sampled episodes per seed"
    )
    header = " | ".join(n.upper() for n in results)
    print(f"| seed | {header} | random |")
    print("| --- |" + " --- |" * (len(results) + 1))
    for seed in range(args.seeds):
        cells = " | ".join(f"{r[seed]:.2f}" for r, _ in results.values())
        print(f"| {seed} | {cells} | {random_returns[seed]:.2f} |")
    cells = " | ".join(f"{r.mean():.2f} +- {r.std():.2f}" for r, _ in results.values())
    print(
        f"| mean +- sd | {cells} | {random_returns.mean():.2f} +- "
        f"{random_returns.std():.2f} |"
    )
    finite = [np.isfinite(r).all() for r, _ in results.values()]
    if not all(finite) or not np.isfinite(random_returns).all():
        raise SystemExit("a return is not finite")


if __name__ == "__main__":
    main()
