"""Learning floors: does lerax's PPO, at its defaults, learn what it should?

Trains lerax's ``PPO`` (and, side by side on the same seeds, the plain single-file
PPO of ``plain_ppo.py``) at the defaults, several seeds at once with ``jax.vmap``:

- CartPole-v1 within 2**17 timesteps: floor 475 mean episode return;
- Pendulum-v1 within 2**19 timesteps: floor -250.

Then the PPO-options rows (the functions of ``benchmarks/options.py``, run from
here): Pendulum-v1 with observation normalization (target >= -200), Pendulum-v1
with observations x100 normalized vs raw, and the memory tasks (GRU / LSTM / MLP);
and MinAtar Breakout (gymnax ``Breakout-MinAtar``) with ``CNNActorCriticPolicy``
next to a uniformly random policy (floor: ``MINATAR_FLOOR``).

The score of a seed is the mean return of the episodes its stochastic policy
completed during the last 10% of training iterations (what the floors of the core
PPO issue refer to); the final policy is also evaluated deterministically. A
configuration passes when the mean over seeds reaches the floor; the script exits
1 if lerax misses a floor (a learning regression), 0 otherwise.

    python benchmarks/learning.py                 # 4 seeds, full budgets, minutes
    python benchmarks/learning.py --seeds 8       # more seeds
    python benchmarks/learning.py --smoke         # tiny budgets: checks the script
    python benchmarks/learning.py --rows minatar --seeds 2 --no-docs

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

import equinox as eqx
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import options
import plain_ppo
from _smoke import announce_smoke
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

from lerax import train_seeds
from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import CNNActorCriticPolicy

DEFAULT_DOCS = REPO_ROOT / "docs" / "learning.md"
ROW_GROUPS = ("floors", "pendulum", "memory", "minatar")

MINATAR_ENV = "Breakout-MinAtar"
MINATAR_TIMESTEPS = 2**17
# "Clearly above random": the uniformly random policy scores about 0.4 (see
# docs/learning.md).
MINATAR_FLOOR = 1.0
MINATAR_EVAL_EPISODES = 64


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
                # Smoke: 13 iterations of 2 x 16 steps, the last holding the end
                # of the 200-step episodes (a score, not NaN).
                13 * 32 if smoke else 2**19,
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
        "training_return": round(options.finite_mean(training), 2),
        "eval_return_per_seed": [round(float(r), 2) for r in evaluation],
        "eval_return": round(float(np.mean(evaluation)), 2),
        "seconds_with_compile": round(seconds, 1),
    }


def minatar_algorithm(smoke: bool):
    """PPO for MinAtar Breakout (PureJaxRL's MinAtar settings, scaled down).

    Args:
        smoke: Tiny sizes.

    Returns:
        The `PPO` instance.
    """
    if smoke:
        return PPO(num_envs=2, num_steps=16, num_epochs=1, num_batches=2)
    return PPO(
        num_envs=64,
        num_steps=128,
        num_epochs=4,
        num_batches=8,
        learning_rate=1e-3,
        anneal_learning_rate=True,
        entropy_loss_coefficient=0.01,
        adam_eps=1e-5,
    )


def run_minatar_row(*, smoke: bool, num_seeds: int, seed: int) -> dict[str, Any]:
    """Train `CNNActorCriticPolicy` on MinAtar Breakout; score it and random play.

    Args:
        smoke: Tiny budgets (the numbers are then not meaningful).
        num_seeds: Seeds trained at once (`train_seeds`).
        seed: Base seed.

    Returns:
        Training scores (mean return of the episodes completed in the last 10%
        of iterations), the final policies' stochastic evaluation and a
        uniformly random policy's evaluation, per seed, and the wall time.
    """
    env = GymnaxToLeraxEnv.from_name(MINATAR_ENV)
    algo = minatar_algorithm(smoke)
    total = 64 if smoke else MINATAR_TIMESTEPS
    episodes = 2 if smoke else MINATAR_EVAL_EPISODES
    keys = jax.random.split(jax.random.key(seed), num_seeds)
    train_keys, eval_keys, random_keys = jnp.unstack(
        jax.vmap(lambda k: jax.random.split(k, 3))(keys), axis=1
    )
    start = time.perf_counter()
    states = train_seeds(
        algo,
        env,
        lambda k: CNNActorCriticPolicy(env=env, key=k),
        total,
        train_keys,
        callback=EpisodeStatisticsCallback(),
    )
    curves = np.asarray(jax.block_until_ready(states.callback_state.mean_return))
    seconds = time.perf_counter() - start

    def evaluate(policy, key):
        return evaluate_policy(
            env, policy, key=key, num_episodes=episodes, deterministic=False
        ).returns

    trained = np.asarray(eqx.filter_vmap(evaluate)(states.policy, eval_keys))
    # A uniformly random policy: the trained architecture with zero logits.
    first = jax.tree.map(lambda x: x[0], states.policy)
    last = first.actor.layers[-1]
    uniform = eqx.tree_at(
        lambda p: (p.actor.layers[-1].weight, p.actor.layers[-1].bias),
        first,
        (jnp.zeros_like(last.weight), jnp.zeros_like(last.bias)),
    )
    random = np.asarray(jax.vmap(lambda k: evaluate(uniform, k))(random_keys)).mean(
        axis=1
    )
    num_iterations = curves.shape[1]
    tail = max(1, num_iterations // 10)
    # Smoke budgets finish few episodes: an empty bin is NaN (shown as "-").
    scores = np.array([options.finite_mean(c[-tail:]) for c in curves])
    mean_curve = np.array([options.finite_mean(column) for column in curves.T])
    bins = [
        options.finite_mean(chunk) for chunk in np.array_split(mean_curve, options.BINS)
    ]
    return {
        "name": "Breakout-MinAtar, CNNActorCriticPolicy",
        "env_name": MINATAR_ENV,
        "timesteps_per_seed": total,
        "floor": MINATAR_FLOOR,
        "score_per_seed": [round(float(s), 2) for s in scores],
        "score": round(options.finite_mean(scores), 2),
        "eval_per_seed": [round(float(r), 2) for r in trained.mean(axis=1)],
        "eval": round(float(trained.mean()), 2),
        "random_per_seed": [round(float(r), 2) for r in random],
        "random": round(float(random.mean()), 2),
        "curve_bins": [round(b, 2) for b in bins],
        "seconds_with_compile": round(seconds, 1),
    }


def render_minatar_markdown(row: dict[str, Any]) -> str:
    """The MinAtar row as a Markdown table."""
    header = " | ".join(
        f"{100 * (i + 1) // options.BINS}%" for i in range(options.BINS)
    )
    return (
        f"| env | timesteps | floor | CNN score (mean) | per seed | CNN eval | "
        f"random eval | curve: {header} | wall s |\n"
        "| --- | --- | --- | --- | --- | --- | --- | "
        + " | ".join("---" for _ in range(options.BINS))
        + " | --- |\n"
        f"| {row['env_name']} | {row['timesteps_per_seed']} | {row['floor']:g} | "
        f"{options.format_cell(row['score'], '.2f')} | "
        + ", ".join(options.format_cell(s, ".2f") for s in row["score_per_seed"])
        + f" | {row['eval']:.2f} | {row['random']:.2f} | "
        + " | ".join(options.format_cell(b, ".2f") for b in row["curve_bins"])
        + f" | {row['seconds_with_compile']:.0f} |\n"
    )


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
    ]
    if report["results"]:
        lines += [
            "## Floors (PPO defaults)",
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
                f"{entry['floor']:g} | {name} | "
                f"{options.format_cell(result['training_return'], '.1f')} | "
                + ", ".join(
                    options.format_cell(r, ".0f")
                    for r in result["training_return_per_seed"]
                )
                + f" | {result['eval_return']:.1f} | {'yes' if passes else 'no'} | "
                f"{result['seconds_with_compile']:.0f} |"
            )
    if report.get("pendulum"):
        lines += [
            "",
            "## Observation normalization (Pendulum-v1, 2**19 steps)",
            "",
            "`MLPActorCriticPolicy(normalize_observations=True)` against raw "
            "observations, on Pendulum-v1 and on Pendulum-v1 with its "
            "observations multiplied by 100 (`TransformObservation`). Curve: "
            "mean over seeds of each iteration's mean episode return, in 8 bins.",
            "",
            options.render_markdown(report["pendulum"]).rstrip("\n"),
        ]
    if report.get("memory"):
        lines += [
            "",
            "## Memory tasks (recurrent policies)",
            "",
            "The right action depends on an observation shown only at the first "
            "step (`benchmarks/options.py`'s cue task, 8 steps, chance 0.5; "
            "gymnax `MemoryChain-bsuite`, chance 0). Score: the final policy's "
            "mean deterministic return over 256 episodes per seed.",
            "",
            options.render_memory_markdown(report["memory"]).rstrip("\n"),
        ]
    if report.get("minatar"):
        lines += [
            "",
            "## MinAtar Breakout (`CNNActorCriticPolicy`)",
            "",
            "PPO (64 envs x 128 steps, 4 epochs of 8 minibatches, learning rate "
            "1e-3 annealed, entropy 0.01, Adam eps 1e-5) with the default "
            "`CNNActorCriticPolicy` (one 3x3 convolution of 16 filters, a "
            "128-unit dense layer). Score: as above (stochastic policy, last 10% "
            f"of iterations); eval: the final policy sampled over "
            f"{MINATAR_EVAL_EPISODES} episodes per seed; random: a uniformly "
            "random policy over as many episodes.",
            "",
            render_minatar_markdown(report["minatar"]).rstrip("\n"),
        ]
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
    parser.add_argument(
        "--rows",
        default=",".join(ROW_GROUPS),
        help=f"comma-separated groups of rows to run (default all: "
        f"{','.join(ROW_GROUPS)}); docs/learning.md is rewritten only when all run",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        announce_smoke()
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    names = [n for n in args.impls.split(",") if n]
    groups = [g for g in args.rows.split(",") if g]
    unknown = sorted(set(groups) - set(ROW_GROUPS))
    if unknown:
        parser.error(f"unknown --rows {', '.join(unknown)}; choose from {ROW_GROUPS}")

    results, pendulum, memory, minatar = [], [], [], None
    for target in targets(args.smoke, args.seeds) if "floors" in groups else []:
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
            score = options.format_cell(result["training_return"], "g")
            per_seed = ", ".join(
                options.format_cell(r, "g") for r in result["training_return_per_seed"]
            )
            log(
                f"  {name}: score {score} [{per_seed}], eval {result['eval_return']}"
                f" ({result['seconds_with_compile']} s)"
            )
        results.append(entry)
    for row in options.rows(args.smoke) if "pendulum" in groups else []:
        log(f"[options] {row['name']} ...")
        pendulum.append(
            options.run_row(row, smoke=args.smoke, num_seeds=args.seeds, seed=args.seed)
        )
        per_seed = ", ".join(
            options.format_cell(r, "g") for r in pendulum[-1]["score_per_seed"]
        )
        score = options.format_cell(pendulum[-1]["score"], "g")
        log(f"  score {score} [{per_seed}]")
    for row in options.memory_rows() if "memory" in groups else []:
        log(f"[options] {row['name']} ...")
        memory.append(
            options.run_memory_row(
                row, smoke=args.smoke, num_seeds=args.seeds, seed=args.seed
            )
        )
        log(f"  score {memory[-1]['score']} {memory[-1]['score_per_seed']}")
    if "minatar" in groups:
        log(f"[minatar] {MINATAR_ENV}, {args.seeds} seeds ...")
        minatar = run_minatar_row(
            smoke=args.smoke, num_seeds=args.seeds, seed=args.seed
        )
        score = options.format_cell(minatar["score"], "g")
        per_seed = ", ".join(
            options.format_cell(r, "g") for r in minatar["score_per_seed"]
        )
        log(
            f"  score {score} [{per_seed}], eval "
            f"{minatar['eval']}, random {minatar['random']} "
            f"({minatar['seconds_with_compile']} s)"
        )

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
        "pendulum": pendulum,
        "memory": memory,
        "minatar": minatar,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    json_path = args.out / f"{stamp}-learning{'-smoke' if args.smoke else ''}.json"
    atomic_write_text(json_path, json.dumps(report, indent=2) + "\n")
    markdown = render_markdown(report)
    print(markdown)
    log(f"wrote {json_path}")
    if not args.smoke and not args.no_docs and set(groups) == set(ROW_GROUPS):
        atomic_write_text(DEFAULT_DOCS, markdown)
        log(f"wrote {DEFAULT_DOCS}")

    missed = [
        entry["name"]
        for entry in results
        if "lerax" in entry["implementations"]
        and not entry["implementations"]["lerax"]["training_return"] >= entry["floor"]
    ]
    missed += [
        r["name"]
        for r in pendulum
        if r.get("floor") is not None and not r["score"] >= r["floor"]
    ]
    if minatar is not None and not minatar["score"] >= minatar["floor"]:
        missed.append(minatar["name"])
    if missed and not args.smoke:
        log(f"lerax missed the learning floor on: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
