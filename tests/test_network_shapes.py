"""`MLPActorCriticPolicy` network shapes: tower sizes, shared trunk, gains,
state-dependent log-std. Forward passes are recomputed in NumPy from the weights.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import ChainEnv, PointEnv
from lerax._serialization import fingerprint
from lerax.policy import MLPActorCriticPolicy


def numpy_mlp(mlp, x, activation=np.tanh):
    """The MLP's forward pass in float64 NumPy."""
    for i, layer in enumerate(mlp.layers):
        x = np.asarray(layer.weight, np.float64) @ x + np.asarray(
            layer.bias, np.float64
        )
        if i < len(mlp.layers) - 1:
            x = activation(x)
    return x


@pytest.fixture(scope="module")
def shaped():
    """A shared-trunk Box policy with a state-dependent log-std."""
    return MLPActorCriticPolicy(
        env=PointEnv(),
        key=jax.random.key(0),
        shared_hidden_sizes=(8, 6),
        actor_hidden_sizes=(5,),
        critic_hidden_sizes=(),
        state_dependent_std=True,
        log_std_init=-0.5,
        activation=jax.nn.relu,
    )


def _shapes(mlp):
    return [tuple(layer.weight.shape) for layer in mlp.layers]


def test_tower_sizes_give_the_layers_asked_for():
    policy = MLPActorCriticPolicy(
        env=ChainEnv(),
        key=jax.random.key(0),
        actor_hidden_sizes=(8, 4),
        critic_hidden_sizes=(16,),
    )
    assert policy.trunk is None
    assert _shapes(policy.actor) == [(8, 2), (4, 8), (2, 4)]
    assert _shapes(policy.critic) == [(16, 2), (1, 16)]


def test_shared_trunk_forward_matches_numpy(shaped):
    assert _shapes(shaped.trunk) == [(8, 2), (6, 8)]
    assert _shapes(shaped.actor) == [(5, 6), (2, 5)]  # mean and log-std
    assert _shapes(shaped.critic) == [(1, 6)]
    relu = lambda x: np.maximum(x, 0.0)  # noqa: E731
    obs = np.array([0.3, 2.0])
    features = relu(numpy_mlp(shaped.trunk, obs, relu))
    value = numpy_mlp(shaped.critic, features, relu)[0]
    mean, log_std = numpy_mlp(shaped.actor, features, relu)
    action = np.array([0.25])
    expected_log_prob = (
        -0.5 * ((action[0] - mean) / np.exp(log_std)) ** 2
        - log_std
        - 0.5 * np.log(2 * np.pi)
    )
    state = shaped.reset(key=jax.random.key(0))
    _, got_value, got_log_prob, _ = shaped.evaluate_action(
        state, jnp.asarray(obs, jnp.float32), jnp.asarray(action, jnp.float32)
    )
    np.testing.assert_allclose(float(got_value), value, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(float(got_log_prob), expected_log_prob, rtol=1e-5)


def test_state_dependent_log_std_starts_at_log_std_init(shaped):
    assert shaped.log_std is None
    np.testing.assert_array_equal(np.asarray(shaped.actor.layers[-1].bias)[1:], -0.5)


def test_orthogonal_gains():
    policy = MLPActorCriticPolicy(
        env=ChainEnv(),
        key=jax.random.key(0),
        width_size=16,
        hidden_gain=2.0,
        actor_gain=0.5,
        critic_gain=3.0,
    )
    # Orthogonal with gain g: the rows (fewer than the columns) are orthogonal
    # with norm g, or the columns when they are fewer.
    for layer, gain in (
        (policy.actor.layers[0], 2.0),
        (policy.actor.layers[1], 2.0),
        (policy.actor.layers[-1], 0.5),
        (policy.critic.layers[-1], 3.0),
    ):
        w = np.asarray(layer.weight, np.float64)
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        np.testing.assert_allclose(gram, gain**2 * np.eye(len(gram)), atol=1e-5)
        np.testing.assert_array_equal(np.asarray(layer.bias), 0.0)


def test_defaults_are_equinox_mlps_of_two_layers_of_64():
    # Without orthogonal init the towers are exactly the `eqx.nn.MLP`s the
    # policy has always built from the same keys.
    key = jax.random.key(3)
    policy = MLPActorCriticPolicy(env=ChainEnv(), key=key, ortho_init=False)
    actor_key, critic_key, _, _ = jax.random.split(key, 4)
    actor = eqx.nn.MLP(2, 2, 64, 2, key=actor_key)
    critic = eqx.nn.MLP(2, "scalar", 64, 2, key=critic_key)
    for mine, theirs in ((policy.actor, actor), (policy.critic, critic)):
        for a, b in zip(mine.layers, theirs.layers, strict=True):
            np.testing.assert_array_equal(np.asarray(a.weight), np.asarray(b.weight))
            np.testing.assert_array_equal(np.asarray(a.bias), np.asarray(b.bias))


def test_shapes_have_their_own_fingerprints(shaped, tmp_path):
    env = PointEnv()
    key = jax.random.key(0)
    variants = [
        dict(),
        dict(actor_hidden_sizes=(64, 32)),
        dict(critic_hidden_sizes=(64, 64, 64)),
        dict(shared_hidden_sizes=(64,)),
        dict(shared_hidden_sizes=(64,), actor_hidden_sizes=(64,)),
        dict(state_dependent_std=True),
        dict(activation=jax.nn.relu),
        dict(normalize_observations=True),
    ]
    prints = {
        fingerprint(eqx.filter_eval_shape(MLPActorCriticPolicy, env, key=key, **kw))
        for kw in variants
    }
    assert len(prints) == len(variants)
    # Gains and initial values are not structure: same fingerprint.
    same = eqx.filter_eval_shape(
        MLPActorCriticPolicy, env, key=key, actor_gain=1.0, log_std_init=2.0
    )
    assert fingerprint(same) == fingerprint(
        eqx.filter_eval_shape(MLPActorCriticPolicy, env, key=key)
    )
    # A shaped policy round-trips; the wrong skeleton is refused.
    shaped.serialize(tmp_path / "shaped")
    loaded = MLPActorCriticPolicy.deserialize(
        tmp_path / "shaped",
        env=env,
        key=jax.random.key(9),
        shared_hidden_sizes=(8, 6),
        actor_hidden_sizes=(5,),
        critic_hidden_sizes=(),
        state_dependent_std=True,
        activation=jax.nn.relu,
    )
    for a, b in zip(
        jax.tree.leaves(eqx.filter(loaded, eqx.is_array)),
        jax.tree.leaves(eqx.filter(shaped, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(ValueError, match="fingerprint|differ"):
        MLPActorCriticPolicy.deserialize(tmp_path / "shaped", env=env, key=key)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (
            dict(actor_hidden_sizes=(4, 0)),
            r"actor_hidden_sizes\[1\] must be a positive int, got 0\.",
        ),
        (dict(shared_hidden_sizes=3), "shared_hidden_sizes must be a sequence"),
        (dict(critic_gain=0.0), r"critic_gain must be > 0, got 0\.0"),
        (dict(state_dependent_std=True), "state_dependent_std needs Box actions"),
    ],
)
def test_bad_shapes_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MLPActorCriticPolicy(env=ChainEnv(), key=jax.random.key(0), **kwargs)
