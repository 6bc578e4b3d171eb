"""`lerax.env.check_env`: each deliberate mistake in a small env is named.

`Toy` is a correct three-cell walk whose `flaw` field switches on exactly one
mistake; each test checks that the checker's report names that mistake (and
only reports problems for a flawed env, never for the correct one).
"""

from __future__ import annotations

import random

import equinox as eqx
import gymnax
import jax
import jax.numpy as jnp
import pytest

from helpers import ChainEnv, PointEnv
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.env import (
    AbstractEnv,
    AbstractEnvState,
    ClipAction,
    EnvCheckError,
    TimeLimit,
    check_env,
)
from lerax.space import Box, Discrete
from probe_envs import ProbeEnv


class ToyState(AbstractEnvState):
    position: jax.Array
    time: jax.Array


class Toy(AbstractEnv):
    """Walk right on cells 0..2 (terminates at 2); `flaw` breaks one rule."""

    flaw: str = eqx.field(static=True, default="")
    name: str = eqx.field(static=True, default="Toy")

    @property
    def action_space(self) -> Discrete:
        return Discrete(2)

    @property
    def observation_space(self) -> Box:
        return Box(0.0, 2.0, shape=(1,))

    def initial(self, *, key):
        return ToyState(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

    def transition(self, state, action, *, key):
        position = jnp.clip(state.position + action, 0, 2)
        if self.flaw == "carry_dtype":
            position = position.astype(jnp.float32)
        if self.flaw == "python_if" and position > 1:  # fails under jit
            position = position - 1
        return ToyState(position, state.time + 1)

    def observation(self, state, *, key):
        obs = state.position[None].astype(jnp.float32)
        if self.flaw == "obs_shape":
            return jnp.concatenate([obs, obs])
        if self.flaw == "obs_outside":
            return obs + 5.0
        if self.flaw == "obs_dtype":
            return state.position[None]
        return obs

    def reward(self, state, action, next_state, *, key):
        if self.flaw == "nondeterministic":
            return jnp.float32(random.random())
        if self.flaw == "reward_vector":
            return jnp.ones(2, jnp.float32)
        return jnp.float32(next_state.position == 2)

    def terminal(self, state, *, key):
        done = state.position == 2
        if self.flaw in ("float_terminated", "two_flaws"):
            return done.astype(jnp.float32)
        return done

    def truncate(self, state):
        return state.time >= 10

    def action_mask(self, state, *, key):
        if self.flaw == "mask_shape":
            return jnp.ones(3, bool)
        if self.flaw == "mask_dtype":
            return jnp.ones(2, jnp.int32)
        if self.flaw == "mask_empty":
            return jnp.zeros(2, bool)
        return jnp.stack([state.position > 0, jnp.asarray(True)])


def problems_of(env) -> list[str]:
    with pytest.raises(EnvCheckError) as info:
        check_env(env, key=jax.random.key(3))
    assert len(info.value.problems) >= 1
    assert str(len(info.value.problems)) in str(info.value)
    return info.value.problems


def test_a_correct_env_with_a_mask_passes():
    check_env(Toy(), key=jax.random.key(3))


@pytest.mark.parametrize(
    "env",
    [
        ChainEnv(),
        ChainEnv(use_action_mask=True),
        PointEnv(),
        ClipAction(PointEnv()),
        TimeLimit(ChainEnv(max_steps=50), max_episode_steps=4),
        ProbeEnv(2),
        GymnaxToLeraxEnv.from_name("CartPole-v1"),
    ],
    ids=lambda env: type(env).__name__,
)
def test_bundled_and_test_envs_pass(env):
    check_env(env)


@pytest.mark.parametrize(
    "flaw, words",
    [
        ("obs_shape", ["observation has shape (2,)", "expects shape (1,)"]),
        ("obs_outside", ["observation is [5.0]", "outside"]),
        ("obs_dtype", ["observation has dtype int32", "float32"]),
        ("float_terminated", ["terminated has shape () and dtype float32", "bool"]),
        ("reward_vector", ["reward has shape (2,)", "scalar float"]),
        ("nondeterministic", ["step is not deterministic"]),
        ("mask_shape", ["mask has shape (3,)", "Discrete(2)"]),
        ("mask_dtype", ["mask has dtype int32", "bool"]),
        ("mask_empty", ["allows no action"]),
        ("carry_dtype", ["state returned by step differs", "float32"]),
        ("python_if", ["step fails under jax.jit"]),
    ],
)
def test_each_flaw_is_named(flaw, words):
    problems = problems_of(Toy(flaw=flaw))
    text = "\n".join(problems)
    for word in words:
        assert word in text, (word, problems)


def test_every_problem_is_listed_not_only_the_first():
    # The observation is outside the space AND terminated is a float.
    problems = problems_of(Toy(flaw="two_flaws"))
    text = "\n".join(problems)
    assert "terminated has shape () and dtype float32" in text
    assert len(problems) == 1  # exactly that one: nothing spurious

    class TwoFlaws(AbstractEnv):
        name: str = "TwoFlaws"
        action_space: Discrete = Discrete(2)
        observation_space: Box = Box(0.0, 1.0, shape=(3,))

        def initial(self, *, key):
            return ToyState(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

        def transition(self, state, action, *, key):
            return ToyState(state.position, state.time + 1)

        def observation(self, state, *, key):
            return jnp.zeros(2)  # wrong shape

        def reward(self, state, action, next_state, *, key):
            return jnp.float32(0.0)

        def terminal(self, state, *, key):
            return jnp.float32(0.0)  # not a bool

        def truncate(self, state):
            return state.time >= 3

    problems = problems_of(TwoFlaws())
    text = "\n".join(problems)
    assert "reset's observation has shape (2,)" in text
    assert "terminated has shape () and dtype float32" in text


def test_a_mutating_step_is_reported():
    class Mutating(AbstractEnv):
        log: list
        name: str = "Mutating"
        action_space: Discrete = Discrete(2)
        observation_space: Box = Box(0.0, 100.0, shape=(1,))

        def initial(self, *, key):
            return ToyState(jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))

        def transition(self, state, action, *, key):
            self.log.append(1)  # Python-side state: not allowed
            return ToyState(state.position, state.time + 1)

        def observation(self, state, *, key):
            return state.time[None].astype(jnp.float32)

        def reward(self, state, action, next_state, *, key):
            return jnp.float32(0.0)

        def terminal(self, state, *, key):
            return jnp.asarray(False)

        def truncate(self, state):
            return state.time >= 5

    problems = problems_of(Mutating(log=[]))
    assert any("changed its inputs or the environment in place" in p for p in problems)


def test_raw_gymnax_env_is_rejected_with_the_adapter_named():
    env, _ = gymnax.make("CartPole-v1")
    with pytest.raises(TypeError, match="GymnaxToLeraxEnv"):
        check_env(env)


def test_a_non_env_is_rejected_with_a_type_error():
    with pytest.raises(TypeError, match="check_env: env must be a lerax"):
        check_env("CartPole-v1")


def test_raw_gymnasium_env_is_rejected_with_the_adapter_named():
    gymnasium = pytest.importorskip("gymnasium")
    with pytest.raises(TypeError, match="GymnasiumToLeraxEnv"):
        check_env(gymnasium.make("CartPole-v1"))
