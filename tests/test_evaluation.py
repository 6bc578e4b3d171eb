"""evaluate_policy plays whole episodes: checked by hand on the chain env."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from helpers import ChainEnv
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy


def biased(policy, right: bool):
    """The policy with its actor's output bias set so one action dominates."""
    bias = jnp.array([-20.0, 20.0] if right else [20.0, -20.0])
    return eqx.tree_at(lambda p: p.actor.layers[-1].bias, policy, bias)


@pytest.fixture(scope="module")
def chain():
    # Goal at cell 3, time limit 5 steps.
    return ChainEnv(length=3, max_steps=5)


@pytest.fixture(scope="module")
def chain_policy(chain):
    return MLPActorCriticPolicy(env=chain, key=jax.random.key(0))


def as_np(result):
    return (
        np.asarray(result.returns),
        np.asarray(result.lengths),
        np.asarray(result.completed),
    )


def test_walking_right_terminates_at_the_goal(chain, chain_policy):
    returns, lengths, completed = as_np(
        evaluate_policy(
            chain, biased(chain_policy, True), key=jax.random.key(0), num_episodes=3
        )
    )
    # Three steps right, +1 each, then the goal terminates the episode.
    np.testing.assert_array_equal(returns, [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(lengths, [3, 3, 3])
    assert completed.all()


def test_walking_left_is_truncated_at_the_time_limit(chain, chain_policy):
    returns, lengths, completed = as_np(
        evaluate_policy(
            chain, biased(chain_policy, False), key=jax.random.key(0), num_episodes=2
        )
    )
    # Pinned against the wall at 0: no reward, and the 5-step limit ends it.
    np.testing.assert_array_equal(returns, [0.0, 0.0])
    np.testing.assert_array_equal(lengths, [5, 5])
    assert completed.all()


def test_max_steps_cuts_episodes_off_and_says_so(chain, chain_policy):
    returns, lengths, completed = as_np(
        evaluate_policy(
            chain,
            biased(chain_policy, True),
            key=jax.random.key(0),
            num_episodes=2,
            max_steps=2,
        )
    )
    np.testing.assert_array_equal(returns, [2.0, 2.0])
    np.testing.assert_array_equal(lengths, [2, 2])
    assert not completed.any()


def test_action_masks_are_honoured(chain_policy):
    masked = ChainEnv(length=3, max_steps=5, use_action_mask=True)
    returns, lengths, _ = as_np(
        evaluate_policy(
            masked, biased(chain_policy, False), key=jax.random.key(0), num_episodes=2
        )
    )
    # Left is forbidden at 0, so the left-biased policy goes 0>1>0>1>0>1:
    # rewards +1 -1 +1 -1 +1 over the 5 steps.
    np.testing.assert_array_equal(returns, [1.0, 1.0])
    np.testing.assert_array_equal(lengths, [5, 5])


def test_finished_episodes_wait_for_the_others():
    # CartPole episodes of a random-ish policy end at different times; each one's
    # return must be its own length (reward 1 per step), not the loop's length.
    env = GymnaxToLeraxEnv.from_name("CartPole-v1")
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(1))
    result = evaluate_policy(
        env, policy, key=jax.random.key(2), num_episodes=8, deterministic=False
    )
    returns, lengths, completed = as_np(result)
    np.testing.assert_array_equal(returns, lengths.astype(np.float32))
    assert completed.all()
    assert np.all((lengths >= 1) & (lengths <= 500))
    assert len(set(lengths.tolist())) > 1

    # vmap over keys: a batch of evaluations in one program.
    batched = jax.vmap(
        lambda k: (
            evaluate_policy(
                env, policy, key=k, num_episodes=8, deterministic=False
            ).lengths
        )
    )(jnp.stack([jax.random.key(2), jax.random.key(3)]))
    np.testing.assert_array_equal(batched[0], lengths)
    assert batched.shape == (2, 8)


def test_bad_arguments_are_named(chain, chain_policy):
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="num_episodes"):
        evaluate_policy(chain, chain_policy, key=key, num_episodes=0)
    with pytest.raises(ValueError, match="max_steps"):
        evaluate_policy(chain, chain_policy, key=key, max_steps=2.5)
    other = ChainEnv(length=4, max_steps=5)
    with pytest.raises(ValueError, match="observation_space"):
        evaluate_policy(other, chain_policy, key=key)
    with pytest.raises(TypeError, match="GymnaxToLeraxEnv"):
        evaluate_policy(object(), chain_policy, key=key)
