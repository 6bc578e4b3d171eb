"""`LeraxToGymnaxEnv`: a lerax env as a gymnax 1.x environment.

The round trip gymnax -> `GymnaxToLeraxEnv` -> `LeraxToGymnaxEnv` must behave
like the original gymnax env, for every registered gymnax env the forward
adapter supports: gymnax's own `reset` and auto-resetting `step` on the round
trip are compared with the original's `reset_env`/`step_env`/`is_truncated`,
with the keys the lerax layer derives (lerax `reset` gives `initial` the first
half of `split(key)`, lerax `step` gives `transition` the first of
`split(key, 4)`). A 2-step time limit makes truncation and auto-reset happen
within the few steps taken; one compile per env (MinAtar envs, slow to
compile, are compared by output structure, shape and dtype only).
"""

import equinox as eqx
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces as gspaces

from helpers import ChainEnv
from lerax.compatibility.gymnax import (
    GymnaxToLeraxEnv,
    LeraxToGymnaxEnv,
    to_gymnax_space,
)
from lerax.space import MultiDiscrete

FAST_COMPILE = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}
NUM_STEPS = 3


def _supported(name):
    try:
        env, params = gymnax.make(name)
    except OSError as err:  # MNISTBandit downloads MNIST when built
        pytest.skip(f"{name} cannot be built offline: {err}")
    try:
        GymnaxToLeraxEnv(env, params)
    except NotImplementedError as err:
        pytest.skip(f"GymnaxToLeraxEnv does not support {name}: {err}")
    return env, params


def _select(pred, a, b):
    return jax.tree.map(lambda x, y: jnp.where(pred, x, y), a, b)


@pytest.mark.parametrize("name", gymnax.registered_envs)
def test_round_trip_matches_the_original(name):
    original, params = _supported(name)
    # The same type as the default (some gymnax spaces mix it with floats).
    limit = type(params.max_steps_in_episode)(2)
    params = params.replace(max_steps_in_episode=limit)
    round_trip = LeraxToGymnaxEnv(GymnaxToLeraxEnv(original, params))
    rt_params = round_trip.default_params

    def one_step(carry, k):
        state, ref_state = carry
        action_key, step_key = jax.random.split(k)
        action = round_trip.action_space(rt_params).sample(action_key)
        obs, state, reward, term, trunc, info = round_trip.step(
            step_key, state, action, rt_params
        )
        # The reference: gymnax's step written out with the lerax keys.
        inner_step, inner_reset = jax.random.split(step_key)
        o, s, r, t, _ = original.step_env(
            jax.random.split(inner_step, 4)[0], ref_state, action, params
        )
        tr = original.is_truncated(s, params)
        reset_o, reset_s = original.reset_env(jax.random.split(inner_reset)[0], params)
        done = t | tr
        ref_state = jax.tree.map(
            lambda x, y: jnp.asarray(x, jnp.asarray(y).dtype),
            _select(done, reset_s, s),
            ref_state,
        )
        got = (obs, reward, term, trunc, info["final_observation"])
        expected = (_select(done, reset_o, o), r, t, tr, o)
        return (state, ref_state), (got, expected)

    def run(key):
        reset_key, steps_key = jax.random.split(key)
        obs, state = round_trip.reset(reset_key, rt_params)
        ref_obs, ref_state = original.reset_env(jax.random.split(reset_key)[0], params)
        ref_state = jax.tree.map(jnp.asarray, ref_state)
        _, (outs, refs) = jax.lax.scan(
            one_step, (state, ref_state), jax.random.split(steps_key, NUM_STEPS)
        )
        return (obs, outs), (ref_obs, refs)

    if name.endswith("MinAtar"):
        # MinAtar programs take 5-10 s each to compile: for them, compare the
        # structure, shapes and dtypes of every output (traced, not compiled).
        outs, refs = eqx.filter_eval_shape(run, jax.random.key(0))
        assert jax.tree.structure(outs) == jax.tree.structure(refs)
        for got, expected in zip(
            jax.tree.leaves(outs), jax.tree.leaves(refs), strict=True
        ):
            assert got.shape == expected.shape
        return
    outs, refs = eqx.filter_jit(run, compiler_options=FAST_COMPILE)(jax.random.key(0))
    for got, expected in zip(jax.tree.leaves(outs), jax.tree.leaves(refs), strict=True):
        np.testing.assert_allclose(
            np.asarray(got, np.float64), np.asarray(expected, np.float64), atol=1e-6
        )
    # The 2-step limit made gymnax end the first episode by step 2.
    _, (_, _, terminated, truncated, _) = outs
    assert bool(terminated[:2].any() | truncated[1])


def test_termination_and_truncation_stay_separate():
    # ChainEnv: always-right terminates at step 3; always-left truncates at 5.
    env = LeraxToGymnaxEnv(ChainEnv())
    params = env.default_params

    @jax.jit
    def play(action):
        _, state = env.reset(jax.random.key(0), params)
        flags = []
        for _ in range(5):
            _, state, _, term, trunc, info = env.step(
                jax.random.key(1), state, action, params
            )
            flags.append((term, trunc, info["final_observation"]))
        return flags

    right = play(jnp.int32(1))
    assert [(bool(t), bool(u)) for t, u, _ in right[:3]] == [
        (False, False),
        (False, False),
        (True, False),
    ]
    np.testing.assert_array_equal(right[2][2], [3.0, 3.0])
    left = play(jnp.int32(0))
    assert [(bool(t), bool(u)) for t, u, _ in left] == [(False, False)] * 4 + [
        (False, True)
    ]
    np.testing.assert_array_equal(left[4][2], [0.0, 5.0])


def test_spaces_and_errors():
    env = LeraxToGymnaxEnv(ChainEnv())
    assert isinstance(env.action_space(env.default_params), gspaces.Discrete)
    assert env.num_actions == 2 and env.name == "Chain"
    box = env.observation_space(env.default_params)
    np.testing.assert_array_equal(box.high, [3.0, 5.0])
    with pytest.raises(NotImplementedError, match="no gymnax equivalent"):
        to_gymnax_space(MultiDiscrete([2, 3]))
    with pytest.raises(TypeError, match="must be a lerax AbstractEnvLike"):
        LeraxToGymnaxEnv(gymnax.make("CartPole-v1")[0])
