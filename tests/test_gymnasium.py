"""Gymnasium and lerax both ways: `GymnasiumToLeraxEnv`, `LeraxToGymnasiumEnv`.

The reference for the adapter's semantics is `ChainEnv` (tests/helpers.py), a
pure lerax env: the same chain written as a plain Gymnasium env must give, through
the adapter, the very rollout buffer that `ChainEnv` gives under the same PPO
rollout code and key (observations, true final observations, rewards,
termination and truncation flags). Space conversions are checked by hand; the
errors for what cannot work are checked by message. One test trains PPO on
Gymnasium's CartPole (about 25 s): `test_ppo_learns_gymnasium_cartpole`.

The other way, lerax envs as Gymnasium envs must pass Gymnasium's own env
checker, replay the lerax env's trajectory for the same actions, and, as vector
envs, behave exactly like Gymnasium's `SyncVectorEnv` over the single adapter in
each autoreset mode.
"""

from __future__ import annotations

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces as gym_spaces
from gymnasium.utils.env_checker import check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from helpers import ChainEnv, PointEnv
from lerax.algorithm import PPO
from lerax.callback import EmptyCallback
from lerax.compatibility.gymnasium import (
    GymnasiumToLeraxEnv,
    LeraxToGymnasiumEnv,
    LeraxToGymnasiumVectorEnv,
    from_gymnasium_space,
    to_gymnasium_space,
)
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy
from lerax.space import Box, Dict, Discrete, MultiBinary, MultiDiscrete, Tuple


class GymChain(gymnasium.Env):
    """`ChainEnv(length=3, max_steps=5)` written as a plain Gymnasium env."""

    def __init__(self, length: int = 3, max_steps: int = 5):
        self.length = length
        self.max_steps = max_steps
        self.observation_space = gym_spaces.Box(
            np.array([0.0, 0.0], np.float32),
            np.array([length, max_steps], np.float32),
        )
        self.action_space = gym_spaces.Discrete(2)
        self.steps_taken = 0

    def _obs(self):
        return np.array([self.position, self.time], np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position, self.time = 0, 0
        return self._obs(), {}

    def step(self, action):
        self.steps_taken += 1
        old = self.position
        self.position = int(np.clip(old + 2 * int(action) - 1, 0, self.length))
        self.time += 1
        terminated = self.position == self.length
        truncated = self.time >= self.max_steps
        return self._obs(), float(self.position - old), terminated, truncated, {}


def _rollout(env, num_envs, num_steps, iterations, key):
    """The buffers of `iterations` PPO rollouts of an untrained policy."""
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(7))
    algo = PPO(num_envs=num_envs, num_steps=num_steps, num_batches=1)
    callback = EmptyCallback()

    @jax.jit
    def run(key):
        reset_key, *keys = jax.random.split(key, iterations + 1)
        state = algo.reset(env, policy, key=reset_key, callback=callback)
        step_state, buffers = state.step_state, []
        for k in keys:
            step_state, buffer = algo.collect_rollout(
                env, policy, step_state, callback, k
            )
            buffers.append(buffer)
        return buffers

    return run(key)


@pytest.fixture(scope="module")
def chain_env():
    env = GymnasiumToLeraxEnv(GymChain, num_envs=3)
    yield env
    env.close()


def test_rollout_matches_the_pure_lerax_env(chain_env):
    key = jax.random.key(3)
    ours = _rollout(chain_env, 3, 12, 2, key)
    reference = _rollout(ChainEnv(), 3, 12, 2, key)
    for buffer, expected in zip(ours, reference, strict=True):
        for field in (
            "observations",
            "actions",
            "rewards",
            "terminations",
            "truncations",
            "next_observations",
        ):
            np.testing.assert_array_equal(
                getattr(buffer, field), getattr(expected, field), err_msg=field
            )
    # The chain ends both ways within 12 steps: a real test of both flags, and
    # of the true final observation at a truncation ([position, 5], not [0, 0]).
    rewards = ours[0]
    assert rewards.terminations.any() and rewards.truncations.any()
    final = np.asarray(rewards.next_observations)[np.asarray(rewards.truncations)]
    np.testing.assert_array_equal(final[:, 1], 5.0)


def test_one_host_call_per_step_for_all_envs(chain_env):
    host = chain_env.host
    calls = []
    step = host.vector_env.step
    host.vector_env.step = lambda actions: calls.append(len(actions)) or step(actions)
    try:
        _rollout(chain_env, 3, 5, 1, jax.random.key(0))
    finally:
        host.vector_env.step = step
    assert calls == [3] * 5


def test_evaluate_policy_plays_whole_episodes(chain_env):
    policy = MLPActorCriticPolicy(env=chain_env, key=jax.random.key(0))
    result = evaluate_policy(
        chain_env, policy, key=jax.random.key(1), num_episodes=3, max_steps=50
    )
    reference = evaluate_policy(
        ChainEnv(), policy, key=jax.random.key(1), num_episodes=3, max_steps=50
    )
    np.testing.assert_array_equal(result.returns, reference.returns)
    np.testing.assert_array_equal(result.lengths, reference.lengths)
    assert bool(result.completed.all())


def test_seeding_is_deterministic_from_the_key():
    env = GymnasiumToLeraxEnv("CartPole-v1", num_envs=2)
    reset = jax.jit(jax.vmap(lambda k: env.reset(key=k)[1]))
    keys = jax.random.split(jax.random.key(0), 2)
    first = np.asarray(reset(keys))
    again = np.asarray(reset(keys))  # a reset after a reset is a real one
    other = np.asarray(reset(jax.random.split(jax.random.key(1), 2)))
    env.close()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first[0], first[1])
    # The seed of environment i is 32 random bits of the key `initial` gets
    # (`reset` gives it the first half of a split).
    initial_key = jax.random.split(keys[0])[0]
    seed = int(jax.random.bits(initial_key, (), jnp.uint32))
    expected, _ = gymnasium.make("CartPole-v1").reset(seed=seed)
    np.testing.assert_array_equal(first[0], expected)


def test_vmap_over_seeds_is_refused(chain_env):
    policy = MLPActorCriticPolicy(env=chain_env, key=jax.random.key(0))
    algo = PPO(num_envs=3, num_steps=4, num_batches=1)
    with pytest.raises(ValueError, match="second jax.vmap"):
        jax.vmap(lambda k: algo.learn(chain_env, policy, 12, key=k))(
            jax.random.split(jax.random.key(0), 2)
        )


def test_num_envs_mismatch_is_refused(chain_env):
    policy = MLPActorCriticPolicy(env=chain_env, key=jax.random.key(0))
    algo = PPO(num_envs=2, num_steps=4, num_batches=1)
    with pytest.raises(ValueError, match="num_envs=3 but reset is vmapped over 2"):
        algo.learn(chain_env, policy, 8, key=jax.random.key(0))


def test_stepping_a_state_twice_is_refused():
    env = GymnasiumToLeraxEnv(GymChain, num_envs=1)
    state, _, _ = env.reset(key=jax.random.key(0))
    env.step(state, jnp.int32(1), key=jax.random.key(1))
    with pytest.raises(Exception, match="cannot be\\s+rewound|cannot be rewound"):
        jax.block_until_ready(env.step(state, jnp.int32(1), key=jax.random.key(2)))
    env.close()


def test_mid_episode_restart_needs_a_second_reset():
    env = GymnasiumToLeraxEnv(GymChain, num_envs=1)
    key = jax.random.key(0)
    state, _, _ = env.reset(key=key)
    state, observation, *_ = env.step(state, jnp.int32(1), key=key)
    np.testing.assert_array_equal(observation, [1.0, 1.0])
    # Right after a step, a reset of a running episode is the algorithm's
    # speculative one: the host keeps the episode, and stepping the placeholder
    # fails rather than act on the wrong observation.
    placeholder, observation, _ = env.reset(key=key)
    np.testing.assert_array_equal(observation, [1.0, 1.0])
    with pytest.raises(Exception, match="reset that was called right after a step"):
        jax.block_until_ready(env.step(placeholder, jnp.int32(1), key=key))
    # A reset after a reset is a real one: the episode starts again at 0.
    env.reset(key=key)
    state, observation, _ = env.reset(key=key)
    np.testing.assert_array_equal(observation, [0.0, 0.0])
    _, observation, *_ = env.step(state, jnp.int32(1), key=key)
    np.testing.assert_array_equal(observation, [1.0, 1.0])
    env.close()


def test_unbatched_call_of_several_envs_fails(chain_env):
    with pytest.raises(Exception, match="called without jax.vmap"):
        jax.block_until_ready(chain_env.reset(key=jax.random.key(0)))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="num_envs must be a positive int"):
        GymnasiumToLeraxEnv("CartPole-v1", num_envs=0)
    with pytest.raises(ValueError, match="vectorization must be 'sync' or 'async'"):
        GymnasiumToLeraxEnv("CartPole-v1", num_envs=1, vectorization="threads")
    with pytest.raises(ValueError, match="one Gymnasium env instance"):
        GymnasiumToLeraxEnv(GymChain(), num_envs=2)
    with pytest.raises(TypeError, match="env must be a Gymnasium env id"):
        GymnasiumToLeraxEnv(3, num_envs=1)


def test_space_conversion_by_hand():
    space = gym_spaces.Dict(
        {
            "d": gym_spaces.Discrete(3, start=2),
            "b": gym_spaces.Box(-1.0, 2.0, shape=(2,), dtype=np.float64),
            "t": gym_spaces.Tuple(
                [gym_spaces.MultiDiscrete([2, 5]), gym_spaces.MultiBinary(4)]
            ),
        }
    )
    converted = from_gymnasium_space(space, role="observation")
    expected = Dict(
        {
            "d": Discrete(3),
            "b": Box(-1.0, 2.0, shape=(2,)),
            "t": Tuple([MultiDiscrete([2, 5]), MultiBinary(4)]),
        }
    )
    assert converted == expected
    # An integer Box observation becomes float32; the way back keeps bounds.
    image = from_gymnasium_space(
        gym_spaces.Box(0, 255, shape=(2, 2), dtype=np.uint8), role="observation"
    )
    assert image == Box(0.0, 255.0, shape=(2, 2))
    back = to_gymnasium_space(expected)
    assert back["d"] == gym_spaces.Discrete(3)
    assert back["t"][0] == gym_spaces.MultiDiscrete([2, 5])
    np.testing.assert_array_equal(back["b"].high, [2.0, 2.0])


@pytest.mark.parametrize(
    ("space", "match"),
    [
        (gym_spaces.Text(5), "no lerax equivalent"),
        (gym_spaces.MultiDiscrete([[2, 3], [4, 5]]), "one-dimensional"),
        (gym_spaces.MultiBinary([2, 2]), "one-dimensional"),
    ],
)
def test_unsupported_spaces_are_named(space, match):
    with pytest.raises(NotImplementedError, match=match):
        from_gymnasium_space(space, role="observation")


def test_integer_box_actions_are_refused():
    with pytest.raises(NotImplementedError, match="integer dtype"):
        from_gymnasium_space(
            gym_spaces.Box(0, 3, shape=(1,), dtype=np.int64), role="action"
        )


def test_dict_and_discrete_start_reach_the_env_shifted():
    class DictEnv(gymnasium.Env):
        observation_space = gym_spaces.Dict(
            {"n": gym_spaces.Discrete(4, start=10), "x": gym_spaces.Box(-5, 5, (1,))}
        )
        action_space = gym_spaces.MultiDiscrete([3, 3], start=[-1, -1])

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            self.n = 10
            return {"n": self.n, "x": np.zeros(1, np.float32)}, {}

        def step(self, action):
            # The env sees actions in its own range: -1, 0 or 1.
            self.n = 10 + (int(action[0]) + 1)
            obs = {"n": self.n, "x": np.array([action[1]], np.float32)}
            return obs, 0.0, False, False, {}

    env = GymnasiumToLeraxEnv(DictEnv, num_envs=1)
    state, observation, _ = env.reset(key=jax.random.key(0))
    assert int(observation["n"]) == 0
    _, observation, *_ = env.step(state, jnp.array([2, 0]), key=jax.random.key(1))
    env.close()
    assert int(observation["n"]) == 2  # env value 12, lerax value 12 - 10
    np.testing.assert_array_equal(observation["x"], [-1.0])  # lerax 0 -> env -1


def test_async_vectorization_matches_sync():
    # Worker processes are spawned (not forked from the multithreaded JAX
    # process); CartPole's seeded episodes must be the same in both modes.
    results = []
    for vectorization in ("sync", "async"):
        env = GymnasiumToLeraxEnv(
            "CartPole-v1",
            num_envs=2,
            vectorization=vectorization,
            async_context="spawn",
        )
        try:

            def run(keys, env=env):
                def one(key):
                    state, _, _ = env.reset(key=key)
                    state, observation, reward, *_ = env.step(
                        state, jnp.int32(1), key=key
                    )
                    return observation, reward

                return jax.vmap(one)(keys)

            results.append(jax.jit(run)(jax.random.split(jax.random.key(4), 2)))
        finally:
            env.close()
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], [1.0, 1.0])


# Heavy (about 25 s on 2 CPU cores): one PPO training run on a host env.
def test_ppo_learns_gymnasium_cartpole():
    env = GymnasiumToLeraxEnv("CartPole-v1", num_envs=4)
    policy_key, learn_key, eval_key = jax.random.split(jax.random.key(0), 3)
    policy = MLPActorCriticPolicy(env=env, key=policy_key)
    policy = PPO(num_envs=4).learn(env, policy, 2**17, key=learn_key)
    result = evaluate_policy(env, policy, key=eval_key, num_episodes=4)
    env.close()
    assert float(result.returns.mean()) >= 475.0


# ----------------------------------------------------- lerax env -> Gymnasium


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "make",
    [ChainEnv, PointEnv, lambda: GymnaxToLeraxEnv.from_name("CartPole-v1")],
    ids=["chain", "point", "gymnax-cartpole"],
)
def test_lerax_env_passes_the_gymnasium_env_checker(make):
    check_env(LeraxToGymnasiumEnv(make()), skip_render_check=True)


def test_same_trajectory_as_the_lerax_env():
    # CartPole with a 12-step limit; random initial states make the keys matter.
    # The adapter runs compiled, the reference eagerly: equal up to float32
    # rounding.
    lerax_env = GymnaxToLeraxEnv.from_name("CartPole-v1", max_steps_in_episode=12)
    env = LeraxToGymnasiumEnv(lerax_env)
    actions = [0, 1] * 6
    observation, _ = env.reset(seed=11)
    # The documented key chain: key(seed), then key, sub = split(key) per call.
    key = jax.random.key(11)
    key, sub = jax.random.split(key)
    state, expected, _ = lerax_env.reset(key=sub)
    np.testing.assert_array_equal(observation, expected)
    for action in actions:
        observation, reward, terminated, truncated, _ = env.step(action)
        key, sub = jax.random.split(key)
        state, expected, r, term, trunc, _ = lerax_env.step(
            state, jnp.int32(action), key=sub
        )
        np.testing.assert_allclose(observation, expected, rtol=1e-6, atol=1e-6)
        assert (reward, terminated, truncated) == (float(r), bool(term), bool(trunc))
        if terminated or truncated:
            break
    # This action sequence survives the 12 steps: a truncation, whose
    # observation is the final state's (time limit), not a reset state's.
    assert truncated and not terminated
    assert np.abs(observation).max() > 0.05


def _run_vector(vector_env, actions):
    out = [vector_env.reset(seed=0)]
    out += [vector_env.step(np.asarray(a)) for a in actions]
    return out


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_matches_gymnasiums_sync_vector_env(mode):
    # ChainEnv is deterministic: always-right ends (terminates) in 3 steps,
    # always-left is truncated after 5.
    actions = [[1, 0]] * 12
    ours = _run_vector(
        LeraxToGymnasiumVectorEnv(ChainEnv(), 2, autoreset_mode=mode), actions
    )
    reference = _run_vector(
        SyncVectorEnv(
            [lambda: LeraxToGymnasiumEnv(ChainEnv())] * 2, autoreset_mode=mode
        ),
        actions,
    )
    ended = 0
    for got, expected in zip(ours, reference, strict=True):
        for a, b in zip(got[:-1], expected[:-1], strict=True):
            np.testing.assert_array_equal(a, b)
        if mode == AutoresetMode.SAME_STEP and "final_obs" in expected[-1]:
            ended += 1
            np.testing.assert_array_equal(
                got[-1]["_final_obs"], expected[-1]["_final_obs"]
            )
            for i in np.flatnonzero(expected[-1]["_final_obs"]):
                np.testing.assert_array_equal(
                    got[-1]["final_obs"][i], expected[-1]["final_obs"][i]
                )
    assert mode == AutoresetMode.NEXT_STEP or ended >= 3


def test_vector_env_disabled_mode_needs_explicit_resets():
    env = LeraxToGymnasiumVectorEnv(ChainEnv(), 2, autoreset_mode="Disabled")
    env.reset(seed=0)
    for _ in range(3):
        observation, _, terminated, _, _ = env.step(np.array([1, 1]))
    assert terminated.all()
    np.testing.assert_array_equal(observation, [[3.0, 3.0], [3.0, 3.0]])
    with pytest.raises(RuntimeError, match=r"copies \[0, 1\] ended"):
        env.step(np.array([1, 1]))
    observation, _ = env.reset(options={"reset_mask": np.array([True, False])})
    np.testing.assert_array_equal(observation, [[0.0, 0.0], [3.0, 3.0]])


def test_lerax_to_gymnasium_refuses_other_envs():
    with pytest.raises(TypeError, match="must be a lerax AbstractEnvLike"):
        LeraxToGymnasiumEnv(gymnasium.make("CartPole-v1"))
    with pytest.raises(ValueError, match="num_envs must be a positive int"):
        LeraxToGymnasiumVectorEnv(ChainEnv(), 0)
