"""lerax.compatibility.gymnax: the adapter against gymnax itself and by hand.

Every registered gymnax env is built, reset and stepped under `jax.jit` and
`jax.vmap`; CartPole and Pendulum are checked against their documented rules
(time limits, pole-angle and cart-position thresholds); a few envs are compared
step for step with gymnax's own `reset_env`/`step_env`.
"""

import equinox as eqx
import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces as gspaces
from gymnax.environments.environment import Environment, EnvParams

from lerax.compatibility.gymnax import GymnaxEnvState, GymnaxToLeraxEnv, convert_space
from lerax.env import AbstractEnv
from lerax.space import Box, Dict, Discrete, Tuple

# Many envs, one compile each: these checks are about values, so skip XLA's slow
# optimisation passes.
FAST_COMPILE = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}
F32_MAX = float(np.finfo(np.float32).max)
NUM_ENVS = 3


def fast_jit(fn):
    return eqx.filter_jit(fn, compiler_options=FAST_COMPILE)


def make_gymnax(name):
    """`gymnax.make(name)`, skipping envs that need data from the internet."""
    try:
        return gymnax.make(name)
    except OSError as err:  # MNISTBandit downloads MNIST when built
        pytest.skip(f"{name} cannot be built offline: {err}")


def convertible(space):
    """Whether every leaf of a gymnax space is Discrete or Box (by hand)."""
    if type(space) in (gspaces.Discrete, gspaces.Box):
        return True
    if type(space) is gspaces.Dict:
        return all(convertible(s) for s in space.spaces.values())
    if type(space) is gspaces.Tuple:
        return all(convertible(s) for s in space.spaces)
    return False


def check_converted(gym_space, space):
    """Compare a converted space with the gymnax original, with NumPy."""
    if isinstance(gym_space, gspaces.Discrete):
        assert isinstance(space, Discrete) and space.n == gym_space.n
    elif isinstance(gym_space, gspaces.Box):
        assert isinstance(space, Box)
        shape = tuple(np.atleast_1d(np.asarray(gym_space.shape, int)))
        assert space.shape == shape
        for ours, theirs in ((space.low, gym_space.low), (space.high, gym_space.high)):
            theirs = np.broadcast_to(np.asarray(theirs, np.float32), shape)
            ours = np.asarray(ours)
            at_limit = np.abs(theirs) >= F32_MAX
            np.testing.assert_array_equal(ours[~at_limit], theirs[~at_limit])
            assert np.isinf(ours[at_limit]).all()
    else:
        raise AssertionError(f"unexpected gymnax space {gym_space!r}")


# ----------------------------------------------------------------------------
# Every registered env


@pytest.mark.parametrize("name", gymnax.registered_envs)
def test_registered_env_resets_and_steps_under_jit_and_vmap(name):
    gym_env, params = make_gymnax(name)
    spaces = (gym_env.action_space(params), gym_env.observation_space(params))
    if not all(convertible(s) for s in spaces):
        with pytest.raises(NotImplementedError, match="space"):
            GymnaxToLeraxEnv(gym_env, params)
        return

    env = GymnaxToLeraxEnv(gym_env, params)
    assert isinstance(env, AbstractEnv)
    assert env.name == gym_env.name
    check_converted(spaces[0], env.action_space)
    check_converted(spaces[1], env.observation_space)

    def reset_and_step(env, key):
        reset_key, action_key, step_key = jax.random.split(key, 3)
        state, obs0, _ = env.reset(key=reset_key)
        action = env.action_space.sample(key=action_key)
        next_state, obs1, reward, terminated, truncated, _ = env.step(
            state, action, key=step_key
        )
        return state, obs0, next_state, obs1, reward, terminated, truncated

    keys = jax.random.split(jax.random.key(0), NUM_ENVS)
    # The env is an argument, so its params are traced leaves, as in training.
    batched = fast_jit(jax.vmap(reset_and_step, in_axes=(None, 0)))
    out = batched(env, keys)
    state, obs0, next_state, obs1, reward, terminated, truncated = out

    obs_space = env.observation_space
    for obs in (obs0, obs1):
        assert obs.shape == (NUM_ENVS, *obs_space.shape)
        assert obs.dtype == obs_space.dtype
    np.testing.assert_array_equal(obs0, state.observation)
    np.testing.assert_array_equal(obs1, next_state.observation)
    assert reward.shape == (NUM_ENVS,) and reward.dtype == jnp.float32
    assert np.isfinite(reward).all()
    assert terminated.shape == truncated.shape == (NUM_ENVS,)
    assert terminated.dtype == truncated.dtype == jnp.bool_
    # gymnax truncates when the step count reaches max_steps_in_episode.
    expected = 1 >= float(params.max_steps_in_episode)
    np.testing.assert_array_equal(truncated, np.full(NUM_ENVS, expected))


# ----------------------------------------------------------------------------
# Step for step against gymnax's own reset_env / step_env


@pytest.mark.parametrize(
    "name, action",
    [
        ("CartPole-v1", jnp.int32(1)),
        ("Pendulum-v1", jnp.array([0.7])),
        ("Catch-bsuite", jnp.int32(2)),  # integer Box observations
        ("FrozenLake-misc", jnp.int32(3)),  # Discrete observations
    ],
)
def test_decomposed_methods_match_gymnax(name, action):
    gym_env, params = gymnax.make(name)
    env = GymnaxToLeraxEnv(gym_env, params)

    @fast_jit
    def both(env, keys):
        ours, theirs = [], []
        state = env.initial(key=keys[0])
        gym_obs, gym_state = gym_env.reset_env(keys[0], params)
        ours.append(env.observation(state, key=keys[0]))
        theirs.append(gym_obs)
        for key in keys[1:]:
            next_state = env.transition(state, action, key=key)
            ours.append(
                (
                    env.observation(next_state, key=key),
                    env.reward(state, action, next_state, key=key),
                    env.terminal(next_state, key=key),
                    env.truncate(next_state),
                )
            )
            gym_obs, gym_state, gym_reward, gym_done, _ = gym_env.step_env(
                key, gym_state, action, params
            )
            theirs.append(
                (
                    gym_obs,
                    gym_reward,
                    gym_done,
                    gym_env.is_truncated(gym_state, params),
                )
            )
            state = next_state
        return ours, theirs

    ours, theirs = both(env, jax.random.split(jax.random.key(3), 4))
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b, np.asarray(a).dtype))


# ----------------------------------------------------------------------------
# CartPole: time limit and termination, by the documented rules


def cartpole_terminal_by_hand(obs):
    x, theta = obs[:, 0], obs[:, 2]
    return (np.abs(x) > 2.4) | (np.abs(theta) > 12 * 2 * np.pi / 360)


def _rollout(env, actions, key):
    """Reset, then step through `actions`: the stacked (obs, reward, term, trunc)."""
    state, _, _ = env.reset(key=key)

    def body(state, xs):
        action, key = xs
        state, obs, reward, terminated, truncated, _ = env.step(state, action, key=key)
        return state, (obs, reward, terminated, truncated)

    keys = jax.random.split(key, actions.shape[0])
    return jax.lax.scan(body, state, (actions, keys))[1]


rollout = fast_jit(_rollout)


ALTERNATE = jnp.arange(14, dtype=jnp.int32) % 2  # push left, right, left, ...
PUSH_RIGHT = jnp.ones(60, jnp.int32)


def test_cartpole_truncates_exactly_at_the_time_limit():
    env = GymnaxToLeraxEnv.from_name("CartPole-v1", max_steps_in_episode=10)
    assert env.name == "CartPole-v1"
    obs, reward, terminated, truncated = map(
        np.asarray, rollout(env, ALTERNATE, jax.random.key(0))
    )
    steps = np.arange(1, 15)
    np.testing.assert_array_equal(truncated, steps >= 10)
    # Alternating pushes keep the pole up: no termination, reward 1 throughout.
    assert not cartpole_terminal_by_hand(obs).any()
    np.testing.assert_array_equal(terminated, np.zeros(14, bool))
    np.testing.assert_array_equal(reward, np.ones(14))


def test_cartpole_terminates_when_the_pole_falls():
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    obs, reward, terminated, truncated = map(
        np.asarray, rollout(env, PUSH_RIGHT, jax.random.key(0))
    )
    np.testing.assert_array_equal(terminated, cartpole_terminal_by_hand(obs))
    assert terminated.any(), "pushing one way for 60 steps must topple the pole"
    first = int(np.argmax(terminated))
    assert not terminated[:first].any()
    # Termination is not truncation: the time limit (500) is far away.
    assert not truncated.any()
    np.testing.assert_array_equal(reward[: first + 1], np.ones(first + 1))


# ----------------------------------------------------------------------------
# Pendulum: never terminates, truncated at 200 steps


def test_pendulum_truncates_at_200_steps_without_terminating():
    env = GymnaxToLeraxEnv.from_name("Pendulum-v1")
    _, _, terminated, truncated = map(
        np.asarray, rollout(env, jnp.zeros((201, 1)), jax.random.key(1))
    )
    np.testing.assert_array_equal(truncated, np.arange(1, 202) >= 200)
    assert not terminated.any()


# ----------------------------------------------------------------------------
# jit behaviour: one compile, params as leaves


def test_step_compiles_once_and_params_are_leaves():
    gym_env, params = gymnax.make("CartPole-v1")
    traces = []

    @eqx.filter_jit
    def step(env, state, action, key):
        traces.append(None)
        return env.step(state, action, key=key)

    env = GymnaxToLeraxEnv(gym_env, params.replace(max_steps_in_episode=2))
    state, _, _ = env.reset(key=jax.random.key(0))
    assert isinstance(state, GymnaxEnvState)
    flags = []
    for i in range(3):
        state, _, _, _, truncated, _ = step(
            env, state, jnp.int32(i % 2), jax.random.key(i)
        )
        flags.append(bool(truncated))
    assert flags == [False, True, True]
    # A different params value with the same structure reuses the compilation.
    other = GymnaxToLeraxEnv(gym_env, params.replace(max_steps_in_episode=50))
    _, _, _, _, truncated, _ = step(other, state, jnp.int32(0), jax.random.key(9))
    assert not bool(truncated)  # time is 4 < 50
    assert len(traces) == 1


def test_vmap_over_params_values():
    gym_env, params = gymnax.make("CartPole-v1")
    envs = [
        GymnaxToLeraxEnv(gym_env, params.replace(max_steps_in_episode=m))
        for m in (3, 5)
    ]
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *envs)

    @fast_jit
    def truncations(envs, key):
        actions = jnp.arange(6, dtype=jnp.int32) % 2
        return eqx.filter_vmap(lambda env: _rollout(env, actions, key)[3])(envs)

    flags = np.asarray(truncations(stacked, jax.random.key(0)))
    steps = np.arange(1, 7)
    np.testing.assert_array_equal(flags, np.stack([steps >= 3, steps >= 5]))


def test_discrete_action_accepts_python_and_numpy_ints():
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    state, _, _ = env.reset(key=jax.random.key(0))
    results = [
        env.step(state, action, key=jax.random.key(1))[1]
        for action in (1, np.int64(1), jnp.int32(1))
    ]
    for obs in results[1:]:
        np.testing.assert_array_equal(obs, results[0])


# ----------------------------------------------------------------------------
# Clear errors


def test_wrong_action_shape_raises_a_clear_error():
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    state, _, _ = env.reset(key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"CartPole-v1: action has shape \(2,\)"):
        env.step(state, jnp.array([1, 0]), key=jax.random.key(0))
    pendulum = GymnaxToLeraxEnv.from_name("Pendulum-v1")
    state, _, _ = pendulum.reset(key=jax.random.key(0))
    with pytest.raises(ValueError, match=r"action has shape \(\).*\(1,\)"):
        pendulum.step(state, jnp.float32(0.5), key=jax.random.key(0))


def test_unknown_name_lists_the_available_ones():
    with pytest.raises(ValueError, match=r"'CartPole-v9'.*available:.*CartPole-v1"):
        GymnaxToLeraxEnv.from_name("CartPole-v9")


def test_unknown_params_override_is_named():
    with pytest.raises(ValueError, match="max_stepz"):
        GymnaxToLeraxEnv.from_name("CartPole-v1", max_stepz=3)


def test_non_gymnax_env_is_rejected():
    with pytest.raises(ValueError, match="gymnax Environment"):
        GymnaxToLeraxEnv("CartPole-v1")


class WeirdSpace(gspaces.Space):
    """A gymnax space kind with no lerax equivalent."""

    def __repr__(self):
        return "WeirdSpace()"


class WeirdEnv(Environment):
    """A gymnax env whose action space hides a WeirdSpace inside a Dict."""

    @property
    def default_params(self):
        return EnvParams(max_steps_in_episode=5)

    def action_space(self, params):
        return gspaces.Dict({"move": gspaces.Discrete(2), "odd": WeirdSpace()})

    def observation_space(self, params):
        return gspaces.Box(0.0, 1.0, (2,))


def test_unconvertible_space_raises_not_implemented_naming_it():
    with pytest.raises(NotImplementedError, match="WeirdSpace"):
        GymnaxToLeraxEnv(WeirdEnv())
    with pytest.raises(NotImplementedError, match="WeirdSpace"):
        convert_space(WeirdSpace())


# ----------------------------------------------------------------------------
# Space conversion


def test_convert_composite_and_integer_spaces():
    space = convert_space(
        gspaces.Dict(
            {
                "grid": gspaces.Box(0, 1, (2, 3), jnp.int32),
                "pair": gspaces.Tuple(
                    [gspaces.Discrete(4), gspaces.Box(-F32_MAX, 2.0, (2,))]
                ),
            }
        )
    )
    assert isinstance(space, Dict)
    grid, pair = space.spaces["grid"], space.spaces["pair"]
    assert isinstance(grid, Box) and grid.shape == (2, 3)
    assert grid.dtype == jnp.float32  # lerax boxes are floating
    np.testing.assert_array_equal(grid.high, np.ones((2, 3)))
    assert isinstance(pair, Tuple)
    assert isinstance(pair.spaces[0], Discrete) and pair.spaces[0].n == 4
    np.testing.assert_array_equal(pair.spaces[1].low, [-np.inf, -np.inf])
    np.testing.assert_array_equal(pair.spaces[1].high, [2.0, 2.0])


def test_integer_box_observations_become_float32():
    env = GymnaxToLeraxEnv.from_name("Catch-bsuite")
    _, obs, _ = env.reset(key=jax.random.key(0))
    assert obs.dtype == jnp.float32
    assert set(np.unique(np.asarray(obs))) <= {0.0, 1.0}
