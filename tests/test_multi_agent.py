"""Multi-agent training: the agent batch, GAE per agent with the team's episode
ends (against NumPy), recurrent replay equal to the rollout (the first update's
ratio is 1 with frozen parameters, shared and per-agent, and for recurrent
MAPPO's GRUCentralCriticPolicy under `jax.vmap`), one parameter set
per agent against a hand-written per-agent loop, heterogeneous agents refused,
IPPO/MAPPO under `jax.vmap` over seeds.

The environment is a small one written here (`Rendezvous`): its agents are
named out of alphabetical order, their rewards differ, and episodes both
terminate (the agents meet) and truncate (a step limit) inside one rollout.
"""

import csv
import shutil

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Bool, Float, Int

import lerax
from lerax.algorithm import IPPO, MAPPO, AbstractPolicyObjective
from lerax.callback import (
    CSVBackend,
    EmptyCallback,
    EpisodeStatisticsCallback,
    EvalCallback,
    LoggingCallback,
)
from lerax.checkpoint import Checkpointer
from lerax.env import (
    AbstractEnvState,
    AbstractMultiAgentEnv,
    AgentBatchEnv,
    AgentBatchState,
)
from lerax.evaluation import evaluate_team
from lerax.policy import (
    GRUActorCriticPolicy,
    GRUCentralCriticPolicy,
    MLPActorCriticPolicy,
    MLPCentralCriticPolicy,
    PerAgentPolicy,
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
    return raw, folded, state.opt_state


@pytest.fixture(scope="module")
def shared():
    env = AgentBatchEnv(Rendezvous())
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0), width_size=16)
    raw, folded, _ = _collect(IPPO_ALGO, env, policy, jax.random.key(1))
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


class _RatioProbe(AbstractPolicyObjective):
    """The plain surrogate, reporting the largest |log ratio| of each minibatch."""

    def __call__(self, inputs):
        loss = -(inputs.ratio * inputs.advantages).mean()
        largest = jnp.max(jnp.abs(inputs.log_ratio))
        return loss, {"max_abs_log_ratio": jax.lax.stop_gradient(largest)}


def _agent_keys(seed):
    return jax.random.split(jax.random.key(seed), len(AGENTS))


@pytest.mark.parametrize("per_agent", [False, True])
def test_recurrent_first_update_ratio_is_one(per_agent):
    # With frozen parameters (learning rate 0) PPO's replay of each
    # (environment, agent) sequence, restarting the GRU at the team's episode
    # ends, gives the rollout's log-probabilities: every minibatch's ratio is 1.
    env = AgentBatchEnv(Rendezvous())

    def gru(key):
        return GRUActorCriticPolicy(env=env, key=key, hidden_size=8, encoder_sizes=(8,))

    policy = (
        PerAgentPolicy([gru(k) for k in _agent_keys(2)])
        if per_agent
        else gru(jax.random.key(2))
    )
    algo = IPPO(
        num_envs=NUM_ENVS,
        num_steps=NUM_STEPS,
        num_epochs=2,
        num_batches=2,
        learning_rate=lambda count: 0.0,
        objective=_RatioProbe(),
    )
    raw, folded, opt_state = _collect(algo, env, policy, jax.random.key(4))
    # Episodes end inside the rollout, by termination and by truncation.
    assert bool(raw.terminations.any()) and bool(raw.truncations.any())
    _, _, log = eqx.filter_jit(algo.train)(
        policy, opt_state, folded, key=jax.random.key(6)
    )
    assert float(log["max_abs_log_ratio"]) < 1e-5
    # Not vacuous: the memory is live between episode ends.
    assert np.abs(np.asarray(raw.policy_states.hidden)).max() > 0


def test_recurrent_central_critic_first_update_ratio_is_one_under_vmap():
    # Recurrent MAPPO: the actor's GRU on the observation, the critic's on the
    # global state, both memories reset at the team's episode ends. With
    # frozen parameters every minibatch's replay ratio is 1, for each seed of
    # a `jax.vmap` over keys.
    env = AgentBatchEnv(Rendezvous(), central_critic=True)
    policy = GRUCentralCriticPolicy(
        env, key=jax.random.key(2), hidden_size=8, encoder_sizes=(8,)
    )
    algo = MAPPO(
        num_envs=NUM_ENVS,
        num_steps=NUM_STEPS,
        num_epochs=2,
        num_batches=2,
        learning_rate=lambda count: 0.0,
        objective=_RatioProbe(),
    )

    @eqx.filter_jit
    def collect_and_train(keys):
        def one(key):
            raw, folded, opt_state = _collect(algo, env, policy, key)
            _, _, log = algo.train(policy, opt_state, folded, key=key)
            return raw, log

        return jax.vmap(one)(keys)

    raw, log = collect_and_train(jax.random.split(jax.random.key(4), 2))
    for seed in range(2):
        assert bool(raw.terminations[seed].any())
        assert bool(raw.truncations[seed].any())
    np.testing.assert_array_less(np.asarray(log["max_abs_log_ratio"]), 1e-5)
    # Not vacuous: both memories (actor's half, critic's half) are live.
    hidden = np.abs(np.asarray(raw.policy_states.hidden))
    assert hidden.shape[-1] == 16
    assert hidden[..., :8].max() > 0 and hidden[..., 8:].max() > 0


def test_recurrent_central_critic_actor_never_reads_the_state(tmp_path):
    # Two histories with the same observations and different global states:
    # the actor's memory, action and log-probability are the same, the
    # critic's memory and the value are not.
    env = AgentBatchEnv(Rendezvous(), central_critic=True)
    policy = GRUCentralCriticPolicy(
        env, key=jax.random.key(7), hidden_size=8, encoder_sizes=(8,)
    )
    spaces = env.observation_space.spaces
    obs = jax.random.uniform(jax.random.key(0), (3,) + spaces["observation"].shape)
    states = jax.random.uniform(jax.random.key(1), (2, 3) + spaces["state"].shape)

    @eqx.filter_jit
    def play(policy, states):
        def step(memory, inputs):
            observation, state, key = inputs
            memory, action, value, log_prob = policy.action_and_value(
                memory,
                {"observation": observation, "state": state},
                key=key,
            )
            return memory, (memory.hidden, action, value, log_prob)

        keys = jax.random.split(jax.random.key(2), 3)
        start = policy.reset(key=jax.random.key(0))
        return jax.vmap(lambda s: jax.lax.scan(step, start, (obs, s, keys))[1])(states)

    hidden, action, value, log_prob = play(policy, states)
    np.testing.assert_array_equal(hidden[0, :, :8], hidden[1, :, :8])
    np.testing.assert_array_equal(action[0], action[1])
    np.testing.assert_array_equal(log_prob[0], log_prob[1])
    assert not np.allclose(hidden[0, :, 8:], hidden[1, :, 8:])
    assert not np.allclose(value[0], value[1])
    # A plain IPPO environment is refused by name; the file rebuilds alone.
    with pytest.raises(ValueError, match=r"central_critic=True"):
        GRUCentralCriticPolicy(AgentBatchEnv(Rendezvous()), key=jax.random.key(0))
    policy.serialize(tmp_path / "mappo_gru")
    loaded = lerax.load(tmp_path / "mappo_gru.eqx")
    assert isinstance(loaded, GRUCentralCriticPolicy)
    np.testing.assert_array_equal(play(loaded, states)[2], value)


def test_recurrent_central_critic_labels_match_what_each_part_reads():
    # Separate optimisers send "actor" leaves to the actor's optimiser: the
    # log-probability's gradient must vanish on every "critic" leaf and the
    # value's on every "actor" leaf, and nothing is labelled "shared".
    env = AgentBatchEnv(Rendezvous(), central_critic=True)
    policy = GRUCentralCriticPolicy(
        env, key=jax.random.key(3), hidden_size=4, encoder_sizes=(4,)
    )
    spaces = env.observation_space.spaces
    observation = {
        "observation": jnp.ones(spaces["observation"].shape),
        "state": jnp.ones(spaces["state"].shape),
    }
    memory = policy.reset(key=jax.random.key(0))
    action = env.action_space.sample(key=jax.random.key(1))

    def part_grads(policy):
        def log_prob(p):
            return p.evaluate_action(memory, observation, action)[2]

        def value(p):
            return p.value(memory, observation)[1]

        return (
            eqx.filter_grad(log_prob)(policy),
            eqx.filter_grad(value)(policy),
        )

    actor_grad, critic_grad = part_grads(policy)
    labels = jax.tree.leaves(policy.parameter_labels())
    arrays = jax.tree.leaves(eqx.filter(policy, eqx.is_inexact_array))
    assert len(labels) == len(arrays)
    assert set(labels) == {"actor", "critic"}
    for label, a, c in zip(
        labels, jax.tree.leaves(actor_grad), jax.tree.leaves(critic_grad), strict=True
    ):
        zero = c if label == "actor" else a
        np.testing.assert_array_equal(np.asarray(zero), 0.0)


def test_per_agent_train_equals_a_hand_written_per_agent_loop():
    # One parameter set per agent: `train` is PPO's `train` vmapped over the
    # agents. Reference: PPO's `train` called once per agent (a Python loop)
    # on that agent's columns of the folded rollout and its optimizer state.
    env = AgentBatchEnv(Rendezvous())
    policy = PerAgentPolicy(
        [MLPActorCriticPolicy(env, key=k, width_size=8) for k in _agent_keys(7)]
    )
    raw, folded, opt_state = _collect(IPPO_ALGO, env, policy, jax.random.key(8))
    key = jax.random.key(9)
    trained, _, _ = eqx.filter_jit(IPPO_ALGO.train)(policy, opt_state, folded, key=key)
    num_agents = env.num_agents

    @eqx.filter_jit
    def reference(policy, opt_state, folded, key):
        keys = jax.random.split(key, num_agents)
        out = []
        for a in range(num_agents):
            agent_opt = jax.tree.map(lambda x, a=a: x[a], opt_state)
            columns = jax.tree.map(lambda x, a=a: x[:, a::num_agents], folded)
            agent, _, _ = IPPO_ALGO.ppo.train(
                policy.agent(a), agent_opt, columns, key=keys[a]
            )
            out.append(agent)
        return out

    expected = reference(policy, opt_state, folded, key)
    for a in range(num_agents):
        got = jax.tree.leaves(eqx.filter(trained.agent(a), eqx.is_inexact_array))
        want = jax.tree.leaves(eqx.filter(expected[a], eqx.is_inexact_array))
        before = jax.tree.leaves(eqx.filter(policy.agent(a), eqx.is_inexact_array))
        assert any(not np.allclose(w, b) for w, b in zip(want, before, strict=True))
        for x, y in zip(got, want, strict=True):
            np.testing.assert_allclose(x, y, atol=1e-5)
    # GAE used each agent's own critic: the stored values are per agent.
    for a in range(num_agents):
        value = jax.vmap(lambda s, o, a=a: policy.agent(a).value(s, o)[1])
        np.testing.assert_allclose(
            folded.values[:, a::num_agents].reshape(-1),
            value(
                jax.tree.map(
                    lambda x, a=a: x[:, :, a].reshape((-1,) + x.shape[3:]),
                    raw.policy_states,
                ),
                raw.observations[:, :, a].reshape(-1, raw.observations.shape[-1]),
            ),
            atol=1e-5,
        )


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


@pytest.mark.parametrize(
    "kind", ["shared", "per_agent", "central_critic", "gru_central_critic"]
)
def test_learn_vmaps_over_seeds(kind):
    central_critic = kind in ("central_critic", "gru_central_critic")
    env = AgentBatchEnv(Rendezvous(), central_critic=central_critic)
    if kind == "gru_central_critic":
        algo = MAPPO(num_envs=2, num_steps=4, num_epochs=2, num_batches=2)
        policy = GRUCentralCriticPolicy(
            env, key=jax.random.key(0), hidden_size=8, encoder_sizes=(8,)
        )
    elif central_critic:
        algo = MAPPO(num_envs=2, num_steps=4, num_epochs=2, num_batches=2)
        policy = MLPCentralCriticPolicy(env, key=jax.random.key(0), width_size=8)
        # The critic reads the global state (3 positions, clock) plus the id.
        assert env.observation_space.spaces["state"].shape == (4 + 3,)
    else:
        algo = IPPO(num_envs=2, num_steps=4, num_epochs=2, num_batches=2)
        policy = MLPActorCriticPolicy(env, key=jax.random.key(0), width_size=8)
        if kind == "per_agent":
            # Every agent starts from the same parameters.
            policy = PerAgentPolicy([policy] * env.num_agents)
    keys = jax.random.split(jax.random.key(5), 2)
    trained = _learn_seeds(algo, env, policy, keys)
    leaves = jax.tree.leaves(eqx.filter(trained, eqx.is_inexact_array))
    # Each seed trained from the same start to a different policy...
    assert any(not np.allclose(x[0], x[1]) for x in leaves)
    if kind == "gru_central_critic":
        # Both towers trained (seed 0 against its start): the actor's GRU and
        # the critic's.
        for tower in (lambda p: p.core.actor, lambda p: p.core.critic):
            start = jax.tree.leaves(eqx.filter(tower(policy), eqx.is_inexact_array))
            after = jax.tree.leaves(eqx.filter(tower(trained), eqx.is_inexact_array))
            pairs = zip(after, start, strict=True)
            assert any(not np.allclose(x[0], y) for x, y in pairs)
        return  # seed 0 alone: the MLP cases check it (one compile less)
    if kind == "per_agent":
        # The agents' parameters (seed 0) diverged from their common start:
        # each agent trained on its own rewards.
        stacked = jax.tree.leaves(eqx.filter(trained.policies, eqx.is_inexact_array))
        assert all(x.shape[:2] == (2, env.num_agents) for x in stacked)
        assert any(not np.allclose(x[0, 0], x[0, 1], atol=1e-6) for x in stacked)
        assert any(not np.allclose(x[0, 1], x[0, 2], atol=1e-6) for x in stacked)
        return  # seed 0 alone: the shared cases check it (one compile less)
    # ...and seed 0 under vmap is seed 0 alone.
    alone = algo.learn(env, policy, 16, key=keys[0])
    alone_leaves = jax.tree.leaves(eqx.filter(alone, eqx.is_inexact_array))
    for x, y in zip(leaves, alone_leaves, strict=True):
        np.testing.assert_allclose(x[0], y, atol=1e-4)


def test_checkpoint_resume_is_exact(tmp_path):
    # MAPPO with one parameter set per agent (stacked optimizer states): a run
    # resumed from its iteration-1 checkpoint ends bit-for-bit where the
    # uninterrupted run (which wrote the checkpoints) ended.
    env = AgentBatchEnv(Rendezvous(), central_critic=True)
    team = PerAgentPolicy(
        [MLPCentralCriticPolicy(env, key=k, width_size=8) for k in _agent_keys(3)]
    )
    algo = MAPPO(num_envs=2, num_steps=4, num_epochs=2, num_batches=2)

    def run():
        return algo.learn_state(
            env,
            team,
            3 * 8,
            key=jax.random.key(1),
            checkpointer=Checkpointer(tmp_path, every_iterations=1),
        )

    whole = run()
    assert Checkpointer(tmp_path, every_iterations=1).steps() == [1, 2, 3]
    for step in (2, 3):
        shutil.rmtree(tmp_path / str(step))
    resumed = run()
    assert int(resumed.iteration_count) == 3
    a = jax.tree.leaves(eqx.filter(whole, eqx.is_array))
    b = jax.tree.leaves(eqx.filter(resumed, eqx.is_array))
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


class ClockState(AbstractEnvState):
    time: Int[Array, ""]


class Clock(AbstractMultiAgentEnv[ClockState]):
    """Scripted: at step t (1, 2, ...) agent i is paid (i + 1) * t + action
    (without the action when `pay_actions=False`); the episode truncates after
    3 steps."""

    name: str = eqx.field(static=True, default="Clock")
    agents: tuple[str, ...] = eqx.field(static=True, default=("p", "q"))
    pay_actions: bool = eqx.field(static=True, default=True)

    @property
    def observation_spaces(self):
        return {a: Box(0.0, 1.0, shape=(1,)) for a in self.agents}

    @property
    def action_spaces(self):
        return {a: Discrete(2) for a in self.agents}

    @property
    def state_space(self):
        return None

    def initial(self, *, key):
        return ClockState(jnp.zeros((), jnp.int32))

    def transition(self, state, actions, *, key):
        return ClockState(state.time + 1)

    def observations(self, state, *, key):
        return {a: jnp.full((1,), state.time / 3.0) for a in self.agents}

    def rewards(self, state, actions, next_state, *, key):
        paid = 1.0 if self.pay_actions else 0.0
        return {
            a: (i + 1.0) * next_state.time + paid * actions[a]
            for i, a in enumerate(self.agents)
        }

    def terminal(self, state, *, key):
        return jnp.asarray(False)

    def truncate(self, state):
        return state.time >= 3


def test_evaluate_team_reports_agent_and_team_returns_by_hand():
    env = AgentBatchEnv(Clock())
    shared = MLPActorCriticPolicy(env, key=jax.random.key(0), width_size=4)
    team = PerAgentPolicy(
        [MLPActorCriticPolicy(env, key=k, width_size=4) for k in _agent_keys(1)[:2]]
    )
    for policy in (shared, team):
        result = evaluate_team(env, policy, key=jax.random.key(2), num_episodes=3)
        # Deterministic actions, found by hand: each agent's greedy action at
        # each of the three observations.
        bonus = np.zeros(2)
        for t in range(3):
            observation = env.observation(
                AgentBatchState(ClockState(jnp.asarray(t))), key=jax.random.key(0)
            )
            if isinstance(policy, PerAgentPolicy):
                _, action = policy(None, observation)
            else:
                _, action = jax.vmap(lambda o: shared(None, o))(observation)
            bonus += np.asarray(action)
        # Agent i: (i + 1) * (1 + 2 + 3) plus its actions.
        expected = np.array([6.0, 12.0]) + bonus
        np.testing.assert_allclose(result.agent_returns, np.tile(expected, (3, 1)))
        np.testing.assert_allclose(result.team_returns, np.full(3, expected.mean()))
        np.testing.assert_array_equal(result.lengths, [3, 3, 3])
        assert bool(result.completed.all())
    with pytest.raises(TypeError, match="AgentBatchEnv"):
        evaluate_team(Clock(), shared, key=jax.random.key(0))


def _clock_returns_by_hand(env, policy):
    # Deterministic actions, found by hand: each agent's greedy action at each
    # of the three observations; agent i earns (i + 1) * (1 + 2 + 3) plus them.
    bonus = np.zeros(2)
    for t in range(3):
        observation = env.observation(
            AgentBatchState(ClockState(jnp.asarray(t))), key=jax.random.key(0)
        )
        _, action = jax.vmap(lambda o: policy(None, o))(observation)
        bonus += np.asarray(action)
    return np.array([6.0, 12.0]) + bonus


def test_callbacks_report_each_agents_return_by_hand(tmp_path):
    # Training on Clock without the action pay: every episode pays agent p
    # 1 + 2 + 3 = 6 and agent q 12 (team 9). Rollouts of 2 steps cut the
    # 3-step episodes, so the record must carry them across iterations:
    # iteration 1 ends none, iterations 2 and 3 end one per environment.
    # EvalCallback on an AgentBatchEnv plays team episodes (evaluate_team,
    # here on Clock with the action pay, the greedy actions found by hand):
    # its record and the logger's row hold the team return and each agent's.
    # Two seeds under `jax.vmap(learn_state)`.
    env = AgentBatchEnv(Clock(pay_actions=False))
    eval_env = AgentBatchEnv(Clock())
    policy = MLPActorCriticPolicy(env, key=jax.random.key(0), width_size=4)
    logger = LoggingCallback([CSVBackend(tmp_path / "run.csv")])
    callbacks = [
        EvalCallback(eval_env, 1, 2, logger=logger),
        logger,
        EpisodeStatisticsCallback(),
    ]
    algo = IPPO(num_envs=2, num_steps=2, num_epochs=1, num_batches=1)
    state = jax.vmap(
        lambda k: algo.learn_state(env, policy, 3 * 4, key=k, callback=callbacks)
    )(jax.random.split(jax.random.key(1), 2))
    jax.block_until_ready(state)
    logger.close()
    episodes = state.callback_state[EpisodeStatisticsCallback]
    evals = state.callback_state[EvalCallback]
    with open(tmp_path / "run.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(int(r["iteration"]), int(r["seed"])) for r in rows] == [
        (i, s) for i in (1, 2, 3) for s in (0, 1)
    ]
    for seed in range(2):
        np.testing.assert_array_equal(episodes.episodes[seed], [0, 2, 2])
        np.testing.assert_array_equal(episodes.mean_return[seed], [np.nan, 9.0, 9.0])
        np.testing.assert_array_equal(
            episodes.agent_mean_return[seed],
            [[np.nan, np.nan], [6.0, 12.0], [6.0, 12.0]],
        )
        trained = jax.tree.map(lambda x, i=seed: x[i], state.policy)
        expected = _clock_returns_by_hand(eval_env, trained)
        np.testing.assert_allclose(
            evals.agent_return_mean[seed, -1], expected, rtol=1e-6
        )
        np.testing.assert_allclose(
            evals.return_mean[seed, -1], expected.mean(), rtol=1e-6
        )
        np.testing.assert_allclose(evals.length_mean[seed], [3.0, 3.0, 3.0])
        seed_rows = [r for r in rows if int(r["seed"]) == seed]
        # The training rows: the team return and each agent's (none ended in
        # iteration 1).
        assert seed_rows[0]["episode_return/p"] == ""
        for r in seed_rows[1:]:
            assert float(r["episode_return"]) == 9.0
            assert float(r["episode_return/p"]) == 6.0
            assert float(r["episode_return/q"]) == 12.0
        for r, agent_means in zip(
            seed_rows, np.asarray(evals.agent_return_mean[seed]), strict=True
        ):
            np.testing.assert_allclose(
                [float(r["eval_return_mean/p"]), float(r["eval_return_mean/q"])],
                agent_means,
                rtol=1e-6,
            )
