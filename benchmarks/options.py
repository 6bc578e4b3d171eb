"""PPO options on Pendulum-v1: observation normalization and scaled observations.

Rows (PPO defaults otherwise, 4 seeds trained at once with ``jax.vmap``):

- Pendulum-v1 with ``normalize_observations=True``: target >= -200 mean score
  within 2**19 steps;
- Pendulum-v1 without normalization (the reference curve);
- Pendulum-v1 with observations multiplied by 100 (``TransformObservation``),
  with normalization: should learn as well as the unscaled env;
- the same x100 env without normalization: visibly worse.

A seed's score is the mean return of the episodes completed in the last 10% of
training iterations (stochastic policy), as in ``benchmarks/learning.py``. The
curves (mean over seeds of each iteration's mean episode return, in 8 bins) are
printed as a Markdown table and written to ``<out>/<timestamp>-options.json``.

    python benchmarks/options.py            # full budgets (several minutes)
    python benchmarks/options.py --smoke    # tiny budgets: checks the script
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.env import TransformObservation
from lerax.policy import MLPActorCriticPolicy

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
BINS = 8


def times_100(observation):
    """The Pendulum observation multiplied by 100 (a named, fingerprintable fn)."""
    return observation * 100.0


def rows(smoke: bool) -> list[dict]:
    """The benchmark rows: name, env scale, normalization, target."""
    del smoke
    return [
        dict(name="pendulum, normalized obs", scale=False, normalize=True, floor=-200),
        dict(name="pendulum, raw obs", scale=False, normalize=False, floor=None),
        dict(name="pendulum x100, normalized obs", scale=True, normalize=True),
        dict(name="pendulum x100, raw obs", scale=True, normalize=False),
    ]


def run_row(row: dict, *, smoke: bool, num_seeds: int, seed: int) -> dict:
    """Train every seed of one row at once and score it."""
    env = GymnaxToLeraxEnv.from_name("Pendulum-v1")
    if row["scale"]:
        env = TransformObservation(env, times_100)
    sizes = dict(num_envs=2, num_steps=16, num_epochs=1, num_batches=2) if smoke else {}
    algo = PPO(**sizes)
    total = 64 if smoke else 2**19
    callback = EpisodeStatisticsCallback()

    def train(key):
        policy_key, learn_key = jax.random.split(key)
        policy = MLPActorCriticPolicy(
            env=env, key=policy_key, normalize_observations=row["normalize"]
        )
        state = algo.learn_state(env, policy, total, key=learn_key, callback=callback)
        return state.callback_state.mean_return

    keys = jax.random.split(jax.random.key(seed), num_seeds)
    start = time.perf_counter()
    curves = np.asarray(jax.block_until_ready(jax.jit(jax.vmap(train))(keys)))
    seconds = time.perf_counter() - start
    num_iterations = curves.shape[1]
    tail = max(1, num_iterations // 10)
    with np.errstate(all="ignore"):
        scores = np.nanmean(curves[:, -tail:], axis=1)
        mean_curve = np.nanmean(curves, axis=0)
        bins = [float(np.nanmean(chunk)) for chunk in np.array_split(mean_curve, BINS)]
    return dict(
        row,
        timesteps=total,
        score_per_seed=[round(float(s), 1) for s in scores],
        score=round(float(np.nanmean(scores)), 1),
        curve_bins=[round(b, 1) for b in bins],
        curve=[None if np.isnan(v) else round(float(v), 1) for v in mean_curve],
        seconds_with_compile=round(seconds, 1),
    )


def render_markdown(results: list[dict]) -> str:
    """The results as a Markdown table (score and binned learning curve)."""
    header = " | ".join(f"{100 * (i + 1) // BINS}%" for i in range(BINS))
    lines = [
        f"| row | score (mean) | per seed | target | curve: {header} | wall s |",
        "| --- | --- | --- | --- | "
        + " | ".join("---" for _ in range(BINS))
        + " | --- |",
    ]
    for r in results:
        floor = "" if r.get("floor") is None else f">= {r['floor']}"
        lines.append(
            f"| {r['name']} | {r['score']:.1f} | "
            f"{', '.join(f'{s:.0f}' for s in r['score_per_seed'])} | {floor} | "
            + " | ".join(f"{b:.0f}" for b in r["curve_bins"])
            + f" | {r['seconds_with_compile']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the rows; exit 1 if a full run misses the -200 target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="tiny budgets")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    results = []
    for row in rows(args.smoke):
        print(f"[options] {row['name']} ...", file=sys.stderr, flush=True)
        results.append(
            run_row(row, smoke=args.smoke, num_seeds=args.seeds, seed=args.seed)
        )
        print(f"[options]   score {results[-1]['score']}", file=sys.stderr)
    markdown = render_markdown(results)
    print(markdown)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
    args.out.mkdir(parents=True, exist_ok=True)
    report = dict(
        date=stamp,
        jax=jax.__version__,
        smoke=args.smoke,
        seeds=args.seeds,
        results=results,
    )
    (args.out / f"{stamp}-options{'-smoke' if args.smoke else ''}.json").write_text(
        json.dumps(report, indent=1)
    )
    missed = [
        r["name"]
        for r in results
        if r.get("floor") is not None and not r["score"] >= r["floor"]
    ]
    if missed and not args.smoke:
        print(f"missed the target: {', '.join(missed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    jnp.zeros(())  # initialise the backend before timing
    sys.exit(main())
