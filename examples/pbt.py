"""Population-based training of PPO on CartPole, in one compiled program.

python examples/pbt.py [--members 8] [--timesteps 65536] [--interval 4]

Eight members explore the learning rate and the entropy coefficient; every
`--interval` iterations the worst quarter copies the best and perturbs the copied
hyperparameters. Prints the copies, the best member and the learning-rate
schedule its weights were trained with, and saves a plot (with matplotlib).

`LERAX_QUICK=1` shrinks it to a few iterations.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import jax
import numpy as np

import lerax
from lerax.algorithm import PPO
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy

QUICK = os.environ.get("LERAX_QUICK") == "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=4 if QUICK else 8)
    parser.add_argument("--timesteps", type=int, default=4 * 512 if QUICK else 2**16)
    parser.add_argument("--interval", type=int, default=2 if QUICK else 4)
    args = parser.parse_args()

    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    algo = PPO(num_envs=4, num_steps=128, num_epochs=4, num_batches=4)
    result = lerax.pbt(
        algo,
        env,
        lambda key: MLPActorCriticPolicy(env=env, key=key),
        args.timesteps,
        {"learning_rate": (1e-4, 1e-2), "entropy_loss_coefficient": (0.0, 0.02)},
        population_size=args.members,
        interval=args.interval,
        key=jax.random.key(0),
    )
    for copy in result.copies():
        print(
            f"iteration {copy['iteration']}: member {copy['member']} copied "
            f"member {copy['source']}"
        )
    best = result.best()
    print(f"best member: {best}, final fitness {result.fitness[-1, best]:.1f}")
    print("its lineage:", result.lineage(best).tolist())
    schedule = result.schedule(best)
    print("its learning-rate schedule:", np.round(schedule["learning_rate"], 6))
    try:
        out = Path(tempfile.mkdtemp()) / "pbt.png"
        result.plot(out)
        print(f"plot: {out}")
    except ImportError as error:
        print(f"no plot ({error})")


if __name__ == "__main__":
    main()
