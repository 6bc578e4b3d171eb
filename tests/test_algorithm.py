"""The on-policy core and PPO, end to end on small budgets.

Compiles are the cost here, so every test shares one small PPO configuration on
CartPole (`SMALL`) and a handful of compiled programs.
"""

import contextlib

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.algorithm import A2C, PPO, AbstractOnPolicyAlgorithm
from lerax.callback import (
    EmptyCallback,
    EpisodeStatisticsCallback,
    ListCallback,
    ProgressCallback,
)
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy

SMALL = dict(num_envs=4, num_steps=32, num_epochs=2, num_batches=4)
ITERATION = SMALL["num_envs"] * SMALL["num_steps"]


@pytest.fixture(scope="module")
def env():
    return GymnaxToLeraxEnv.from_name("CartPole-v1")


@pytest.fixture(scope="module")
def policy(env):
    return MLPActorCriticPolicy(env=env, key=jax.random.key(0))


@pytest.fixture(scope="module")
def algo():
    return PPO(**SMALL)


@contextlib.contextmanager
def count_compiles():
    events = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def leaves(tree):
    return jax.tree.leaves(eqx.filter(tree, eqx.is_array))


def assert_trees_equal(a, b):
    for x, y in zip(leaves(a), leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


# ---------------------------------------------------------------- learning


def test_ppo_learns_cartpole_smoke(env, policy):
    algo = PPO(num_envs=4, num_steps=128, num_epochs=4, num_batches=4)
    state = algo.learn_state(
        env,
        policy,
        48 * 512,
        key=jax.random.key(1),
        callback=EpisodeStatisticsCallback(),
    )
    returns = np.asarray(state.callback_state.mean_return)
    first, last = np.nanmean(returns[:4]), np.nanmean(returns[-8:])
    # A random CartPole policy averages about 22; PPO should be far above it.
    assert first < 40, returns
    assert last > 150 and last > 4 * first, returns


def test_a2c_learns_cartpole_smoke(env, policy):
    algo = A2C(num_envs=8, num_steps=8)
    state = algo.learn_state(
        env,
        policy,
        400 * 64,
        key=jax.random.key(3),
        callback=EpisodeStatisticsCallback(),
    )
    returns = np.asarray(state.callback_state.mean_return)
    first, last = np.nanmean(returns[:40]), np.nanmean(returns[-80:])
    assert last > 2 * first, (first, last)


# ----------------------------------------------- one compiled, pure program


def test_second_learn_compiles_nothing(env, policy, algo):
    algo.learn(env, policy, 2 * ITERATION, key=jax.random.key(0))
    # New key, new learning rate and gamma (array leaves): same program.
    other = PPO(**SMALL, learning_rate=1e-3, gamma=0.95)
    with count_compiles() as compiles:
        out = other.learn(env, policy, 2 * ITERATION, key=jax.random.key(5))
        jax.block_until_ready(out)
    assert compiles == []


def test_learn_is_deterministic_and_resumable_bit_for_bit(env, policy, algo):
    full = algo.learn_state(env, policy, 4 * ITERATION, key=jax.random.key(7))
    again = algo.learn(env, policy, 4 * ITERATION, key=jax.random.key(7))
    assert_trees_equal(full.policy, again)
    half = algo.learn_state(env, policy, 2 * ITERATION, key=jax.random.key(7))
    resumed = algo.resume(half, 2)
    assert int(resumed.iteration_count) == 4
    assert_trees_equal(full.policy, resumed.policy)
    assert_trees_equal(full.opt_state, resumed.opt_state)
    assert_trees_equal(full.step_state, resumed.step_state)
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(leaves(policy), leaves(full.policy), strict=True)
    ]
    assert any(changed)


def test_vmap_learn_over_keys_trains_independent_seeds(env, policy, algo):
    keys = jax.random.split(jax.random.key(11), 2)
    batched = jax.vmap(lambda k: algo.learn(env, policy, 2 * ITERATION, key=k))(keys)
    single = algo.learn(env, policy, 2 * ITERATION, key=keys[1])
    for b, s in zip(leaves(batched), leaves(single), strict=True):
        assert b.shape == (2, *s.shape)
        np.testing.assert_allclose(b[1], s, rtol=2e-4, atol=2e-5)
    first = leaves(batched)[0]
    assert not np.allclose(first[0], first[1])


def test_filter_vmap_over_learning_rates_is_a_sweep(env, policy):
    rates = jnp.array([3e-4, 3e-3])
    algos = eqx.filter_vmap(lambda lr: PPO(**SMALL, learning_rate=lr))(rates)
    key = jax.random.key(2)
    swept = eqx.filter_vmap(lambda a: a.learn(env, policy, 2 * ITERATION, key=key))(
        algos
    )
    for i, rate in enumerate([3e-4, 3e-3]):
        single = PPO(**SMALL, learning_rate=rate).learn(
            env, policy, 2 * ITERATION, key=key
        )
        for b, s in zip(leaves(swept), leaves(single), strict=True):
            np.testing.assert_allclose(b[i], s, rtol=2e-4, atol=2e-5)


def test_state_keeps_num_envs_leading_axis(env, policy, algo):
    state = algo.learn_state(env, policy, ITERATION, key=jax.random.key(0))
    for leaf in leaves(state.step_state):
        assert leaf.shape[0] == SMALL["num_envs"]


# -------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_batches=3), "num_batches=3"),
        (dict(num_envs=0), "num_envs"),
        (dict(num_steps=-1), "num_steps"),
        (dict(num_epochs=0), "num_epochs"),
        (dict(gamma=0.0), "gamma"),
        (dict(gamma=1.5), "gamma"),
        (dict(gae_lambda=1.1), "gae_lambda"),
        (dict(clip_coefficient=0.0), "clip_coefficient"),
        (dict(entropy_loss_coefficient=-0.1), "entropy_loss_coefficient"),
        (dict(value_loss_coefficient=float("nan")), "value_loss_coefficient"),
        (dict(max_grad_norm=0.0), "max_grad_norm"),
        (dict(learning_rate=-1e-3), "learning_rate"),
    ],
)
def test_ppo_rejects_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PPO(**{**SMALL, **kwargs})


def test_a2c_rejects_bad_hyperparameters():
    with pytest.raises(ValueError, match="num_steps"):
        A2C(num_steps=0)
    with pytest.raises(ValueError, match="gamma"):
        A2C(gamma=2.0)


def test_ppo_defaults_match_the_spec():
    ppo = PPO()
    assert (ppo.num_envs, ppo.num_steps, ppo.num_epochs, ppo.num_batches) == (
        4,
        512,
        16,
        32,
    )
    assert ppo.batch_size == 64
    assert not ppo.clip_value_loss and ppo.normalize_advantages
    expected = dict(
        gae_lambda=0.95,
        gamma=0.99,
        clip_coefficient=0.2,
        entropy_loss_coefficient=0.0,
        value_loss_coefficient=0.5,
        max_grad_norm=0.5,
        learning_rate=3e-4,
    )
    for name, value in expected.items():
        assert float(getattr(ppo, name)) == pytest.approx(value), name


def test_learn_rejects_a_budget_below_one_iteration(env, policy, algo):
    with pytest.raises(ValueError, match="total_timesteps=100 is smaller"):
        algo.learn(env, policy, 100, key=jax.random.key(0))
    with pytest.raises(ValueError, match="total_timesteps must be a Python int"):
        algo.learn(env, policy, 1e5, key=jax.random.key(0))


def test_learn_rejects_a_policy_built_for_another_env(env, algo):
    other = GymnaxToLeraxEnv.from_name("Acrobot-v1")
    policy = MLPActorCriticPolicy(env=other, key=jax.random.key(0))
    with pytest.raises(ValueError, match="observation_space"):
        algo.learn(env, policy, ITERATION, key=jax.random.key(0))


def test_learn_rejects_a_non_lerax_env(policy, algo):
    import gymnax

    raw, _ = gymnax.make("CartPole-v1")
    with pytest.raises(TypeError, match="GymnaxToLeraxEnv"):
        algo.learn(raw, policy, ITERATION, key=jax.random.key(0))


def test_learning_rate_schedule_is_accepted(env, policy):
    import optax

    schedule = optax.linear_schedule(3e-4, 0.0, 4)
    ppo = PPO(**SMALL, learning_rate=schedule)
    out = ppo.learn(env, policy, ITERATION, key=jax.random.key(0))
    assert all(np.isfinite(np.asarray(x)).all() for x in leaves(out))


# --------------------------------------------------------------- callbacks


def test_consolidate_callbacks(algo):
    assert isinstance(algo.consolidate_callbacks(None), EmptyCallback)
    one = EpisodeStatisticsCallback()
    assert algo.consolidate_callbacks(one) is one
    both = algo.consolidate_callbacks([one, ProgressCallback()])
    assert isinstance(both, ListCallback) and len(both.callbacks) == 2
    with pytest.raises(TypeError, match="callback must be"):
        algo.consolidate_callbacks(3)


def test_abstract_bases_cannot_be_instantiated():
    with pytest.raises(TypeError):
        AbstractOnPolicyAlgorithm()
