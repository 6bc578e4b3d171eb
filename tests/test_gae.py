"""GAE keeps termination and truncation apart: checked against NumPy and by hand."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.buffer import RolloutBuffer, generalized_advantage_estimate


def explicit_sum_gae(rewards, values, next_values, term, trunc, gamma, lam):
    """GAE as the explicit sum A_t = sum_l (gamma lam)^l delta_{t+l} within an episode.

    A different formulation from the library's reverse recursion: for each t, walk
    forward until the episode (or the rollout) ends.
    """
    steps = len(rewards)
    deltas = np.array(
        [
            rewards[t] + (0.0 if term[t] else gamma * next_values[t]) - values[t]
            for t in range(steps)
        ]
    )
    advantages = np.zeros(steps)
    for t in range(steps):
        total, weight = 0.0, 1.0
        for u in range(t, steps):
            total += weight * deltas[u]
            if term[u] or trunc[u]:
                break
            weight *= gamma * lam
        advantages[t] = total
    return advantages


def run(rewards, values, next_values, term, trunc, gamma, lam):
    adv, ret = generalized_advantage_estimate(
        jnp.asarray(rewards, jnp.float32),
        jnp.asarray(values, jnp.float32),
        jnp.asarray(next_values, jnp.float32),
        jnp.asarray(term, bool),
        jnp.asarray(trunc, bool),
        gamma=gamma,
        gae_lambda=lam,
    )
    return np.asarray(adv), np.asarray(ret)


def test_truncation_bootstraps_from_final_value_by_hand():
    # Step 1 is truncated; the value of its (pre-reset) final observation is 10.
    adv, ret = run(
        [1.0, 1.0, 1.0],
        [0.5, 0.5, 0.5],
        [0.5, 10.0, 0.5],
        [False, False, False],
        [False, True, False],
        gamma=0.9,
        lam=1.0,
    )
    # delta_2 = 1 + .9*.5 - .5 = .95; delta_1 = 1 + .9*10 - .5 = 9.5 (cut);
    # A_0 = .95 + .9 * 9.5 = 9.5
    np.testing.assert_allclose(adv, [9.5, 9.5, 0.95], rtol=1e-6)
    np.testing.assert_allclose(ret, [10.0, 10.0, 1.45], rtol=1e-6)


def test_termination_cuts_the_bootstrap_by_hand():
    adv, _ = run(
        [1.0, 1.0, 1.0],
        [0.5, 0.5, 0.5],
        [0.5, 10.0, 0.5],
        [False, True, False],
        [False, False, False],
        gamma=0.9,
        lam=1.0,
    )
    # delta_1 = 1 - .5 = .5 (no bootstrap); A_0 = .95 + .9 * .5 = 1.4
    np.testing.assert_allclose(adv, [1.4, 0.5, 0.95], rtol=1e-6)


@pytest.mark.parametrize("lam", [0.0, 0.95, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_explicit_sum_on_random_trajectories(lam, seed):
    rng = np.random.default_rng(seed)
    steps, envs = 40, 3
    rewards = rng.normal(size=(steps, envs))
    values = rng.normal(size=(steps, envs))
    next_values = rng.normal(size=(steps, envs))
    term = rng.random((steps, envs)) < 0.1
    trunc = (rng.random((steps, envs)) < 0.1) & ~term
    adv, ret = run(rewards, values, next_values, term, trunc, gamma=0.97, lam=lam)
    for e in range(envs):
        expected = explicit_sum_gae(
            rewards[:, e],
            values[:, e],
            next_values[:, e],
            term[:, e],
            trunc[:, e],
            0.97,
            lam,
        )
        np.testing.assert_allclose(adv[:, e], expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ret, adv + values, rtol=1e-5, atol=1e-5)


def test_lambda_one_gives_discounted_returns_bootstrapped_at_the_end():
    rewards = np.array([1.0, 2.0, 3.0, 4.0])
    values = np.array([0.3, -0.2, 0.7, 0.1])
    next_values = np.array([-0.2, 0.7, 0.1, 5.0])  # consistent, last bootstraps 5
    gamma = 0.9
    _, ret = run(rewards, values, next_values, [False] * 4, [False] * 4, gamma, 1.0)
    expected = [
        sum(gamma**k * rewards[t + k] for k in range(4 - t)) + gamma ** (4 - t) * 5.0
        for t in range(4)
    ]
    np.testing.assert_allclose(ret, expected, rtol=1e-6)


def test_buffer_with_gae_fills_returns_and_advantages():
    steps, envs = 5, 2
    zeros = jnp.zeros((steps, envs))
    buffer = RolloutBuffer(
        observations=zeros,
        actions=zeros,
        rewards=jnp.ones((steps, envs)),
        terminations=jnp.zeros((steps, envs), bool),
        truncations=jnp.zeros((steps, envs), bool),
        log_probs=zeros,
        values=zeros,
        policy_states=None,
        next_observations=zeros,
        next_policy_states=None,
    )
    assert buffer.advantages is None and buffer.returns is None
    filled = buffer.with_gae(zeros, gamma=0.5, gae_lambda=1.0)
    # returns from the end: 1, 1.5, 1.75, 1.875, 1.9375
    np.testing.assert_allclose(
        filled.returns[:, 0], [1.9375, 1.875, 1.75, 1.5, 1.0], rtol=1e-6
    )
    flat = filled.flatten()
    assert flat.rewards.shape == (steps * envs,)
    minibatches = flat.shuffled_minibatches(5, key=jax.random.key(0))
    assert minibatches.rewards.shape == (5, 2)
    with pytest.raises(ValueError, match="num_batches=3"):
        flat.shuffled_minibatches(3, key=jax.random.key(0))
