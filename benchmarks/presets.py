"""Time to solve with the PPO presets (`lerax.presets.ppo`), as a user runs them.

For each preset: four seeds, each trained with the public call
`preset.algorithm.learn(env, policy, preset.total_timesteps, key=key)` one after
the other (the first call compiles and is timed separately), then the same four
seeds at once with `lerax.train_seeds` (`jax.vmap` of `learn`, one program). Each
trained policy is evaluated greedily (`lerax.evaluation.evaluate_policy`, 16
episodes). A preset solves its env when every seed's greedy mean return reaches
`preset.solved_at`. Reported per preset: compile time, training seconds per seed
(sequential: the median single-seed call; vmapped: total / seeds), the greedy
return of each seed, and whether it solved.

    python benchmarks/presets.py                         # all presets, 4 seeds
    python benchmarks/presets.py --envs CartPole-v1      # some presets
    python benchmarks/presets.py --smoke                 # tiny budgets (CI)

Writes `<out>/<timestamp>-presets.json` and, for a full run of every preset,
the table in `docs/presets.md` (between its generated-table markers).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
from _smoke import announce_smoke
from run import DEFAULT_OUT, REPO_ROOT, atomic_write_text, log, machine_description

from lerax import presets, select, train_seeds
from lerax.evaluation import evaluate_policy

DOCS = REPO_ROOT / "docs" / "presets.md"
BEGIN, END = "<!-- presets-table:begin -->", "<!-- presets-table:end -->"


def measure(
    preset: presets.PPOPreset, seeds: int, budget: int, root_seed: int = 2026
) -> dict:
    """Train and evaluate one preset; see the module docstring."""
    env = preset.make_env()
    algorithm = preset.algorithm
    keys = jax.random.split(jax.random.key(root_seed), seeds)
    policy_keys, learn_keys = [], []
    for key in keys:
        policy_key, learn_key = jax.random.split(key)
        policy_keys.append(policy_key)
        learn_keys.append(learn_key)
    policies = [preset.make_policy(env, key=k) for k in policy_keys]

    start = time.perf_counter()
    jax.block_until_ready(algorithm.learn(env, policies[0], budget, key=keys[0]))
    compile_and_run = time.perf_counter() - start

    trained, seconds = [], []
    for policy, key in zip(policies, learn_keys, strict=True):
        start = time.perf_counter()
        out = jax.block_until_ready(algorithm.learn(env, policy, budget, key=key))
        seconds.append(time.perf_counter() - start)
        trained.append(out)

    def make_policy(key):
        return preset.make_policy(env, key=key)

    # train_seeds splits each key into (policy key, learn key) as above.
    jax.block_until_ready(train_seeds(algorithm, env, make_policy, budget, keys))
    start = time.perf_counter()
    state = jax.block_until_ready(
        train_seeds(algorithm, env, make_policy, budget, keys)
    )
    vmapped = time.perf_counter() - start

    evaluate = jax.jit(
        lambda policy, key: evaluate_policy(env, policy, key=key, num_episodes=16)
    )
    eval_keys = jax.random.split(jax.random.key(7), seeds)
    greedy = [
        float(jnp.mean(evaluate(p, k).returns))
        for p, k in zip(trained, eval_keys, strict=True)
    ]
    greedy_vmapped = [
        float(jnp.mean(evaluate(select(state.policy, i), eval_keys[i]).returns))
        for i in range(seeds)
    ]
    solved = all(g >= preset.solved_at for g in greedy)
    return {
        "env_id": preset.env_id,
        "timesteps": algorithm.num_iterations(budget)
        * algorithm.num_envs
        * algorithm.num_steps,
        "solved_at": preset.solved_at,
        "compile_and_first_run_s": compile_and_run,
        "seconds_per_seed": seconds,
        "median_seconds_per_seed": statistics.median(seconds),
        "vmapped_seconds_per_seed": vmapped / seeds,
        "greedy_returns": greedy,
        "greedy_returns_vmapped": greedy_vmapped,
        "solved": solved,
    }


def render(results: list[dict], machine: dict) -> str:
    """The markdown table of a run."""
    lines = [
        f"Measured {datetime.date.today().isoformat()} on {machine.get('cpu', 'CPU')}"
        f" ({machine.get('cores', '?')} cores; load average "
        f"{machine.get('load_average', '?')} at the start), jax {jax.__version__}, "
        "by `python benchmarks/presets.py`. Seconds exclude compilation; on a "
        "shared machine they are upper bounds.",
        "",
        "| env | steps | solved at | greedy return per seed | solved | s/seed "
        "(one at a time) | s/seed (seeds vmapped) | compile + 1st run s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        returns = ", ".join(f"{g:.0f}" for g in r["greedy_returns"])
        lines.append(
            f"| {r['env_id']} | {r['timesteps']:,} | {r['solved_at']:g} | {returns} "
            f"| {'yes' if r['solved'] else 'no'} | {r['median_seconds_per_seed']:.2f} "
            f"| {r['vmapped_seconds_per_seed']:.2f} "
            f"| {r['compile_and_first_run_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", nargs="*", default=list(presets.available()))
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--smoke", action="store_true", help="tiny budgets (CI)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--no-docs", action="store_true")
    parser.add_argument(
        "--root-seed",
        type=int,
        default=2026,
        help="the seeds' keys are jax.random.split(jax.random.key(ROOT_SEED), SEEDS)",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        announce_smoke()
    load_average = round(os.getloadavg()[0], 1)
    results = []
    for env_id in args.envs:
        preset = presets.ppo(env_id)
        if args.smoke:
            algorithm = preset.algorithm
            budget = algorithm.num_envs * algorithm.num_steps
            seeds = 2
        else:
            budget, seeds = preset.total_timesteps, args.seeds
        log(f"{env_id}: {seeds} seeds x {budget} steps")
        result = measure(preset, seeds, budget, args.root_seed)
        log(
            f"{env_id}: greedy {[round(g) for g in result['greedy_returns']]}, "
            f"solved={result['solved']}, "
            f"{result['median_seconds_per_seed']:.2f} s/seed one at a time, "
            f"{result['vmapped_seconds_per_seed']:.2f} s/seed vmapped"
        )
        results.append(result)
    machine = {**machine_description(), "load_average": load_average}
    report = {"results": results, "machine": machine, "smoke": args.smoke}
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    atomic_write_text(args.out / f"{stamp}-presets.json", json.dumps(report, indent=2))
    if (
        not args.smoke
        and not args.no_docs
        and set(args.envs) == set(presets.available())
        and args.root_seed == 2026
    ):
        text = DOCS.read_text()
        head, rest = text.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        atomic_write_text(
            DOCS, head + BEGIN + "\n" + render(results, machine) + END + tail
        )
        # docs/benchmarks.md carries a copy under "Time to solve (presets)".
        bench = REPO_ROOT / "docs" / "benchmarks.md"
        text = bench.read_text()
        heading = "## Time to solve (presets)"
        if heading in text:
            text = text.split(heading, 1)[0].rstrip() + "\n\n"
        else:
            text = text.rstrip() + "\n\n"
        atomic_write_text(
            bench,
            text
            + heading
            + "\n\nThe tuned `lerax.presets.ppo(env_id)` configurations, measured "
            "by `python benchmarks/presets.py` (copied from [Presets](presets.md)):"
            "\n\n" + render(results, machine),
        )
    print(render(results, machine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
