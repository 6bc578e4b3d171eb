"""Population-based training against a grid of the same budget, and its throughput.

PPO; the explored (PBT) and swept (grid) fields are the learning rate in
[1e-4, 1e-2] and the entropy coefficient in [0, 0.05].

- `--part pbt`: `--runs` independent PBT runs (8 members, exploit every
  `--interval` iterations, `lerax.pbt` vmapped over the run keys: one program).
  The member with the highest final fitness of each run is then re-evaluated on
  `--eval-episodes` fresh episodes (`evaluate_policy`, new keys).
- `--part grid`: a grid of 8 fixed settings (4 log-spaced learning rates x
  entropy 0 and 0.01, `lerax.sweep`) on `--runs` seeds. A PBT run and one seed
  of the grid spend the same environment steps (8 members x budget). The cell
  with the highest mean final training return is chosen, and its policy of each
  seed is re-evaluated like PBT's best members. Like is compared with like:
  both are selected by training return and scored on fresh episodes.
- `--part report`: the table (mean and bootstrap 95% CI over runs) and a plot
  of the discovered schedules (`--plot`), from the files the parts wrote.
- `--part throughput`: a population of 8 in one program against 8 separate
  `learn` calls of the same budget (compiled once, timed after), interleaved
  A B A B, medians of `--repeats` pairs (CartPole-v1).

Environments: CartPole-v1 (4 envs x 64 steps, 4 epochs of 4 minibatches) and
Acrobot-v1 (the lerax preset: 5 envs x 100 steps, 5 epochs of 5 minibatches,
normalised observations).

python benchmarks/pbt.py [--smoke] [--env Acrobot-v1] [--part pbt|grid|report|
    throughput] [--runs 4] [--timesteps N] [--interval 20] [--results DIR]
    [--plot FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import numpy as np
from _smoke import announce_smoke

import lerax
from lerax.algorithm import PPO
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy
from lerax.scale import pbt, sweep

ENVS = {
    "CartPole-v1": (
        dict(num_envs=4, num_steps=64, num_epochs=4, num_batches=4),
        {},
    ),
    "Acrobot-v1": (
        dict(num_envs=5, num_steps=100, num_epochs=5, num_batches=5),
        {"normalize_observations": True},
    ),
}
SEARCH = {"learning_rate": (1e-4, 1e-2), "entropy_loss_coefficient": (0.0, 0.05)}
GRID = {
    "learning_rate": np.geomspace(1e-4, 1e-2, 4),
    "entropy_loss_coefficient": np.asarray([0.0, 0.01]),
}
LOW, HIGH = SEARCH["learning_rate"]
SETTINGS = ENVS["CartPole-v1"][0]
MEMBERS = 8


def bootstrap_ci(values, seed: int = 0) -> tuple[float, float]:
    values = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(10000, values.size)).mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def evaluate(env, policies, key, episodes: int) -> list[float]:
    # Mean return of each policy over `episodes` fresh episodes.
    out = []
    for policy, k in zip(policies, jax.random.split(key, len(policies)), strict=True):
        result = evaluate_policy(env, policy, key=k, num_episodes=episodes)
        out.append(float(np.mean(np.asarray(result.returns))))
    return out


def part_pbt(args, env, make_policy, algo) -> dict:
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
            SEARCH,
            population_size=MEMBERS,
            interval=args.interval,
            key=key,
        )
        return result.pbt_state

    start = time.perf_counter()
    states = jax.block_until_ready(jax.vmap(one_run)(run_keys))
    seconds = time.perf_counter() - start
    fitness = np.asarray(states.fitness)[:, -1]  # (runs, members)
    ranked = np.where(np.isnan(fitness), -np.inf, fitness)
    best_members = np.argmax(ranked, axis=1)
    schedules = []
    policies = []
    for r in range(args.runs):
        run = lerax.scale.PBTResult(
            pbt_state=lerax.select(states, r),
            interval=args.interval,
            names=tuple(SEARCH),
        )
        schedule = run.schedule(int(best_members[r]))
        schedules.append({k: v.tolist() for k, v in schedule.items()})
        policies.append(lerax.select(states.members.policy, (r, int(best_members[r]))))
    evaluated = evaluate(
        env, policies, jax.random.key(args.seed + 100), args.eval_episodes
    )
    out = {
        "env": args.env,
        "budget_per_member": args.timesteps,
        "members": MEMBERS,
        "interval": args.interval,
        "training_return": ranked.max(axis=1).tolist(),
        "evaluated_return": evaluated,
        "schedules": schedules,
        "seconds_incl_compile": seconds,
    }
    print(
        f"PBT ({args.runs} runs x {MEMBERS} members, {args.timesteps} steps each): "
        f"best member's training return {np.mean(out['training_return']):.1f}, "
        f"re-evaluated {np.mean(evaluated):.1f} ({seconds:.0f} s)"
    )
    return out


def part_grid(args, env, make_policy, algo) -> dict:
    start = time.perf_counter()
    result = sweep(
        algo,
        env,
        make_policy,
        args.timesteps,
        GRID,
        jax.random.split(jax.random.key(args.seed + 2), args.runs),
        window=args.interval,
    )
    jax.block_until_ready(result.final_returns)
    seconds = time.perf_counter() - start
    best = result.best()
    policies = [lerax.select(result.state.policy, (best, s)) for s in range(args.runs)]
    evaluated = evaluate(
        env, policies, jax.random.key(args.seed + 200), args.eval_episodes
    )
    settings = {k: float(np.asarray(v)[best]) for k, v in result.settings.items()}
    out = {
        "env": args.env,
        "budget_per_run": args.timesteps,
        "cells": int(np.asarray(result.final_returns).shape[0]),
        "best_setting": settings,
        "training_return": np.asarray(result.final_returns)[best].tolist(),
        "evaluated_return": evaluated,
        "table": result.table(),
        "seconds_incl_compile": seconds,
    }
    print(result.table())
    print(
        f"best grid cell {settings}: training return "
        f"{np.nanmean(out['training_return']):.1f}, re-evaluated "
        f"{np.mean(evaluated):.1f} ({seconds:.0f} s)"
    )
    return out


def part_report(args) -> dict:
    folder = Path(args.results)
    pbt_file, grid_file = (
        folder / f"pbt-{args.env}.json",
        folder / f"grid-{args.env}.json",
    )
    pbt_out, grid_out = (
        json.loads(pbt_file.read_text()),
        json.loads(grid_file.read_text()),
    )
    rows = {}
    for name, out in (("PBT, best member", pbt_out), ("best grid cell", grid_out)):
        values = out["evaluated_return"]
        low, high = bootstrap_ci(values)
        rows[name] = {
            "per_run": values,
            "mean": float(np.mean(values)),
            "ci": [low, high],
        }
        print(
            f"| {name} | {', '.join(f'{v:.1f}' for v in values)} | "
            f"{np.mean(values):.1f} | [{low:.1f}, {high:.1f}] |"
        )
    print("grid's best setting:", grid_out["best_setting"])
    if args.plot:
        figure_module = __import__("matplotlib.figure", fromlist=["Figure"])
        figure = figure_module.Figure(figsize=(9, 3.5), layout="constrained")
        axes = figure.subplots(1, len(SEARCH))
        for ax, name in zip(axes, SEARCH, strict=True):
            for r, schedule in enumerate(pbt_out["schedules"]):
                values = schedule[name]
                x = (np.arange(len(values)) + 1) * pbt_out["interval"]
                ax.step(x, values, where="pre", label=f"run {r}")
            ax.axhline(
                grid_out["best_setting"][name],
                color="k",
                ls="--",
                lw=1,
                label="grid's best",
            )
            if name == "learning_rate":
                ax.set_yscale("log")
            ax.set_xlabel("iteration")
            ax.set_ylabel(name)
        axes[0].legend(fontsize=7)
        figure.suptitle(f"PBT schedules of the best lineages, {args.env}")
        figure.savefig(args.plot, dpi=110)
    return rows


def throughput(args, env, make_policy) -> dict:
    algo = PPO(**ENVS["CartPole-v1"][0])
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
    parser.add_argument("--env", choices=tuple(ENVS), default="CartPole-v1")
    parser.add_argument("--part", choices=("pbt", "grid", "report", "throughput"))
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--timesteps", type=int, default=16384)
    parser.add_argument("--interval", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--eval-episodes", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default="results")
    parser.add_argument("--plot")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()
        args.runs, args.timesteps, args.interval, args.repeats = 2, 4 * 256, 2, 1
        args.eval_episodes = 2
    env = GymnaxToLeraxEnv.from_name(args.env)
    settings, policy_kwargs = ENVS[args.env]
    algo = PPO(**settings)

    def make_policy(key):
        return MLPActorCriticPolicy(env=env, key=key, **policy_kwargs)

    folder = Path(args.results)
    folder.mkdir(parents=True, exist_ok=True)
    parts = ("pbt", "grid", "throughput") if args.smoke else (args.part,)
    for part in parts:
        if part == "pbt":
            out = part_pbt(args, env, make_policy, algo)
        elif part == "grid":
            out = part_grid(args, env, make_policy, algo)
        elif part == "throughput":
            out = throughput(args, env, make_policy)
        elif part == "report":
            part_report(args)
            continue
        else:
            parser.error("--part is required (pbt, grid, report or throughput)")
        command = "python benchmarks/pbt.py " + " ".join(sys.argv[1:])
        out["command"] = command
        if not args.smoke:
            (folder / f"{part}-{args.env}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
