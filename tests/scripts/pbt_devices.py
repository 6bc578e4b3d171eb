"""The `mesh=` check of tests/test_pbt.py, run in a process of 2 CPU devices.

Usage: python pbt_devices.py OUT_DIRECTORY (not collected by pytest)

Runs the population of test_pbt.py's `runs` fixture with its members split over
two devices (and a logger, whose host callbacks are then unordered) and writes
the results to OUT_DIRECTORY/results.npz and facts to results.json.
"""

import json
import sys
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from lerax.algorithm import PPO
from lerax.callback import AbstractLoggingBackend, LoggingCallback
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy
from lerax.scale import pbt

# The same settings as tests/test_pbt.py (the test compares them).
ALGO = PPO(num_envs=2, num_steps=8, num_epochs=1, num_batches=1)
SEARCH = {"learning_rate": (1e-4, 1e-2), "entropy_loss_coefficient": (0.0, 0.05)}
K, INTERVAL, INTERVALS = 4, 2, 3
TOTAL = INTERVAL * INTERVALS * 16


class Counting(AbstractLoggingBackend):
    def __init__(self):
        self.rows = 0

    def start(self, hyperparameters):
        del hyperparameters

    def write(self, rows, columns):
        self.rows += len(rows)

    def close(self):
        pass


def main() -> None:
    out = Path(sys.argv[1])
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    mesh = jax.make_mesh((2,), ("members",))

    def make_policy(key):
        return MLPActorCriticPolicy(env=env, width_size=16, depth=1, key=key)

    backend = Counting()
    logger = LoggingCallback([backend])
    result = pbt(
        ALGO,
        env,
        make_policy,
        TOTAL,
        SEARCH,
        population_size=K,
        interval=INTERVAL,
        key=jax.random.key(3),
        callback=logger,
        mesh=mesh,
    )
    logger.close()
    weight = jax.tree.leaves(eqx.filter(result.state.policy, eqx.is_array))[0]
    facts = {
        "device_count": jax.device_count(),
        "config": [K, INTERVAL, INTERVALS, TOTAL],
        "policy_spec": str(weight.sharding.spec),
        "policy_shard_rows": sorted(
            {s.data.shape[0] for s in weight.addressable_shards}
        ),
        "logged_rows": backend.rows,
    }
    results = {"parents": result.parents, "fitness": result.fitness}
    for name, values in result.history.items():
        results[f"history_{name}"] = values
    leaves = jax.tree.leaves(eqx.filter(result.state.policy, eqx.is_array))
    for i, leaf in enumerate(leaves):
        results[f"policy_{i}"] = np.asarray(leaf)
    try:
        pbt(
            ALGO,
            env,
            make_policy,
            TOTAL,
            SEARCH,
            population_size=3,
            interval=INTERVAL,
            key=jax.random.key(3),
            mesh=mesh,
        )
    except ValueError as error:
        facts["population_error"] = str(error)
    np.savez(out / "results.npz", **results)
    (out / "results.json").write_text(json.dumps(facts))


if __name__ == "__main__":
    main()
