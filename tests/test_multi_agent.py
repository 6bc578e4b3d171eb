"""Multi-agent training: the agent batch, GAE per agent with the team's episode
ends (against NumPy), recurrent replay equal to the rollout, heterogeneous
agents refused, IPPO/MAPPO under `jax.vmap` over seeds.

The environment is a small one written here (`Rendezvous`): its agents are
named out of alphabetical order, their rewards differ, and episodes both
terminate (the agents meet) and truncate (a step limit) inside one rollout.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Bool, Float, Int

from lerax.algorithm import IPPO, MAPPO, evaluate_buffer
from lerax.callback import EmptyCallback
from lerax.env import AbstractEnvState, AbstractMultiAgentEnv, AgentBatchEnv
from lerax.policy import (
    GRUActorCriticPolicy,
    MLPActorCriticPolicy,
    MLPCentralCriticPolicy,
)
from lerax.space import Box, Discrete

LIMIT = 5
CELLS = 3
AGENTS = ("carol", "alice", "bob")  # not sorted: the stacked order is this one


class RendezvousState(AbstractEnvState):
    position: Int[Array, " agents"]
    time: Int[Array, ""]


class Rendezvous(AbstractMultiAgentEnv[RendezvousState]):
    """Agents on cells 0..CELLS-1 move left, stay or right; the team terminates when
    all stand on one cell and truncates after `LIMIT` steps. Agent `i` is paid
    `-(i + 1) * spread`, so the agents' rewards differ. Moving off the line is
    masked."""

    name: str = eqx.field(static=True, default="Rendezvous")
    agents: tuple[str, ...] = eqx.field(static=True, default=AGENTS)

    @property
    def observation_spaces(self):
        return {a: Box(0.0, 1.0, shape=(3,)) for a in self.agents}

    @property
    def action_spaces(self):
        return {a: Discrete(3) for a in self.agents}

    @property
    def state_space(self):
        return Box(0.0, 1.0, shape=(len(self.agents) + 1,))

    def initial(self, *, key) -> RendezvousState:
        position = jax.random.randint(key, (len(self.agents),), 0, CELLS)
        return RendezvousState(position, jnp.zeros((), jnp.int32))

    def transition(self, state, actions, *, key):
        move = jnp.stack([actions[a] for a in self.agents]) - 1
        return RendezvousState(
            jnp.clip(state.position + move, 0, CELLS - 1), state.time + 1
        )

    def observations(self, state, *, key):
        mean = jnp.mean(state.position) / (CELLS - 1)
        clock = state.time / LIMIT
        return {
            a: jnp.stack([state.position[i] / (CELLS - 1), mean, clock])
            for i, a in enumerate(self.agents)
        }

    def rewards(self, state, actions, next_state, *, key):
        spread = jnp.max(next_state.position) - jnp.min(next_state.position)
        return {a: -(i + 1.0) * spread for i, a in enumerate(self.agents)}

    def terminal(self, state, *, key) -> Bool[Array, ""]:
        return jnp.max(state.position) == jnp.min(state.position)

    def truncate(self, state) -> Bool[Array, ""]:
        return state.time >= LIMIT

    def action_masks(self, state, *, key):
        return {
            a: jnp.stack(
                [
                    state.position[i] > 0,
                    jnp.asarray(True),
                    state.position[i] < CELLS - 1,
                ]
            )
            for i, a in enumerate(self.agents)
        }

    def global_state(self, state, *, key) -> Float[Array, " n"]:
        position = state.position / (CELLS - 1)
        return jnp.concatenate([position, jnp.stack([state.time / LIMIT])])


NUM_ENVS, NUM_STEPS = 4, 12
IPPO_ALGO = IPPO(num_envs=NUM_ENVS, num_steps=NUM_STEPS, num_epochs=1, num_batches=2)


@eqx.filter_jit
def _collect(algo, env, policy, key):
    state = algo.reset(env, policy, key=key, callback=EmptyCallback())
    _, raw = algo.collect_rollout(
        env, policy, state.step_state, EmptyCallback(), jax.random.key(3)
    )
    folded = algo.post_collect(env, policy, None, raw, key=key)
    return raw, folded


@pytest.fixture(scope="module")
def shared():
    env = AgentBatchEnv(Rendezvous())
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0), width_size=16)
    raw, folded = _collect(IPPO_ALGO, env, policy, jax.random.key(1))
    return env, policy, raw, folded


def _gae_numpy(rewards, values, next_values, terminated, truncated, gamma, lam):
    advantages = np.zeros_like(rewards)
    running = 0.0
    for t in reversed(range(len(rewards))):
        done = terminated[t] or truncated[t]
        delta = rewards[t] + gamma * (not terminated[t]) * next_values[t] - values[t]
        running = delta + gamma * lam * (not done) * running
        advantages[t] = running
    return advantages


def test_gae_per_agent_with_team_episode_ends_matches_numpy(shared):
    env, policy, raw, folded = shared
    terminated = np.asarray(raw.terminations)  # (steps, envs): the team's flags
    truncated = np.asarray(raw.truncations)
    # The rollout holds both kinds of episode end.
    assert terminated.any() and truncated.any()
    agent_rewards = np.asarray(raw.returns)  # (steps, envs, agents)
    values = np.asarray(raw.values)
    next_values = np.asarray(
        jax.vmap(jax.vmap(jax.vmap(lambda s, o: policy.value(s, o)[1])))(
            raw.next_policy_states, raw.next_observations
        )
    )
    # Agents' rewards differ by the factor (i + 1), in `env.agents` order.
    np.testing.assert_allclose(agent_rewards[..., 1], 2 * agent_rewards[..., 0])
    np.testing.assert_allclose(raw.rewards, agent_rewards.mean(-1), rtol=1e-6)
    gamma, lam = float(IPPO_ALGO.gamma), float(IPPO_ALGO.gae_lambda)
    advantages = np.asarray(folded.advantages)
    assert advantages.shape == (NUM_STEPS, NUM_ENVS * env.num_agents)
    for e in range(NUM_ENVS):
        for a in range(env.num_agents):
            reference = _gae_numpy(
                agent_rewards[:, e, a],
                values[:, e, a],
                next_values[:, e, a],
                terminated[:, e],
                truncated[:, e],
                gamma,
                lam,
            )
            column = e * env.num_agents + a
            np.testing.assert_allclose(advantages[:, column], reference, atol=1e-5)
            np.testing.assert_array_equal(
                folded.terminations[:, column], terminated[:, e]
            )
            np.testing.assert_allclose(
                folded.observations[:, column], raw.observations[:, e, a]
            )


def test_shuffled_agents_permute_the_folded_rollout(shared):
    env, policy, raw, folded = shared
    # The same rollout with the agent axis permuted: every per-agent column of
    # the folded buffer must move with its agent (catches a reshape that mixes
    # the environment and agent axes).
    permutation = np.array([2, 0, 1])
    per_agent = ("observations", "actions", "log_probs", "values", "returns")
    per_agent += ("next_observations", "action_masks")
    changes = {k: jnp.take(getattr(raw, k), permutation, axis=2) for k in per_agent}
    shuffled_raw = eqx.tree_at(
        lambda b: [getattr(b, k) for k in per_agent],
        raw,
        [changes[k] for k in per_agent],
    )
    shuffled = IPPO_ALGO.post_collect(env, policy, None, shuffled_raw, key=None)
    a = env.num_agents
    for e in range(NUM_ENVS):
        for new, old in enumerate(permutation):
            np.testing.assert_allclose(
                shuffled.advantages[:, e * a + new],
                folded.advantages[:, e * a + old],
                atol=1e-6,
            )


def test_masks_are_stacked_in_agent_order(shared):
    _, _, raw, _ = shared
    positions = np.rint(np.asarray(raw.observations)[..., 0] * (CELLS - 1))
    masks = np.asarray(raw.action_masks)  # (steps, envs, agents, 3)
    np.testing.assert_array_equal(masks[..., 0], positions > 0)
    np.testing.assert_array_equal(masks[..., 2], positions < CELLS - 1)
    # Masked actions were never taken.
    taken = np.take_along_axis(masks, np.asarray(raw.actions)[..., None], -1)
    assert taken.all()


def test_recurrent_replay_equals_the_rollout():
    # With frozen parameters the first update's ratio is 1: re-running the
    # shared GRU over each (environment, agent) sequence, restarting at the
    # team's episode ends, gives the rollout's log-probabilities and values.
    env = AgentBatchEnv(Rendezvous())
    policy = GRUActorCriticPolicy(
        env=env, key=jax.random.key(2), hidden_size=8, encoder_sizes=(8,)
    )
    raw, folded = _collect(IPPO_ALGO, env, policy, jax.random.key(4))
    assert bool(raw.terminations.any()) and bool(raw.truncations.any())
    sequences = jax.tree.map(lambda x: jnp.swapaxes(x, 0, 1), folded.without_next())
    values, log_probs, _ = evaluate_buffer(policy, sequences)
    np.testing.assert_allclose(log_probs, sequences.log_probs, atol=1e-5)
    np.testing.assert_allclose(values, sequences.values, atol=1e-5)
    # The memory is live (not reset every step) between episode ends.
    hidden = np.asarray(raw.policy_states.hidden)
    assert np.abs(hidden).max() > 0


def test_heterogeneous_agents_are_refused_by_name():
    class Mixed(AbstractMultiAgentEnv[RendezvousState]):
        name: str = "Mixed"
        agents: tuple[str, ...] = ("x", "y", "z")
        observation_spaces: dict = eqx.field(
            default_factory=lambda: {
                "x": Box(0.0, 1.0, shape=(3,)),
                "y": Box(0.0, 1.0, shape=(4,)),
                "z": Box(0.0, 1.0, shape=(3,)),
            }
        )
        action_spaces: dict = eqx.field(
            default_factory=lambda: {a: Discrete(2) for a in "xyz"}
        )
        state_space: None = None

        def initial(self, *, key):
            raise NotImplementedError

        transition = observations = rewards = terminal = truncate = initial

    with pytest.raises(ValueError, match=r"heterogeneous.*observation space of y"):
        AgentBatchEnv(Mixed())


def test_wrong_pairings_fail_with_a_message():
    plain = AgentBatchEnv(Rendezvous())
    policy = MLPActorCriticPolicy(plain, key=jax.random.key(0), width_size=8)
    mappo = MAPPO(num_envs=2, num_steps=4, num_epochs=1, num_batches=1)
    with pytest.raises(ValueError, match=r"central_critic=True"):
        mappo.learn(plain, policy, 8, key=jax.random.key(0))
    with pytest.raises(ValueError, match="normalize_rewards"):
        IPPO(normalize_rewards=True)


def _learn_seeds(algo, env, policy, keys):
    return eqx.filter_jit(jax.vmap(lambda k: algo.learn(env, policy, 16, key=k)))(keys)


@pytest.mark.parametrize("central_critic", [False, True])
def test_learn_vmaps_over_seeds(central_critic):
    env = AgentBatchEnv(Rendezvous(), central_critic=central_critic)
    if central_critic:
        algo = MAPPO(num_envs=2, num_steps=4, num_epochs=2, num_batches=2)
        policy = MLPCentralCriticPolicy(env, key=jax.random.key(0), width_size=8)
        # The critic reads the global state (3 positions, clock) plus the id.
        assert env.observation_space.spaces["state"].shape == (4 + 3,)
    else:
        algo = IPPO(num_envs=2, num_steps=4, num_epochs=2, num_batches=2)
        policy = MLPActorCriticPolicy(env, key=jax.random.key(0), width_size=8)
    keys = jax.random.split(jax.random.key(5), 2)
    trained = _learn_seeds(algo, env, policy, keys)
    leaves = jax.tree.leaves(eqx.filter(trained, eqx.is_inexact_array))
    # Each seed trained from the same start to a different policy...
    assert any(not np.allclose(x[0], x[1]) for x in leaves)
    # ...and seed 0 under vmap is seed 0 alone.
    alone = algo.learn(env, policy, 16, key=keys[0])
    alone_leaves = jax.tree.leaves(eqx.filter(alone, eqx.is_inexact_array))
    for x, y in zip(leaves, alone_leaves, strict=True):
        np.testing.assert_allclose(x[0], y, atol=1e-4)
