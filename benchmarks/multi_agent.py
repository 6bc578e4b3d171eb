"""IPPO and MAPPO on JaxMARL's MPE simple_spread, over seeds, vs random actions.

    python benchmarks/multi_agent.py                 # 4 seeds, 204,800 env steps
    python benchmarks/multi_agent.py --algo mappo    # one algorithm per call
    python benchmarks/multi_agent.py --smoke         # tiny budget (CI)
    python benchmarks/multi_agent.py --part speed    # lerax IPPO vs plain_ippo.py
    python benchmarks/multi_agent.py --seeds 8 --algo ippo \
        --env MPE_simple_reference_v3 --out results/   # one JSON per (env, algo)
    python benchmarks/multi_agent.py --part report --out results/  # table + plot

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

`--part speed` times lerax's user call (`IPPO(...).learn(env, policy, T,
key=key)`, compiled beforehand) against `benchmarks/plain_ippo.py` (the same
settings, no lerax) at `--speed-timesteps` environment steps, one seed, in
interleaved pairs (A B A B, `--pairs` of them), and prints agent-steps/s and
the median of the per-pair time ratios.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from _smoke import announce_smoke
from plain_ippo import Config, make_train

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


def speed(args, settings) -> None:
    """Interleaved timing of lerax IPPO's `learn` and plain_ippo.py's `train`."""
    name = "MPE_simple_spread_v3"
    env = AgentBatchEnv(JaxMARLToLeraxEnv.from_name(name))
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0))
    algo = IPPO(**settings)
    total = args.speed_timesteps
    config = Config(num_envs=args.num_envs, num_steps=args.num_steps)
    plain = jax.jit(make_train(config, total, name))
    key = jax.random.key(3)

    def run_lerax():
        return jax.block_until_ready(algo.learn(env, policy, total, key=key))

    def run_plain():
        return jax.block_until_ready(plain(key))

    run_lerax(), run_plain()  # compile both
    times = {"lerax": [], "plain": []}
    for _ in range(args.pairs):
        for label, run in (("lerax", run_lerax), ("plain", run_plain)):
            start = time.perf_counter()
            run()
            times[label].append(time.perf_counter() - start)
    ratios = np.array(times["lerax"]) / np.array(times["plain"])
    agent_steps = total * env.num_agents
    print(
        f"{name}: {total:,} env steps ({agent_steps:,} agent steps) per call, "
        f"{args.num_envs} envs x {args.num_steps} steps, 4 epochs x 4 "
        f"minibatches, {args.pairs} interleaved pairs on {platform.machine()}"
    )
    for label in ("lerax", "plain"):
        median = float(np.median(times[label]))
        print(
            f"{label}: median {median:.2f} s, "
            f"{agent_steps / median:,.0f} agent-steps/s "
            f"(times {', '.join(f'{t:.2f}' for t in times[label])})"
        )
    print(
        f"lerax / plain time: median ratio {np.median(ratios):.3f} "
        f"(pairs {', '.join(f'{r:.3f}' for r in ratios)})"
    )


def bootstrap_ci(samples, statistic, *, resamples=10_000, seed=0):
    """95% percentile bootstrap interval of `statistic` over resampled seeds."""
    rng = np.random.default_rng(seed)
    draws = [
        statistic(*(rng.choice(s, size=len(s), replace=True) for s in samples))
        for _ in range(resamples)
    ]
    return np.percentile(draws, [2.5, 97.5])


def report(folder: Path, plot: Path | None) -> None:
    """A Markdown table (mean, 95% bootstrap CI) and a plot from the JSON files."""
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    envs = sorted({r["env"] for r in records})
    print("| env | algo | seeds | env steps | mean | 95% CI | random |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    by_key = {(r["env"], r["algo"]): r for r in records}
    for env in envs:
        for algo in ("ippo", "mappo"):
            r = by_key.get((env, algo))
            if r is None:
                continue
            returns = np.array(r["returns"])
            low, high = bootstrap_ci([returns], np.mean)
            print(
                f"| {env} | {algo.upper()} | {r['seeds']} | {r['timesteps']:,} | "
                f"{returns.mean():.2f} | [{low:.2f}, {high:.2f}] | "
                f"{np.mean(r['random']):.2f} |"
            )
        if (env, "ippo") in by_key and (env, "mappo") in by_key:
            a = np.array(by_key[env, "ippo"]["returns"])
            b = np.array(by_key[env, "mappo"]["returns"])
            low, high = bootstrap_ci([a, b], lambda x, y: x.mean() - y.mean())
            print(
                f"| {env} | IPPO - MAPPO | | | {a.mean() - b.mean():.2f} | "
                f"[{low:.2f}, {high:.2f}] | |"
            )
    if plot is None:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(envs), figsize=(4.5 * len(envs), 3.6))
    axes = np.atleast_1d(axes)
    for ax, env in zip(axes, envs, strict=True):
        labels = []
        for x, algo in enumerate(("ippo", "mappo", "random")):
            source = by_key.get((env, "ippo" if algo == "random" else algo))
            if source is None:
                continue
            returns = np.array(source["random" if algo == "random" else "returns"])
            low, high = bootstrap_ci([returns], np.mean)
            jitter = np.linspace(-0.12, 0.12, len(returns))
            ax.scatter(x + jitter, returns, s=14, alpha=0.6)
            ax.errorbar(
                x,
                returns.mean(),
                yerr=[[returns.mean() - low], [high - returns.mean()]],
                fmt="_",
                color="black",
                capsize=6,
                markersize=18,
            )
            labels.append((x, algo.upper() if algo != "random" else "random"))
        ax.set_xticks([x for x, _ in labels], [name for _, name in labels])
        budget = next(r["timesteps"] for r in records if r["env"] == env)
        ax.set_title(f"{env}\n{budget:,} env steps per seed", fontsize=9)
        ax.set_ylabel("episode return (mean agent reward)")
    figure.tight_layout()
    plot.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(plot, dpi=120)
    print(f"wrote {plot}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=["ippo", "mappo", "both"], default="both")
    parser.add_argument("--timesteps", type=int, default=100 * 16 * 128)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--num-envs", type=int, default=16)
    parser.add_argument("--num-steps", type=int, default=128)
    parser.add_argument("--episodes", type=int, default=64)
    parser.add_argument(
        "--part", choices=["learning", "speed", "report"], default="learning"
    )
    parser.add_argument("--env", default="MPE_simple_spread_v3")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    parser.add_argument("--plot", type=Path, default=None, help="report: figure")
    parser.add_argument("--speed-timesteps", type=int, default=20 * 16 * 128)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--smoke", action="store_true", help="tiny budget (CI)")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
        args.timesteps, args.seeds, args.num_envs, args.num_steps = 64, 2, 2, 16
        args.episodes, args.speed_timesteps, args.pairs = 2, 64, 1

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
    if args.part == "speed":
        speed(args, settings)
        return
    if args.part == "report":
        report(args.out, args.plot)
        return
    ma_env = JaxMARLToLeraxEnv.from_name(args.env)
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
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        for name, (returns, seconds) in results.items():
            record = {
                "env": args.env,
                "algo": name,
                "timesteps": args.timesteps,
                "seeds": args.seeds,
                "seconds": seconds,
                "returns": [float(r) for r in returns],
                "random": [float(r) for r in random_returns],
            }
            path = args.out / f"{args.env}_{name}.json"
            path.write_text(json.dumps(record, indent=1))
    print(
        f"{args.env} ({len(ma_env.agents)} agents): {args.timesteps:,} env steps "
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
