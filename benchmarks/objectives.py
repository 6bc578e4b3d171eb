"""Policy objectives against PPO's clip: IQM with bootstrap CIs over vmapped seeds.

Every shipped objective (`ClippedSurrogate` = PPO's default, `DPO`, `SPO`,
`KLPenalty`) trains PPO with the same network, hyperparameters, budget and
seed keys on each environment; all seeds of one (objective, environment) pair
run as one `jax.vmap` of `learn` (`lerax.train_seeds`). A seed's score is the
mean episode return of its last 10% of iterations. Per environment, the table
gives each objective's interquartile mean (IQM) over seeds (rliable, Agarwal
et al. 2021) with a 95% percentile-bootstrap confidence interval over seeds.
`LearnedDrift` is not in the table: it has no trained weights to ship (see
examples/learned_objective.py).

Results are written to `<out>/objectives.json` after every pair, and a rerun
skips the pairs already there, so a long run can be split over invocations:

    python benchmarks/objectives.py --envs CartPole-v1 --seeds 8
    python benchmarks/objectives.py --envs Acrobot-v1 --seeds 8
    python benchmarks/objectives.py --envs Pendulum-v1,Breakout-MinAtar --seeds 8
    python benchmarks/objectives.py --smoke     # tiny budgets: checks the script
    python benchmarks/objectives.py --throughput  # default objective, steps/s

`--throughput` times the user call `PPO().learn(...)` on CartPole-v1 (compile
excluded; median of repeats); run it under two checkouts, interleaved, to
compare the default objective with the code before objectives were modules.
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

from lerax import train_seeds
from lerax.algorithm import DPO, PPO, SPO, ClippedSurrogate, KLPenalty
from lerax.callback import EpisodeStatisticsCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import CNNActorCriticPolicy, MLPActorCriticPolicy

OBJECTIVES = {
    "clip": ClippedSurrogate,
    "DPO": DPO,
    "SPO": SPO,
    "KLPenalty": KLPenalty,
}
# environment: (PPO arguments, timesteps, CNN policy?)
ENVS = {
    "CartPole-v1": (
        dict(num_envs=4, num_steps=128, num_epochs=4, num_batches=4,
             learning_rate=2.5e-3, anneal_learning_rate=True),
        2**16,
        False,
    ),
    "Acrobot-v1": (
        dict(num_envs=4, num_steps=128, num_epochs=4, num_batches=4,
             learning_rate=2.5e-3, anneal_learning_rate=True),
        2**16,
        False,
    ),
    "Pendulum-v1": (
        dict(num_envs=16, num_steps=256, num_epochs=10, num_batches=16,
             learning_rate=1e-3, gae_lambda=0.95, gamma=0.95),
        2**19,
        False,
    ),
    "Breakout-MinAtar": (
        dict(num_envs=64, num_steps=128, num_epochs=4, num_batches=8,
             learning_rate=1e-3, anneal_learning_rate=True,
             entropy_loss_coefficient=0.01, adam_eps=1e-5),
        2**19,
        True,
    ),
}  # fmt: skip
SMOKE = dict(num_envs=2, num_steps=16, num_epochs=1, num_batches=2)


def score_pair(env_name: str, objective: str, num_seeds: int, smoke: bool) -> dict:
    """Train one objective on one environment, every seed at once.

    Args:
        env_name: A gymnax environment name.
        objective: A key of `OBJECTIVES`.
        num_seeds: Seeds (vmapped).
        smoke: Tiny budgets.

    Returns:
        The per-seed scores and the wall time (compile included).
    """
    kwargs, timesteps, cnn = ENVS[env_name]
    if smoke:
        kwargs, timesteps = SMOKE, 2 * 32
    env = GymnaxToLeraxEnv.from_name(env_name)
    algo = PPO(**kwargs, objective=OBJECTIVES[objective]())
    policy_cls = CNNActorCriticPolicy if cnn else MLPActorCriticPolicy
    keys = jax.random.split(jax.random.key(0), num_seeds)
    start = time.perf_counter()
    state = train_seeds(
        algo,
        env,
        lambda k: policy_cls(env=env, key=k),
        timesteps,
        keys,
        callback=EpisodeStatisticsCallback(),
    )
    returns = np.asarray(state.callback_state.mean_return)  # (seeds, iterations)
    seconds = time.perf_counter() - start
    window = max(1, returns.shape[1] // 10)
    with np.errstate(all="ignore"):
        scores = np.nanmean(returns[:, -window:], axis=1)
    return {
        "scores": [round(float(s), 2) for s in scores],
        "timesteps": timesteps,
        "seconds_with_compile": round(seconds, 1),
    }


def iqm_table(results: dict, reps: int) -> list[dict]:
    """IQM and 95% bootstrap CI of every (environment, objective) with results.

    The IQM is rliable's `metrics.aggregate_iqm`. The interval is a percentile
    bootstrap over seeds done here in NumPy (with one task per table row,
    rliable's stratified bootstrap is this): `rliable.library` imports `arch`,
    whose current release fails to import with pandas 3.

    Args:
        results: `results[env][objective]` as written by `score_pair`.
        reps: Bootstrap resamples.

    Returns:
        One row per pair.
    """
    from rliable import metrics

    rng = np.random.default_rng(0)
    rows = []
    for env_name, by_objective in results.items():
        for name, r in by_objective.items():
            # A seed without a finished episode in its window scores NaN: it is
            # left out (and counted in `seeds`).
            scores = np.asarray(r["scores"], float)
            finite = scores[np.isfinite(scores)][:, None]
            picks = rng.integers(0, len(finite), (reps, len(finite)))
            boot = [metrics.aggregate_iqm(finite[p]) for p in picks]
            rows.append(
                {
                    "env": env_name,
                    "objective": name,
                    "seeds": f"{len(finite)}/{len(scores)}",
                    "iqm": round(float(metrics.aggregate_iqm(finite)), 2),
                    "ci": [
                        round(float(v), 2) for v in np.percentile(boot, [2.5, 97.5])
                    ],
                }
            )
    return rows


def markdown(rows: list[dict]) -> str:
    """The IQM table as Markdown."""
    lines = [
        "| environment | objective | seeds | IQM | 95% CI |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lo, hi = r["ci"]
        lines.append(
            f"| {r['env']} | {r['objective']} | {r['seeds']} | {r['iqm']:.1f} "
            f"| [{lo:.1f}, {hi:.1f}] |"
        )
    return "\n".join(lines)


def throughput(repeats: int, smoke: bool) -> dict:
    """Steps per second of the user call `PPO().learn` on CartPole-v1.

    Args:
        repeats: Timed calls after the compiling one.
        smoke: Tiny budget.

    Returns:
        The median and every timing.
    """
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algo = PPO(**SMOKE) if smoke else PPO()
    timesteps = 2 * 32 if smoke else 2**15
    jax.block_until_ready(algo.learn(env, policy, timesteps, key=jax.random.key(0)))
    rates = []
    for i in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(
            algo.learn(env, policy, timesteps, key=jax.random.key(i + 1))
        )
        rates.append(timesteps / (time.perf_counter() - start))
    return {"median_steps_per_second": statistics.median(rates), "rates": rates}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--envs", default="CartPole-v1,Acrobot-v1")
    parser.add_argument("--objectives", default=",".join(OBJECTIVES))
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--reps", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--throughput", action="store_true")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.smoke:
        announce_smoke()
    if args.throughput:
        print(json.dumps(throughput(args.repeats, args.smoke)))
        return 0
    envs = args.envs.split(",")
    objectives = args.objectives.split(",")
    for name in envs + objectives:
        if name not in ENVS and name not in OBJECTIVES:
            raise SystemExit(f"unknown environment or objective {name!r}")
    seeds = 2 if args.smoke else args.seeds
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / ("objectives-smoke.json" if args.smoke else "objectives.json")
    results = json.loads(path.read_text()) if path.exists() else {}
    for env_name in envs:
        for objective in objectives:
            if objective in results.get(env_name, {}):
                continue
            row = score_pair(env_name, objective, seeds, args.smoke)
            results.setdefault(env_name, {})[objective] = row
            path.write_text(json.dumps(results, indent=1))
            print(f"{env_name} {objective}: {row}", flush=True)
    rows = iqm_table(
        {e: results[e] for e in envs}, reps=100 if args.smoke else args.reps
    )
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
