"""Logging under an outer `jax.jit` of a hyperparameter sweep, and across `resume`."""

import json

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import ChainEnv
from lerax.algorithm import PPO
from lerax.callback import JSONLBackend, LoggingCallback
from lerax.policy import MLPActorCriticPolicy

SIZES = dict(num_envs=2, num_steps=8, num_epochs=1, num_batches=2)


@pytest.fixture(scope="module")
def env_policy():
    env = ChainEnv()
    return env, MLPActorCriticPolicy(env=env, key=jax.random.key(0))


def read(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_jit_of_a_vmapped_sweep_logs_each_run_with_its_hyperparameters(
    env_policy, tmp_path
):
    env, policy = env_policy
    logger = LoggingCallback([JSONLBackend(tmp_path / "sweep.jsonl")])
    rates = jnp.array([1e-3, 3e-4])
    algos = eqx.filter_vmap(lambda lr: PPO(**SIZES, learning_rate=lr))(rates)

    # Only the policies leave the outer jit: the logging must not be dropped as
    # dead code.
    @eqx.filter_jit
    def sweep(algos):
        return eqx.filter_vmap(
            lambda a: a.learn(env, policy, 48, key=jax.random.key(1), callback=logger)
        )(algos)

    jax.block_until_ready(sweep(algos))
    rows = read(tmp_path / "sweep.jsonl")
    assert [(r["seed"], r["iteration"]) for r in rows] == [
        (s, i) for i in (1, 2, 3) for s in (0, 1)
    ]
    for r in rows:
        assert r["learning_rate"] == pytest.approx([1e-3, 3e-4][r["seed"]])
    hparams = json.loads((tmp_path / "sweep.jsonl.hparams.json").read_text())
    np.testing.assert_allclose([h["learning_rate"] for h in hparams], [1e-3, 3e-4])


def test_resume_continues_the_log(env_policy, tmp_path):
    env, policy = env_policy
    algo = PPO(**SIZES)
    logger = LoggingCallback([JSONLBackend(tmp_path / "run.jsonl")])
    state = algo.learn_state(env, policy, 32, key=jax.random.key(2), callback=logger)
    state = algo.resume(state, 2, callback=logger)
    jax.block_until_ready(state)
    rows = read(tmp_path / "run.jsonl")
    assert [r["iteration"] for r in rows] == [1, 2, 3, 4]
    assert [r["timesteps"] for r in rows] == [16, 32, 48, 64]
