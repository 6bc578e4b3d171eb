"""Survive a crash: checkpoint a PPO run, kill it, re-run the same call, resume exactly.

The script starts the training in a child process, kills it (SIGKILL, as a
pre-empted job would be) once a few checkpoints exist, then runs the very same
`learn(...)` call here: it continues from the newest checkpoint. The result is
compared with an uninterrupted run with the same key: the parameters are
bit-for-bit identical.

python examples/checkpoint_resume.py [--timesteps 65536] [--quick]
(`--quick`, or LERAX_QUICK=1, uses a tiny budget: what CI runs.)
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from lerax.algorithm import PPO
from lerax.checkpoint import Checkpointer
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy

ALGORITHM = PPO(num_envs=4, num_steps=128, num_epochs=4, num_batches=4)


def train(directory: str | None, timesteps: int):
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    checkpointer = (
        Checkpointer(directory, every_iterations=2, keep=3) if directory else None
    )
    return ALGORITHM.learn(
        env, policy, timesteps, key=jax.random.key(1), checkpointer=checkpointer
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timesteps", type=int, default=2**16)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = args.quick or os.environ.get("LERAX_QUICK") == "1"
    timesteps = 2**13 if quick else args.timesteps

    if args.child:  # the run that gets killed
        train(args.child, timesteps)
        return

    directory = Path(tempfile.mkdtemp()) / "run"
    child = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--child",
            str(directory),
            "--timesteps",
            str(timesteps),
        ]
    )
    while not (directory / "4" / "commit_success.txt").exists():
        if child.poll() is not None:
            break
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    saved = Checkpointer(directory, every_iterations=2).steps()
    print(f"killed the training process; checkpoints on disk: {saved}")

    start = time.perf_counter()
    resumed = train(str(directory), timesteps)  # the same call: it continues
    elapsed = time.perf_counter() - start
    print(f"re-ran the same learn(...) call: finished in {elapsed:.1f} s")

    uninterrupted = train(None, timesteps)
    same = all(
        np.array_equal(a, b)
        for a, b in zip(
            jax.tree.leaves(eqx.filter(resumed, eqx.is_array)),
            jax.tree.leaves(eqx.filter(uninterrupted, eqx.is_array)),
            strict=True,
        )
    )
    print(f"parameters bit-identical to an uninterrupted run: {same}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
