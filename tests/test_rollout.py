"""The rollout keeps termination and truncation apart, end to end.

`collect_rollout` and `post_collect` run on the toy chain env, and the buffer is
checked against the env's rules and a NumPy GAE built from independently computed
values of the pre-reset observations.
"""

import equinox as eqx
import jax
import numpy as np
import pytest

from helpers import ChainEnv
from lerax.algorithm import PPO
from lerax.callback import EmptyCallback
from lerax.policy import MLPActorCriticPolicy

NUM_ENVS, NUM_STEPS = 3, 8
GAMMA, LAMBDA = 0.9, 0.8


def rollout(env, *, seed):
    algo = PPO(
        num_envs=NUM_ENVS,
        num_steps=NUM_STEPS,
        num_epochs=1,
        num_batches=1,
        gamma=GAMMA,
        gae_lambda=LAMBDA,
    )
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(seed))
    callback = EmptyCallback()

    @eqx.filter_jit
    def run(key):
        reset_key, collect_key, post_key = jax.random.split(key, 3)
        state = algo.reset(env, policy, key=reset_key, callback=callback)
        step_state, buffer = algo.collect_rollout(
            env, policy, state.step_state, callback, collect_key
        )
        return step_state, algo.post_collect(
            env, policy, step_state, buffer, key=post_key
        )

    step_state, buffer = run(jax.random.key(seed))
    return policy, step_state, jax.tree.map(np.asarray, buffer)


def numpy_gae(rewards, values, next_values, term, trunc):
    advantages = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[1])
    for t in reversed(range(len(rewards))):
        bootstrap = np.where(term[t], 0.0, GAMMA * next_values[t])
        delta = rewards[t] + bootstrap - values[t]
        running = delta + GAMMA * LAMBDA * np.where(term[t] | trunc[t], 0.0, running)
        advantages[t] = running
    return advantages


def independent_values(policy, observations):
    flat = observations.reshape(-1, observations.shape[-1])
    values = [float(policy.value(policy.reset(key=None), o)[1]) for o in flat]
    return np.asarray(values).reshape(observations.shape[:-1])


def test_truncation_keeps_the_final_observation_and_bootstraps_from_it():
    # The goal is out of reach in 3 steps, so every episode is truncated at 3.
    env = ChainEnv(length=50, max_steps=3)
    policy, step_state, buffer = rollout(env, seed=0)
    expected_trunc = np.tile((np.arange(NUM_STEPS) % 3 == 2)[:, None], (1, NUM_ENVS))
    np.testing.assert_array_equal(buffer.truncations, expected_trunc)
    assert not buffer.terminations.any()
    # Pre-reset next observation at truncation: time 3; the following observation
    # starts a new episode: position 0, time 0.
    np.testing.assert_array_equal(buffer.next_observations[2, :, 1], 3.0)
    np.testing.assert_array_equal(buffer.observations[3], 0.0)
    # Observation time stamps cycle 0, 1, 2.
    np.testing.assert_array_equal(
        buffer.observations[:, 0, 1], np.arange(NUM_STEPS) % 3
    )
    next_values = independent_values(policy, buffer.next_observations)
    np.testing.assert_allclose(
        buffer.values, independent_values(policy, buffer.observations), rtol=1e-5
    )
    expected = numpy_gae(
        buffer.rewards,
        buffer.values,
        next_values,
        buffer.terminations,
        buffer.truncations,
    )
    np.testing.assert_allclose(buffer.advantages, expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        buffer.returns, buffer.advantages + buffer.values, rtol=1e-5, atol=1e-5
    )
    # Episode counters restart after each truncation.
    np.testing.assert_array_equal(step_state.episode_length, NUM_STEPS % 3)


def test_termination_cuts_the_bootstrap_and_masks_are_stored():
    # The mask forbids "left" at 0, so the first action moves right onto the goal
    # at 1: every step terminates with reward 1, and the return is just 1.
    env = ChainEnv(length=1, max_steps=10, use_action_mask=True)
    _, _, buffer = rollout(env, seed=1)
    assert buffer.terminations.all() and not buffer.truncations.any()
    np.testing.assert_array_equal(buffer.actions, 1)
    np.testing.assert_array_equal(buffer.rewards, 1.0)
    np.testing.assert_array_equal(buffer.action_masks[..., 0], False)
    np.testing.assert_allclose(buffer.returns, 1.0, rtol=1e-6)
    np.testing.assert_allclose(buffer.advantages, 1.0 - buffer.values, rtol=1e-5)


@pytest.mark.parametrize("seed", [2])
def test_log_probs_match_policy_evaluation(seed):
    env = ChainEnv(length=4, max_steps=6)
    policy, _, buffer = rollout(env, seed=seed)
    obs = buffer.observations.reshape(-1, 2)
    actions = buffer.actions.reshape(-1)
    state = policy.reset(key=None)
    log_probs = [
        float(policy.evaluate_action(state, o, a)[2])
        for o, a in zip(obs, actions, strict=True)
    ]
    np.testing.assert_allclose(
        buffer.log_probs.reshape(-1), log_probs, rtol=1e-5, atol=1e-6
    )
