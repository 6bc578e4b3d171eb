"""PQN: Q(lambda) against a NumPy reference, masks, vmap, checkpoints, saving.

One compiled training run (two seeds, vmapped, with a checkpointer) is shared
by the tests that need a trained policy; the others call the pieces directly.
"""

from __future__ import annotations

import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lerax
from helpers import ChainEnv, PixelEnv, PointEnv
from lerax.algorithm import PQN, OnPolicyStepState, q_step
from lerax.buffer import RolloutBuffer, q_lambda_returns
from lerax.callback import EmptyCallback
from lerax.checkpoint import Checkpointer
from lerax.evaluation import evaluate_policy
from lerax.export import export_policy, load_policy
from lerax.policy import (
    CNNQPolicy,
    EpsilonGreedyPolicy,
    GRUQPolicy,
    MLPActorCriticPolicy,
    MLPQPolicy,
    NullPolicyState,
    epsilon_greedy,
)

NUM_ENVS, NUM_STEPS, ITERATIONS = 4, 8, 6
ALGO = PQN(
    num_envs=NUM_ENVS,
    num_steps=NUM_STEPS,
    num_epochs=2,
    num_batches=2,
    q_lambda=0.65,
    learning_rate=1e-3,
)
TOTAL = NUM_ENVS * NUM_STEPS * ITERATIONS


# ------------------------------------------------------------ Q(lambda)


def reference_q_lambda(rewards, next_max_q, terminated, truncated, gamma, lam):
    """Peng's Q(lambda) as the lambda-weighted mix of n-step returns.

    Written from the definition, not the recursion: for step t the episode
    segment ends at the first done step (or the rollout's last step); the
    n-step return bootstraps from max Q of the n-th next observation (nothing
    after a termination), and the longest one gets the remaining weight.
    """
    steps = len(rewards)
    out = np.zeros(steps)
    for t in range(steps):
        end = t
        while end < steps - 1 and not (terminated[end] or truncated[end]):
            end += 1
        horizon = end - t + 1
        total = 0.0
        for n in range(1, horizon + 1):
            last = t + n - 1
            boot = 0.0 if terminated[last] else next_max_q[last]
            ret = sum(gamma**k * rewards[t + k] for k in range(n)) + gamma**n * boot
            weight = (1 - lam) * lam ** (n - 1) if n < horizon else lam ** (n - 1)
            total += weight * ret
        out[t] = total
    return out


@pytest.mark.parametrize("lam", [0.0, 0.65, 1.0])
def test_q_lambda_matches_the_n_step_mix_with_both_episode_ends(lam):
    rng = np.random.default_rng(0)
    steps, envs, gamma = 12, 3, 0.9
    rewards = rng.normal(size=(steps, envs)).astype(np.float32)
    next_max_q = rng.normal(size=(steps, envs)).astype(np.float32)
    terminated = np.zeros((steps, envs), bool)
    truncated = np.zeros((steps, envs), bool)
    terminated[3, 0] = truncated[7, 0] = True  # both kinds in one rollout
    truncated[2, 1] = terminated[9, 1] = terminated[11, 1] = True
    got = q_lambda_returns(
        jnp.asarray(rewards),
        jnp.asarray(next_max_q),
        jnp.asarray(terminated),
        jnp.asarray(truncated),
        gamma=gamma,
        q_lambda=lam,
    )
    for e in range(envs):
        want = reference_q_lambda(
            rewards[:, e],
            next_max_q[:, e],
            terminated[:, e],
            truncated[:, e],
            gamma,
            lam,
        )
        np.testing.assert_allclose(np.asarray(got[:, e]), want, rtol=1e-5, atol=1e-5)


def test_q_lambda_ignores_minus_infinity_after_a_termination():
    # A terminal state with no allowed action has max Q = -inf: never used.
    got = q_lambda_returns(
        jnp.array([1.0, 2.0]),
        jnp.array([-jnp.inf, 5.0]),
        jnp.array([True, False]),
        jnp.array([False, False]),
        gamma=0.5,
        q_lambda=0.5,
    )
    np.testing.assert_allclose(np.asarray(got), [1.0, 2.0 + 0.5 * 5.0])


# ------------------------------------------------------------------ masks


def linear_q_policy(env, weight, bias):
    """A depth-0 MLPQPolicy with Q(s) = weight @ s + bias (no LayerNorm)."""
    policy = MLPQPolicy(env, key=jax.random.key(0), depth=0)
    return eqx.tree_at(
        lambda p: (p.layers[0].weight, p.layers[0].bias),
        policy,
        (jnp.asarray(weight, jnp.float32), jnp.asarray(bias, jnp.float32)),
    )


def test_epsilon_greedy_never_draws_a_masked_action_and_its_probabilities_sum():
    q = jnp.array([5.0, 1.0, 3.0, 0.0])
    mask = jnp.array([False, True, True, False])
    keys = jax.random.split(jax.random.key(0), 2000)
    actions, log_probs = jax.vmap(
        lambda k: epsilon_greedy(q, 0.5, key=k, action_mask=mask)
    )(keys)
    actions = np.asarray(actions)
    assert set(actions.tolist()) == {1, 2}  # 0 has the largest Q but is masked
    # Greedy (2) with 1 - 0.5 + 0.5 / 2, the other allowed one with 0.5 / 2.
    np.testing.assert_allclose(np.mean(actions == 2), 0.75, atol=0.03)
    probs = np.exp(np.asarray(log_probs))
    np.testing.assert_allclose(probs[actions == 2], 0.75, rtol=1e-6)
    np.testing.assert_allclose(probs[actions == 1], 0.25, rtol=1e-6)


def test_q_step_with_full_exploration_never_moves_left_at_the_wall():
    env = ChainEnv(use_action_mask=True)
    # Q prefers left (action 0) everywhere; the mask forbids it at position 0.
    policy = EpsilonGreedyPolicy(
        linear_q_policy(env, np.zeros((2, 2)), [1.0, 0.0]), 1.0
    )
    state = OnPolicyStepState.initial(env, policy, EmptyCallback(), jax.random.key(0))
    keys = jax.random.split(jax.random.key(1), 256)
    _, entries = jax.vmap(
        lambda k: q_step(env, policy, state, key=k, callback=EmptyCallback())
    )(keys)
    assert np.all(np.asarray(entries.actions) == 1)
    # The pre-reset next observation (position 1) allows both moves.
    assert np.asarray(entries.next_action_masks).all()
    # Greedy acting (no key) honours the mask as well.
    _, action = policy.q_policy(
        NullPolicyState(), state.observation, action_mask=jnp.array([False, True])
    )
    assert int(action) == 1


def test_post_collect_bootstraps_only_from_allowed_actions():
    env = ChainEnv(use_action_mask=True)
    # Q(s) = [10, 1] whatever s; action 0 is masked at the next observations.
    policy = linear_q_policy(env, np.zeros((2, 2)), [10.0, 1.0])
    obs = jnp.zeros((2, 1, 2))
    buffer = RolloutBuffer(
        observations=obs,
        actions=jnp.zeros((2, 1), jnp.int32),
        rewards=jnp.array([[1.0], [2.0]]),
        terminations=jnp.zeros((2, 1), bool),
        truncations=jnp.array([[True], [False]]),
        log_probs=jnp.zeros((2, 1)),
        values=jnp.zeros((2, 1)),
        policy_states=NullPolicyState(),
        next_observations=obs,
        next_policy_states=NullPolicyState(),
        action_masks=jnp.ones((2, 1, 2), bool),
        next_action_masks=jnp.array([[[False, True]], [[True, True]]]),
    )
    algo = PQN(num_envs=1, num_steps=2, num_batches=1, gamma=0.5, q_lambda=0.5)
    out = algo.post_collect(env, policy, None, buffer, key=jax.random.key(0))
    # Step 0 truncates: r + gamma * max over allowed {1} = 1 + 0.5 * 1.
    # Step 1 is the rollout's end: r + gamma * max {10, 1} = 2 + 0.5 * 10.
    np.testing.assert_allclose(np.asarray(out.returns[:, 0]), [1.5, 7.0])


# ------------------------------------------------------ a shared trained run


@pytest.fixture(scope="module")
def env():
    return ChainEnv()


@pytest.fixture(scope="module")
def policy(env):
    return MLPQPolicy(env, key=jax.random.key(0), width_size=16)


@pytest.fixture(scope="module")
def trained(env, policy, tmp_path_factory):
    directory = tmp_path_factory.mktemp("pqn_checkpoints")
    checkpointer = Checkpointer(directory, every_iterations=3)
    keys = jax.random.split(jax.random.key(3), 2)

    def run(key):
        return ALGO.learn_state(env, policy, TOTAL, key=key, checkpointer=checkpointer)

    full = jax.block_until_ready(jax.vmap(run)(keys))
    checkpointer.wait()
    return full, run, keys, checkpointer, directory


def params(tree):
    return [
        np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array))
    ]


def test_vmapped_seeds_train_finite_and_differ(policy, trained):
    full = trained[0]
    assert np.asarray(full.iteration_count).tolist() == [ITERATIONS] * 2
    assert np.asarray(full.fault).tolist() == [0, 0]
    for before, after in zip(params(policy), params(full.policy), strict=True):
        assert np.isfinite(after).all()
        assert not np.array_equal(after[0], after[1])  # the seeds differ
        assert not np.array_equal(after[0], before)  # and trained


def test_resume_from_a_checkpoint_is_bit_exact(trained):
    full, run, keys, checkpointer, directory = trained
    assert checkpointer.steps() == [3, 6]
    os.system(f"rm -rf {directory / '6'}")
    resumed = jax.vmap(run)(keys)
    for x, y in zip(params(full), params(resumed), strict=True):
        np.testing.assert_array_equal(x, y)


def test_a_one_device_mesh_trains_like_no_mesh(env, policy, trained):
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("envs",))
    keys = trained[2]
    meshed = ALGO.learn(env, policy, TOTAL, key=keys[0], mesh=mesh)
    for x, y in zip(params(trained[0].policy), params(meshed), strict=True):
        np.testing.assert_allclose(x[0], y, rtol=1e-5, atol=1e-6)


def test_epsilon_schedule_and_learning_rate_anneal():
    algo = PQN(epsilon_start=1.0, epsilon_finish=0.1, epsilon_decay_fraction=0.5)
    eps = [float(algo.epsilon(jnp.int32(i), 10)) for i in (0, 1, 5, 9)]
    np.testing.assert_allclose(eps, [1.0, 0.82, 0.1, 0.1], rtol=1e-6)
    assert algo.num_updates(10) == 10 * 2 * 32


# ----------------------------------------------------- save, load, export


def one_policy(trained):
    return jax.tree.map(lambda x: x[0], trained[0].policy)


def test_serialize_load_and_export_give_the_greedy_actions(trained, tmp_path):
    policy = one_policy(trained)
    policy.serialize(tmp_path / "q.eqx")
    for loaded in (
        lerax.load(tmp_path / "q.eqx"),
        MLPQPolicy.deserialize(tmp_path / "q.eqx"),
    ):
        assert type(loaded) is MLPQPolicy
        for x, y in zip(params(policy), params(loaded), strict=True):
            np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match="fingerprint|differ"):
        MLPQPolicy.deserialize(tmp_path / "q.eqx", ChainEnv(), key=jax.random.key(0))
    path = export_policy(policy, tmp_path / "q.jaxexport", platforms=("cpu",))
    observations = jnp.array([[0.0, 0.0], [1.0, 2.0], [2.0, 4.0]])
    exported = load_policy(path)(observations)["action"]
    greedy = jax.vmap(lambda o: policy(NullPolicyState(), o)[1])(observations)
    np.testing.assert_array_equal(np.asarray(exported), np.asarray(greedy))


def test_evaluate_policy_acts_greedily(env):
    # Q prefers right (action 1) everywhere: every episode walks to the goal.
    right = linear_q_policy(env, np.zeros((2, 2)), [0.0, 1.0])
    result = evaluate_policy(env, right, num_episodes=4, key=jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(result.returns), [3.0] * 4)
    np.testing.assert_array_equal(np.asarray(result.lengths), [3] * 4)


# ------------------------------------------------------------- bad input


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_batches"):
        PQN(num_envs=3, num_steps=5, num_batches=2)
    with pytest.raises(ValueError, match="q_lambda"):
        PQN(q_lambda=1.5)
    with pytest.raises(ValueError, match="Discrete"):
        MLPQPolicy(PointEnv(), key=jax.random.key(0))


def test_an_actor_critic_policy_is_refused(env):
    with pytest.raises(TypeError, match="Q-policy"):
        ALGO.learn(
            env,
            MLPActorCriticPolicy(env=env, key=jax.random.key(0)),
            TOTAL,
            key=jax.random.key(0),
        )


def test_cnn_q_policy_scores_every_action_saves_and_honours_masks(tmp_path):
    env = PixelEnv()
    policy = CNNQPolicy(env, key=jax.random.key(0), channels=(4,), hidden_sizes=(8,))
    observation = env.observation_space.sample(key=jax.random.key(1))
    _, q = policy.q_values(NullPolicyState(), observation)
    assert q.shape == (env.action_space.n,)
    # Greedy over the allowed actions: the best allowed one, whatever Q says.
    for allowed in range(env.action_space.n):
        mask = jnp.arange(env.action_space.n) == allowed
        _, action = policy(NullPolicyState(), observation, action_mask=mask)
        assert int(action) == allowed
    policy.serialize(tmp_path / "cnn.eqx")
    loaded = lerax.load(tmp_path / "cnn.eqx")
    assert type(loaded) is CNNQPolicy
    np.testing.assert_array_equal(
        np.asarray(loaded.q_values(NullPolicyState(), observation)[1]), np.asarray(q)
    )


# ------------------------------------------------------------- recurrent


def test_gru_q_policy_replays_its_rollout_and_trains(env):
    policy = GRUQPolicy(env, key=jax.random.key(0), encoder_sizes=(8,), hidden_size=8)
    algo = PQN(num_envs=2, num_steps=12, num_epochs=1, num_batches=2)
    callback = EmptyCallback()
    state = algo.reset(env, policy, key=jax.random.key(1), callback=callback)
    _, buffer = algo.collect_rollout(
        env, algo.behaviour_policy(state), state.step_state, callback, jax.random.key(2)
    )
    sequences = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), buffer.without_next())
    dones = np.asarray(sequences.terminations | sequences.truncations)
    assert dones[:, :-1].any()  # episodes restart inside the rollout
    starts = jnp.concatenate([jnp.ones((2, 1), bool), jnp.asarray(dones[:, :-1])], 1)
    q = jax.vmap(policy.q_sequence)(
        sequences.policy_states, sequences.observations, starts
    )
    replayed = jnp.take_along_axis(q, sequences.actions[..., None], axis=-1)[..., 0]
    # The Q-values the rollout acted on, recomputed through the memory.
    np.testing.assert_allclose(
        np.asarray(replayed), np.asarray(sequences.values), rtol=1e-5, atol=1e-6
    )
    # The memory is in use: stored states differ from the reset one.
    assert np.abs(np.asarray(sequences.policy_states.hidden)).max() > 0
    trained = algo.learn(env, policy, 2 * 2 * 12, key=jax.random.key(3))
    for before, after in zip(params(policy), params(trained), strict=True):
        assert np.isfinite(after).all() and not np.array_equal(before, after)
    with pytest.raises(ValueError, match="must divide num_envs"):
        PQN(num_envs=3, num_steps=4, num_batches=2).learn(
            env, policy, 24, key=jax.random.key(0)
        )
