"""Files written by an earlier release keep loading and acting the same.

`tests/fixtures/` was written by `tests/scripts/make_fixtures.py` at commit 16efd8e,
before the core reshape (issue 21). Policies serialize with a fingerprint of their
structure and their leaves in field order; checkpoints store the training state's
leaves. A refactor that moves fields or changes what is a field must keep these
files loading: each policy is loaded into a skeleton built by today's code and
must produce the actions, values and log-probabilities recorded at save time, and
resuming PPO from the old checkpoint must end bit for bit where the original run
ended.
"""

import importlib.util
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest

from lerax.algorithm import PPO
from lerax.checkpoint import Checkpointer
from lerax.policy import MLPActorCriticPolicy

# The fixtures were written by a default build; bit-for-bit equality needs the
# same XLA optimisation level (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("full_xla_optimization")

FIXTURES = Path(__file__).parent / "fixtures"
_spec = importlib.util.spec_from_file_location(
    "make_fixtures", Path(__file__).parent / "scripts" / "make_fixtures.py"
)
make_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make_fixtures)


@pytest.mark.parametrize("name", sorted(make_fixtures.RECIPES))
def test_a_policy_saved_by_the_earlier_release_loads_and_acts_the_same(name):
    cls, make_env, kwargs = make_fixtures.RECIPES[name]
    env = make_env()
    policy = cls.deserialize(
        FIXTURES / f"{name}.eqx", env, key=jax.random.key(9), **kwargs
    )
    assert type(policy) is cls
    recorded = np.load(FIXTURES / f"{name}.npz")
    now = make_fixtures.behaviour(policy, env)
    np.testing.assert_array_equal(now["observations"], recorded["observations"])
    for field in ("action", "greedy"):
        np.testing.assert_allclose(now[field], recorded[field], rtol=1e-6, atol=1e-6)
    for field in ("value", "log_prob"):
        np.testing.assert_allclose(now[field], recorded[field], rtol=1e-5, atol=1e-6)


def test_resuming_from_a_checkpoint_of_the_earlier_release_is_bit_exact(tmp_path):
    directory = tmp_path / "checkpoint"
    shutil.copytree(FIXTURES / "checkpoint", directory)
    algo = PPO(**make_fixtures.CHECKPOINT_ALGO)
    env = make_fixtures.ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    steps = make_fixtures.CHECKPOINT_ITERATIONS * algo.num_envs * algo.num_steps
    assert Checkpointer(directory, every_iterations=1).steps() == [1, 2]
    state = algo.learn_state(
        env,
        policy,
        steps,
        key=jax.random.key(1),
        checkpointer=Checkpointer(directory, every_iterations=1, keep=10),
    )
    assert int(state.iteration_count) == make_fixtures.CHECKPOINT_ITERATIONS
    recorded = np.load(FIXTURES / "checkpoint_final.npz")
    now = make_fixtures.leaves(state)
    assert len(now) == len(recorded.files)
    for i, leaf in enumerate(now):
        np.testing.assert_array_equal(leaf, recorded[f"arr_{i}"])
