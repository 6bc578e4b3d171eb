"""`JumanjiToLeraxEnv`: Jumanji environments as lerax environments.

Skipped, with the reason, when Jumanji is not installed
(`pip install 'lerax[jumanji]'`; CI installs it). References: Jumanji itself
(Snake and Knapsack reset with the same key and stepped with the same actions
must give the same observations, rewards and masks; Knapsack's rules by hand:
an item is allowed while unpacked and within the budget) and two hand-made
Jumanji environments whose episodes end by termination (discount 0) and by
truncation (discount 1), one with a joint and one with a per-entry mask.
Environments are kept small (a 6x6 Snake, 5 Knapsack items) so each compiles
fast.
"""

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

jumanji = pytest.importorskip(
    "jumanji", reason="Jumanji is not installed (pip install 'lerax[jumanji]')"
)

from jumanji import specs  # noqa: E402
from jumanji.environments.packing.knapsack.generator import (  # noqa: E402
    RandomGenerator as KnapsackGenerator,
)
from jumanji.types import StepType, restart, termination, transition, truncation  # noqa: E402

from lerax.algorithm import PPO  # noqa: E402
from lerax.compatibility.jumanji import JumanjiToLeraxEnv  # noqa: E402
from lerax.env import check_env  # noqa: E402
from lerax.policy import MLPActorCriticPolicy  # noqa: E402
from lerax.space import Box, Dict, Discrete, MultiDiscrete  # noqa: E402

FAST_COMPILE = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}


def fast_jit(fn):
    return eqx.filter_jit(fn, compiler_options=FAST_COMPILE)


def jumanji_reset_key(key):
    # lerax's `reset` gives `initial` the first half of a split key, as raw data.
    return jax.random.key_data(jax.random.split(key)[0])


# ----------------------------------------------------------------------------
# Hand-made Jumanji environments


class CountState(NamedTuple):
    count: jax.Array
    key: jax.Array


class CountObservation(NamedTuple):
    count: jax.Array
    action_mask: jax.Array


class Countdown(jumanji.Environment):
    """Action 1 terminates (discount 0); the 3rd step truncates (discount 1).

    Action 2 is never allowed; the reward is the action taken.
    """

    def reset(self, key):
        state = CountState(count=jnp.int32(0), key=key)
        return state, restart(self._obs(state))

    def _obs(self, state):
        return CountObservation(
            count=state.count, action_mask=jnp.array([True, True, False])
        )

    def step(self, state, action):
        state = CountState(count=state.count + 1, key=state.key)
        obs = self._obs(state)
        reward = jnp.asarray(action, jnp.float32)
        return state, jax.lax.switch(
            jnp.where(action == 1, 0, jnp.where(state.count >= 3, 1, 2)),
            [
                lambda: termination(reward, obs),
                lambda: truncation(reward, obs),
                lambda: transition(reward, obs),
            ],
        )

    @property
    def observation_spec(self):
        return specs.Spec(
            CountObservation,
            "ObservationSpec",
            count=specs.BoundedArray((), jnp.int32, 0, 3, "count"),
            action_mask=specs.BoundedArray((3,), bool, False, True, "action_mask"),
        )

    @property
    def action_spec(self):
        return specs.DiscreteArray(3, name="action")


class PairState(NamedTuple):
    last: jax.Array
    key: jax.Array


class PairObservation(NamedTuple):
    last: jax.Array
    action_mask: jax.Array


class Pairs(jumanji.Environment):
    """MultiDiscrete actions (2, 3); the observation is the last action.

    With `joint=True` the mask allows exactly the pairs (0, 2) and (1, 0); with
    `joint=False` it is per entry: entry 0 may be 1, entry 1 may be 0 or 2
    (row 0 pads entry 0's two choices to three).
    """

    def __init__(self, joint):
        self.joint = joint
        super().__init__()

    def _mask(self):
        if self.joint:
            return jnp.array([[False, False, True], [True, False, False]])
        return jnp.array([[False, True, False], [True, False, True]])

    def reset(self, key):
        state = PairState(last=jnp.zeros(2, jnp.int32), key=key)
        return state, restart(PairObservation(state.last, self._mask()))

    def step(self, state, action):
        state = PairState(last=jnp.asarray(action, jnp.int32), key=state.key)
        obs = PairObservation(state.last, self._mask())
        return state, transition(jnp.float32(0.0), obs)

    @property
    def observation_spec(self):
        return specs.Spec(
            PairObservation,
            "ObservationSpec",
            last=specs.BoundedArray((2,), jnp.int32, 0, 2, "last"),
            action_mask=specs.BoundedArray((2, 3), bool, False, True, "action_mask"),
        )

    @property
    def action_spec(self):
        return specs.MultiDiscreteArray(jnp.array([2, 3], jnp.int32), name="action")


# ----------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module")
def snake():
    return JumanjiToLeraxEnv.from_name("Snake-v1", num_rows=6, num_cols=6, time_limit=5)


@pytest.fixture(scope="module")
def knapsack():
    return JumanjiToLeraxEnv.from_name(
        "Knapsack-v1", generator=KnapsackGenerator(num_items=5, total_budget=1.5)
    )


# ----------------------------------------------------------------------------
# Spaces


def test_snake_spaces_follow_its_specs(snake):
    raw = snake.jumanji_env
    assert snake.action_space == Discrete(4)
    space = snake.observation_space
    assert isinstance(space, Dict)
    assert set(space.spaces) == {"grid", "step_count", "action_mask"}
    grid = raw.observation_spec.grid
    assert space.spaces["grid"].shape == (6, 6, 5)
    np.testing.assert_array_equal(
        space.spaces["grid"].low, np.broadcast_to(grid.minimum, (6, 6, 5))
    )
    np.testing.assert_array_equal(
        space.spaces["grid"].high, np.broadcast_to(grid.maximum, (6, 6, 5))
    )
    # Declared a DiscreteArray of `time_limit` (5) values, 0 .. 4, but Snake
    # emits 5 on its last step: the Box reaches 5, as float32.
    count = space.spaces["step_count"]
    assert isinstance(count, Box) and count.dtype == jnp.float32
    assert float(count.low) == 0.0 and float(count.high) == 5.0
    mask = space.spaces["action_mask"]
    assert mask.shape == (4,) and float(mask.high.max()) == 1.0


def test_joint_multidiscrete_mask_flattens_the_action():
    env = JumanjiToLeraxEnv(Pairs(joint=True), mask_layout="joint")
    assert env.mask_layout == "joint" and env.action_space == Discrete(6)
    state, _, _ = env.reset(key=jax.random.key(0))
    mask = env.action_mask(state, key=jax.random.key(0))
    # C order: flat index 3 * a0 + a1; allowed pairs (0, 2) and (1, 0).
    np.testing.assert_array_equal(mask, [0, 0, 1, 1, 0, 0])
    for flat, pair in ((2, (0, 2)), (3, (1, 0)), (5, (1, 2))):
        next_state, obs, *_ = env.step(state, jnp.int32(flat), key=jax.random.key(1))
        np.testing.assert_array_equal(obs["last"], pair)
    # A masked policy only ever picks the allowed pairs.
    keys = jax.random.split(jax.random.key(2), 200)
    draws = jax.vmap(lambda k: env.action_space.sample(key=k, mask=mask))(keys)
    assert set(np.asarray(draws).tolist()) == {2, 3}


def test_per_entry_multidiscrete_mask_is_concatenated():
    env = JumanjiToLeraxEnv(Pairs(joint=False), mask_layout="per_entry")
    assert env.mask_layout == "per_entry"
    assert env.action_space == MultiDiscrete((2, 3))
    state, _, _ = env.reset(key=jax.random.key(0))
    mask = env.action_mask(state, key=jax.random.key(0))
    # Entry 0's two choices (row 0, first two), then entry 1's three (row 1).
    np.testing.assert_array_equal(mask, [False, True, True, False, True])
    _, obs, *_ = env.step(state, jnp.array([1, 2]), key=jax.random.key(1))
    np.testing.assert_array_equal(obs["last"], [1, 2])


def test_ambiguous_and_wrong_mask_layouts_are_refused():
    # (2, 3) is the joint shape; per entry it would be (2, 3) as well.
    with pytest.raises(ValueError, match="joint or per entry"):
        JumanjiToLeraxEnv(Pairs(joint=False))
    with pytest.raises(ValueError, match="mask_layout must be"):
        JumanjiToLeraxEnv(Pairs(joint=True), mask_layout="flat")
    with pytest.raises(ValueError, match="must be a jumanji.Environment"):
        JumanjiToLeraxEnv("Snake-v1")
    with pytest.raises(ValueError, match="did you mean Snake-v1"):
        JumanjiToLeraxEnv.from_name("Snake-v2")


def test_binpack_is_a_flat_discrete_of_its_joint_mask():
    env = JumanjiToLeraxEnv.from_name("BinPack-v2")
    nvec = tuple(int(n) for n in env.jumanji_env.action_spec.num_values)
    mask_shape = env.jumanji_env.observation_spec.action_mask.shape
    assert tuple(mask_shape) == nvec
    assert env.mask_layout == "joint"
    assert env.action_space == Discrete(int(np.prod(nvec)))


# ----------------------------------------------------------------------------
# Episodes: termination, truncation, the pre-reset observation


def test_termination_and_truncation_stay_distinct():
    env = JumanjiToLeraxEnv(Countdown())

    @fast_jit
    def run(env, actions, key):
        state, obs0, _ = env.reset(key=key)

        def body(state, action):
            state, obs, reward, terminated, truncated, _ = env.step(
                state, action, key=key
            )
            return state, (obs["count"], reward, terminated, truncated)

        return obs0, jax.lax.scan(body, state, actions)[1]

    # 0, 0, 0: the third step truncates (Jumanji's discount 1).
    obs0, (counts, rewards, terminated, truncated) = run(
        env, jnp.array([0, 0, 0]), jax.random.key(0)
    )
    assert float(obs0["count"]) == 0.0
    np.testing.assert_array_equal(counts, [1, 2, 3])  # the last one, not a reset
    np.testing.assert_array_equal(terminated, [False, False, False])
    np.testing.assert_array_equal(truncated, [False, False, True])
    # 0, 1: action 1 terminates (discount 0) with reward 1.
    _, (counts, rewards, terminated, truncated) = run(
        env, jnp.array([0, 1]), jax.random.key(0)
    )
    np.testing.assert_array_equal(rewards, [0.0, 1.0])
    np.testing.assert_array_equal(terminated, [False, True])
    np.testing.assert_array_equal(truncated, [False, False])
    state, *_ = env.reset(key=jax.random.key(3))
    np.testing.assert_array_equal(
        env.action_mask(state, key=jax.random.key(0)), [True, True, False]
    )


def test_snake_matches_jumanji_step_for_step(snake):
    raw = snake.jumanji_env
    # Up, up, ... from wherever the snake starts: it hits a wall or the time
    # limit (Snake's own rule: both end the episode with discount 0).
    actions = jnp.zeros(5, jnp.int32)

    @fast_jit
    def ours(env, key):
        state, obs0, _ = env.reset(key=key)

        def body(state, action):
            mask = env.action_mask(state, key=key)
            state, obs, reward, terminated, truncated, _ = env.step(
                state, action, key=key
            )
            return state, (obs, mask, reward, terminated, truncated)

        return obs0, jax.lax.scan(body, state, actions)[1]

    @fast_jit
    def theirs(key):
        state, ts0 = raw.reset(jumanji_reset_key(key))

        def body(state, action):
            mask = state.action_mask
            state, ts = raw.step(state, action)
            return state, (ts, mask)

        return ts0, jax.lax.scan(body, state, actions)[1]

    for seed in range(2):
        key = jax.random.key(seed)
        obs0, (obs, masks, rewards, terminated, truncated) = ours(snake, key)
        ts0, (ts, their_masks) = theirs(key)
        np.testing.assert_array_equal(obs0["grid"], ts0.observation.grid)
        np.testing.assert_array_equal(obs["grid"], ts.observation.grid)
        np.testing.assert_array_equal(masks, their_masks)
        np.testing.assert_array_equal(rewards, ts.reward)
        last = np.asarray(ts.step_type) == StepType.LAST
        ended = np.flatnonzero(last)
        assert ended.size >= 1  # a wall or the time limit within 5 steps
        first_end = ended[0]
        np.testing.assert_array_equal(
            terminated[: first_end + 1], last[: first_end + 1]
        )
        assert not np.asarray(truncated[: first_end + 1]).any()


def test_knapsack_masks_rewards_and_invalid_actions(knapsack):
    raw = knapsack.jumanji_env
    key = jax.random.key(4)
    state, obs, _ = jax.jit(lambda k: knapsack.reset(key=k))(key)
    _, ts0 = raw.reset(jumanji_reset_key(key))
    weights = np.asarray(ts0.observation.weights)
    values = np.asarray(ts0.observation.values)
    np.testing.assert_array_equal(obs["weights"], weights)
    step = jax.jit(lambda s, a: knapsack.step(s, a, key=key))
    budget, packed, total = 1.5, np.zeros(5, bool), 0.0
    # Pack the lightest items one by one, checking the mask by hand each time.
    for item in np.argsort(weights):
        mask = np.asarray(knapsack.action_mask(state, key=key))
        expected = ~packed & (weights <= budget)
        np.testing.assert_array_equal(mask, expected)
        if not expected[item]:
            break
        state, obs, reward, terminated, truncated, _ = step(state, jnp.int32(item))
        budget -= weights[item]
        packed[item] = True
        total += float(reward)
        np.testing.assert_allclose(float(reward), values[item], rtol=1e-6)
        np.testing.assert_array_equal(obs["packed_items"], packed.astype(np.float32))
        assert not bool(truncated)
        if bool(terminated):  # nothing fits any more
            assert not (~packed & (weights <= budget + 1e-6)).any()
            return
    # A masked-out action (an item packed already) ends the episode: Jumanji's
    # termination, reward 0, discount 0.
    packed_item = int(np.flatnonzero(packed)[0])
    _, _, reward, terminated, truncated, _ = step(state, jnp.int32(packed_item))
    assert float(reward) == 0.0 and bool(terminated) and not bool(truncated)


# ----------------------------------------------------------------------------
# check_env and training


def test_check_env_passes(snake, knapsack):
    pairs = JumanjiToLeraxEnv(Pairs(joint=True), mask_layout="joint")
    for env in (snake, knapsack, pairs, JumanjiToLeraxEnv(Countdown())):
        check_env(env)


def test_masked_ppo_trains_under_vmap_over_seeds(snake):
    policy = MLPActorCriticPolicy(env=snake, key=jax.random.key(0))
    algo = PPO(num_envs=2, num_steps=16, num_epochs=1, num_batches=2)
    keys = jax.random.split(jax.random.key(1), 2)
    trained = jax.vmap(lambda k: algo.learn(snake, policy, 64, key=k))(keys)
    before = jax.tree.leaves(eqx.filter(policy, eqx.is_inexact_array))
    after = jax.tree.leaves(eqx.filter(trained, eqx.is_inexact_array))
    for b, a in zip(before, after, strict=True):
        assert a.shape == (2, *b.shape)
        assert np.isfinite(np.asarray(a)).all()
    assert any(not np.allclose(a[0], b) for a, b in zip(after, before, strict=True))
    assert any(not np.allclose(a[0], a[1]) for a in after)
