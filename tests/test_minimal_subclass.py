"""A subclass written against the specification alone instantiates and trains.

`VPG` (REINFORCE with a learned baseline) declares exactly the members the
specification of `AbstractOnPolicyAlgorithm` lists: `optimizer`, `gamma`,
`num_envs`, `num_steps`, `batch_size`, `step`, `per_step`, `per_iteration`,
`train` and `post_collect`. Everything the base has added since (the NaN guard,
checkpoints, host delivery of callbacks) must work with its defaults; a new
capability that becomes an obligation breaks this file.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from helpers import AbstractClockEnv, ChainEnv
from lerax.algorithm import (
    AbstractOnPolicyAlgorithm,
    NonFiniteError,
    actor_critic_step,
    gae_post_collect,
)
from lerax.callback import EpisodeStatisticsCallback
from lerax.checkpoint import Checkpointer
from lerax.policy import MLPActorCriticPolicy

NUM_ENVS, NUM_STEPS, ITERATIONS = 4, 16, 3
TOTAL = NUM_ENVS * NUM_STEPS * ITERATIONS


class VPG(AbstractOnPolicyAlgorithm):
    """REINFORCE with a baseline: one gradient step on the whole rollout."""

    optimizer: optax.GradientTransformation
    gamma: float
    num_envs: int = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    batch_size: int = eqx.field(static=True)

    def __init__(self, learning_rate=3e-3, gamma=0.99, num_envs=4, num_steps=16):
        self.optimizer = optax.adam(learning_rate)
        self.gamma = gamma
        self.num_envs = num_envs
        self.num_steps = num_steps
        self.batch_size = num_envs * num_steps

    def step(self, env, policy, state, *, key, callback):
        return actor_critic_step(env, policy, state, key=key, callback=callback)

    def per_step(self, step_state):
        return step_state

    def per_iteration(self, state):
        return state

    def post_collect(self, env, policy, step_state, buffer, *, key):
        return gae_post_collect(policy, buffer, gamma=self.gamma, gae_lambda=1.0)

    def train(self, policy, opt_state, buffer, *, key):
        flat = buffer.without_next().flatten()

        def loss(policy):
            def one(state, observation, action, mask):
                _, value, log_prob, _ = policy.evaluate_action(
                    state, observation, action, action_mask=mask
                )
                return value, log_prob

            values, log_probs = jax.vmap(one)(
                flat.policy_states, flat.observations, flat.actions, flat.action_masks
            )
            advantages = jax.lax.stop_gradient(flat.advantages)
            value_loss = 0.5 * ((values - flat.returns) ** 2).mean()
            return -(advantages * log_probs).mean() + value_loss

        value, grads = eqx.filter_value_and_grad(loss)(policy)
        params = eqx.filter(policy, eqx.is_inexact_array)
        updates, opt_state = self.optimizer.update(grads, opt_state, params)
        return eqx.apply_updates(policy, updates), opt_state, {"loss": value}


@pytest.fixture(scope="module")
def env():
    return ChainEnv()


@pytest.fixture(scope="module")
def policy(env):
    return MLPActorCriticPolicy(env=env, key=jax.random.key(0))


@pytest.fixture(scope="module")
def run(env, policy):
    return VPG().learn_state(env, policy, TOTAL, key=jax.random.key(1))


def params(tree):
    return jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array))


def test_instantiates_with_the_defaults_of_the_base():
    algo = VPG()
    assert algo.nonfinite_mode() == "error"


def test_trains_changes_the_parameters_and_counts_iterations(policy, run):
    assert int(run.iteration_count) == ITERATIONS
    assert int(run.fault) == 0 and int(run.skipped_updates) == 0
    changed = [
        not np.array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(params(policy), params(run.policy), strict=True)
    ]
    assert all(changed)
    assert all(bool(jnp.isfinite(x).all()) for x in params(run.policy))


def test_a_second_run_is_bit_identical(env, policy, run):
    again = VPG().learn(env, policy, TOTAL, key=jax.random.key(1))
    for a, b in zip(params(run.policy), params(again), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_vmap_over_keys_matches_separate_runs(env, policy, run):
    keys = jnp.stack([jax.random.key(1), jax.random.key(2)])
    batched = eqx.filter_vmap(lambda k: VPG().learn(env, policy, TOTAL, key=k))(keys)
    first = jax.tree.map(lambda x: x[0], eqx.filter(batched, eqx.is_inexact_array))
    for a, b in zip(params(run.policy), params(first), strict=True):
        # vmapping batches the matrix products: float32 rounding at most.
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_learns_the_chain(env, policy):
    # Always moving right returns `length` (3); the initial policy walks at
    # random (about 1.2 over the first iterations).
    callback = EpisodeStatisticsCallback()
    state = VPG(learning_rate=1e-3).learn_state(
        env, policy, NUM_ENVS * NUM_STEPS * 40, key=jax.random.key(3), callback=callback
    )
    returns = np.asarray(state.callback_state.mean_return)
    assert np.nanmean(returns[-10:]) > np.nanmean(returns[:5]) + 0.75


class NaNRewardEnv(AbstractClockEnv):
    """Reward 1 for action 1, NaN at step 20 (in the second iteration)."""

    name: str = eqx.field(static=True, default="NaNReward")

    def observation(self, state, *, key):
        return jnp.stack([jnp.sin(state.time * 0.1), jnp.cos(state.time * 0.1)])

    def reward(self, state, action, next_state, *, key):
        reward = jnp.asarray(action, jnp.float32)
        return jnp.where(state.time == NUM_STEPS + 4, jnp.nan, reward)

    def truncate(self, state):
        return jnp.asarray(False)


def test_nan_guard_stops_the_run_at_its_default():
    env = NaNRewardEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    with pytest.raises(NonFiniteError, match="non-finite reward .* iteration 2 of 3"):
        VPG().learn(env, policy, TOTAL, key=jax.random.key(1))


def test_checkpoint_and_rerun_at_the_defaults(env, policy, run, tmp_path):
    def learn():
        checkpointer = Checkpointer(tmp_path, every_iterations=1)
        return VPG().learn_state(
            env, policy, TOTAL, key=jax.random.key(1), checkpointer=checkpointer
        )

    first = learn()
    assert Checkpointer(tmp_path, every_iterations=1).steps()[-1] == ITERATIONS
    for a, b in zip(params(run.policy), params(first.policy), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    again = learn()  # continues from the last checkpoint: nothing left to run
    for a, b in zip(params(first.policy), params(again.policy), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
