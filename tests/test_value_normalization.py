"""Value normalisation: `MLPActorCriticPolicy(normalize_values="running"|"popart")`.

References: NumPy mean and variance of every return merged; the critic's value
recomputed from its MLP by hand; PopArt's output preservation to float32
tolerance; PPO's value loss in standardised units computed in NumPy.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import ChainEnv
from lerax import train_seeds
from lerax.algorithm import PPO
from lerax.buffer import RolloutBuffer
from lerax.policy import MLPActorCriticPolicy, NormalizedValueMLP, load as load_policy
from lerax.space import Box, Discrete

OBS = Box(-1.0, 1.0, shape=(3,))


def make(mode, key=0):
    return MLPActorCriticPolicy(
        observation_space=OBS,
        action_space=Discrete(2),
        key=jax.random.key(key),
        normalize_values=mode,
    )


def batches(count=4, size=48):
    keys = jax.random.split(jax.random.key(9), count)
    # Scales and offsets that move a lot, as returns do early in training.
    return [
        np.asarray(1000.0 * (i + 1) * jax.random.normal(k, (size,)) + 300.0 * i)
        for i, k in enumerate(keys)
    ]


@pytest.mark.parametrize("mode", ["running", "popart"])
def test_statistics_are_those_of_all_returns(mode):
    policy = make(mode)
    seen = []
    for batch in batches():
        policy = policy.update_value_statistics(jnp.asarray(batch))
        seen.append(batch)
        merged = np.concatenate(seen).astype(np.float64)
        stats = policy.critic.statistics
        np.testing.assert_allclose(float(stats.mean[0]), merged.mean(), rtol=1e-5)
        np.testing.assert_allclose(float(stats.var[0]), merged.var(), rtol=1e-4)
        assert float(stats.count) == merged.size


def test_value_is_unnormalised():
    policy = make("running").update_value_statistics(jnp.asarray(batches()[1]))
    x = jax.random.uniform(jax.random.key(2), (3,), minval=-1, maxval=1)
    _, value = policy.value(policy.reset(key=jax.random.key(0)), x)
    stats = policy.critic.statistics
    raw = float(policy.critic.mlp(x))
    expected = float(stats.mean[0]) + np.sqrt(float(stats.var[0]) + 1e-8) * raw
    np.testing.assert_allclose(float(value), expected, rtol=1e-6)
    assert isinstance(policy.critic, NormalizedValueMLP)


def test_popart_preserves_outputs_and_running_does_not():
    inputs = jax.random.uniform(jax.random.key(3), (16, 3), minval=-1, maxval=1)
    for mode in ("popart", "running"):
        policy = make(mode)
        moved = 0.0
        for batch in batches():
            before = np.asarray(policy.critic.apply_batch(inputs), np.float64)
            policy = policy.update_value_statistics(jnp.asarray(batch))
            after = np.asarray(policy.critic.apply_batch(inputs), np.float64)
            stats = policy.critic.statistics
            scale = abs(float(stats.mean[0])) + np.sqrt(float(stats.var[0]))
            tolerance = 8 * np.finfo(np.float32).eps * scale
            moved = max(moved, np.abs(after - before).max() / scale)
            if mode == "popart":
                np.testing.assert_allclose(after, before, rtol=0, atol=tolerance)
        if mode == "running":
            assert moved > 1e-2  # without PopArt the outputs jump


def test_ppo_value_loss_is_in_standardised_units():
    policy = make("running").update_value_statistics(jnp.asarray(batches()[2]))
    n = 16
    keys = jax.random.split(jax.random.key(4), 4)
    observations = jax.random.uniform(keys[0], (n, 3), minval=-1, maxval=1)
    actions = jax.random.bernoulli(keys[1], 0.5, (n,)).astype(jnp.int32)
    states = jax.vmap(lambda k: policy.reset(key=k))(jax.random.split(keys[2], n))
    _, values, log_probs, _ = jax.vmap(policy.evaluate_action)(
        states, observations, actions
    )
    returns = 2000.0 * jax.random.normal(keys[3], (n,))
    old_values = values + 500.0
    buffer = RolloutBuffer(
        observations=observations,
        actions=actions,
        rewards=jnp.zeros(n),
        terminations=jnp.zeros(n, bool),
        truncations=jnp.zeros(n, bool),
        log_probs=log_probs,
        values=old_values,
        policy_states=states,
        next_observations=None,
        next_policy_states=None,
        advantages=jnp.ones(n),
        returns=returns,
    )
    stats = policy.critic.statistics
    mean, std = float(stats.mean[0]), np.sqrt(float(stats.var[0]) + 1e-8)
    v, r, old = (np.asarray(a, np.float64) for a in (values, returns, old_values))
    vn, rn, on = (v - mean) / std, (r - mean) / std, (old - mean) / std
    _, plain = PPO.ppo_loss(policy, buffer, True, 0.2, False, 0.5, 0.0, None)
    np.testing.assert_allclose(
        float(plain.value_loss), 0.5 * np.mean((vn - rn) ** 2), rtol=1e-4
    )
    _, clipped = PPO.ppo_loss(policy, buffer, True, 0.2, True, 0.5, 0.0, 0.1)
    clip = on + np.clip(vn - on, -0.1, 0.1)
    expected = 0.5 * np.mean(np.maximum((vn - rn) ** 2, (clip - rn) ** 2))
    np.testing.assert_allclose(float(clipped.value_loss), expected, rtol=1e-4)


@pytest.mark.parametrize("mode", ["running", "popart"])
def test_saved_policy_keeps_statistics(tmp_path, mode):
    policy = make(mode).update_value_statistics(jnp.asarray(batches()[3]))
    policy.serialize(tmp_path / "p")
    loaded = load_policy(tmp_path / "p.eqx")
    assert isinstance(loaded.critic, NormalizedValueMLP)
    assert loaded.critic.mode == mode
    for a, b in zip(
        jax.tree.leaves(eqx.filter(policy, eqx.is_array)),
        jax.tree.leaves(eqx.filter(loaded, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_learn_vmapped_over_seeds_counts_every_return():
    env = ChainEnv()
    algo = PPO(num_envs=2, num_steps=8, num_epochs=2, num_batches=2)
    iterations = 3
    keys = jax.random.split(jax.random.key(5), 2)
    states = train_seeds(
        algo,
        env,
        lambda k: MLPActorCriticPolicy(env=env, key=k, normalize_values="popart"),
        iterations * 16,
        keys,
    )
    stats = states.policy.critic.statistics
    np.testing.assert_array_equal(np.asarray(stats.count), [48.0, 48.0])
    assert float(stats.mean[0, 0]) != float(stats.mean[1, 0])


def test_bad_mode_is_rejected():
    with pytest.raises(ValueError, match="normalize_values"):
        make("popart2")
