"""Policy export with `jax.export`: `export_policy`, `load_policy`.

The reference is the live policy: the exported program, loaded in a fresh
Python process that never imports lerax (plain `jax.export.deserialize`), must
give the same greedy actions (and values within 1e-5) on 1,000 observations,
in one batch and one at a time, for a Discrete and a Box policy. Sampling and a
stateful policy are checked in-process through `load_policy`.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import ChainEnv, CountingPolicy, PointEnv
from lerax.export import export_policy, load_policy
from lerax.policy import MLPActorCriticPolicy

NUM_OBSERVATIONS = 1000

_PLAIN_JAX = textwrap.dedent(
    """
    import sys
    import numpy as np
    import jax
    from jax import export

    folder = sys.argv[1]
    results = {}
    for name in ("chain", "point"):
        with open(f"{folder}/{name}.jaxexport", "rb") as f:
            exported = export.deserialize(bytearray(f.read()))
        observations = np.load(f"{folder}/{name}_observations.npy")
        batched = exported.call(observations)
        call = jax.jit(exported.call)
        single = [call(o[None]) for o in observations]
        results[f"{name}_action"] = np.asarray(batched["action"])
        results[f"{name}_value"] = np.asarray(batched["value"])
        results[f"{name}_single_action"] = np.concatenate(
            [np.asarray(s["action"]) for s in single]
        )
        results[f"{name}_single_value"] = np.concatenate(
            [np.asarray(s["value"]) for s in single]
        )
    assert not any(m == "lerax" or m.startswith("lerax.") for m in sys.modules)
    np.savez(f"{folder}/results.npz", **results)
    """
)


def _observations(env, key):
    keys = jax.random.split(key, NUM_OBSERVATIONS)
    return jax.vmap(lambda k: env.observation_space.sample(key=k))(keys)


def _live(policy, observations):
    state = policy.reset(key=jax.random.key(0))
    actions = jax.vmap(lambda o: policy(state, o)[1])(observations)
    values = jax.vmap(lambda o: policy.value(state, o)[1])(observations)
    return np.asarray(actions), np.asarray(values)


@pytest.fixture(scope="module")
def policies():
    return {
        "chain": (
            ChainEnv(),
            MLPActorCriticPolicy(env=ChainEnv(), key=jax.random.key(1)),
        ),
        "point": (
            PointEnv(),
            MLPActorCriticPolicy(env=PointEnv(), key=jax.random.key(2)),
        ),
    }


def test_exported_policy_runs_without_lerax(tmp_path, policies):
    expected = {}
    for i, (name, (env, policy)) in enumerate(policies.items()):
        export_policy(policy, tmp_path / name, include_value=True)
        observations = np.asarray(_observations(env, jax.random.key(10 + i)))
        np.save(tmp_path / f"{name}_observations.npy", observations)
        expected[name] = _live(policy, observations)
    subprocess.run(
        [sys.executable, "-c", _PLAIN_JAX, str(tmp_path)],
        check=True,
        env={"PATH": "/usr/bin:/bin", "JAX_PLATFORMS": "cpu"},
    )
    results = np.load(tmp_path / "results.npz")
    for name, (actions, values) in expected.items():
        for prefix in ("", "single_"):
            got_actions = results[f"{name}_{prefix}action"]
            assert got_actions.shape == actions.shape
            if name == "chain":  # Discrete: the same greedy actions
                np.testing.assert_array_equal(got_actions, actions)
            else:  # Box: the mean of the Gaussian
                np.testing.assert_allclose(got_actions, actions, atol=1e-5)
            np.testing.assert_allclose(
                results[f"{name}_{prefix}value"], values, atol=1e-5
            )


def test_load_policy_batched_and_unbatched(tmp_path, policies):
    env, policy = policies["chain"]
    loaded = load_policy(export_policy(policy, tmp_path / "chain"))
    observations = _observations(env, jax.random.key(3))[:50]
    actions, _ = _live(policy, observations)
    np.testing.assert_array_equal(loaded(observations)["action"], actions)
    single = np.array([int(loaded(o)["action"]) for o in observations[:5]])
    np.testing.assert_array_equal(single, actions[:5])
    assert set(loaded(observations)) == {"action"}


def test_sampling_export_uses_the_given_keys(tmp_path, policies):
    env, policy = policies["point"]
    loaded = load_policy(export_policy(policy, tmp_path / "p", deterministic=False))
    observations = _observations(env, jax.random.key(4))[:64]
    keys = jax.random.split(jax.random.key(5), 64)
    expected = jax.vmap(lambda o, k: policy(policy.reset(key=k), o, key=k)[1])(
        observations, keys
    )
    got = loaded(observations, jax.random.key_data(keys))["action"]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    # Different keys, different samples: the keys really are inputs.
    other = loaded(observations, jax.random.key_data(keys[::-1]))["action"]
    assert not np.allclose(other, got)


def test_stateful_policy_exports_its_state(tmp_path):
    loaded = load_policy(export_policy(CountingPolicy(), tmp_path / "count"))
    observations = jnp.array([[0.5], [2.5]], jnp.float32)
    state = (jnp.zeros(2, jnp.int32),)
    actions = []
    for _ in range(3):
        out = loaded(observations, state)
        state = out["state"]
        actions.append(np.asarray(out["action"]))
    # By hand: counts 0, 1, 2; 0.5 + count > 2 only at count 2; 2.5 always.
    np.testing.assert_array_equal(actions, [[0, 1], [0, 1], [1, 1]])
    np.testing.assert_array_equal(state[0], [3, 3])


def test_bad_input_is_refused(tmp_path, policies):
    with pytest.raises(TypeError, match="must be a lerax AbstractPolicy"):
        export_policy(eqx.nn.Linear(2, 2, key=jax.random.key(0)), tmp_path / "x")
    with pytest.raises(TypeError, match="include_value=True needs an actor-critic"):
        export_policy(CountingPolicy(), tmp_path / "x", include_value=True)
    with pytest.raises(FileNotFoundError, match="no exported policy"):
        load_policy(tmp_path / "missing")
