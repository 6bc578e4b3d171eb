"""What watching training costs: PPO with and without a progress bar and loggers.

Side by side in one process, interleaved A B A B so machine noise cancels in the
ratio: A is `PPO()` (the defaults: 4 envs x 512 steps, 16 epochs x 32 minibatches)
on CartPole-v1 with no callback; B is the same run with `ProgressBarCallback`
(plain lines, printed every iteration to /dev/null) and `LoggingCallback([CSV,
TensorBoard])` writing a row every iteration. Both are compiled before timing;
the timed runs use new keys (and B new callbacks, so new files), which compiles
nothing. Reported: env steps per second of each run, and the median over pairs of
the throughput ratio B / A (1.0 = free; the target is >= 0.95).

    python benchmarks/callbacks_overhead.py                  # 2**16 steps x 3 pairs
    python benchmarks/callbacks_overhead.py --timesteps 131072 --pairs 5
    python benchmarks/callbacks_overhead.py --smoke          # tiny: checks the script
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
from _smoke import announce_smoke

from lerax.algorithm import PPO
from lerax.callback import (
    CSVBackend,
    LoggingCallback,
    ProgressBarCallback,
    TensorBoardBackend,
)
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**16)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny budgets (CI)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.smoke:
        announce_smoke()

    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    if args.smoke:
        algo = PPO(num_envs=2, num_steps=16, num_epochs=1, num_batches=2)
        timesteps, pairs = 4 * 32, 1
    else:
        algo = PPO()
        timesteps, pairs = args.timesteps, args.pairs
    devnull = open(os.devnull, "w")  # open for the whole run
    folder = Path(tempfile.mkdtemp(prefix="lerax-callbacks-overhead-"))

    def callbacks(i):
        return [
            ProgressBarCallback(plain=True, min_interval=0.0, file=devnull),
            LoggingCallback(
                [
                    CSVBackend(folder / f"run{i}.csv"),
                    TensorBoardBackend(folder / f"tb{i}"),
                ],
                every=1,
            ),
        ]

    def run(with_callbacks: bool, i: int) -> float:
        start = time.perf_counter()
        out = algo.learn(
            env,
            policy,
            timesteps,
            key=jax.random.key(100 + i),
            callback=callbacks(i) if with_callbacks else None,
        )
        jax.block_until_ready(out)
        return timesteps / (time.perf_counter() - start)

    for with_callbacks in (False, True):  # compile both programs
        run(with_callbacks, -1)
    plain, watched, ratios = [], [], []
    for i in range(pairs):
        a = run(False, i)
        b = run(True, i)
        plain.append(a)
        watched.append(b)
        ratios.append(b / a)
        print(f"pair {i}: {a:,.0f} vs {b:,.0f} steps/s, ratio {b / a:.3f}", flush=True)
    rows = sum(1 for _ in open(folder / f"run{pairs - 1}.csv")) - 1
    iterations = algo.num_iterations(timesteps)
    if rows != iterations:
        print(f"error: the CSV has {rows} rows, expected {iterations}", file=sys.stderr)
        return 1
    result = {
        "timesteps": timesteps,
        "pairs": pairs,
        "steps_per_second_without": statistics.median(plain),
        "steps_per_second_with": statistics.median(watched),
        "ratio_median": statistics.median(ratios),
        "ratios": ratios,
        "jax": jax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "machine": platform.platform(),
        "cpu_count": os.cpu_count(),
    }
    print(
        f"| CartPole-v1, PPO defaults, {timesteps} steps x {pairs} pairs | "
        f"{result['steps_per_second_without']:,.0f} | "
        f"{result['steps_per_second_with']:,.0f} | {result['ratio_median']:.3f} |"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
