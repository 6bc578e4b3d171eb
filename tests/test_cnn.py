"""CNNActorCriticPolicy: shapes, the convolution against NumPy, init, saving, masks,
evaluation, and PPO learning an image task under `jax.vmap` over seeds."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import ChainEnv, PixelEnv
from lerax import train_seeds
from lerax._serialization import fingerprint
from lerax.algorithm import PPO
from lerax.evaluation import evaluate_policy
from lerax.policy import CNNActorCriticPolicy
from lerax.space import Box, Discrete, Tuple


def identity(x):
    """A named identity activation (static fields must be named functions)."""
    return x


def numpy_conv_valid(image_hwc, weight, bias, stride):
    """Direct 2-D cross-correlation of a (H, W, C) image: (O, H', W') output."""
    out_channels, in_channels, kh, kw = weight.shape
    height, width, channels = image_hwc.shape
    assert channels == in_channels
    oh = (height - kh) // stride + 1
    ow = (width - kw) // stride + 1
    out = np.zeros((out_channels, oh, ow))
    for o in range(out_channels):
        for i in range(oh):
            for j in range(ow):
                total = bias[o]
                for c in range(in_channels):
                    for u in range(kh):
                        for v in range(kw):
                            total += (
                                weight[o, c, u, v]
                                * image_hwc[i * stride + u, j * stride + v, c]
                            )
                out[o, i, j] = total
    return out


IMAGE = Box(0.0, 1.0, shape=(5, 6, 3))


def test_conv_matches_a_direct_numpy_convolution():
    policy = CNNActorCriticPolicy(
        observation_space=IMAGE,
        action_space=Discrete(3),
        key=jax.random.key(0),
        channels=(2,),
        kernel_sizes=2,
        strides=2,
        hidden_sizes=(),
        activation=identity,
    )
    # A non-zero bias, so the test sees it (orthogonal init zeroes biases).
    conv = policy.convs[0]
    bias = jnp.array([0.3, -0.7]).reshape(conv.bias.shape)
    policy = eqx.tree_at(lambda p: p.convs[0].bias, policy, bias)
    image = np.asarray(jax.random.uniform(jax.random.key(1), (5, 6, 3)))
    expected = numpy_conv_valid(
        image, np.asarray(conv.weight), np.array([0.3, -0.7]), stride=2
    )
    assert expected.shape == (2, 2, 3)
    features = policy.features(jnp.asarray(image))
    np.testing.assert_allclose(features, expected.reshape(-1), rtol=1e-5, atol=1e-6)

    # The heads read those features: value = critic's linear map, by hand.
    critic = policy.critic.layers[0]
    value = (
        np.asarray(critic.weight) @ expected.reshape(-1) + np.asarray(critic.bias)
    ).item()
    _, got = policy.value(policy.reset(key=jax.random.key(0)), jnp.asarray(image))
    np.testing.assert_allclose(got, value, rtol=1e-5, atol=1e-6)

    # Channels-first input of the same image gives the same features.
    first = CNNActorCriticPolicy(
        observation_space=Box(0.0, 1.0, shape=(3, 5, 6)),
        action_space=Discrete(3),
        key=jax.random.key(0),
        channels=(2,),
        kernel_sizes=2,
        strides=2,
        hidden_sizes=(),
        activation=identity,
        channels_last=False,
    )
    first = eqx.tree_at(lambda p: p.convs, first, policy.convs)
    np.testing.assert_allclose(
        first.features(jnp.asarray(image.transpose(2, 0, 1))),
        expected.reshape(-1),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("kwargs", "sizes"),
    [
        # 5x6 -> (k3 s1) 3x4 -> (k2 s2) 1x2; 4 channels.
        (dict(channels=(8, 4), kernel_sizes=(3, 2), strides=(1, 2)), 1 * 2 * 4),
        # SAME: 5x6 -> 5x6 -> ceil(5/2) x ceil(6/2) = 3x3; 4 channels.
        (
            dict(channels=(8, 4), kernel_sizes=3, strides=(1, 2), padding="SAME"),
            3 * 3 * 4,
        ),
    ],
)
def test_conv_output_sizes(kwargs, sizes):
    policy = CNNActorCriticPolicy(
        observation_space=IMAGE,
        action_space=Discrete(2),
        key=jax.random.key(0),
        hidden_sizes=(),
        **kwargs,
    )
    assert policy.features(jnp.zeros((5, 6, 3))).shape == (sizes,)
    assert policy.actor.layers[0].weight.shape == (2, sizes)


def test_two_dimensional_observations_are_one_channel():
    policy = CNNActorCriticPolicy(
        observation_space=Box(0.0, 1.0, shape=(4, 4)),
        action_space=Discrete(2),
        key=jax.random.key(0),
        channels=(3,),
        kernel_sizes=2,
        hidden_sizes=(),
    )
    assert policy.convs[0].weight.shape == (3, 1, 2, 2)
    assert policy.features(jnp.ones((4, 4))).shape == (3 * 3 * 3,)


def test_orthogonal_initialisation():
    policy = CNNActorCriticPolicy(
        observation_space=IMAGE,
        action_space=Discrete(3),
        key=jax.random.key(2),
        channels=(4, 8),
        hidden_sizes=(16,),
        hidden_gain=2.0,
        actor_gain=0.5,
        critic_gain=1.5,
    )
    for conv in policy.convs:
        w = np.asarray(conv.weight).reshape(conv.weight.shape[0], -1)
        np.testing.assert_allclose(w @ w.T, 4.0 * np.eye(w.shape[0]), atol=1e-4)
        assert not np.asarray(conv.bias).any()
    dense = np.asarray(policy.dense.layers[0].weight)  # (16, 64): rows orthogonal
    np.testing.assert_allclose(dense @ dense.T, 4.0 * np.eye(16), atol=1e-4)
    actor = np.asarray(policy.actor.layers[-1].weight)
    np.testing.assert_allclose(actor @ actor.T, 0.25 * np.eye(3), atol=1e-5)
    critic = np.asarray(policy.critic.layers[-1].weight).reshape(1, -1)
    np.testing.assert_allclose(critic @ critic.T, [[2.25]], atol=1e-5)


def test_shapes_have_their_own_fingerprints(tmp_path):
    env = PixelEnv()

    def fp(**kw):
        return fingerprint(
            eqx.filter_eval_shape(
                CNNActorCriticPolicy, env, key=jax.random.key(0), **kw
            )
        )

    base = fp()
    variants = [
        fp(channels=(8,)),
        fp(channels=(16, 16), kernel_sizes=2),
        fp(kernel_sizes=2),
        fp(strides=2, padding="SAME"),
        fp(padding="SAME"),
        fp(channels_last=False, kernel_sizes=2),
        fp(hidden_sizes=(64,)),
        fp(actor_hidden_sizes=(32,)),
        fp(activation=jax.nn.tanh),
    ]
    assert len({base, *variants}) == len(variants) + 1
    # Initial values are not structure.
    assert fp(hidden_gain=1.0, actor_gain=1.0) == base

    policy = CNNActorCriticPolicy(env, key=jax.random.key(3), channels=(4,))
    policy.serialize(tmp_path / "cnn")
    loaded = CNNActorCriticPolicy.deserialize(
        tmp_path / "cnn", env, key=jax.random.key(99), channels=(4,)
    )
    for a, b in zip(jax.tree.leaves(policy), jax.tree.leaves(loaded), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="fingerprint|differ"):
        CNNActorCriticPolicy.deserialize(
            tmp_path / "cnn", env, key=jax.random.key(0), channels=(8,)
        )


def test_action_masks_are_honoured():
    policy = CNNActorCriticPolicy(
        observation_space=IMAGE,
        action_space=Discrete(4),
        key=jax.random.key(0),
        channels=(2,),
        hidden_sizes=(8,),
    )
    state = policy.reset(key=jax.random.key(0))
    image = jnp.ones((5, 6, 3))
    mask = jnp.array([False, False, True, False])

    def act(key):
        _, action, _, log_prob = policy.action_and_value(
            state, image, key=key, action_mask=mask
        )
        return action, log_prob

    actions, log_probs = jax.vmap(act)(jax.random.split(jax.random.key(1), 32))
    assert (np.asarray(actions) == 2).all()
    np.testing.assert_allclose(log_probs, 0.0, atol=1e-6)
    assert int(policy(state, image, action_mask=mask)[1]) == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(channels=()), "channels"),
        (dict(channels=(4, 4), kernel_sizes=(3,)), "kernel_sizes has 1 entries"),
        (dict(strides=0), "strides"),
        (dict(kernel_sizes=5), r"convolution 0 \(kernel 5, stride 1, VALID\).*4x4"),
        (dict(padding="FULL"), "padding"),
        (dict(hidden_sizes=(0,)), "hidden_sizes"),
        (dict(actor_gain=0.0), "actor_gain"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CNNActorCriticPolicy(PixelEnv(), key=jax.random.key(0), **kwargs)


def test_non_image_observations_are_refused():
    with pytest.raises(ValueError, match="Box of 2 or 3 dimensions"):
        CNNActorCriticPolicy(ChainEnv(), key=jax.random.key(0))


def test_action_spaces():
    # Box actions: a Gaussian with a free log-std of the action's shape.
    policy = eqx.filter_eval_shape(
        CNNActorCriticPolicy,
        observation_space=IMAGE,
        action_space=Box(-1.0, 1.0, shape=(2,)),
        key=jax.random.key(0),
    )
    assert policy.log_std.shape == (2,)
    assert policy.actor.layers[-1].weight.shape[0] == 2
    with pytest.raises(ValueError, match="CNNActorCriticPolicy does not support"):
        CNNActorCriticPolicy(
            observation_space=IMAGE,
            action_space=Tuple((Discrete(2), Discrete(3))),
            key=jax.random.key(0),
        )


SMALL = dict(channels=(8,), kernel_sizes=2, hidden_sizes=(32,))


def test_ppo_learns_the_pixel_task_under_vmap_over_seeds():
    env = PixelEnv()
    algo = PPO(num_envs=8, num_steps=8, num_epochs=4, num_batches=2, learning_rate=3e-3)
    keys = jax.random.split(jax.random.key(0), 2)
    states = train_seeds(
        algo,
        env,
        lambda k: CNNActorCriticPolicy(env, key=k, **SMALL),
        3072,
        keys,
    )

    def score(policy, key):
        return evaluate_policy(env, policy, key=key, num_episodes=64).returns.mean()

    scores = eqx.filter_vmap(score)(
        states.policy, jax.random.split(jax.random.key(1), 2)
    )
    # Chance is 0.5; the task is solved by reading the lit pixel's column.
    assert np.asarray(scores).min() >= 0.9, scores
