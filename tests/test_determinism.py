"""The same key gives bit-identical parameters, in one process and across two;
`resume` past the planned total keeps recording and reports the new total."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import equinox as eqx
import jax
import numpy as np

from helpers import ChainEnv
from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback, EvalCallback, ProgressCallback
from lerax.policy import MLPActorCriticPolicy

PROGRAM = """
import hashlib, sys
import equinox as eqx, jax, numpy as np
sys.path.insert(0, {tests!r})
from helpers import ChainEnv
from lerax.algorithm import PPO
from lerax.policy import MLPActorCriticPolicy
env = ChainEnv()
policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
algo = PPO(num_envs=2, num_steps=8, num_epochs=2, num_batches=2)
trained = algo.learn(env, policy, 64, key=jax.random.key(5))
digest = hashlib.sha256()
for leaf in jax.tree.leaves(eqx.filter(trained, eqx.is_array)):
    digest.update(np.asarray(leaf).tobytes())
print(digest.hexdigest())
"""


def digest(tree) -> str:
    h = hashlib.sha256()
    for leaf in jax.tree.leaves(eqx.filter(tree, eqx.is_array)):
        h.update(np.asarray(leaf).tobytes())
    return h.hexdigest()


def test_same_key_same_bits_in_one_process_and_across_processes():
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algo = PPO(num_envs=2, num_steps=8, num_epochs=2, num_batches=2)
    first = digest(algo.learn(env, policy, 64, key=jax.random.key(5)))
    second = digest(algo.learn(env, policy, 64, key=jax.random.key(5)))
    other_key = digest(algo.learn(env, policy, 64, key=jax.random.key(6)))
    assert first == second
    assert first != other_key  # the digest does depend on the run
    tests = os.path.dirname(__file__)
    env_vars = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    code = PROGRAM.format(tests=tests)
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code],
            env=env_vars,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
        for _ in range(2)
    ]
    assert outputs == [first, first]


def test_resume_past_the_planned_total_records_every_iteration(capfd):
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algo = PPO(num_envs=2, num_steps=8, num_epochs=1, num_batches=1)
    callbacks = [
        EpisodeStatisticsCallback(),
        ProgressCallback(),
        EvalCallback(env, every_iterations=1, num_episodes=2),
    ]
    straight = algo.learn_state(
        env, policy, 4 * 16, key=jax.random.key(3), callback=callbacks
    )
    capfd.readouterr()
    state = algo.learn_state(
        env, policy, 2 * 16, key=jax.random.key(3), callback=callbacks
    )
    state = algo.resume(state, 2, callback=callbacks)
    printed = capfd.readouterr().out
    # The iter column of the printed rows: the new total after the resume (no
    # "3/2"), and no second header (the resumed run continues the table).
    rows = [line.split()[0] for line in printed.splitlines() if "/" in line]
    assert rows == ["1/2", "2/2", "3/4", "4/4"]
    assert printed.count("iter ") == 1
    assert state.num_iterations == 4
    stats = state.callback_state.states[0]
    straight_stats = straight.callback_state.states[0]
    assert stats.episodes.shape == (4,)
    assert (np.asarray(stats.episodes) > 0).all()  # iterations 3 and 4 recorded
    np.testing.assert_array_equal(stats.episodes, straight_stats.episodes)
    np.testing.assert_array_equal(stats.mean_return, straight_stats.mean_return)
    assert digest(state.policy) == digest(straight.policy)
    evals = state.callback_state[EvalCallback]
    np.testing.assert_array_equal(evals.iteration, [1, 2, 3, 4])
    np.testing.assert_array_equal(
        evals.return_mean, straight.callback_state[EvalCallback].return_mean
    )
