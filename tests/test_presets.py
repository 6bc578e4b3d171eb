"""`lerax.presets`: each preset builds, traces and (two of them) runs an iteration.

Learning results are measured by `benchmarks/presets.py`, never here.
"""

import jax
import numpy as np
import pytest

from lerax import presets
from lerax.algorithm import PPO
from lerax.policy import MLPActorCriticPolicy

ENVS = (
    "CartPole-v1",
    "Acrobot-v1",
    "MountainCar-v0",
    "Pendulum-v1",
    "MountainCarContinuous-v0",
)


def test_the_five_classic_control_envs_have_presets():
    assert set(presets.available()) == set(ENVS)


@pytest.mark.parametrize("env_id", ENVS)
def test_preset_builds_and_traces_a_whole_run(env_id):
    preset = presets.ppo(env_id)
    assert preset.env_id == env_id
    assert isinstance(preset.algorithm, PPO)
    algorithm = preset.algorithm
    per_iteration = algorithm.num_envs * algorithm.num_steps
    assert preset.total_timesteps >= per_iteration
    assert per_iteration % algorithm.num_batches == 0
    env = preset.make_env()
    policy = preset.make_policy(env, key=jax.random.key(0))
    assert isinstance(policy, MLPActorCriticPolicy)
    # Tracing the whole planned run checks every shape without compiling it.
    out = jax.eval_shape(
        lambda key: algorithm.learn(env, policy, preset.total_timesteps, key=key),
        jax.random.key(1),
    )
    assert jax.tree.structure(out) == jax.tree.structure(policy)


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Pendulum-v1"])
def test_preset_runs_one_iteration(env_id):
    preset = presets.ppo(env_id)
    algorithm = preset.algorithm
    env = preset.make_env()
    policy = preset.make_policy(env, key=jax.random.key(0))
    trained = algorithm.learn(
        env, policy, algorithm.num_envs * algorithm.num_steps, key=jax.random.key(1)
    )
    before = jax.tree.leaves(policy)
    after = jax.tree.leaves(trained)
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(before, after, strict=True)
        if hasattr(a, "shape")
    ]
    assert any(changed), "one iteration of training changed no parameter"
    assert all(np.all(np.isfinite(x)) for x in after if hasattr(x, "dtype"))


def test_unknown_preset_names_the_ones_there_are():
    with pytest.raises(ValueError, match="CartPole-v1") as info:
        presets.ppo("Breakout-MinAtar")
    assert "Breakout-MinAtar" in str(info.value)
