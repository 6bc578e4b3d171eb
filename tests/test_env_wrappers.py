"""lerax.env wrappers: each against hand computation on the toy envs of helpers.py."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import ChainEnv, PointEnv
from lerax.env import (
    AbstractActionWrapper,
    AbstractEnvLike,
    AbstractRewardWrapper,
    AbstractWrapper,
    ClipAction,
    FlattenObservation,
    RescaleAction,
    TimeLimit,
    TimeLimitState,
    TransformObservation,
    TransformReward,
)
from lerax.space import Box, Dict, Discrete

KEY = jax.random.key(0)


def rollout(env, actions):
    """Reset, then step through `actions`; the results as NumPy arrays."""
    obs0, outs = _rollout(env, actions)
    return np.asarray(obs0), jax.tree.map(np.asarray, outs)


@eqx.filter_jit
def _rollout(env, actions):
    """Reset, then step through `actions` without resetting.

    Returns the initial observation and the stacked per-step
    `(observation, reward, terminated, truncated)`.
    """
    state, obs0, _ = env.reset(key=KEY)

    def body(state, action):
        state, obs, reward, terminated, truncated, _ = env.step(state, action, key=KEY)
        return state, (obs, reward, terminated, truncated)

    _, outs = jax.lax.scan(body, state, actions)
    return obs0, outs


RIGHT = jnp.ones(4, jnp.int32)
LEFT = jnp.zeros(4, jnp.int32)


# ----------------------------------------------------------------------------
# The toy envs themselves (so wrapper tests rest on known ground)


def test_chain_env_by_hand():
    _, (obs, reward, terminated, truncated) = rollout(ChainEnv(length=3), RIGHT)
    np.testing.assert_array_equal(obs[:, 0], [1, 2, 3, 3])
    np.testing.assert_array_equal(obs[:, 1], [1, 2, 3, 4])
    np.testing.assert_array_equal(reward, [1, 1, 1, 0])
    np.testing.assert_array_equal(terminated, [False, False, True, True])
    np.testing.assert_array_equal(truncated, [False, False, False, False])


# ----------------------------------------------------------------------------
# TimeLimit


def test_time_limit_truncates_exactly_at_the_limit():
    # Walking left never terminates; the inner limit (100) never triggers.
    env = TimeLimit(ChainEnv(length=3, max_steps=100), max_episode_steps=3)
    _, (obs, _, terminated, truncated) = rollout(env, LEFT)
    np.testing.assert_array_equal(truncated, [False, False, True, True])
    np.testing.assert_array_equal(terminated, [False] * 4)
    np.testing.assert_array_equal(obs[:, 1], [1, 2, 3, 4])  # inner obs untouched


def test_time_limit_keeps_the_inner_truncation():
    env = TimeLimit(ChainEnv(length=3, max_steps=2), max_episode_steps=10)
    _, (_, _, _, truncated) = rollout(env, LEFT)
    np.testing.assert_array_equal(truncated, [False, True, True, True])


def test_time_limit_passes_termination_through_as_termination():
    env = TimeLimit(ChainEnv(length=2, max_steps=100), max_episode_steps=2)
    _, (_, reward, terminated, truncated) = rollout(env, RIGHT)
    # Step 2 both reaches the goal and hits the limit: the flags stay separate.
    np.testing.assert_array_equal(terminated, [False, True, True, True])
    np.testing.assert_array_equal(truncated, [False, True, True, True])
    np.testing.assert_array_equal(reward, [1, 1, 0, 0])


def test_time_limit_state_counts_steps():
    env = TimeLimit(ChainEnv(), max_episode_steps=5)
    state, _, _ = env.reset(key=KEY)
    assert isinstance(state, TimeLimitState)
    assert int(state.step_count) == 0
    for expected in (1, 2):
        state, *_ = env.step(state, jnp.int32(1), key=KEY)
        assert int(state.step_count) == expected
        assert int(state.env_state.time) == expected


def test_time_limit_delegates_spaces_name_mask_and_unwrapped():
    inner = ChainEnv(use_action_mask=True)
    env = TimeLimit(inner, 5)
    assert env.name == inner.name
    assert env.action_space == inner.action_space
    assert env.observation_space == inner.observation_space
    assert env.unwrapped is inner
    state = env.initial(key=KEY)
    np.testing.assert_array_equal(env.action_mask(state, key=KEY), [False, True])


@pytest.mark.parametrize("steps", [0, -3, 2.5, True, "5", None])
def test_time_limit_rejects_bad_max_episode_steps(steps):
    with pytest.raises(ValueError, match="max_episode_steps"):
        TimeLimit(ChainEnv(), steps)


# ----------------------------------------------------------------------------
# ClipAction


def test_clip_action_clips_before_the_inner_env():
    env = ClipAction(PointEnv(goal=10.0, max_steps=100))
    actions = jnp.array([[5.0], [-3.0], [0.25], [1.0]])
    _, (obs, reward, _, _) = rollout(env, actions)
    positions = np.cumsum(np.clip([5.0, -3.0, 0.25, 1.0], -1.0, 1.0))
    np.testing.assert_allclose(obs[:, 0], positions)
    np.testing.assert_allclose(reward, -np.abs(10.0 - positions))


def test_clip_action_accepts_any_real_action():
    inner = PointEnv()
    env = ClipAction(inner)
    assert isinstance(env.action_space, Box)
    assert env.action_space.shape == inner.action_space.shape
    assert (
        np.isinf(env.action_space.low).all() and np.isinf(env.action_space.high).all()
    )
    assert env.unwrapped is inner


def test_clip_action_rejects_non_box_action_space():
    with pytest.raises(ValueError, match=r"ClipAction.*Box.*Discrete\(2\)"):
        ClipAction(ChainEnv())


# ----------------------------------------------------------------------------
# RescaleAction


def test_rescale_action_maps_affinely_onto_the_inner_box():
    # Inner bounds [-2, 1]; the agent acts in [0, 1].
    env = RescaleAction(
        PointEnv(goal=100.0, action_low=-2.0, action_high=1.0), low=0.0, high=1.0
    )
    actions = np.array([0.0, 1.0, 0.5, 0.25])
    _, (obs, _, _, _) = rollout(env, jnp.asarray(actions)[:, None])
    inner = -2.0 + actions * 3.0  # by hand: [-2, 1, -0.5, -1.25]
    np.testing.assert_allclose(np.diff(obs[:, 0], prepend=0.0), inner, atol=1e-6)
    np.testing.assert_array_equal(env.action_space.low, [0.0])
    np.testing.assert_array_equal(env.action_space.high, [1.0])


def test_rescale_action_default_range_is_minus_one_to_one():
    env = RescaleAction(PointEnv(goal=100.0, action_low=-2.0, action_high=1.0))
    _, (obs, _, _, _) = rollout(env, jnp.array([[-1.0], [1.0], [0.0], [0.5]]))
    inner = np.array([-2.0, 1.0, -0.5, 0.25])
    np.testing.assert_allclose(np.diff(obs[:, 0], prepend=0.0), inner, atol=1e-6)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: RescaleAction(ChainEnv()), "Box"),
        (lambda: RescaleAction(PointEnv(), low=1.0, high=1.0), "low must be < high"),
        (lambda: RescaleAction(PointEnv(), low=2.0, high=1.0), "low must be < high"),
        (lambda: RescaleAction(PointEnv(), low=np.zeros(2)), "low has shape"),
        (lambda: RescaleAction(PointEnv(), high=np.inf), "high must be finite"),
        # ClipAction's action space is unbounded, so it cannot be rescaled.
        (lambda: RescaleAction(ClipAction(PointEnv())), "finite bounds"),
    ],
)
def test_rescale_action_rejects_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ----------------------------------------------------------------------------
# FlattenObservation and TransformObservation


def dict_observation_env(length=3, max_steps=5):
    """ChainEnv with Dict observations {"pos": Discrete, "vec": Box (1, 2)}."""
    space = Dict(
        {
            "vec": Box(0.0, float(max_steps), shape=(1, 2)),
            "pos": Discrete(length + 1),
        }
    )
    return TransformObservation(
        ChainEnv(length=length, max_steps=max_steps),
        lambda obs: {"pos": obs[0].astype(jnp.int32), "vec": obs[None, :]},
        observation_space=space,
    )


def test_flatten_observation_of_dict_matches_numpy():
    env = FlattenObservation(dict_observation_env(length=3, max_steps=5))
    obs0, (obs, _, _, _) = rollout(env, jnp.array([1, 1, 0, 1], jnp.int32))
    positions, times = [1, 2, 1, 2], [1, 2, 3, 4]
    # Sorted keys: "pos" (one-hot over 4 cells) then "vec" ([position, time]).
    expected = np.stack(
        [
            np.concatenate([np.eye(4)[p], [p, t]])
            for p, t in zip(positions, times, strict=True)
        ]
    )
    np.testing.assert_array_equal(obs, expected)
    np.testing.assert_array_equal(obs0, np.concatenate([np.eye(4)[0], [0, 0]]))
    space = env.observation_space
    assert isinstance(space, Box) and space.shape == (6,)
    np.testing.assert_array_equal(space.low, np.zeros(6))
    np.testing.assert_array_equal(space.high, [1, 1, 1, 1, 5, 5])
    assert bool(jax.vmap(space.contains)(jnp.asarray(obs)).all())


def test_flatten_observation_of_box_is_ravel():
    inner = PointEnv()
    env = FlattenObservation(inner)
    assert env.observation_space.shape == (2,)
    assert np.isinf(env.observation_space.low).all()
    _, (obs, _, _, _) = rollout(env, jnp.full((4, 1), 0.5))
    np.testing.assert_allclose(obs, [[0.5, 1], [1.0, 2], [1.5, 3], [2.0, 4]])
    assert env.unwrapped is inner


def test_transform_observation_applies_fn_and_infers_the_space():
    env = TransformObservation(PointEnv(), lambda obs: 2.0 * obs[::-1])
    _, (obs, _, _, _) = rollout(env, jnp.full((4, 1), 0.25))
    np.testing.assert_allclose(
        obs, 2.0 * np.array([[1, 0.25], [2, 0.5], [3, 0.75], [4, 1.0]])
    )
    assert isinstance(env.observation_space, Box)
    assert env.observation_space.shape == (2,)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: TransformObservation(PointEnv(), 3.0), "callable"),
        # Integer output needs an explicit space.
        (
            lambda: TransformObservation(PointEnv(), lambda o: o.astype(jnp.int32)),
            "observation_space",
        ),
        (
            lambda: TransformObservation(PointEnv(), lambda o: (o, o)),
            "observation_space",
        ),
        (
            lambda: TransformObservation(
                PointEnv(), lambda o: o, observation_space=Box(0.0, 1.0, shape=(3,))
            ),
            r"fn\(observation\) has shape \(2,\)",
        ),
        (
            lambda: TransformObservation(PointEnv(), lambda o: o, observation_space=3),
            "lerax space",
        ),
    ],
)
def test_observation_wrappers_reject_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


# ----------------------------------------------------------------------------
# TransformReward


def test_transform_reward_applies_fn():
    env = TransformReward(PointEnv(goal=1.0), lambda r: 10.0 * r + 1.0)
    _, (_, reward, _, _) = rollout(env, jnp.full((4, 1), 0.5))
    positions = np.array([0.5, 1.0, 1.5, 2.0])
    np.testing.assert_allclose(reward, 10.0 * -np.abs(1.0 - positions) + 1.0)


class _SignReward(AbstractRewardWrapper):
    """A user-written reward wrapper: only `env` and `convert_reward`."""

    env: AbstractEnvLike

    def convert_reward(self, reward):
        return jnp.sign(reward)


class _NegateAction(AbstractActionWrapper):
    """A user-written action wrapper: `env`, `action_space`, `convert_action`."""

    env: AbstractEnvLike
    action_space: Box

    def convert_action(self, action):
        return -action


def test_user_wrappers_need_only_their_conversion():
    # PointEnv(goal=-1): x moves by the action; reward -|goal - x|.
    env = _SignReward(_NegateAction(PointEnv(goal=-1.0), Box(-1.0, 1.0, shape=(1,))))
    obs0, (obs, reward, _, _) = rollout(env, jnp.full((4, 1), 0.5))
    positions = -0.5 * np.arange(1, 5)  # the inner env sees -0.5 each step
    np.testing.assert_allclose(obs[:, 0], positions)
    np.testing.assert_allclose(reward, np.sign(-np.abs(-1.0 - positions)))
    assert env.name == env.env.env.name
    assert env.observation_space == env.env.env.observation_space


@pytest.mark.parametrize(
    "fn, match",
    [(None, "callable"), (lambda r: jnp.stack([r, r]), "scalar")],
)
def test_transform_reward_rejects_bad_fn(fn, match):
    with pytest.raises(ValueError, match=match):
        TransformReward(PointEnv(), fn)


# ----------------------------------------------------------------------------
# Stacking, jit and vmap


def test_stacked_wrappers_under_jit_and_vmap():
    inner = PointEnv(goal=100.0, max_steps=100, action_low=-2.0, action_high=2.0)
    env = TimeLimit(
        TransformReward(ClipAction(RescaleAction(inner, 0.0, 1.0)), lambda r: -r),
        max_episode_steps=2,
    )
    assert env.unwrapped is inner

    @eqx.filter_jit
    def one_step(env, actions):
        def single(action):
            state, _, _ = env.reset(key=KEY)
            _, obs, reward, terminated, truncated, _ = env.step(state, action, key=KEY)
            return obs, reward, terminated, truncated

        return jax.vmap(single)(actions)

    agent = np.array([-1.0, 0.0, 0.25, 2.0])
    obs, reward, terminated, truncated = one_step(env, jnp.asarray(agent)[:, None])
    # Clip to [0, 1] (ClipAction sees RescaleAction's box), then map to [-2, 2].
    moved = -2.0 + 4.0 * np.clip(agent, 0.0, 1.0)
    np.testing.assert_allclose(obs[:, 0], moved, atol=1e-6)
    np.testing.assert_allclose(reward, np.abs(100.0 - moved), atol=1e-5)
    assert not np.asarray(terminated).any() and not np.asarray(truncated).any()


WRAPPERS = [
    ClipAction,
    FlattenObservation,
    RescaleAction,
    TimeLimit,
    TransformObservation,
    TransformReward,
]


@pytest.mark.parametrize("cls", WRAPPERS, ids=lambda c: c.__name__)
def test_wrappers_use_the_base_reset_and_step(cls):
    assert issubclass(cls, AbstractWrapper)
    assert cls.reset is AbstractEnvLike.reset
    assert cls.step is AbstractEnvLike.step


def test_wrapped_step_rejects_wrong_action_shape():
    env = TimeLimit(ClipAction(PointEnv()), 5)
    state, _, _ = env.reset(key=KEY)
    with pytest.raises(ValueError, match=r"action has shape \(2,\)"):
        env.step(state, jnp.zeros(2), key=KEY)
