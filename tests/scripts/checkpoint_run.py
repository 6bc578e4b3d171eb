"""A checkpointed PPO run that a test kills and restarts (not collected by pytest).

Usage: python checkpoint_run.py DIRECTORY OUT.npz [SLEEP_SECONDS]

Trains PPO on the chain env for 12 iterations, checkpointing every iteration,
with a host callback that sleeps after each iteration so that a test can kill
the process mid-run. Writes the final policy's arrays to OUT.npz.
"""

import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers import ChainEnv  # noqa: E402
from lerax.algorithm import PPO  # noqa: E402
from lerax.callback import AbstractIterationCallback, EmptyCallbackState  # noqa: E402
from lerax.checkpoint import Checkpointer  # noqa: E402
from lerax.policy import MLPActorCriticPolicy  # noqa: E402


class Sleep(AbstractIterationCallback):
    seconds: float = eqx.field(static=True)

    def reset(self, ctx, *, key):
        return EmptyCallbackState()

    def on_iteration(self, ctx, *, key):
        jax.debug.callback(lambda: time.sleep(self.seconds))
        return ctx.state


def main() -> None:
    directory, out = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 0.0
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algo = PPO(num_envs=2, num_steps=8, num_epochs=2, num_batches=2)
    checkpointer = Checkpointer(directory, every_iterations=1, keep=3)
    trained = algo.learn(
        env,
        policy,
        12 * 16,
        key=jax.random.key(7),
        callback=Sleep(seconds),
        checkpointer=checkpointer,
    )
    leaves = jax.tree.leaves(eqx.filter(trained, eqx.is_array))
    np.savez(out, *[np.asarray(leaf) for leaf in leaves])


if __name__ == "__main__":
    main()
