"""The training log reports the learning rate each iteration actually used."""

import jax
import numpy as np
import optax
import pytest

from helpers import ChainEnv
from lerax.algorithm import A2C, PPO, KLAdaptiveLR
from lerax.callback import LogHistoryCallback
from lerax.policy import MLPActorCriticPolicy


def learning_rates(algo, iterations, keys=("learning_rate",)):
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    state = algo.learn_state(
        env,
        policy,
        iterations * algo.num_envs * algo.num_steps,
        key=jax.random.key(1),
        callback=LogHistoryCallback(keys),
    )
    history = [np.asarray(state.callback_state.history[k]) for k in keys]
    return history[0] if len(keys) == 1 else history


def test_ppo_reports_the_schedule_at_its_last_update():
    # 2 epochs x 2 minibatches = 4 updates per iteration; after iteration k the
    # last update was number 4k - 1 (from 0): lr = 1e-3 * (1 - (4k - 1) / 100).
    schedule = optax.linear_schedule(1e-3, 0.0, transition_steps=100)
    algo = PPO(
        num_envs=2, num_steps=8, num_epochs=2, num_batches=2, learning_rate=schedule
    )
    expected = [1e-3 * (1 - (4 * k - 1) / 100) for k in (1, 2, 3)]
    np.testing.assert_allclose(learning_rates(algo, 3), expected, rtol=1e-6)


def test_a2c_reports_a_constant_and_a_schedule():
    algo = A2C(num_envs=2, num_steps=4, learning_rate=7e-4)
    np.testing.assert_allclose(learning_rates(algo, 2), [7e-4, 7e-4], rtol=1e-7)
    schedule = optax.exponential_decay(1e-3, transition_steps=1, decay_rate=0.5)
    algo = A2C(num_envs=2, num_steps=4, learning_rate=schedule)
    # One update per iteration: update k (from 0) uses 1e-3 * 0.5**k.
    np.testing.assert_allclose(learning_rates(algo, 3), [1e-3, 5e-4, 2.5e-4], rtol=1e-6)


BOTH = ("learning_rate", "critic_learning_rate")


def test_ppo_reports_the_critic_rate_with_separate_optimizers():
    # Two schedules of the update count: after iteration k (4 updates each) the
    # last update was number 4k - 1, for the actor's rate and the critic's.
    algo = PPO(
        num_envs=2,
        num_steps=8,
        num_epochs=2,
        num_batches=2,
        learning_rate=optax.linear_schedule(1e-3, 0.0, transition_steps=100),
        critic_learning_rate=optax.linear_schedule(5e-3, 0.0, transition_steps=50),
    )
    actor, critic = learning_rates(algo, 3, BOTH)
    ks = np.array([1, 2, 3])
    np.testing.assert_allclose(actor, 1e-3 * (1 - (4 * ks - 1) / 100), rtol=1e-6)
    np.testing.assert_allclose(critic, 5e-3 * (1 - (4 * ks - 1) / 50), rtol=1e-6)


def test_ppo_reports_both_kl_adaptive_rates():
    # One rule moves both rates by the same factors (each epoch, from its own
    # start): the logged critic rate stays 10/3 of the logged actor rate, and
    # the factors are powers of 1.5 (the rule's only moves; no clamp reached).
    algo = PPO(
        num_envs=2,
        num_steps=8,
        num_epochs=2,
        num_batches=2,
        learning_rate=3e-3,
        critic_learning_rate=1e-2,
        kl_adaptive_lr=KLAdaptiveLR(0.002, max_lr=1.0, min_lr=1e-9),
    )
    actor, critic = learning_rates(algo, 4, BOTH)
    np.testing.assert_allclose(critic / actor, 1e-2 / 3e-3, rtol=1e-5)
    exponents = np.log(actor / 3e-3) / np.log(1.5)
    np.testing.assert_allclose(exponents, np.round(exponents), atol=1e-4)
    assert np.any(np.round(exponents) != 0)


def test_one_optimizer_logs_no_critic_rate():
    algo = PPO(num_envs=2, num_steps=8, num_epochs=2, num_batches=2)
    with pytest.raises(KeyError, match="critic_learning_rate"):
        learning_rates(algo, 1, BOTH)
