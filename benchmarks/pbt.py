"""Population-based training against a grid of the same budget, and its throughput.

CartPole-v1, PPO with 4 envs x 64 steps, 4 epochs of 4 minibatches; the explored
and the swept field is the learning rate in [1e-4, 1e-2].

- learning: `--runs` independent PBT runs (8 members, exploit every `--interval`
  iterations, `lerax.pbt` vmapped over the run keys: one program) against a
  grid of 8 fixed learning rates (log-spaced over the same range, `lerax.sweep`)
  on as many seeds. A PBT run and one seed of the grid spend the same
  environment steps (8 members x budget). Reported: per run, the best member's
  mean return over the last interval (PBT), and the best grid cell's (the cell
  with the highest mean over seeds, then its per-seed returns): mean and a
  bootstrap 95% CI over runs.
- throughput: a population of 8 in one program against 8 separate `learn`
  calls of the same budget (compiled once, timed after), interleaved A B A B,
  medians of `--repeats` pairs.

python benchmarks/pbt.py [--smoke] [--only learning|throughput] [--runs 4]
    [--timesteps 16384] [--interval 8] [--out results.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax
import numpy as np
from _smoke import announce_smoke

import lerax
from lerax.algorithm import PPO
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy
from lerax.scale import pbt, sweep

SETTINGS = dict(num_envs=4, num_steps=64, num_epochs=4, num_batches=4)
LOW, HIGH = 1e-4, 1e-2
MEMBERS = 8


def bootstrap_ci(values, seed: int = 0) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(10000, values.size)).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def learning(args, env, make_policy) -> dict:
    algo = PPO(**SETTINGS)
    run_keys = jax.random.split(jax.random.key(args.seed), args.runs)
    # One shared initial policy per run keeps `pbt` traceable under vmap; the
    # members still differ in their keys and hyperparameters.
    policy = make_policy(jax.random.key(args.seed + 1))

    def one_run(key):
        result = pbt(
            algo,
            env,
            policy,
            args.timesteps,
            {"learning_rate": (LOW, HIGH)},
            population_size=MEMBERS,
            interval=args.interval,
            key=key,
        )
        return result.pbt_state

    start = time.perf_counter()
    states = jax.block_until_ready(jax.vmap(one_run)(run_keys))
    pbt_seconds = time.perf_counter() - start
    fitness = np.asarray(states.fitness)[:, -1]  # (runs, members)
    pbt_final = np.nanmax(np.where(np.isnan(fitness), -np.inf, fitness), axis=1)
    best_members = np.argmax(np.where(np.isnan(fitness), -np.inf, fitness), axis=1)
    schedules = []
    for r in range(args.runs):
        run = lerax.scale.PBTResult(
            pbt_state=lerax.select(states, r),
            interval=args.interval,
            names=("learning_rate",),
        )
        schedules.append(run.schedule(int(best_members[r]))["learning_rate"].tolist())

    grid = np.geomspace(LOW, HIGH, MEMBERS)
    start = time.perf_counter()
    result = sweep(
        algo,
        env,
        make_policy,
        args.timesteps,
        {"learning_rate": grid},
        jax.random.split(jax.random.key(args.seed + 2), args.runs),
        window=args.interval,
    )
    grid_seconds = time.perf_counter() - start
    best = result.best()
    grid_final = np.asarray(result.final_returns)[best]
    out = {
        "budget_per_member": args.timesteps,
        "members": MEMBERS,
        "interval": args.interval,
        "pbt_final": pbt_final.tolist(),
        "pbt_mean": float(np.mean(pbt_final)),
        "pbt_ci": bootstrap_ci(pbt_final),
        "pbt_schedules": schedules,
        "grid_best_learning_rate": float(grid[best]),
        "grid_final": grid_final.tolist(),
        "grid_mean": float(np.nanmean(grid_final)),
        "grid_ci": bootstrap_ci(grid_final[~np.isnan(grid_final)]),
        "grid_table": result.table(),
        "seconds_incl_compile": {"pbt": pbt_seconds, "grid": grid_seconds},
    }
    print(
        f"PBT ({args.runs} runs x {MEMBERS} members, {args.timesteps} steps each): "
        f"final {out['pbt_mean']:.1f} [95% CI {out['pbt_ci'][0]:.1f}, "
        f"{out['pbt_ci'][1]:.1f}]"
    )
    print(
        f"best grid cell (lr={grid[best]:.2g}, {args.runs} seeds): final "
        f"{out['grid_mean']:.1f} [95% CI {out['grid_ci'][0]:.1f}, "
        f"{out['grid_ci'][1]:.1f}]"
    )
    print(result.table())
    return out


def throughput(args, env, make_policy) -> dict:
    algo = PPO(**SETTINGS)
    policies = [make_policy(k) for k in jax.random.split(jax.random.key(5), MEMBERS)]

    def population(i):
        return pbt(
            algo,
            env,
            policies,
            args.timesteps,
            {"learning_rate": (LOW, HIGH)},
            population_size=MEMBERS,
            interval=args.interval,
            key=jax.random.key(i),
        ).pbt_state

    def separate(i):
        keys = jax.random.split(jax.random.key(i), MEMBERS)
        return [
            algo.learn(env, p, args.timesteps, key=k)
            for p, k in zip(policies, keys, strict=True)
        ]

    jax.block_until_ready(population(0))
    jax.block_until_ready(separate(0))
    pairs = []
    for r in range(args.repeats):
        start = time.perf_counter()
        jax.block_until_ready(population(r + 1))
        a = time.perf_counter() - start
        start = time.perf_counter()
        jax.block_until_ready(separate(r + 1))
        b = time.perf_counter() - start
        pairs.append((a, b))
    steps = MEMBERS * args.timesteps
    one = statistics.median(a for a, _ in pairs)
    many = statistics.median(b for _, b in pairs)
    out = {
        "members": MEMBERS,
        "steps_per_member": args.timesteps,
        "population_seconds": one,
        "separate_seconds": many,
        "population_steps_per_s": steps / one,
        "separate_steps_per_s": steps / many,
        "ratio": statistics.median(b / a for a, b in pairs),
        "pairs": pairs,
    }
    print(
        f"population of {MEMBERS} in one program: {steps / one:,.0f} steps/s; "
        f"{MEMBERS} separate learn calls: {steps / many:,.0f} steps/s; "
        f"median ratio (separate/population time) {out['ratio']:.2f}"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--only", choices=("learning", "throughput"))
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--timesteps", type=int, default=16384)
    parser.add_argument("--interval", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
        args.runs, args.timesteps, args.interval, args.repeats = 2, 4 * 256, 2, 1
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")

    def make_policy(key):
        return MLPActorCriticPolicy(env=env, key=key)

    results = {"command": " ".join(["python benchmarks/pbt.py"])}
    if args.only in (None, "learning"):
        results["learning"] = learning(args, env, make_policy)
    if args.only in (None, "throughput"):
        results["throughput"] = throughput(args, env, make_policy)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
