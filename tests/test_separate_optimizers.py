"""Separate optimisers for the actor and the critic (`PPO(critic_learning_rate=...)`).

References: one minibatch update of a Box-action policy recomputed in float64
NumPy from the loss's gradient (taken per leaf, not through PPO's flat vector):
global-norm clip, then
Adam's first step, `-lr * g / (|g| + eps)`, at the rate of the part each leaf
belongs to by its field name; frozen parts (an optimiser at rate 0) compared bit
for bit.
"""

import dataclasses
import io

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from helpers import ChainEnv, PointEnv
from lerax import train_seeds
from lerax.algorithm import PPO, KLAdaptiveLR
from lerax.algorithm._kl_adaptive import find_kl_adaptive_state
from lerax.algorithm._separate import (
    ActorCriticSplitState,
    actor_mask,
    set_actor_mask,
)
from lerax.buffer import RolloutBuffer
from lerax.policy import MLPActorCriticPolicy

BATCH = 32
ACTOR_LR, CRITIC_LR, EPS, MAX_NORM = 1e-3, 5e-2, 1e-8, 0.5


@pytest.fixture(scope="module")
def point_env():
    return PointEnv()


def minibatch(env, policy):
    keys = jax.random.split(jax.random.key(1), 6)
    observations = jax.random.normal(keys[0], (BATCH, 2))
    actions = jax.vmap(lambda k: env.action_space.sample(key=k))(
        jax.random.split(keys[1], BATCH)
    )
    states = jax.vmap(lambda k: policy.reset(key=k))(jax.random.split(keys[2], BATCH))
    _, _, log_probs, _ = jax.vmap(policy.evaluate_action)(states, observations, actions)
    return RolloutBuffer(
        observations=observations,
        actions=actions,
        rewards=jnp.zeros(BATCH),
        terminations=jnp.zeros(BATCH, bool),
        truncations=jnp.zeros(BATCH, bool),
        log_probs=log_probs + jax.random.uniform(keys[3], (BATCH,), minval=-0.5),
        values=jax.random.normal(keys[4], (BATCH,)),
        policy_states=states,
        next_observations=None,
        next_policy_states=None,
        advantages=3.0 + 2.0 * jax.random.normal(keys[5], (BATCH,)),
        returns=jax.random.normal(jax.random.fold_in(keys[5], 1), (BATCH,)),
    )


def parts(policy):
    """The trainable parts of an MLP policy, by field."""
    return (policy.actor, policy.critic, policy.log_std, policy.trunk)


def field_rates(policy, shared_trunk):
    """Each trainable leaf's rate, from the field it is in."""
    trunk = ACTOR_LR if shared_trunk == "actor" else CRITIC_LR
    rates = []
    for part, lr in zip(
        parts(policy), (ACTOR_LR, CRITIC_LR, ACTOR_LR, trunk), strict=True
    ):
        rates += [lr] * len(jax.tree.leaves(eqx.filter(part, eqx.is_array)))
    return rates


def by_field(policy):
    return jax.tree.leaves(eqx.filter(parts(policy), eqx.is_array))


@pytest.mark.parametrize(
    "shared, trunk", [((), "actor"), ((16,), "actor"), ((16,), "critic")]
)
def test_one_update_matches_numpy(point_env, shared, trunk):
    policy = MLPActorCriticPolicy(
        env=point_env, key=jax.random.key(0), width_size=16, shared_hidden_sizes=shared
    )
    buffer = minibatch(point_env, policy)
    algo = PPO(
        learning_rate=ACTOR_LR,
        critic_learning_rate=CRITIC_LR,
        adam_eps=EPS,
        max_grad_norm=MAX_NORM,
        shared_trunk=trunk,
    )
    params = eqx.filter(policy, eqx.is_inexact_array)
    opt_state = set_actor_mask(algo.optimizer.init(params), actor_mask(policy, trunk))
    new_policy, _, _ = algo.train_batch(policy, opt_state, buffer)

    # The reference: the per-leaf gradient of the same loss, in NumPy.
    def loss(policy):
        return algo.ppo_loss(policy, buffer, *algo._loss_args(opt_state))[0]

    grads = [np.asarray(g, np.float64) for g in by_field(eqx.filter_grad(loss)(policy))]
    norm = np.sqrt(sum(np.sum(g**2) for g in grads))
    grads = [g * min(1.0, MAX_NORM / norm) for g in grads]
    rates = field_rates(policy, trunk)
    assert len(rates) == len(grads) and ACTOR_LR in rates and CRITIC_LR in rates
    for old, new, g, lr in zip(
        by_field(policy), by_field(new_policy), grads, rates, strict=True
    ):
        expected = np.asarray(old, np.float64) - lr * g / (np.abs(g) + EPS)
        # Adam's first step, about +-lr per entry, turns float32 rounding of a
        # tiny gradient entry (sums in another order than PPO's flat path)
        # into up to ~1e-3 of the step: atol 1e-6, 1000 times below the
        # smaller rate, still tells the parts' rates apart.
        np.testing.assert_allclose(np.asarray(new), expected, rtol=1e-5, atol=1e-6)


def test_a_frozen_critic_stays_bit_identical(point_env):
    policy = MLPActorCriticPolicy(env=point_env, key=jax.random.key(0), width_size=16)
    algo = PPO(critic_optimizer=optax.adam(0.0))
    params = eqx.filter(policy, eqx.is_inexact_array)
    opt_state = set_actor_mask(algo.optimizer.init(params), actor_mask(policy, "actor"))
    new, _, _ = algo.train_batch(policy, opt_state, minibatch(point_env, policy))
    for a, b in zip(
        jax.tree.leaves(policy.critic), jax.tree.leaves(new.critic), strict=True
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(policy.actor.layers[0].weight, new.actor.layers[0].weight)
    assert not np.array_equal(policy.log_std, new.log_std)


def find_split_state(opt_state):
    def is_split(x):
        return isinstance(x, ActorCriticSplitState)

    return next(x for x in jax.tree.leaves(opt_state, is_leaf=is_split) if is_split(x))


SMALL = dict(num_envs=2, num_steps=8, num_batches=2, num_epochs=2)


def test_a_frozen_actor_stays_bit_identical_under_vmap():
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0), width_size=8)
    algo = PPO(**SMALL, actor_optimizer=optax.adam(0.0), critic_learning_rate=1e-2)
    keys = jax.random.split(jax.random.key(2), 2)
    states = train_seeds(algo, env, policy, 3 * 16, keys)
    trained = states.policy.actor
    for a, b in zip(
        jax.tree.leaves(policy.actor), jax.tree.leaves(trained), strict=True
    ):
        np.testing.assert_array_equal(np.broadcast_to(a, b.shape), np.asarray(b))
    critic = states.policy.critic.layers[0].weight
    assert not np.array_equal(critic[0], policy.critic.layers[0].weight)
    assert not np.array_equal(critic[0], critic[1])  # each seed its own run


def test_kl_adaptive_rates_resume_exactly():
    # Both parts' rates follow the rule, each from its own start, and a run
    # resumed from a saved optimizer state ends where the whole run does.
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0), width_size=8)
    algo = PPO(
        **SMALL,
        learning_rate=3e-3,
        critic_learning_rate=1e-2,
        kl_adaptive_lr=KLAdaptiveLR(0.002, max_lr=0.1),
    )
    full = algo.learn_state(env, policy, 4 * 16, key=jax.random.key(7))
    half = algo.learn_state(env, policy, 2 * 16, key=jax.random.key(7))
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, half.opt_state)
    buffer.seek(0)
    opt_state = eqx.tree_deserialise_leaves(buffer, half.opt_state)
    resumed = algo.resume(dataclasses.replace(half, opt_state=opt_state), 2)
    for a, b in zip(
        jax.tree.leaves(eqx.filter((full.policy, full.opt_state), eqx.is_array)),
        jax.tree.leaves(eqx.filter((resumed.policy, resumed.opt_state), eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    split = find_split_state(full.opt_state)
    actor_rate = find_kl_adaptive_state(split.actor).learning_rate
    critic_rate = find_kl_adaptive_state(split.critic).learning_rate
    # One rule, the same factors: the ratio of the rates is kept.
    np.testing.assert_allclose(float(critic_rate / actor_rate), 1e-2 / 3e-3, rtol=1e-5)
    assert float(actor_rate) != pytest.approx(3e-3)


def test_labels_follow_the_fields(point_env):
    policy = MLPActorCriticPolicy(
        env=point_env, key=jax.random.key(0), width_size=4, shared_hidden_sizes=(4,)
    )
    labels = policy.parameter_labels()
    assert set(jax.tree.leaves(labels.actor)) == {"actor"}
    assert set(jax.tree.leaves(labels.critic)) == {"critic"}
    assert labels.log_std == "actor"
    assert set(jax.tree.leaves(labels.trunk)) == {"shared"}
    mask = actor_mask(policy, "critic")
    assert all(np.all(m == 0) for m in jax.tree.leaves(mask.trunk))
    assert all(np.all(m == 1) for m in jax.tree.leaves(mask.actor))


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="shared_trunk"):
        PPO(critic_learning_rate=1e-3, shared_trunk="both")
    with pytest.raises(ValueError, match="critic_learning_rate"):
        PPO(critic_learning_rate=-1.0)
    with pytest.raises(ValueError, match="not both"):
        PPO(critic_learning_rate=1e-3, critic_optimizer=optax.adam(1e-3))
    with pytest.raises(TypeError, match="actor_optimizer"):
        PPO(actor_optimizer=1e-3)
    with pytest.raises(ValueError, match="kl_adaptive_lr"):
        PPO(kl_adaptive_lr=KLAdaptiveLR(), critic_learning_rate=lambda n: 1e-3)


def test_off_by_default():
    assert not PPO().separate_optimizers
    assert PPO(critic_learning_rate=1e-3).separate_optimizers
