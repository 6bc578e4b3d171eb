"""Mixed precision (`PPO(compute_dtype=jnp.bfloat16)`).

References: the float32 gradient of the same loss on the same minibatch (the
bfloat16 one must be close within a tolerance derived from bfloat16's 8-bit
significand); the compiled program's own types (the layers' matrix products run
in bfloat16, the master parameters and optimiser state stay float32).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

from helpers import ChainEnv, PointEnv
from lerax import train_seeds
from lerax.algorithm import PPO
from lerax.algorithm._mixed_precision import in_compute_dtype
from lerax.buffer import RolloutBuffer
from lerax.policy import MLPActorCriticPolicy

BATCH = 256


@pytest.fixture(scope="module")
def setup():
    env = PointEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), 6)
    observations = jax.random.normal(keys[0], (BATCH, 2))
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
        log_probs=log_probs + jax.random.uniform(keys[3], (BATCH,), minval=-0.3),
        values=jax.random.normal(keys[4], (BATCH,)),
        policy_states=states,
        next_observations=None,
        next_policy_states=None,
        advantages=jax.random.normal(keys[5], (BATCH,)),
        returns=jax.random.normal(jax.random.fold_in(keys[5], 1), (BATCH,)),
    )
    algo = PPO()
    args = algo._loss_args(None)
    return policy, buffer, args


def gradient(loss, policy, buffer, args):
    grads = eqx.filter_grad(lambda p: loss(p, buffer, *args)[0])(policy)
    return grads


def test_gradient_is_float32_and_close_to_the_float32_gradient(setup):
    policy, buffer, args = setup
    exact = gradient(PPO.ppo_loss, policy, buffer, args)
    mixed = gradient(in_compute_dtype(PPO.ppo_loss, jnp.bfloat16), policy, buffer, args)
    assert {x.dtype for x in jax.tree.leaves(mixed)} == {jnp.dtype(jnp.float32)}
    exact_vec = np.asarray(ravel_pytree(exact)[0], np.float64)
    mixed_vec = np.asarray(ravel_pytree(mixed)[0], np.float64)
    error = np.linalg.norm(mixed_vec - exact_vec) / np.linalg.norm(exact_vec)
    # bfloat16 keeps 8 significant bits: each rounding is within 2**-9 ~ 0.2%
    # relative. The backward pass through two 64-unit tanh layers chains about
    # ten roundings (inputs, weights, activations, cotangents), whose errors
    # add as a random walk: sqrt(10) * 0.2% ~ 0.6%. The bound, 2%, is three
    # times that (measured: 0.3%), and far below what a broken cast gives (a
    # term dropped or computed from garbage: O(1)).
    assert error < 0.02, error
    norms = np.linalg.norm(exact_vec) * np.linalg.norm(mixed_vec)
    cosine = exact_vec @ mixed_vec / norms
    assert cosine > 0.999, cosine
    # The loss itself is float32, close to the float32 loss.
    exact_loss = PPO.ppo_loss(policy, buffer, *args)[0]
    mixed_loss = in_compute_dtype(PPO.ppo_loss, jnp.bfloat16)(policy, buffer, *args)[0]
    assert mixed_loss.dtype == jnp.float32
    np.testing.assert_allclose(float(mixed_loss), float(exact_loss), rtol=0.02)


def test_layers_run_in_bfloat16(setup):
    policy, buffer, args = setup
    loss = in_compute_dtype(PPO.ppo_loss, jnp.bfloat16)
    text = str(jax.make_jaxpr(lambda p: loss(p, buffer, *args)[0])(policy))
    dots = [line for line in text.splitlines() if "dot_general" in line]
    assert dots and all("bf16[" in line for line in dots)


def test_trains_under_vmap_with_float32_master_state():
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0), width_size=8)
    algo = PPO(
        num_envs=2, num_steps=8, num_batches=2, num_epochs=2, compute_dtype="bfloat16"
    )
    keys = jax.random.split(jax.random.key(2), 2)
    states = train_seeds(algo, env, policy, 3 * 16, keys)
    for tree in (states.policy, states.opt_state):
        leaves = jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array))
        dtypes = {x.dtype for x in leaves}
        assert dtypes == {jnp.dtype(jnp.float32)}
    weight = np.asarray(states.policy.actor.layers[0].weight)
    assert np.all(np.isfinite(weight))
    assert not np.array_equal(weight[0], policy.actor.layers[0].weight)
    assert not np.array_equal(weight[0], weight[1])


def test_compute_dtype_is_checked():
    assert PPO().compute_dtype is None
    assert PPO(compute_dtype=jnp.bfloat16).compute_dtype == jnp.dtype(jnp.bfloat16)
    with pytest.raises(ValueError, match="compute_dtype"):
        PPO(compute_dtype=jnp.float32)
    with pytest.raises(ValueError, match="compute_dtype"):
        PPO(compute_dtype="half-ish")
