"""Watch PPO train on CartPole-v1: progress bar, CSV + TensorBoard logs, evaluation
during training, and the learning-curve PNG, for several seeds at once.

python examples/watch_training.py [--seeds 4] [--timesteps 131072] [--out runs/watch]
    [--figure docs/images/learning-curve.png] [--quick]

`--quick` (or LERAX_QUICK=1) trains a tiny budget, for CI.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jax
import numpy as np

from lerax import train_seeds
from lerax.algorithm import PPO
from lerax.callback import (
    CSVBackend,
    EvalCallback,
    LoggingCallback,
    ProgressBarCallback,
    TensorBoardBackend,
)
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.plot import plot_learning_curves
from lerax.policy import MLPActorCriticPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--timesteps", type=int, default=2**17)
    parser.add_argument("--out", type=Path, default=Path("runs/watch"))
    parser.add_argument("--figure", type=Path, default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    quick = args.quick or os.environ.get("LERAX_QUICK") == "1"

    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    if quick:
        algo = PPO(num_envs=4, num_steps=64, num_epochs=2, num_batches=4)
        seeds, timesteps, eval_every = 2, 8 * 4 * 64, 2
    else:
        algo = PPO()  # the defaults: 4 envs x 512 steps, 16 epochs x 32 minibatches
        seeds, timesteps, eval_every = args.seeds, args.timesteps, 4
    figure = args.figure or args.out / "learning-curve.png"

    logger = LoggingCallback(
        [CSVBackend(args.out / "train.csv"), TensorBoardBackend(args.out / "tb")]
    )
    callbacks = [
        ProgressBarCallback(),
        # Before the logger, so each evaluation lands on its iteration's row.
        EvalCallback(env, every_iterations=eval_every, num_episodes=8, logger=logger),
        logger,
    ]

    start = time.perf_counter()
    keys = jax.random.split(jax.random.key(0), seeds)
    # One program for all seeds; the initial policies are built eagerly, one
    # seed at a time (orthogonal initialisation vmapped inside a compiled
    # program can deadlock XLA:CPU).
    state = train_seeds(
        algo,
        env,
        lambda key: MLPActorCriticPolicy(env=env, key=key),
        timesteps,
        keys,
        callback=callbacks,
    )
    state = jax.block_until_ready(state)
    print(f"{seeds} seeds x {timesteps} steps in {time.perf_counter() - start:.1f} s")

    # Read a callback's results by its class, not its position in the list.
    evals = state.callback_state[EvalCallback]
    best = [round(float(b), 1) for b in np.asarray(evals.best_return)]
    print(
        f"best evaluation return per seed: {best} (after "
        f"iterations {np.asarray(evals.best_iteration).tolist()}); the best "
        "policies are in state.callback_state[EvalCallback].best_policy"
    )

    import matplotlib.figure

    fig = matplotlib.figure.Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    csv_path = args.out / "train.csv"
    plot_learning_curves(csv_path, labels=["PPO"], ax=left, title="training episodes")
    plot_learning_curves(
        csv_path,
        y="eval_return_mean",
        labels=["PPO"],
        ax=right,
        title="deterministic evaluation (8 episodes)",
    )
    fig.suptitle(
        f"CartPole-v1, {seeds} seeds (mean, min-max band); "
        "python examples/watch_training.py"
    )
    figure.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=100)
    print(f"wrote {csv_path}, {args.out / 'tb'} and {figure}")


if __name__ == "__main__":
    main()
