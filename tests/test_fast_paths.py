"""The speed paths of PPO's update against plain references.

`lerax.policy._network.dense` (a linear layer on a batch with a hand-written
gradient) against NumPy's matrix products; `FlatView` (training on one raveled
parameter vector) against optax's per-leaf Adam on the policy's own tree.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from lerax.algorithm._flat import FlatView, apply_flat_updates
from lerax.buffer._shuffle import random_permutation
from lerax.policy import MLPActorCriticPolicy
from lerax.policy._network import dense
from lerax.space import Box, Discrete


@pytest.mark.parametrize("out", [3, "scalar"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_and_its_gradient_match_numpy(out, use_bias):
    layer = eqx.nn.Linear(5, out, use_bias=use_bias, key=jax.random.key(0))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 5)).astype(np.float32)
    w = np.asarray(layer.weight)
    b = (
        np.zeros(w.shape[0], np.float32)
        if layer.bias is None
        else np.asarray(layer.bias)
    )
    expected = x @ w.T + b
    if out == "scalar":
        expected = expected[:, 0]
    np.testing.assert_allclose(dense(jnp.asarray(x), layer), expected, rtol=1e-5)

    # d/dparams of sum(c * dense(x)): dW = c.T @ x, db = sum(c), dx = c @ W.
    c = rng.normal(size=expected.shape).astype(np.float32)

    def f(layer, x):
        return jnp.sum(jnp.asarray(c) * dense(x, layer))

    grad_layer, grad_x = jax.grad(f, argnums=(0, 1))(layer, jnp.asarray(x))
    c2 = c[:, None] if out == "scalar" else c
    np.testing.assert_allclose(grad_layer.weight, c2.T @ x, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grad_x, c2 @ w, rtol=1e-5, atol=1e-5)
    if use_bias:
        np.testing.assert_allclose(grad_layer.bias, c2.sum(0), rtol=1e-5, atol=1e-5)

    # Under vmap (seeds), per-example gradients are the unbatched ones.
    xs = jnp.stack([jnp.asarray(x), 2 * jnp.asarray(x)])
    batched = jax.vmap(jax.grad(f), in_axes=(None, 0))(layer, xs)
    np.testing.assert_allclose(batched.weight[1], 2 * (c2.T @ x), rtol=1e-5, atol=1e-5)


def _policy(space):
    return MLPActorCriticPolicy(
        observation_space=Box(-1.0, 1.0, shape=(3,)),
        action_space=space,
        width_size=8,
        depth=2,
        key=jax.random.key(1),
    )


@pytest.mark.parametrize("space", [Discrete(3), Box(-1.0, 1.0, shape=(2,))])
def test_flat_view_round_trip_and_adam_step_equal_the_per_leaf_step(space):
    policy = _policy(space)
    optimizer = optax.chain(optax.clip_by_global_norm(0.5), optax.adam(1e-2))
    params = eqx.filter(policy, eqx.is_inexact_array)
    state = optimizer.init(params)
    # A few per-leaf steps so that Adam's moments are not zero.
    grads = jax.tree.map(lambda p: jnp.sin(jnp.arange(p.size).reshape(p.shape)), params)
    for _ in range(2):
        updates, state = optimizer.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    policy = eqx.combine(params, eqx.filter(policy, eqx.is_inexact_array, inverse=True))

    view = FlatView(policy, state)
    n = sum(leaf.size for leaf in jax.tree.leaves(params))
    assert view.vector.shape == (n,)
    back_policy, back_state = view.restore(view.vector, view.opt_state)
    for a, b in zip(
        jax.tree.leaves((policy, state)),
        jax.tree.leaves((back_policy, back_state)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    # One step on the flat vector equals optax's per-leaf step.
    flat_grads = jnp.concatenate([g.ravel() for g in jax.tree.leaves(grads)])
    flat_updates, flat_state = optimizer.update(flat_grads, view.opt_state, view.vector)
    new_policy, new_state = view.restore(
        apply_flat_updates(view.vector, flat_updates), flat_state
    )
    updates, expected_state = optimizer.update(grads, state, params)
    expected_params = optax.apply_updates(params, updates)
    for a, b in zip(
        jax.tree.leaves(eqx.filter(new_policy, eqx.is_inexact_array)),
        jax.tree.leaves(expected_params),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    for a, b in zip(
        jax.tree.leaves(new_state), jax.tree.leaves(expected_state), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("n", [0, 1, 2, 5, 127, 128, 200, 1024, 2048, 3000])
def test_random_permutation_is_a_permutation(n):
    keys = jax.random.split(jax.random.key(0), 16)
    perms = np.asarray(jax.vmap(lambda k: random_permutation(k, n))(keys))
    assert perms.shape == (16, n) and perms.dtype == np.int32
    np.testing.assert_array_equal(
        np.sort(perms, axis=1), np.tile(np.arange(n), (16, 1))
    )
    if n > 8:
        # Different keys give different orders.
        assert len({tuple(p) for p in perms}) == 16


def test_random_permutation_spreads_every_index_over_the_minibatches():
    # 2,048 entries in 32 minibatches of 64, as PPO's defaults: over 4,000 keys
    # each index must land in each minibatch ~125 times (chi-square with 31
    # degrees of freedom: mean 31, 99.9th percentile 61.1), and two entries
    # share a minibatch with probability 63 / 2047, whatever their distance.
    n, batches, draws = 2048, 32, 4000
    keys = jax.random.split(jax.random.key(3), draws)
    perms = np.asarray(jax.vmap(lambda k: random_permutation(k, n))(keys))
    minibatch = np.argsort(perms, axis=1) // (n // batches)
    expected = draws / batches
    for index in (0, 1, 2, 1023, 1024, 2047):
        counts = np.bincount(minibatch[:, index], minlength=batches)
        assert ((counts - expected) ** 2 / expected).sum() < 61.1, (index, counts)
    for distance in (1, 2, 64, 512, 1024):
        same = (minibatch[:, :-distance] == minibatch[:, distance:]).mean()
        assert abs(same - 63 / 2047) < 0.002, (distance, same)


def test_random_permutation_of_a_small_set_is_uniform():
    # Below 128 entries every order is equally likely: all 24 orders of 4
    # entries over 4,800 draws (chi-square, 23 degrees of freedom: 99.9th
    # percentile 49.7).
    keys = jax.random.split(jax.random.key(4), 4800)
    perms = np.asarray(jax.vmap(lambda k: random_permutation(k, 4))(keys))
    _, counts = np.unique(perms, axis=0, return_counts=True)
    assert len(counts) == 24
    assert ((counts - 200) ** 2 / 200).sum() < 49.7
