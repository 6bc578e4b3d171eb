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
