"""A privileged critic: the critic reads the env's critic observation, the actor never.

The env of this module hides a per-episode reward offset `b` from the agent: the
actor sees its position `x`, the critic `(x, b)`. The rollout is replayed by
hand in NumPy (positions from the stored actions, offsets constant within an
episode), the GAE returns recomputed with a NumPy GAE whose bootstrap values
come from the critic applied to the hand-computed critic observation of each
final (pre-reset) state; the acting policy is saved, loaded without any env and
run on plain observations.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lerax
from lerax.algorithm import PPO
from lerax.callback import EmptyCallback
from lerax.env import (
    AbstractEnv,
    AbstractEnvState,
    AbstractWrapper,
    EnvCheckError,
    FlattenObservation,
    TimeLimit,
    check_env,
)
from lerax.export import export_policy, load_policy
from lerax.policy import (
    MLPActorCriticPolicy,
    MLPPrivilegedCriticPolicy,
    PrivilegedObservation,
)
from lerax.space import Box, Discrete

NUM_ENVS, NUM_STEPS, HORIZON = 3, 8, 3
GAMMA, LAMBDA = 0.9, 0.8
STEP = 0.25


class OffsetState(AbstractEnvState):
    x: jax.Array
    offset: jax.Array
    time: jax.Array


class HiddenOffsetEnv(AbstractEnv):
    """Move x toward 0; every reward carries a hidden per-episode offset."""

    name: str = eqx.field(static=True, default="HiddenOffset")
    bound: float = eqx.field(static=True, default=1.0)

    @property
    def action_space(self) -> Discrete:
        return Discrete(3)

    @property
    def observation_space(self) -> Box:
        return Box(-1.0, 1.0, shape=(1,))

    @property
    def critic_observation_space(self) -> Box:
        return Box(-1.0, 1.0, shape=(2,))

    def initial(self, *, key):
        x_key, b_key = jax.random.split(key)
        return OffsetState(
            x=jax.random.uniform(x_key, minval=-1.0, maxval=1.0),
            offset=jax.random.uniform(b_key, minval=-1.0, maxval=1.0),
            time=jnp.zeros((), jnp.int32),
        )

    def transition(self, state, action, *, key):
        x = jnp.clip(state.x + STEP * (action - 1), -1.0, 1.0)
        return OffsetState(x=x, offset=state.offset, time=state.time + 1)

    def observation(self, state, *, key):
        return state.x[None]

    def critic_observation(self, state, *, key):
        return self.bound * jnp.stack([state.x, state.offset])

    def reward(self, state, action, next_state, *, key):
        return next_state.offset - jnp.abs(next_state.x)

    def terminal(self, state, *, key):
        return jnp.asarray(False)

    def truncate(self, state):
        return state.time >= HORIZON


def make_algo():
    return PPO(
        num_envs=NUM_ENVS,
        num_steps=NUM_STEPS,
        num_epochs=1,
        num_batches=1,
        gamma=GAMMA,
        gae_lambda=LAMBDA,
    )


@pytest.fixture(scope="module")
def rollout():
    env = HiddenOffsetEnv()
    policy = MLPPrivilegedCriticPolicy(env, key=jax.random.key(0), width_size=16)
    algo = make_algo()
    callback = EmptyCallback()

    @eqx.filter_jit
    def run(key):
        reset_key, collect_key, post_key = jax.random.split(key, 3)
        state = algo.reset(env, policy, key=reset_key, callback=callback)
        step_state, buffer = algo.collect_rollout(
            env, policy, state.step_state, callback, collect_key
        )
        return algo.post_collect(env, policy, step_state, buffer, key=post_key)

    buffer = run(jax.random.key(3))
    return env, policy, jax.tree.map(np.asarray, buffer)


def test_stored_critic_observations_match_a_hand_run_env(rollout):
    _, _, buffer = rollout
    assert isinstance(buffer.observations, PrivilegedObservation)
    critic = buffer.observations.critic_observation
    next_critic = buffer.next_observations.critic_observation
    assert critic.shape == next_critic.shape == (NUM_STEPS, NUM_ENVS, 2)
    # The actor's entry is the observation alone: the position.
    np.testing.assert_array_equal(buffer.observations.observation, critic[..., :1])
    np.testing.assert_array_equal(
        buffer.next_observations.observation, next_critic[..., :1]
    )
    for e in range(NUM_ENVS):
        x, b = critic[0, e]
        time = 0
        for t in range(NUM_STEPS):
            np.testing.assert_allclose(critic[t, e], [x, b], rtol=0, atol=1e-6)
            x = np.clip(x + STEP * (int(buffer.actions[t, e]) - 1), -1.0, 1.0)
            time += 1
            # The pre-reset next state: same hidden offset, the moved position.
            np.testing.assert_allclose(next_critic[t, e], [x, b], rtol=0, atol=1e-6)
            np.testing.assert_allclose(
                buffer.rewards[t, e], b - abs(x), rtol=0, atol=1e-6
            )
            assert bool(buffer.truncations[t, e]) == (time == HORIZON)
            if time == HORIZON and t + 1 < NUM_STEPS:
                x, b = critic[t + 1, e]  # a new episode, a new hidden offset
                assert b != next_critic[t, e, 1]
                time = 0


def test_truncation_bootstraps_from_the_final_states_critic_observation(rollout):
    _, policy, buffer = rollout
    critic = jax.vmap(policy.critic)

    def values(critic_observations):
        flat = critic_observations.reshape(-1, 2)
        return np.asarray(critic(jnp.asarray(flat))).reshape(NUM_STEPS, NUM_ENVS)

    np.testing.assert_allclose(
        buffer.values, values(buffer.observations.critic_observation), atol=1e-5
    )
    # Independent bootstrap values: the critic on the hand-computed final
    # states (the checks above show next_critic is the pre-reset state).
    next_values = values(buffer.next_observations.critic_observation)
    advantages = np.zeros_like(buffer.rewards)
    running = np.zeros(NUM_ENVS)
    for t in reversed(range(NUM_STEPS)):
        term, trunc = buffer.terminations[t], buffer.truncations[t]
        bootstrap = np.where(term, 0.0, GAMMA * next_values[t])
        delta = buffer.rewards[t] + bootstrap - buffer.values[t]
        running = delta + GAMMA * LAMBDA * np.where(term | trunc, 0.0, running)
        advantages[t] = running
    assert buffer.truncations.any()
    np.testing.assert_allclose(buffer.advantages, advantages, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        buffer.returns, advantages + buffer.values, rtol=1e-5, atol=1e-5
    )


def test_the_actor_never_reads_the_critic_observation(rollout):
    _, policy, buffer = rollout
    observation = PrivilegedObservation(
        observation=jnp.asarray(buffer.observations.observation[0, 0]),
        critic_observation=jnp.asarray(buffer.observations.critic_observation[0, 0]),
    )
    action = jnp.asarray(buffer.actions[0, 0])

    def log_prob(critic_observation):
        obs = PrivilegedObservation(observation.observation, critic_observation)
        return policy.evaluate_action(policy.reset(key=jax.random.key(0)), obs, action)[
            2
        ]

    grad = jax.grad(log_prob)(observation.critic_observation)
    np.testing.assert_array_equal(np.asarray(grad), 0.0)
    np.testing.assert_allclose(
        log_prob(observation.critic_observation), buffer.log_probs[0, 0], atol=1e-6
    )
    # The value does depend on it.
    value = jax.grad(lambda c: policy.value(None, PrivilegedObservation(None, c))[1])
    assert np.abs(np.asarray(value(observation.critic_observation))).sum() > 0
    with pytest.raises(TypeError, match="PrivilegedObservation"):
        policy.value(None, observation.observation)


def test_learn_under_vmap_then_the_saved_acting_policy_needs_only_observations(
    tmp_path,
):
    env = HiddenOffsetEnv()
    policy = MLPPrivilegedCriticPolicy(env, key=jax.random.key(0), width_size=16)
    algo = make_algo()
    keys = jax.random.split(jax.random.key(1), 2)
    trained = jax.vmap(
        lambda k: algo.learn(env, policy, 2 * NUM_ENVS * NUM_STEPS, key=k)
    )(keys)
    before = jax.tree.leaves(eqx.filter(policy, eqx.is_inexact_array))
    after = jax.tree.leaves(eqx.filter(trained, eqx.is_inexact_array))
    for b, a in zip(before, after, strict=True):
        assert a.shape == (2, *b.shape) and np.isfinite(np.asarray(a)).all()
    assert any(not np.allclose(a[0], a[1]) for a in after)
    # Both towers were trained.
    assert not np.allclose(
        trained.critic.layers[0].weight[0], policy.critic.layers[0].weight
    )
    assert not np.allclose(
        trained.actor.layers[0].weight[0], policy.actor.layers[0].weight
    )

    one = jax.tree.map(lambda x: x[0] if eqx.is_array(x) else x, trained)
    one.serialize(tmp_path / "privileged")
    loaded = lerax.load(tmp_path / "privileged.eqx")  # no env
    assert isinstance(loaded, MLPPrivilegedCriticPolicy)
    observations = jnp.linspace(-1.0, 1.0, 5)[:, None]

    def act(p, obs):
        return p(p.reset(key=jax.random.key(0)), obs)[1]

    actions = jax.vmap(lambda o: act(one, o))(observations)
    np.testing.assert_array_equal(
        jax.vmap(lambda o: act(loaded, o))(observations), actions
    )
    # The exported program takes the observation alone.
    exported = load_policy(export_policy(one, tmp_path / "privileged"))
    np.testing.assert_array_equal(exported(np.asarray(observations))["action"], actions)
    with pytest.raises(TypeError, match="PrivilegedObservation"):
        export_policy(one, tmp_path / "with-value", include_value=True)


def test_a_symmetric_policy_stores_no_critic_observation():
    # The default path: no PrivilegedObservation, no extra leaves (abstractly).
    env = HiddenOffsetEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0), width_size=16)
    algo = make_algo()
    callback = EmptyCallback()

    def run(key):
        state = algo.reset(env, policy, key=key, callback=callback)
        return algo.collect_rollout(env, policy, state.step_state, callback, key)[1]

    buffer = eqx.filter_eval_shape(run, jax.random.key(0))
    assert buffer.observations.shape == (NUM_STEPS, NUM_ENVS, 1)
    assert buffer.next_observations.shape == (NUM_STEPS, NUM_ENVS, 1)


class ForgetfulWrapper(AbstractWrapper):
    """A stateful wrapper that does not forward critic_observation."""

    env: HiddenOffsetEnv

    @property
    def name(self):
        return "Forgetful"

    @property
    def action_space(self):
        return self.env.action_space

    @property
    def observation_space(self):
        return self.env.observation_space

    def initial(self, *, key):
        return (self.env.initial(key=key),)

    def transition(self, state, action, *, key):
        return (self.env.transition(state[0], action, key=key),)

    def observation(self, state, *, key):
        return self.env.observation(state[0], key=key)

    def reward(self, state, action, next_state, *, key):
        return self.env.reward(state[0], action, next_state[0], key=key)

    def terminal(self, state, *, key):
        return self.env.terminal(state[0], key=key)

    def truncate(self, state):
        return self.env.truncate(state[0])


def test_wrappers_forward_and_mismatches_fail_before_compiling():
    env = HiddenOffsetEnv()
    state = env.initial(key=jax.random.key(0))
    for wrapped in (TimeLimit(env, 5), FlattenObservation(env)):
        assert wrapped.critic_observation_space == env.critic_observation_space
        inner = wrapped.initial(key=jax.random.key(0))
        np.testing.assert_array_equal(
            wrapped.critic_observation(inner, key=jax.random.key(1)),
            env.critic_observation(state, key=jax.random.key(1)),
        )
    policy = MLPPrivilegedCriticPolicy(env, key=jax.random.key(0), width_size=4)
    algo = make_algo()
    plain = FlattenObservation(TimeLimit(_NoCritic(), 5))
    with pytest.raises(ValueError, match="declares no critic observation"):
        MLPPrivilegedCriticPolicy(plain, key=jax.random.key(0))
    with pytest.raises(ValueError, match="declares none"):
        algo.learn(plain, policy, 48, key=jax.random.key(0))
    other = MLPPrivilegedCriticPolicy(
        key=jax.random.key(0),
        observation_space=env.observation_space,
        action_space=env.action_space,
        critic_observation_space=Box(-1.0, 1.0, shape=(3,)),
    )
    with pytest.raises(ValueError, match="critic_observation_space is"):
        algo.learn(env, other, 48, key=jax.random.key(0))
    with pytest.raises(ValueError, match="must forward critic_observation"):
        algo.learn(ForgetfulWrapper(env), policy, 48, key=jax.random.key(0))


class _NoCritic(AbstractEnv):
    name: str = eqx.field(static=True, default="NoCritic")

    @property
    def action_space(self):
        return Discrete(3)

    @property
    def observation_space(self):
        return Box(-1.0, 1.0, shape=(1,))

    def initial(self, *, key):
        return HiddenOffsetEnv().initial(key=key)

    def transition(self, state, action, *, key):
        return HiddenOffsetEnv().transition(state, action, key=key)

    def observation(self, state, *, key):
        return state.x[None]

    def reward(self, state, action, next_state, *, key):
        return -jnp.abs(next_state.x)

    def terminal(self, state, *, key):
        return jnp.asarray(False)

    def truncate(self, state):
        return jnp.asarray(False)


def test_check_env_checks_the_critic_observation():
    check_env(HiddenOffsetEnv())
    with pytest.raises(EnvCheckError, match="critic_observation is .* outside"):
        check_env(HiddenOffsetEnv(bound=3.0))
    with pytest.raises(EnvCheckError, match="must forward critic_observation"):
        check_env(ForgetfulWrapper(HiddenOffsetEnv()))
