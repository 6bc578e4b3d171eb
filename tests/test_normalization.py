"""Observation normalization and reward scaling, against NumPy running statistics.

`ClockEnv` makes the rollouts known in advance: its observations, rewards and
episode ends depend only on the time since reset, so NumPy can recompute every
observation and reward the run saw and the statistics it should hold.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Bool, Float

from helpers import AbstractClockEnv
from lerax.algorithm import PPO, RewardNormalizerState
from lerax.policy import MLPActorCriticPolicy, RunningMeanStd

GAMMA = 0.9
EPISODE = 3
NUM_ENVS, NUM_STEPS, ITERATIONS = 2, 4, 3


class ClockEnv(AbstractClockEnv):
    """Observation `[t, 10 + 3 t]`, reward `0.5 (t + 1)^2`, episodes of 3 steps."""

    name: str = eqx.field(static=True, default="Clock")

    def observation(self, state, *, key) -> Array:
        t = state.time.astype(jnp.float32)
        return jnp.stack([t, 10.0 + 3.0 * t])

    def reward(self, state, action, next_state, *, key) -> Float[Array, ""]:
        return 0.5 * next_state.time.astype(jnp.float32) ** 2

    def truncate(self, state) -> Bool[Array, ""]:
        return state.time >= EPISODE


def numpy_reward_scaling(rewards, dones, *, gamma, returns=None, clip=10.0):
    """SB3's VecNormalize reward rule in float64 NumPy (count starting at 0)."""
    num_envs = rewards.shape[1]
    returns = np.zeros(num_envs) if returns is None else returns.copy()
    seen = []
    scaled = np.empty_like(rewards, dtype=np.float64)
    for t in range(rewards.shape[0]):
        returns = gamma * returns + rewards[t]
        seen.append(returns.copy())
        var = np.var(np.concatenate(seen))
        scaled[t] = np.clip(rewards[t] / np.sqrt(var + 1e-8), -clip, clip)
        returns = np.where(dones[t], 0.0, returns)
    return scaled, returns, np.concatenate(seen)


# ----------------------------------------------------------------- units


def test_running_mean_std_matches_numpy_over_all_batches():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, size=(n, 2, 3)) for n in (5, 1, 7)]
    stats = RunningMeanStd(3)
    for batch in batches:
        stats = stats.update(jnp.asarray(batch, jnp.float32))
    everything = np.concatenate([b.reshape(-1, 3) for b in batches])
    np.testing.assert_allclose(stats.mean, everything.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, everything.var(0), rtol=1e-4)
    assert float(stats.count) == len(everything)


def test_reward_scaling_matches_numpy():
    rng = np.random.default_rng(1)
    rewards = rng.normal(1.0, 3.0, size=(12, 3))
    dones = rng.random((12, 3)) < 0.2
    state = RewardNormalizerState(3)
    state, scaled = state.scale(
        jnp.asarray(rewards, jnp.float32), jnp.asarray(dones), gamma=0.95
    )
    expected, returns, seen = numpy_reward_scaling(rewards, dones, gamma=0.95)
    np.testing.assert_allclose(scaled, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(state.returns, returns, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(state.statistics.var[0], seen.var(), rtol=1e-4)


def test_normalized_policy_is_the_plain_policy_on_normalized_clipped_input():
    env = ClockEnv()
    plain = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    normalized = MLPActorCriticPolicy(
        env=env, key=jax.random.key(0), normalize_observations=True
    )
    mean, var = np.array([1.0, -2.0]), np.array([4.0, 0.01])
    normalized = eqx.tree_at(
        lambda p: (p.observation_normalizer.mean, p.observation_normalizer.var),
        normalized,
        (jnp.asarray(mean, jnp.float32), jnp.asarray(var, jnp.float32)),
    )
    state = plain.reset(key=jax.random.key(0))
    for obs in (np.array([3.0, -1.99]), np.array([-5.0, 3.0])):  # 2nd one clips
        expected = np.clip((obs - mean) / np.sqrt(var + 1e-8), -10, 10)
        _, got = normalized.value(state, jnp.asarray(obs, jnp.float32))
        _, want = plain.value(state, jnp.asarray(expected, jnp.float32))
        np.testing.assert_allclose(float(got), float(want), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------- in a run


@pytest.fixture(scope="module")
def run():
    env = ClockEnv()
    policy = MLPActorCriticPolicy(
        env=env, key=jax.random.key(0), normalize_observations=True
    )
    algo = PPO(
        num_envs=NUM_ENVS,
        num_steps=NUM_STEPS,
        num_epochs=1,
        num_batches=1,
        gamma=GAMMA,
        normalize_rewards=True,
    )
    total = ITERATIONS * NUM_ENVS * NUM_STEPS
    return env, algo.learn_state(env, policy, total, key=jax.random.key(0))


def _clock_sequence():
    """Every step's time since reset, reward and episode end, as NumPy."""
    steps = np.arange(ITERATIONS * NUM_STEPS)
    time = steps % EPISODE
    reward = 0.5 * (time + 1.0) ** 2
    done = time + 1 >= EPISODE
    tile = lambda x: np.repeat(x[:, None], NUM_ENVS, axis=1)  # noqa: E731
    return tile(time), tile(reward), tile(done)


def test_observation_statistics_are_those_of_every_rollout(run):
    _, state = run
    time, _, _ = _clock_sequence()
    observations = np.stack([time, 10.0 + 3.0 * time], axis=-1).reshape(-1, 2)
    stats = state.policy.observation_normalizer
    # Updated once per rollout with all its observations (all envs pooled), and
    # never moved by the optimizer.
    assert float(stats.count) == ITERATIONS * NUM_STEPS * NUM_ENVS
    np.testing.assert_allclose(stats.mean, observations.mean(0), rtol=1e-5)
    np.testing.assert_allclose(stats.var, observations.var(0), rtol=1e-4)


def test_reward_statistics_follow_the_discounted_returns(run):
    _, state = run
    _, reward, done = _clock_sequence()
    _, returns, seen = numpy_reward_scaling(reward, done, gamma=GAMMA)
    normalizer = state.reward_normalizer
    np.testing.assert_allclose(normalizer.returns, returns, rtol=1e-5)
    assert float(normalizer.statistics.count) == seen.size
    np.testing.assert_allclose(normalizer.statistics.mean[0], seen.mean(), rtol=1e-5)
    np.testing.assert_allclose(normalizer.statistics.var[0], seen.var(), rtol=1e-4)


def test_statistics_are_saved_with_the_policy(run, tmp_path):
    env, state = run
    state.policy.serialize(tmp_path / "policy")
    loaded = MLPActorCriticPolicy.deserialize(
        tmp_path / "policy", env=env, key=jax.random.key(5), normalize_observations=True
    )
    for a, b in zip(
        jax.tree.leaves(loaded.observation_normalizer),
        jax.tree.leaves(state.policy.observation_normalizer),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="observation_normalizer"):
        MLPActorCriticPolicy.deserialize(
            tmp_path / "policy", env=env, key=jax.random.key(0)
        )
