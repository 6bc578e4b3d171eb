"""ONNX export: `export_onnx`, checked by running the file with onnxruntime.

The reference is the live lerax policy under XLA; the ONNX file runs in
onnxruntime, a separate implementation of every operation. On 1,000 random
observations the greedy actions must agree exactly for a Discrete policy
(CartPole) and within 1e-5 for a Box policy (Pendulum), and the values within
1e-5. Recurrent policies carry their state through explicit inputs/outputs:
a GRU and an LSTM are stepped a few times, feeding onnxruntime's own next state
back in. The atomic write and the missing-extra message need no jax2onnx.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import jax
import numpy as np
import pytest

from helpers import CountingPolicy
from lerax import _serialization
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.export import export_onnx
from lerax.policy import (
    GRUActorCriticPolicy,
    LSTMActorCriticPolicy,
    MLPActorCriticPolicy,
)

NUM_OBSERVATIONS = 1000

requires_onnx = pytest.mark.skipif(
    importlib.util.find_spec("jax2onnx") is None
    or importlib.util.find_spec("onnxruntime") is None,
    reason="the onnx extra is not installed (pip install 'lerax[onnx]')",
)


def _observations(env, n, key):
    return np.asarray(
        jax.vmap(lambda k: env.observation_space.sample(key=k))(
            jax.random.split(key, n)
        )
    )


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


POLICIES = {
    ("MLPActorCriticPolicy", "CartPole-v1"): (MLPActorCriticPolicy, 1),
    ("MLPActorCriticPolicy", "Pendulum-v1"): (MLPActorCriticPolicy, 2),
    ("GRUActorCriticPolicy", "CartPole-v1"): (GRUActorCriticPolicy, 3),
    ("LSTMActorCriticPolicy", "Pendulum-v1"): (LSTMActorCriticPolicy, 4),
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """`exported[cls_name, env_name]` -> (env, policy, ONNX path), built on first
    use (under pytest-xdist a worker builds only the ones its tests need)."""
    folder = tmp_path_factory.mktemp("onnx")

    class Cache(dict):
        def __missing__(self, item):
            cls, seed = POLICIES[item]
            env = GymnaxToLeraxEnv.from_name(item[1])
            policy = cls(env=env, key=jax.random.key(seed))
            path = export_onnx(
                policy, folder / f"{item[0]}-{item[1]}", include_value=True
            )
            self[item] = (env, policy, path)
            return self[item]

    return Cache()


@requires_onnx
@pytest.mark.parametrize("name", ["CartPole-v1", "Pendulum-v1"])
def test_onnx_matches_the_live_policy_on_1000_observations(exported, name):
    env, policy, path = exported["MLPActorCriticPolicy", name]
    assert path.suffix == ".onnx"
    observations = _observations(env, NUM_OBSERVATIONS, jax.random.key(10))
    state = policy.reset(key=jax.random.key(0))
    actions = np.asarray(jax.vmap(lambda o: policy(state, o)[1])(observations))
    values = np.asarray(jax.vmap(lambda o: policy.value(state, o)[1])(observations))
    session = _session(path)
    assert [i.name for i in session.get_inputs()] == ["observation"]
    assert [o.name for o in session.get_outputs()] == ["action", "value"]
    got_actions, got_values = session.run(None, {"observation": observations})
    assert (
        got_actions.shape
        == actions.shape
        == (NUM_OBSERVATIONS, *env.action_space.shape)
    )
    if name == "CartPole-v1":  # Discrete: the same argmax, exactly
        assert got_actions.dtype == actions.dtype
        np.testing.assert_array_equal(got_actions, actions)
        # Both greedy actions occur, so the check can tell them apart.
        assert 0 < actions.mean() < 1
    else:  # Box: the Gaussian's mean
        np.testing.assert_allclose(got_actions, actions, rtol=0, atol=1e-5)
    np.testing.assert_allclose(got_values, values, rtol=0, atol=1e-5)
    # The batch dimension is dynamic: one observation works too.
    one_action, one_value = session.run(None, {"observation": observations[:1]})
    np.testing.assert_allclose(one_action, actions[:1], rtol=0, atol=1e-5)
    np.testing.assert_allclose(one_value, values[:1], rtol=0, atol=1e-5)


@requires_onnx
@pytest.mark.parametrize(
    ("cls", "name", "state_names"),
    [
        ("GRUActorCriticPolicy", "CartPole-v1", ["hidden"]),
        ("LSTMActorCriticPolicy", "Pendulum-v1", ["hidden", "cell"]),
    ],
)
def test_recurrent_state_is_an_explicit_input_and_output(
    exported, cls, name, state_names
):
    env, policy, path = exported[cls, name]
    session = _session(path)
    inputs = ["observation"] + [f"state.{s}" for s in state_names]
    outputs = ["action", "value"] + [f"next_state.{s}" for s in state_names]
    assert [i.name for i in session.get_inputs()] == inputs
    assert [o.name for o in session.get_outputs()] == outputs
    batch = 16
    state = jax.vmap(lambda k: policy.reset(key=k))(
        jax.random.split(jax.random.key(0), batch)
    )
    onnx_state = [np.asarray(getattr(state, s)) for s in state_names]
    for step in range(4):
        observations = _observations(env, batch, jax.random.key(20 + step))
        _, value = jax.vmap(policy.value)(state, observations)
        state, action = jax.vmap(policy)(state, observations)
        feed = dict(zip(inputs, [observations, *onnx_state], strict=True))
        got = session.run(None, feed)
        got_action, got_value, onnx_state = got[0], got[1], got[2:]
        if name == "CartPole-v1":
            np.testing.assert_array_equal(got_action, action)
        else:
            np.testing.assert_allclose(got_action, action, rtol=0, atol=1e-5)
        np.testing.assert_allclose(got_value, value, rtol=0, atol=1e-5)
        for s, got_s in zip(state_names, onnx_state, strict=True):
            want = np.asarray(getattr(state, s))
            np.testing.assert_allclose(got_s, want, rtol=0, atol=1e-5)
            # The memory really moves, so feeding it back is being tested.
            assert np.abs(want).max() > 1e-3


@requires_onnx
def test_a_policy_state_is_carried_by_hand(tmp_path):
    session = _session(export_onnx(CountingPolicy(), tmp_path / "count"))
    assert [i.name for i in session.get_inputs()] == ["observation", "state.count"]
    observations = np.array([[0.5], [2.5]], np.float32)
    count = np.zeros(2, np.int32)
    actions = []
    for _ in range(3):
        action, count = session.run(
            ["action", "next_state.count"],
            {"observation": observations, "state.count": count},
        )
        actions.append(action)
    # By hand: counts 0, 1, 2; 0.5 + count > 2 only at count 2; 2.5 always.
    np.testing.assert_array_equal(actions, [[0, 1], [0, 1], [1, 1]])
    np.testing.assert_array_equal(count, [3, 3])


@requires_onnx
def test_an_interrupted_export_leaves_the_old_file(exported, tmp_path, monkeypatch):
    _, policy, _ = exported["MLPActorCriticPolicy", "CartPole-v1"]
    target = tmp_path / "policy.onnx"
    target.write_bytes(b"old model")
    real_fdopen = os.fdopen

    class HalfThenFail:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            raise OSError("disk full (simulated)")

    monkeypatch.setattr(
        _serialization.os,
        "fdopen",
        lambda fd, *a, **k: HalfThenFail(real_fdopen(fd, *a, **k)),
    )
    with pytest.raises(OSError, match="simulated"):
        export_onnx(policy, target)
    monkeypatch.undo()
    assert target.read_bytes() == b"old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.onnx"]
    # And a complete export replaces it.
    export_onnx(policy, target)
    assert _session(target).get_inputs()[0].name == "observation"


def test_missing_extra_names_the_install_command(monkeypatch):
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    monkeypatch.setitem(sys.modules, "jax2onnx", None)  # import now fails
    with pytest.raises(ImportError, match=r"pip install 'lerax\[onnx\]'"):
        export_onnx(policy, "unused.onnx")


def test_bad_arguments_are_type_errors():
    with pytest.raises(TypeError, match="AbstractPolicy, got function"):
        export_onnx(lambda o: o, "unused.onnx")
    with pytest.raises(TypeError, match="include_value=True needs an actor-critic"):
        export_onnx(CountingPolicy(), "unused.onnx", include_value=True)
