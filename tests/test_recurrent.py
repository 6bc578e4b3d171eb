"""Recurrent policies: memory reset at episode ends, BPTT against a hand-unrolled
loss, learning a memory task, serialization and evaluation.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Bool, Float, Int

from lerax.algorithm import PPO
from lerax.algorithm._actor_critic import gae_post_collect
from lerax.callback import EmptyCallback
from lerax.env import AbstractEnv, AbstractEnvState
from lerax.evaluation import evaluate_policy
from lerax.policy import GRUActorCriticPolicy, LSTMActorCriticPolicy
from lerax.space import Box, Discrete

LENGTH = 3


class CueState(AbstractEnvState):
    cue: Int[Array, ""]
    time: Int[Array, ""]


class CueEnv(AbstractEnv[CueState, Int[Array, ""], Float[Array, "2"], None]):
    """A cue (+-1) shown only at the first step; at the last step (the query flag
    is 1) the action must name it (reward 1). Episodes of `LENGTH` steps."""

    name: str = eqx.field(static=True, default="Cue")

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    @property
    def observation_space(self) -> Box:
        return Box(-1.0, 1.0, shape=(2,))

    def initial(self, *, key) -> CueState:
        return CueState(
            cue=jax.random.bernoulli(key).astype(jnp.int32),
            time=jnp.zeros((), jnp.int32),
        )

    def transition(self, state, action, *, key):
        return CueState(cue=state.cue, time=state.time + 1)

    def observation(self, state, *, key) -> Array:
        signal = jnp.where(state.time == 0, 2.0 * state.cue - 1.0, 0.0)
        query = (state.time == LENGTH - 1).astype(jnp.float32)
        return jnp.stack([signal, query])

    def reward(self, state, action, next_state, *, key) -> Float[Array, ""]:
        last = state.time == LENGTH - 1
        return jnp.where(last & (action == state.cue), 1.0, 0.0)

    def terminal(self, state, *, key) -> Bool[Array, ""]:
        return state.time >= LENGTH

    def truncate(self, state) -> Bool[Array, ""]:
        return jnp.asarray(False)


ALGO = PPO(num_envs=4, num_steps=8, num_epochs=1, num_batches=2)


@eqx.filter_jit
def _rollout(algo, env, policy, key):
    state = algo.reset(env, policy, key=key, callback=EmptyCallback())
    _, buffer = algo.collect_rollout(
        env, policy, state.step_state, EmptyCallback(), jax.random.key(1)
    )
    return gae_post_collect(policy, buffer, gamma=0.9, gae_lambda=0.8)


@pytest.fixture(scope="module")
def rollout():
    env = CueEnv()
    policy = GRUActorCriticPolicy(
        env=env, key=jax.random.key(0), hidden_size=8, encoder_sizes=(8,)
    )
    return env, policy, _rollout(ALGO, env, policy, jax.random.key(0))


def test_memory_resets_at_episode_ends(rollout):
    _, _, buffer = rollout
    hidden = np.asarray(buffer.policy_states.hidden)  # (num_steps, num_envs, 8)
    after = np.asarray(buffer.next_policy_states.hidden)
    steps = np.arange(buffer.shape[0])
    # Episodes last exactly LENGTH steps from the start, in every environment.
    for t in steps:
        if t % LENGTH == 0:
            np.testing.assert_array_equal(hidden[t], 0.0)
        else:
            np.testing.assert_array_equal(hidden[t], after[t - 1])
            assert np.abs(hidden[t]).max() > 0
    dones = np.asarray(buffer.terminations)
    np.testing.assert_array_equal(dones[:, 0], steps % LENGTH == LENGTH - 1)


def _hand_unrolled_loss(policy, seq, starts):
    """PPO's loss, the memory carried by a Python loop over every time step.

    `starts` (NumPy) marks where the memory restarts from the stored state.
    """
    num_envs, num_steps = starts.shape
    values, log_probs, entropies = [], [], []
    for i in range(num_envs):
        for t in range(num_steps):
            if starts[i, t]:
                state = jax.tree.map(lambda x, i=i, t=t: x[i, t], seq.policy_states)
            state, v, lp, ent = policy.evaluate_action(
                state, seq.observations[i, t], seq.actions[i, t]
            )
            values.append(v)
            log_probs.append(lp)
            entropies.append(ent)
    values, log_probs = jnp.stack(values), jnp.stack(log_probs)
    entropy = jnp.stack(entropies)
    adv = seq.advantages.reshape(-1)
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = jnp.exp(log_probs - seq.log_probs.reshape(-1))
    policy_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 0.8, 1.2) * adv).mean()
    value_loss = 0.5 * ((values - seq.returns.reshape(-1)) ** 2).mean()
    return policy_loss + 0.5 * value_loss - 0.01 * entropy.mean()


def test_bptt_gradient_equals_the_hand_unrolled_gradient(rollout):
    _, policy, buffer = rollout
    # Two environments, 7 steps (two episode starts after the first).
    seq = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1)[:2, :7], buffer.without_next())
    # Old log-probs shifted so the ratios are not all 1 (the clip matters).
    seq = eqx.tree_at(lambda b: b.log_probs, seq, seq.log_probs - 0.1)
    (loss, _), grads = PPO.ppo_loss_grad(policy, seq, True, 0.2, False, 0.5, 0.01)
    dones = np.asarray(seq.terminations | seq.truncations)
    starts = np.ones_like(dones)
    starts[:, 1:] = dones[:, :-1]
    hand = eqx.filter_value_and_grad(lambda p, s: _hand_unrolled_loss(p, s, starts))
    hand_loss, hand_grads = hand(policy, seq)
    np.testing.assert_allclose(float(loss), float(hand_loss), rtol=1e-5)
    for a, b in zip(jax.tree.leaves(grads), jax.tree.leaves(hand_grads), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    # Through time: per-step evaluation from the stored states (no BPTT) gives a
    # different gradient for the recurrent core.
    _, flat_grads = PPO.ppo_loss_grad(
        policy, seq.flatten(), True, 0.2, False, 0.5, 0.01
    )
    core = np.asarray(grads.core.weight_hh)
    assert not np.allclose(core, np.asarray(flat_grads.core.weight_hh), atol=1e-6)


def test_gru_policy_learns_the_cue(tmp_path):
    # The query step's observation is the same whatever the cue, so a
    # memoryless policy is right half of the time at best (benchmarks/options.py
    # trains an MLP next to it); the GRU must remember the first observation.
    env = CueEnv()
    algo = PPO(
        num_envs=8, num_steps=12, num_epochs=4, num_batches=2, learning_rate=3e-3
    )
    policy = GRUActorCriticPolicy(
        env=env, key=jax.random.key(0), hidden_size=16, encoder_sizes=(16,)
    )
    trained = algo.learn(env, policy, 2**13, key=jax.random.key(1))
    result = evaluate_policy(env, trained, key=jax.random.key(2), num_episodes=64)
    assert float(result.returns.mean()) > 0.95
    # Saved and loaded, it acts the same.
    trained.serialize(tmp_path / "recurrent")
    loaded = GRUActorCriticPolicy.deserialize(
        tmp_path / "recurrent",
        env=env,
        key=jax.random.key(7),
        hidden_size=16,
        encoder_sizes=(16,),
    )
    again = evaluate_policy(env, loaded, key=jax.random.key(2), num_episodes=64)
    np.testing.assert_array_equal(result.returns, again.returns)


def test_lstm_memory_is_h_and_c_and_round_trips(tmp_path):
    env = CueEnv()
    policy = LSTMActorCriticPolicy(env=env, key=jax.random.key(0), hidden_size=4)
    state = policy.reset(key=jax.random.key(0))
    np.testing.assert_array_equal(state.hidden, np.zeros(4))
    np.testing.assert_array_equal(state.cell, np.zeros(4))
    obs = jnp.array([1.0, 0.0])
    new_state, _ = policy(state, obs)
    # By hand: one LSTM step from zeros, on the activated encoder output.
    x = np.tanh(
        np.asarray(policy.encoder.layers[0].weight) @ np.asarray(obs)
        + np.asarray(policy.encoder.layers[0].bias)
    )
    core = policy.core
    gates = np.asarray(core.weight_ih) @ x + np.asarray(core.bias)
    i, f, g, o = np.split(gates, 4)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    c = sigmoid(i) * np.tanh(g)
    h = sigmoid(o) * np.tanh(c)
    np.testing.assert_allclose(new_state.cell, c, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new_state.hidden, h, rtol=1e-5, atol=1e-6)
    policy.serialize(tmp_path / "lstm")
    loaded = LSTMActorCriticPolicy.deserialize(
        tmp_path / "lstm", env=env, key=jax.random.key(3), hidden_size=4
    )
    np.testing.assert_array_equal(loaded(state, obs)[0].hidden, new_state.hidden)
    with pytest.raises(ValueError):
        GRUActorCriticPolicy.deserialize(
            tmp_path / "lstm", env=env, key=jax.random.key(3), hidden_size=4
        )


def test_recurrent_policy_needs_num_batches_dividing_num_envs(rollout):
    env, policy, _ = rollout
    algo = PPO(num_envs=3, num_steps=4, num_epochs=1, num_batches=2)
    with pytest.raises(ValueError, match="num_batches=2 must divide num_envs=3"):
        algo.learn(env, policy, 12, key=jax.random.key(0))
