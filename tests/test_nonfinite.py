"""The NaN/Inf guard: an env that emits a NaN at a chosen step of the run.

`CounterEnv` never ends an episode, so its clock counts the steps of the whole
run: with 2 envs x 8 steps per iteration, step 19 falls in iteration 3 (from 1).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Bool, Float, Int

from helpers import AbstractClockEnv
from lerax.algorithm import A2C, PPO, NonFiniteError
from lerax.policy import MLPActorCriticPolicy

NUM_ENVS, NUM_STEPS, ITERATIONS = 2, 8, 6
TOTAL = NUM_ENVS * NUM_STEPS * ITERATIONS


class CounterEnv(AbstractClockEnv):
    """Reward 1 for action 1, NaN at step `nan_reward_at`, NaN obs at `nan_obs_at`."""

    nan_reward_at: Int[Array, ""]
    nan_obs_at: Int[Array, ""]
    name: str = eqx.field(static=True, default="Counter")

    def __init__(self, nan_reward_at=-1, nan_obs_at=-1):
        self.nan_reward_at = jnp.asarray(nan_reward_at, jnp.int32)
        self.nan_obs_at = jnp.asarray(nan_obs_at, jnp.int32)

    def observation(self, state, *, key) -> Array:
        obs = jnp.stack([jnp.sin(state.time * 0.1), jnp.cos(state.time * 0.1)])
        return jnp.where(state.time == self.nan_obs_at, jnp.nan, obs)

    def reward(self, state, action, next_state, *, key) -> Float[Array, ""]:
        reward = jnp.asarray(action, jnp.float32)
        return jnp.where(state.time == self.nan_reward_at, jnp.nan, reward)

    def truncate(self, state) -> Bool[Array, ""]:
        return jnp.asarray(False)


def ppo(**kwargs) -> PPO:
    return PPO(
        num_envs=NUM_ENVS, num_steps=NUM_STEPS, num_epochs=2, num_batches=2, **kwargs
    )


@pytest.fixture(scope="module")
def policy():
    return MLPActorCriticPolicy(env=CounterEnv(), key=jax.random.key(0))


def all_params_finite(policy) -> bool:
    return all(
        bool(jnp.isfinite(x).all())
        for x in jax.tree.leaves(eqx.filter(policy, eqx.is_inexact_array))
    )


@pytest.mark.parametrize(
    ("env", "quantity"),
    [
        (CounterEnv(nan_reward_at=19), "reward"),
        (CounterEnv(nan_obs_at=19), "observation"),
    ],
)
def test_error_mode_names_the_quantity_and_the_iteration(policy, env, quantity):
    with pytest.raises(
        NonFiniteError, match=rf"non-finite {quantity} .* iteration 3 of 6"
    ):
        ppo().learn(env, policy, TOTAL, key=jax.random.key(1))


def test_a2c_error_mode_too(policy):
    algo = A2C(num_envs=NUM_ENVS, num_steps=NUM_STEPS)
    with pytest.raises(NonFiniteError, match=r"non-finite reward .* iteration 3 of 6"):
        algo.learn(CounterEnv(nan_reward_at=19), policy, TOTAL, key=jax.random.key(1))


def test_exploding_updates_are_a_loss_or_gradient_fault(policy):
    # A learning rate of 1e30 overflows the parameters after the first update;
    # the next update's loss or gradient is then non-finite.
    with pytest.raises(
        NonFiniteError, match=r"non-finite (loss|gradient) .* iteration 1 of 6"
    ):
        ppo(learning_rate=1e30).learn(
            CounterEnv(), policy, TOTAL, key=jax.random.key(1)
        )


def test_skip_mode_skips_the_bad_iteration_and_counts_it(policy):
    state = ppo(on_nonfinite="skip").learn_state(
        CounterEnv(nan_reward_at=19), policy, TOTAL, key=jax.random.key(1)
    )
    assert int(state.iteration_count) == ITERATIONS  # training went on
    assert int(state.fault) == 2 and int(state.fault_iteration) == 2
    assert int(state.skipped_updates) == 1  # the one bad rollout
    assert all_params_finite(state.policy)


def test_ignore_mode_lets_the_nan_through(policy):
    trained = ppo(on_nonfinite="ignore").learn(
        CounterEnv(nan_reward_at=19), policy, TOTAL, key=jax.random.key(1)
    )
    assert not all_params_finite(trained)


def test_skip_mode_under_vmap_keeps_healthy_seeds_untouched(policy):
    envs = eqx.filter_vmap(lambda t: CounterEnv(nan_reward_at=t))(jnp.array([-1, 19]))
    keys = jax.random.split(jax.random.key(2), 2)
    algo = ppo(on_nonfinite="skip")
    states = eqx.filter_vmap(
        lambda env, key: algo.learn_state(env, policy, TOTAL, key=key)
    )(envs, keys)
    np.testing.assert_array_equal(np.asarray(states.skipped_updates), [0, 1])
    assert all_params_finite(states.policy)
    healthy = algo.learn(CounterEnv(), policy, TOTAL, key=keys[0])
    got = jax.tree.leaves(eqx.filter(states.policy, eqx.is_inexact_array))
    want = jax.tree.leaves(eqx.filter(healthy, eqx.is_inexact_array))
    for x, y in zip(got, want, strict=True):
        np.testing.assert_allclose(x[0], y, rtol=1e-5, atol=1e-6)


def test_error_mode_under_vmap_raises_naming_the_quantity(policy):
    envs = eqx.filter_vmap(lambda t: CounterEnv(nan_reward_at=t))(jnp.array([-1, 19]))
    keys = jax.random.split(jax.random.key(2), 2)
    with pytest.raises(Exception, match="non-finite reward"):
        out = eqx.filter_vmap(
            lambda env, key: ppo().learn(env, policy, TOTAL, key=key)
        )(envs, keys)
        jax.block_until_ready(out)


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="on_nonfinite"):
        PPO(on_nonfinite="warn")
    with pytest.raises(ValueError, match="on_nonfinite"):
        A2C(on_nonfinite=None)
