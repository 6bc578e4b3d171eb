"""PPO's and A2C's losses and updates, checked against NumPy and by hand.

The policy's own outputs (values, log-probabilities, entropies — themselves
checked against distrax in `test_policy.py`) are the inputs; everything the loss
does with them is recomputed here in float64 NumPy from the formulas of Schulman
et al. (2017) and Mnih et al. (2016).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from lerax.algorithm import A2C, PPO, PPOStats
from lerax.buffer import RolloutBuffer
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy

BATCH = 64


@pytest.fixture(scope="module", params=["CartPole-v1", "Pendulum-v1"])
def setup(request):
    """A policy and a minibatch whose old log-probs put many ratios past the clip."""
    env = GymnaxToLeraxEnv.from_name(request.param)
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), 6)
    observations = jax.vmap(lambda k: env.observation_space.sample(key=k))(
        jax.random.split(keys[0], BATCH)
    )
    actions = jax.vmap(lambda k: env.action_space.sample(key=k))(
        jax.random.split(keys[1], BATCH)
    )
    states = jax.vmap(lambda k: policy.reset(key=k))(jax.random.split(keys[2], BATCH))
    _, _, log_probs, _ = jax.vmap(policy.evaluate_action)(states, observations, actions)
    buffer = RolloutBuffer(
        observations=observations,
        actions=actions,
        rewards=jnp.zeros(BATCH),
        terminations=jnp.zeros(BATCH, bool),
        truncations=jnp.zeros(BATCH, bool),
        # Old log-probs up to +-0.5 away from the current ones: ratios in
        # [0.6, 1.65], so the 0.2 clip binds on both sides.
        log_probs=log_probs + jax.random.uniform(keys[3], (BATCH,), minval=-0.5),
        values=jax.random.normal(keys[4], (BATCH,)),
        policy_states=states,
        next_observations=None,
        next_policy_states=None,
        advantages=3.0 + 2.0 * jax.random.normal(keys[5], (BATCH,)),
        returns=jax.random.normal(jax.random.fold_in(keys[5], 1), (BATCH,)),
    )
    return policy, buffer


def policy_outputs(policy, buffer):
    """The current policy's values, log-probs and entropies, as float64 NumPy."""
    _, values, log_probs, entropy = jax.vmap(policy.evaluate_action)(
        buffer.policy_states, buffer.observations, buffer.actions
    )
    return tuple(np.asarray(x, np.float64) for x in (values, log_probs, entropy))


def numpy_ppo_loss(policy, buffer, *, normalize, clip, clip_value, vf, ent):
    values, log_probs, entropy = policy_outputs(policy, buffer)
    old_log_probs = np.asarray(buffer.log_probs, np.float64)
    old_values = np.asarray(buffer.values, np.float64)
    returns = np.asarray(buffer.returns, np.float64)
    adv = np.asarray(buffer.advantages, np.float64)
    if normalize:
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = np.exp(log_probs - old_log_probs)
    surrogate = np.minimum(ratio * adv, np.clip(ratio, 1 - clip, 1 + clip) * adv)
    policy_loss = -surrogate.mean()
    if clip_value:
        clipped = old_values + np.clip(values - old_values, -clip, clip)
        value_loss = (
            0.5 * np.maximum((values - returns) ** 2, (clipped - returns) ** 2).mean()
        )
    else:
        value_loss = 0.5 * ((values - returns) ** 2).mean()
    entropy_loss = -entropy.mean()
    return dict(
        total_loss=policy_loss + vf * value_loss + ent * entropy_loss,
        policy_loss=policy_loss,
        value_loss=value_loss,
        entropy_loss=entropy_loss,
        approx_kl=np.mean(ratio - 1 - np.log(ratio)),
        clip_fraction=np.mean(np.abs(ratio - 1) > clip),
        explained_variance=1 - np.var(returns - values) / np.var(returns),
    )


@pytest.mark.parametrize(
    "normalize, clip_value, clip",
    [(True, False, 0.2), (False, True, 0.2), (True, True, 0.1)],
)
def test_ppo_loss_matches_numpy(setup, normalize, clip_value, clip):
    policy, buffer = setup
    loss, stats = PPO.ppo_loss(policy, buffer, normalize, clip, clip_value, 0.7, 0.01)
    assert isinstance(stats, PPOStats)
    expected = numpy_ppo_loss(
        policy,
        buffer,
        normalize=normalize,
        clip=clip,
        clip_value=clip_value,
        vf=0.7,
        ent=0.01,
    )
    # The fixture is built so the clip binds: otherwise the test could not tell a
    # clipped objective from an unclipped one.
    assert 0.1 < expected["clip_fraction"] < 0.9
    np.testing.assert_allclose(float(loss), expected["total_loss"], rtol=1e-5)
    for name, value in expected.items():
        np.testing.assert_allclose(
            float(getattr(stats, name)), value, rtol=1e-4, atol=1e-6, err_msg=name
        )


def test_ppo_clipping_changes_the_loss(setup):
    # A second, independent check of the clip: a huge clip coefficient must give
    # the plain importance-weighted objective -mean(ratio * A).
    policy, buffer = setup
    _, log_probs_now, _ = policy_outputs(policy, buffer)
    ratio = np.exp(log_probs_now - np.asarray(buffer.log_probs, np.float64))
    adv = np.asarray(buffer.advantages, np.float64)
    _, unclipped = PPO.ppo_loss(policy, buffer, False, 1e6, False, 0.0, 0.0)
    _, clipped = PPO.ppo_loss(policy, buffer, False, 0.2, False, 0.0, 0.0)
    np.testing.assert_allclose(
        float(unclipped.policy_loss), -np.mean(ratio * adv), rtol=1e-5
    )
    # Clipping is pessimistic: the clipped loss is never below the unclipped one.
    assert float(clipped.policy_loss) > float(unclipped.policy_loss) + 1e-3


def test_ppo_loss_gradient_matches_finite_differences(setup):
    policy, buffer = setup
    args = (buffer, True, 0.2, True, 0.5, 0.01)
    (_, _), grads = PPO.ppo_loss_grad(policy, *args)
    params, static = eqx.partition(policy, eqx.is_inexact_array)
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(7), len(leaves))
    direction = [
        jax.random.normal(k, x.shape) for k, x in zip(keys, leaves, strict=True)
    ]
    analytic = sum(
        float(jnp.vdot(g, d))
        for g, d in zip(jax.tree.leaves(grads), direction, strict=True)
    )

    def loss_along(eps):
        moved = [x + eps * d for x, d in zip(leaves, direction, strict=True)]
        moved_policy = eqx.combine(jax.tree.unflatten(treedef, moved), static)
        return float(PPO.ppo_loss(moved_policy, *args)[0])

    eps = 1e-3
    numeric = (loss_along(eps) - loss_along(-eps)) / (2 * eps)
    np.testing.assert_allclose(analytic, numeric, rtol=2e-2, atol=1e-3)


def test_ppo_train_batch_takes_one_clipped_adam_step(setup):
    # Adam's first step from a fresh state moves every parameter by
    # -lr * g / (|g| + eps) (bias correction makes m_hat = g, v_hat = g**2), where
    # g is the gradient rescaled to global norm at most max_grad_norm.
    policy, buffer = setup
    algo = PPO(learning_rate=1e-2, max_grad_norm=0.5, clip_value_loss=True)
    params = eqx.filter(policy, eqx.is_inexact_array)
    opt_state = algo.optimizer.init(params)
    new_policy, _, stats = algo.train_batch(policy, opt_state, buffer)
    (_, _), grads = PPO.ppo_loss_grad(policy, buffer, True, 0.2, True, 0.5, 0.0)
    grads = [np.asarray(g, np.float64) for g in jax.tree.leaves(grads)]
    norm = np.sqrt(sum(np.sum(g**2) for g in grads))
    assert norm > 0.5, "the test should exercise the clipping"
    for before, after, g in zip(
        jax.tree.leaves(params),
        jax.tree.leaves(eqx.filter(new_policy, eqx.is_inexact_array)),
        grads,
        strict=True,
    ):
        g = g * 0.5 / norm
        np.testing.assert_allclose(
            np.asarray(after) - np.asarray(before),
            -1e-2 * g / (np.abs(g) + 1e-8),
            rtol=1e-3,
            atol=1e-7,
        )
    expected = numpy_ppo_loss(
        policy, buffer, normalize=True, clip=0.2, clip_value=True, vf=0.5, ent=0.0
    )
    np.testing.assert_allclose(
        float(stats.total_loss), expected["total_loss"], rtol=1e-5
    )


def test_a2c_train_matches_numpy_loss_and_rmsprop_step(setup):
    policy, buffer = setup
    algo = A2C(learning_rate=1e-3, max_grad_norm=1e9, entropy_loss_coefficient=0.01)
    params = eqx.filter(policy, eqx.is_inexact_array)
    opt_state = algo.optimizer.init(params)
    # A2C's train flattens a (num_steps, num_envs) rollout: give it one step.
    rollout = jax.tree.map(lambda x: x[None], buffer)
    new_policy, _, log = algo.train(policy, opt_state, rollout, key=jax.random.key(0))

    values, log_probs, entropy = policy_outputs(policy, buffer)
    adv = np.asarray(buffer.advantages, np.float64)
    returns = np.asarray(buffer.returns, np.float64)
    policy_loss = -np.mean(adv * log_probs)
    value_loss = 0.5 * np.mean((values - returns) ** 2)
    entropy_loss = -np.mean(entropy)
    np.testing.assert_allclose(float(log["policy_loss"]), policy_loss, rtol=1e-5)
    np.testing.assert_allclose(float(log["value_loss"]), value_loss, rtol=1e-5)
    np.testing.assert_allclose(float(log["entropy_loss"]), entropy_loss, rtol=1e-5)
    np.testing.assert_allclose(
        float(log["total_loss"]),
        policy_loss + 0.5 * value_loss + 0.01 * entropy_loss,
        rtol=1e-5,
    )
    old_values = np.asarray(buffer.values, np.float64)
    np.testing.assert_allclose(
        float(log["explained_variance"]),
        1 - np.var(returns - old_values) / np.var(returns),
        rtol=1e-4,
    )

    # One RMSprop step (decay 0.99, eps 1e-5 inside the root, no clipping at
    # this max_grad_norm) along the gradient of the loss, written out here.
    def reference_loss(p):
        _, v, lp, h = jax.vmap(p.evaluate_action)(
            buffer.policy_states, buffer.observations, buffer.actions
        )
        return (
            -jnp.mean(buffer.advantages * lp)
            + 0.5 * 0.5 * jnp.mean((v - buffer.returns) ** 2)
            - 0.01 * jnp.mean(h)
        )

    grads = eqx.filter_grad(reference_loss)(policy)
    for before, after, g in zip(
        jax.tree.leaves(params),
        jax.tree.leaves(eqx.filter(new_policy, eqx.is_inexact_array)),
        jax.tree.leaves(grads),
        strict=True,
    ):
        g = np.asarray(g, np.float64)
        expected_step = -1e-3 * g / np.sqrt(0.01 * g**2 + 1e-5)
        np.testing.assert_allclose(
            np.asarray(after) - np.asarray(before), expected_step, atol=2e-6
        )
