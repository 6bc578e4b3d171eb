"""Learning floors: does lerax's PPO, at its defaults, learn what it should?

Trains lerax's ``PPO`` (and, side by side on the same seeds, the plain single-file
PPO of ``plain_ppo.py``) at the defaults, several seeds at once with ``jax.vmap``:

- CartPole-v1 within 2**17 timesteps: floor 475 mean episode return;
- Pendulum-v1 within 2**19 timesteps: floor -250.

The score of a seed is the mean return of the episodes its stochastic policy
completed during the last 10% of training iterations (what the floors of the core
PPO issue refer to); the final policy is also evaluated deterministically. A
configuration passes when the mean over seeds reaches the floor; the script exits
1 if lerax misses a floor (a learning regression), 0 otherwise.

    python benchmarks/learning.py                 # 4 seeds, full budgets, minutes
    python benchmarks/learning.py --seeds 8       # more seeds
    python benchmarks/learning.py --smoke         # tiny budgets: checks the script

Writes ``<out>/<timestamp>-learning.json`` and, for a full run, ``docs/learning.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
import time
from pathlib import Path
from typing import Any

import gymnax
import jax
import numpy as np
import plain_ppo
from implementations import BenchConfig, load_implementation
from run import (
    DEFAULT_OUT,
    REPO_ROOT,
    atomic_write_text,
    batched,
    initial_arrays,
    log,
    machine_description,
    seed_keys,
)

DEFAULT_DOCS = REPO_ROOT / "docs" / "learning.md"


@dataclasses.dataclass(frozen=True)
class LearningTarget:
    """A configuration and the mean return lerax must reach on it.

    Attributes:
        config: The benchmark configuration (PPO defaults unless overridden).
        floor: The minimum mean (over seeds) final training return.
    """

    config: BenchConfig
    floor: float


def targets(smoke: bool, num_seeds: int) -> list[LearningTarget]:
    """The learning targets: the core PPO issue's floors at its budgets.

    Args:
        smoke: Tiny budgets and sizes (the floors are then not meaningful).
        num_seeds: Seeds per configuration.

    Returns:
        The targets, CartPole first.
    """
    sizes = (
        {"num_envs": 2, "num_steps": 16, "num_epochs": 1, "num_batches": 2}
        if smoke
        else {}
    )
    return [
        LearningTarget(
            BenchConfig(
                "cartpole",
                "CartPole-v1",
                64 if smoke else 2**17,
                num_seeds=num_seeds,
                description="CartPole-v1, PPO defaults",
                **sizes,
            ),
            floor=475.0,
        ),
        LearningTarget(
            BenchConfig(
                "pendulum",
                "Pendulum-v1",
                64 if smoke else 2**19,
                num_seeds=num_seeds,
                description="Pendulum-v1, PPO defaults",
                **sizes,
            ),
            floor=-250.0,
        ),
    ]


def train_and_score(
    name: str, config: BenchConfig, *, seed: int, eval_episodes: int
) -> dict[str, Any]:
    """Train one implementation on every seed at once and score each seed.

    Args:
        name: ``"lerax"`` or ``"plain"``.
        config: The configuration.
        seed: Base seed; both implementations receive the same keys.
        eval_episodes: Deterministic evaluation episodes per seed.

    Returns:
        Per-seed final training returns and evaluation returns, and the wall time.
    """
    built = load_implementation(name).build(config)
    keys = seed_keys(config, seed)
    init = initial_arrays(built.init, config, keys)
    start = time.perf_counter()
    output = jax.block_until_ready(jax.jit(batched(built.train, config))(keys, init))
    seconds = time.perf_counter() - start
    env, env_params = gymnax.make(config.env_name)

    def eval_seed(out, key):
        return plain_ppo.evaluate(
            built.action_fn(out), env, env_params, key, eval_episodes
        )

    eval_keys = seed_keys(config, seed + 10_000)
    evaluation = np.asarray(jax.jit(batched(eval_seed, config))(output, eval_keys))
    training = np.asarray(jax.jit(batched(built.training_return, config))(output))
    training = training.reshape(config.num_seeds)
    evaluation = evaluation.reshape(config.num_seeds, eval_episodes).mean(axis=1)
    return {
        "training_return_per_seed": [round(float(r), 2) for r in training],
        "training_return": round(float(np.nanmean(training)), 2),
        "eval_return_per_seed": [round(float(r), 2) for r in evaluation],
        "eval_return": round(float(np.mean(evaluation)), 2),
        "seconds_with_compile": round(seconds, 1),
    }


def render_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown (the content of ``docs/learning.md``)."""
    meta = report["meta"]
    machine = meta["machine"]
    lines = [
        "# Learning floors",
        "",
        "lerax's `PPO` and `MLPActorCriticPolicy` at their defaults on gymnax "
        "environments, all seeds trained at once with `jax.vmap`, next to the plain "
        "single-file PPO (`benchmarks/plain_ppo.py`) on the same seeds. Score: mean "
        "return of the episodes completed in the last 10% of training iterations "
        "(stochastic policy); eval: the final policy, deterministic. Generated by "
        "`python benchmarks/learning.py`.",
        "",
        f"- Date: {meta['date']}; {meta['num_seeds']} seeds (base seed "
        f"{meta['seed']}); {meta['eval_episodes']} evaluation episodes per seed",
        f"- Machine: {machine['cpu']}, {machine['cores']} usable core(s); "
        f"jax {machine['jax']}",
        "",
        "| env | timesteps | floor | impl | score (mean) | score per seed "
        "| eval (mean) | passes | wall s (incl. compile) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for entry in report["results"]:
        for name, result in entry["implementations"].items():
            passes = result["training_return"] >= entry["floor"]
            lines.append(
                f"| {entry['env_name']} | {entry['timesteps_per_seed']} | "
                f"{entry['floor']:g} | {name} | {result['training_return']:.1f} | "
                f"{', '.join(f'{r:.0f}' for r in result['training_return_per_seed'])}"
                f" | {result['eval_return']:.1f} | {'yes' if passes else 'no'} | "
                f"{result['seconds_with_compile']:.0f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the learning targets; exit 1 if lerax misses a floor (full run)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4, help="seeds (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="base seed")
    parser.add_argument("--eval-episodes", type=int, default=16)
    parser.add_argument("--impls", default="lerax,plain")
    parser.add_argument("--smoke", action="store_true", help="tiny budgets")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--no-docs", action="store_true", help="do not rewrite docs/learning.md"
    )
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    names = [n for n in args.impls.split(",") if n]

    results = []
    for target in targets(args.smoke, args.seeds):
        config = target.config
        log(f"[{config.name}] {config.num_seeds} seeds x {config.timesteps_per_seed}")
        entry = {
            "name": config.name,
            "env_name": config.env_name,
            "timesteps_per_seed": config.timesteps_per_seed,
            "floor": target.floor,
            "implementations": {},
        }
        for name in names:
            result = train_and_score(
                name, config, seed=args.seed, eval_episodes=args.eval_episodes
            )
            entry["implementations"][name] = result
            log(
                f"  {name}: score {result['training_return']} "
                f"{result['training_return_per_seed']}, eval {result['eval_return']}"
                f" ({result['seconds_with_compile']} s)"
            )
        results.append(entry)

    now = datetime.datetime.now(datetime.UTC)
    report = {
        "meta": {
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "num_seeds": args.seeds,
            "seed": args.seed,
            "eval_episodes": args.eval_episodes,
            "smoke": args.smoke,
            "machine": machine_description(),
        },
        "results": results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    json_path = args.out / f"{stamp}-learning{'-smoke' if args.smoke else ''}.json"
    atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    markdown = render_markdown(report)
    print(markdown)
    log(f"wrote {json_path}")
    if not args.smoke and not args.no_docs:
        atomic_write_text(DEFAULT_DOCS, markdown)
        log(f"wrote {DEFAULT_DOCS}")

    missed = [
        entry["name"]
        for entry in results
        if "lerax" in entry["implementations"]
        and not entry["implementations"]["lerax"]["training_return"] >= entry["floor"]
    ]
    if missed and not args.smoke:
        log(f"lerax missed the learning floor on: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
