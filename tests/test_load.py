"""`lerax.load`: a policy saved by lerax's own classes rebuilt from its file alone.

Each built-in class is saved here and loaded in a fresh Python process, which
knows neither the env nor the constructor arguments; its leaves and its actions
on fixed observations must equal the saved policy's. Files without a recipe
(custom classes, files written before recipes) fail with a message naming what
to call instead.
"""

import json
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest

import lerax
from helpers import ChainEnv, PixelEnv, PointEnv
from lerax.policy import (
    CNNActorCriticPolicy,
    GRUActorCriticPolicy,
    LSTMActorCriticPolicy,
    MLPActorCriticPolicy,
)
from lerax.space import (
    Box,
    Dict,
    Discrete,
    MultiBinary,
    MultiDiscrete,
    Tuple,
    space_from_json,
    space_to_json,
)

FIXTURES = Path(__file__).parent / "fixtures"

CASES = {
    "mlp": (
        MLPActorCriticPolicy,
        ChainEnv,
        dict(width_size=8, normalize_observations=True, shared_hidden_sizes=(4,)),
    ),
    "mlp_box": (
        MLPActorCriticPolicy,
        PointEnv,
        dict(depth=1, state_dependent_std=True, activation=jax.nn.relu),
    ),
    "cnn": (
        CNNActorCriticPolicy,
        PixelEnv,
        dict(channels=(4, 2), kernel_sizes=(2, 1), padding="SAME", hidden_sizes=(8,)),
    ),
    "gru": (GRUActorCriticPolicy, ChainEnv, dict(hidden_size=8)),
    "lstm": (
        LSTMActorCriticPolicy,
        PointEnv,
        dict(hidden_size=8, activation=jax.nn.gelu),
    ),
}

# Runs in a fresh process: only the file and lerax.
LOADER = """
import json, sys
import jax, numpy as np
import lerax
out = {}
for name, path, obs_path in json.loads(sys.argv[1]):
    policy = lerax.load(path)
    observations = np.load(obs_path)
    state = policy.reset(key=jax.random.key(0))
    actions = []
    for o in observations:
        state, action = policy(state, o)
        actions.append(np.asarray(action).tolist())
    leaves = [np.asarray(x).tolist() for x in jax.tree.leaves(policy)]
    out[name] = {"class": type(policy).__name__, "actions": actions, "leaves": leaves}
print(json.dumps(out))
"""


def _greedy_actions(policy, observations):
    state = policy.reset(key=jax.random.key(0))
    actions = []
    for o in observations:
        state, action = policy(state, o)
        actions.append(np.asarray(action))
    return actions


def test_every_built_in_policy_round_trips_through_lerax_load_in_a_fresh_process(
    tmp_path,
):
    jobs, saved = [], {}
    for name, (cls, make_env, kwargs) in CASES.items():
        env = make_env()
        policy = cls(env, key=jax.random.key(3), **kwargs)
        # Leaves away from their initial values, so a misplaced leaf shows.
        policy = jax.tree.map(
            lambda x: x + 0.1 if eqx.is_inexact_array(x) else x, policy
        )
        path = tmp_path / f"{name}.eqx"
        policy.serialize(path)
        keys = jax.random.split(jax.random.key(4), 3)
        observations = np.stack([env.observation_space.sample(key=k) for k in keys])
        np.save(tmp_path / f"{name}.npy", observations)
        jobs.append([name, str(path), str(tmp_path / f"{name}.npy")])
        saved[name] = (policy, _greedy_actions(policy, observations))
    run = subprocess.run(
        [sys.executable, "-c", LOADER, json.dumps(jobs)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    for name, (policy, actions) in saved.items():
        assert loaded[name]["class"] == type(policy).__name__
        leaves = [np.asarray(x) for x in jax.tree.leaves(policy)]
        assert len(leaves) == len(loaded[name]["leaves"])
        for a, b in zip(leaves, loaded[name]["leaves"], strict=True):
            np.testing.assert_array_equal(a, np.asarray(b, dtype=a.dtype))
        for a, b in zip(actions, loaded[name]["actions"], strict=True):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-6, atol=1e-6)


def test_deserialize_without_arguments_uses_the_recipe_and_checks_the_class(tmp_path):
    policy = GRUActorCriticPolicy(ChainEnv(), key=jax.random.key(0), hidden_size=4)
    policy.serialize(tmp_path / "gru.eqx")
    again = GRUActorCriticPolicy.deserialize(tmp_path / "gru.eqx")
    assert eqx.tree_equal(policy, again)
    with pytest.raises(
        ValueError, match="holds a GRUActorCriticPolicy, not a LSTMActorCriticPolicy"
    ):
        LSTMActorCriticPolicy.deserialize(tmp_path / "gru.eqx")


def test_a_file_without_a_recipe_says_what_to_call(tmp_path):
    # Written by the release before recipes (tests/fixtures/).
    with pytest.raises(
        ValueError, match=r"MLPActorCriticPolicy\.deserialize\(path, env"
    ):
        lerax.load(FIXTURES / "mlp_discrete.eqx")
    with pytest.raises(ValueError, match="records no recipe"):
        MLPActorCriticPolicy.deserialize(FIXTURES / "mlp_discrete.eqx")
    with pytest.raises(FileNotFoundError):
        lerax.load(tmp_path / "missing.eqx")


def test_a_custom_policy_class_saves_without_a_recipe(tmp_path):
    from helpers import CountingPolicy

    policy = CountingPolicy()
    policy.serialize(tmp_path / "count.eqx")
    with pytest.raises(ValueError, match=r"CountingPolicy.deserialize\(path, env"):
        lerax.load(tmp_path / "count.eqx")


@pytest.mark.parametrize(
    "space",
    [
        Box(-1.0, 1.0, shape=(3,)),
        Box(np.array([-np.inf, 0.0]), np.array([np.inf, 2.5])),
        Box(0.0, 1.0),
        Discrete(4),
        MultiBinary(3),
        MultiDiscrete([2, 3]),
        Dict({"a": Discrete(2), "b": Box(0.0, 1.0, shape=(2, 2))}),
        Tuple([Discrete(2), MultiDiscrete([4])]),
    ],
)
def test_spaces_survive_a_json_round_trip(space):
    data = json.loads(json.dumps(space_to_json(space)))
    again = space_from_json(data)
    assert type(again) is type(space)
    assert eqx.tree_equal(again, space)
    if isinstance(space, Box):
        np.testing.assert_array_equal(np.asarray(again.low), np.asarray(space.low))
        np.testing.assert_array_equal(np.asarray(again.high), np.asarray(space.high))


def test_malformed_space_data_is_a_value_error():
    with pytest.raises(ValueError, match="unknown space type 'Sphere'"):
        space_from_json({"type": "Sphere"})
    with pytest.raises(ValueError, match="malformed Discrete"):
        space_from_json({"type": "Discrete"})
