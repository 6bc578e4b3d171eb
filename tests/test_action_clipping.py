"""Box actions: the buffer keeps the raw sample, only the env's copy is clipped."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Bool, Float, Int, Key

from lerax.algorithm import A2C, PPO
from lerax.callback import EmptyCallback
from lerax.env import AbstractEnv, AbstractEnvState
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy
from lerax.space import Box

LOW, HIGH = -1.0, 0.5


class EchoState(AbstractEnvState):
    """The last action the env received, and the time."""

    received: Float[Array, "1"]
    time: Int[Array, ""]


class EchoActionEnv(AbstractEnv[EchoState, Float[Array, "1"], Float[Array, "1"], None]):
    """Observes the action it received; rewards 1 per action outside the bounds.

    The action space is `Box(-1, 0.5, (1,))`; episodes are truncated after
    `max_steps` steps.
    """

    max_steps: int = eqx.field(static=True, default=4)
    name: str = eqx.field(static=True, default="EchoAction")

    @property
    def action_space(self) -> Box:
        return Box(LOW, HIGH, shape=(1,))

    @property
    def observation_space(self) -> Box:
        return Box(-jnp.inf, jnp.inf, shape=(1,))

    def initial(self, *, key: Key[Array, ""]) -> EchoState:
        return EchoState(received=jnp.zeros(1), time=jnp.zeros((), jnp.int32))

    def transition(self, state, action, *, key):
        return EchoState(received=jnp.asarray(action, jnp.float32), time=state.time + 1)

    def observation(self, state, *, key):
        return state.received

    def reward(self, state, action, next_state, *, key) -> Float[Array, ""]:
        a = jnp.asarray(action)[0]
        return ((a < LOW) | (a > HIGH)).astype(jnp.float32)

    def terminal(self, state, *, key) -> Bool[Array, ""]:
        return jnp.asarray(False)

    def truncate(self, state) -> Bool[Array, ""]:
        return state.time >= self.max_steps


@pytest.fixture(scope="module")
def env():
    return EchoActionEnv()


@pytest.fixture(scope="module")
def wide_policy(env):
    # std = e^1.5 ~ 4.5: most raw samples leave [-1, 0.5].
    return MLPActorCriticPolicy(
        env=env, width_size=4, depth=1, log_std_init=1.5, key=jax.random.key(0)
    )


def collect(algo, env, policy):
    callback = EmptyCallback()
    state = algo.reset(env, policy, key=jax.random.key(1), callback=callback)
    _, buffer = eqx.filter_jit(algo.collect_rollout)(
        env, policy, state.step_state, callback, jax.random.key(2)
    )
    return buffer


def normal_log_prob(x, mean, log_std):
    x, mean = np.asarray(x, np.float64), np.asarray(mean, np.float64)
    std = np.exp(np.float64(log_std))
    return (-0.5 * ((x - mean) / std) ** 2 - np.log(std) - 0.5 * np.log(2 * np.pi))[
        ..., 0
    ]


def ppo(**kwargs):
    return PPO(num_batches=2, num_epochs=1, **kwargs)


@pytest.mark.parametrize("make", [ppo, A2C], ids=["PPO", "A2C"])
def test_env_gets_clipped_actions_while_buffer_keeps_the_raw_sample(
    make, env, wide_policy
):
    algo = make(num_envs=2, num_steps=8)
    assert algo.clip_actions  # the default, as in Stable-Baselines3
    buffer = collect(algo, env, wide_policy)
    raw = np.asarray(buffer.actions)
    received = np.asarray(buffer.next_observations)
    assert ((raw < LOW) | (raw > HIGH)).mean() > 0.3
    np.testing.assert_array_equal(received, np.clip(raw, LOW, HIGH))
    np.testing.assert_array_equal(np.asarray(buffer.rewards), 0.0)
    # The stored log-probability is the Gaussian density of the raw sample.
    obs = np.asarray(buffer.observations).reshape(-1, 1)
    means = np.asarray(jax.vmap(wide_policy.actor)(jnp.asarray(obs)))
    want = normal_log_prob(raw.reshape(-1, 1), means, 1.5)
    np.testing.assert_allclose(
        np.asarray(buffer.log_probs).reshape(-1), want, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("make", [ppo, A2C], ids=["PPO", "A2C"])
def test_clip_actions_false_sends_the_raw_sample(make, env, wide_policy):
    buffer = collect(
        make(num_envs=2, num_steps=8, clip_actions=False), env, wide_policy
    )
    raw = np.asarray(buffer.actions)
    np.testing.assert_array_equal(np.asarray(buffer.next_observations), raw)
    out_of_bounds = ((raw < LOW) | (raw > HIGH)).astype(np.float32)[..., 0]
    np.testing.assert_array_equal(np.asarray(buffer.rewards), out_of_bounds)
    assert out_of_bounds.mean() > 0.3


def test_evaluate_policy_clips_by_default(env, wide_policy):
    # The env pays 1 per out-of-bounds action, so a clipped run earns nothing.
    # The actor's mean is moved far outside the bounds so the mode leaves too.
    far = eqx.tree_at(lambda p: p.actor.layers[-1].bias, wide_policy, jnp.array([5.0]))
    key = jax.random.key(3)
    for deterministic in (True, False):
        clipped = evaluate_policy(
            env, far, key=key, num_episodes=4, deterministic=deterministic
        )
        np.testing.assert_array_equal(np.asarray(clipped.returns), 0.0)
        raw = evaluate_policy(
            env,
            far,
            key=key,
            num_episodes=4,
            deterministic=deterministic,
            clip_actions=False,
        )
        if deterministic:
            # The mode (about 5) is out of bounds at each of the 4 steps.
            np.testing.assert_array_equal(np.asarray(raw.returns), 4.0)
        else:
            assert np.asarray(raw.returns).sum() > 0
