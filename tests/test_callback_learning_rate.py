"""The training log reports the learning rate each iteration actually used."""

import jax
import numpy as np
import optax

from helpers import ChainEnv
from lerax.algorithm import A2C, PPO
from lerax.callback import LogHistoryCallback
from lerax.policy import MLPActorCriticPolicy


def learning_rates(algo, iterations):
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    state = algo.learn_state(
        env,
        policy,
        iterations * algo.num_envs * algo.num_steps,
        key=jax.random.key(1),
        callback=LogHistoryCallback("learning_rate"),
    )
    return np.asarray(state.callback_state.history["learning_rate"])


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
