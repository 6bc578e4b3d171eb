"""Many seeds, sweeps and many devices: `train_seeds`, `sweep`, `select`, `mesh=`.

The references are separate, ordinary `learn_state` runs (one seed, one
configuration, one device): a stacked or sharded run must give each member's
numbers. Multi-device checks run once, in a subprocess with four forced CPU
devices (`tests/scripts/scale_devices.py`), so this process keeps one device.

Tolerances: vmapping batches the matrix products and sharding splits every sum
over the batch into per-device partial sums plus an all-reduce, so float32
additions happen in another order. Over a few updates that moves parameters by
a few float32 ulps (measured: at most 3e-7); the tests allow `atol=1e-6,
rtol=1e-5`, while different seeds or learning rates differ by more than 1e-3.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lerax
from helpers import ChainEnv
from lerax.algorithm import PPO, run_on_policy
from lerax.callback import EmptyCallback, EpisodeStatisticsCallback
from lerax.checkpoint import Checkpointer
from lerax.policy import MLPActorCriticPolicy
from lerax.scale import SweepResult, select, stack, sweep, sweepable_fields
from lerax.scale._sweep import _columns

SCRIPT = Path(__file__).parent / "scripts" / "scale_devices.py"
ATOL, RTOL = 1e-6, 1e-5
ALGO = PPO(num_envs=2, num_steps=8, num_epochs=2, num_batches=2)
TOTAL = 3 * 16  # three iterations


def arrays(tree) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def assert_close(a, b) -> None:
    for x, y in zip(arrays(a), arrays(b), strict=True):
        np.testing.assert_allclose(x, y, atol=ATOL, rtol=RTOL)


def largest_difference(a, b) -> float:
    return max(
        float(np.max(np.abs(x - y))) for x, y in zip(arrays(a), arrays(b), strict=True)
    )


@pytest.fixture(scope="module")
def env():
    return ChainEnv()


def make_policy(key):
    return MLPActorCriticPolicy(env=ChainEnv(), key=key)


@pytest.fixture(scope="module")
def seeds(env):
    keys = jax.random.split(jax.random.key(3), 3)
    state = lerax.train_seeds(ALGO, env, make_policy, TOTAL, keys)
    return keys, state


# ---------------------------------------------------------------- seeds


def test_each_seed_equals_its_separate_run(env, seeds):
    keys, state = seeds
    separate = []
    for i, key in enumerate(keys):
        policy_key, learn_key = jax.random.split(key)
        alone = ALGO.learn_state(env, make_policy(policy_key), TOTAL, key=learn_key)
        assert_close(select(state.policy, i), alone.policy)
        separate.append(alone.policy)
    assert largest_difference(separate[0], separate[1]) > 1e-3


def test_a_shared_policy_or_a_list_of_policies(env, seeds):
    keys, _ = seeds
    policy = make_policy(jax.random.key(9))
    shared = lerax.train_seeds(ALGO, env, policy, TOTAL, keys)
    listed = lerax.train_seeds(ALGO, env, [policy] * 3, TOTAL, keys)
    for i, key in enumerate(keys):
        alone = ALGO.learn_state(env, policy, TOTAL, key=jax.random.split(key)[1])
        assert_close(select(shared.policy, i), alone.policy)
        assert_close(select(listed.policy, i), alone.policy)


def test_select_indexes_every_leaf_and_serializes(env, seeds, tmp_path):
    _, state = seeds
    member = select(state.policy, -1)
    for picked, stacked in zip(arrays(member), arrays(state.policy), strict=True):
        np.testing.assert_array_equal(picked, stacked[2])
    member.serialize(tmp_path / "seed2")
    loaded = MLPActorCriticPolicy.deserialize(
        tmp_path / "seed2", env=env, key=jax.random.key(0)
    )
    for x, y in zip(arrays(loaded), arrays(member), strict=True):
        np.testing.assert_array_equal(x, y)
    records = select(state, 1)  # a whole state works too
    assert int(records.iteration_count) == 3


def test_stack_then_select_is_the_identity():
    policies = [make_policy(jax.random.key(i)) for i in range(3)]
    stacked = stack(policies)
    for i, policy in enumerate(policies):
        for x, y in zip(arrays(select(stacked, i)), arrays(policy), strict=True):
            np.testing.assert_array_equal(x, y)


# ---------------------------------------------------------------- sweeps


def test_grid_is_every_combination_and_zip_pairs_values():
    values = {"learning_rate": [1e-3, 3e-4], "gamma": [0.9, 0.95, 0.99]}
    columns = _columns(ALGO, values, grid=True)
    expected = list(itertools.product(*values.values()))
    got = list(zip(columns["learning_rate"], columns["gamma"], strict=True))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    values = {"learning_rate": [1e-3, 3e-4], "gamma": [0.9, 0.99]}
    columns = _columns(ALGO, values, grid=False)
    np.testing.assert_allclose(columns["gamma"], [0.9, 0.99], rtol=1e-6)


def test_sweep_table_is_mean_and_std_over_seeds():
    result = SweepResult(
        settings={"learning_rate": jnp.asarray([1e-3, 3e-4])},
        final_returns=jnp.asarray([[1.0, 3.0, 2.0], [4.0, 4.0, jnp.nan]]),
        state=None,
    )
    rows = result.rows()
    assert rows[0]["mean_return"] == pytest.approx(2.0)
    assert rows[0]["std_return"] == pytest.approx(np.sqrt(2.0 / 3.0), rel=1e-6)
    assert rows[1]["mean_return"] == pytest.approx(4.0)  # NaN (no episode) skipped
    assert rows[1]["std_return"] == pytest.approx(0.0)
    assert result.best() == 1
    table = result.table().splitlines()
    assert table[0] == "| learning_rate | mean_return | std_return |"
    assert table[2] == "| 0.001 | 2 | 0.816497 |"


def test_sweepable_fields_are_the_array_leaves():
    assert set(sweepable_fields(ALGO)) == {
        "gae_lambda",
        "gamma",
        "clip_coefficient",
        "entropy_loss_coefficient",
        "value_loss_coefficient",
        "max_grad_norm",
        "learning_rate",
        "adam_eps",
    }
    schedule = PPO(num_envs=2, learning_rate=optax.linear_schedule(1e-3, 0.0, 10))
    assert "learning_rate" not in sweepable_fields(schedule)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "values, grid, match",
    [
        ({"num_envs": [2, 4]}, True, r"PPO.num_envs is structural \(a static field"),
        (
            {"lr": [1e-3]},
            True,
            r"no sweepable field 'lr'.*Sweepable: gae_lambda, gamma, clip_coefficient",
        ),
        ({"gamma": [[0.9]]}, True, r"values\['gamma'\] must be a 1-d.*shape \(1, 1\)"),
        ({}, True, "non-empty dict"),
        (
            {"gamma": [0.9, 0.99], "learning_rate": [1e-3]},
            False,
            "gamma: 2, learning_rate: 1",
        ),
    ],
)
def test_bad_sweep_values_name_the_culprit(env, values, grid, match):
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ValueError, match=match):
        sweep(ALGO, env, make_policy, TOTAL, values, keys, grid=grid)


def test_out_of_range_sweep_value_uses_the_algorithms_check(env):
    keys = jax.random.split(jax.random.key(0), 2)
    with pytest.raises(ValueError, match=r"PPO: gamma must be in \(0.0, 1.0\]"):
        sweep(ALGO, env, make_policy, TOTAL, {"gamma": [0.9, 1.5]}, keys)


def test_bad_seed_inputs(env):
    keys = jax.random.split(jax.random.key(0), 3)
    with pytest.raises(ValueError, match="got 2 policies for 3 keys"):
        lerax.train_seeds(ALGO, env, [make_policy(keys[0])] * 2, TOTAL, keys)
    with pytest.raises(ValueError, match=r"shape \(num_seeds,\).*got shape \(\)"):
        lerax.train_seeds(ALGO, env, make_policy, TOTAL, jax.random.key(0))
    # Not keys at all: the TypeError every entry point gives for a bad key.
    with pytest.raises(TypeError, match="keys must be a JAX PRNG key; got .*float32"):
        lerax.train_seeds(ALGO, env, make_policy, TOTAL, jnp.zeros(3))
    with pytest.raises(TypeError, match="got int"):
        lerax.train_seeds(ALGO, env, 3, TOTAL, keys)
    with pytest.raises(ValueError, match="keys are traced.*deadlock XLA:CPU"):
        jax.jit(lambda k: lerax.train_seeds(ALGO, env, make_policy, TOTAL, k))(keys)


def test_bad_select_index():
    stacked = stack([make_policy(jax.random.key(i)) for i in range(3)])
    with pytest.raises(IndexError, match="index 3 is out of range .* of size 3"):
        select(stacked, 3)
    with pytest.raises(TypeError, match="index must be an int, got float"):
        select(stacked, 1.0)
    with pytest.raises(ValueError, match="no 2 leading stacked axis"):
        select({"a": jnp.zeros(3)}, (0, 0))


def test_bad_mesh_is_refused_before_compiling(env):
    policy = make_policy(jax.random.key(0))
    key = jax.random.key(0)
    with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh.*got list"):
        ALGO.learn(env, policy, TOTAL, key=key, mesh=jax.devices())
    two_axes = jax.sharding.Mesh(np.array(jax.devices()).reshape(1, 1), ("a", "b"))
    with pytest.raises(ValueError, match=r"one axis.*got 2 axes \('a', 'b'\)"):
        ALGO.learn(env, policy, TOTAL, key=key, mesh=two_axes)


def test_without_a_mesh_the_program_has_no_sharding(env):
    policy = make_policy(jax.random.key(0))
    arguments = (ALGO, env, policy, 2)
    options = dict(key=jax.random.key(1), callback=EmptyCallback())
    plain = run_on_policy.lower(*arguments, **options, mesh=None).as_text()
    mesh = jax.sharding.Mesh(np.array(jax.devices()), ("envs",))
    sharded = run_on_policy.lower(*arguments, **options, mesh=mesh).as_text()
    assert '"envs"' not in plain
    assert '"envs"' in sharded
    assert plain.count("sharding_constraint") < sharded.count("sharding_constraint")


# ---------------------------------------------------------------- devices


@pytest.fixture(scope="module")
def four_devices(tmp_path_factory):
    out = tmp_path_factory.mktemp("scale-devices")
    environment = dict(os.environ)
    environment["XLA_FLAGS"] = (
        environment.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
    )
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(Path(lerax.__file__).parents[1]), environment.get("PYTHONPATH", "")]
    )
    subprocess.run(
        [sys.executable, str(SCRIPT), str(out)],
        env=environment,
        check=True,
        timeout=600,
    )
    facts = json.loads((out / "results.json").read_text())
    return out, facts, dict(np.load(out / "results.npz"))


def test_four_devices_train_like_one(four_devices):
    _, facts, results = four_devices
    assert facts["device_count"] == 4
    for i in range(facts["num_policy_leaves"]):
        np.testing.assert_allclose(
            results[f"four_{i}"], results[f"one_{i}"], atol=ATOL, rtol=RTOL
        )
    np.testing.assert_allclose(
        results["four_returns"], results["one_returns"], atol=ATOL, rtol=RTOL
    )


def test_ippo_per_agent_on_four_devices_trains_like_one(four_devices):
    _, facts, results = four_devices
    assert facts["ippo_leaves"] > 0
    for i in range(facts["ippo_leaves"]):
        np.testing.assert_allclose(
            results[f"ippo_four_{i}"], results[f"ippo_one_{i}"], atol=ATOL, rtol=RTOL
        )


def test_envs_and_rollout_buffer_are_split_over_four_devices(four_devices):
    _, facts, _ = four_devices
    # num_envs = 8 over 4 devices: 2 envs each; observations have 2 entries.
    assert facts["step_state_spec"] == "P('envs',)"
    assert facts["step_state_devices"] == 4
    assert facts["step_state_shard_shapes"] == [[2, 2]]
    assert facts["buffer_spec"] == "P(None, 'envs')"
    assert facts["buffer_devices"] == 4
    assert facts["buffer_shard_shapes"] == [[8, 2, 2]]  # (num_steps, envs/device, 2)
    assert facts["policy_fully_replicated"]
    assert facts["all_reduce_in_program"]


def test_sweep_over_four_learning_rates_on_four_devices(four_devices):
    _, facts, results = four_devices
    n = facts["num_policy_leaves"]
    for c in range(len(facts["rates"])):
        for i in range(n):
            np.testing.assert_allclose(
                results[f"member_{c}_{i}"],
                results[f"alone_{c}_{i}"],
                atol=ATOL,
                rtol=RTOL,
            )
    spread = max(
        np.max(np.abs(results[f"alone_0_{i}"] - results[f"alone_3_{i}"]))
        for i in range(n)
    )
    assert spread > 1e-3


def test_mesh_that_does_not_divide_num_envs(four_devices):
    _, facts, _ = four_devices
    assert facts["indivisible_error"] == (
        "PPO: num_envs=6 does not divide over the mesh's 4 devices; choose "
        "num_envs a multiple of 4."
    )


def test_logging_a_sharded_run_writes_every_iteration(four_devices):
    # Ordered host callbacks are single-device only; on a mesh they run
    # unordered, and the CSV still gets a header and one row per iteration.
    _, facts, _ = four_devices
    assert facts["sharded_csv_lines"] == 1 + facts["num_iterations"]


def test_checkpoint_saved_on_four_devices_restores_on_one(four_devices, env):
    out, facts, results = four_devices
    assert facts["checkpoint_steps"] == [1, 2, 3]
    algo = PPO(num_envs=8, num_steps=8, num_epochs=2, num_batches=2)
    checkpointer = Checkpointer(out / "checkpoints", every_iterations=1)
    state = algo.learn_state(
        env,
        MLPActorCriticPolicy(env=env, key=jax.random.key(0)),
        3 * 64,
        key=jax.random.key(1),
        callback=EpisodeStatisticsCallback(),
        checkpointer=checkpointer,
    )
    assert jax.device_count() == 1
    for i, leaf in enumerate(arrays(state.policy)):
        np.testing.assert_array_equal(leaf, results[f"four_{i}"])
    np.testing.assert_array_equal(
        np.asarray(state.callback_state.mean_return), results["four_returns"]
    )
