"""The JaxMARL adapter against JaxMARL itself on MPE simple_spread: the same
observations and rewards step by step, rewards recomputed by hand from the
positions, the done flag as a team termination at the step JaxMARL sets it, and
the pre-reset observation kept where JaxMARL's `step` has already reset.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

jaxmarl = pytest.importorskip("jaxmarl", reason="JaxMARL is not installed")

from lerax.compatibility.jaxmarl import JaxMARLToLeraxEnv  # noqa: E402
from lerax.env import AgentBatchEnv  # noqa: E402
from lerax.space import Box, Discrete  # noqa: E402

NAME = "MPE_simple_spread_v3"


@pytest.fixture(scope="module")
def env():
    return JaxMARLToLeraxEnv.from_name(NAME)


def _hand_rewards(p_pos, num_agents, rad=0.15, local_ratio=0.5):
    # simple_spread: each landmark's distance to its nearest agent (shared),
    # minus 1 per other agent overlapping this one (local).
    agents, landmarks = p_pos[:num_agents], p_pos[num_agents:]
    distances = np.linalg.norm(agents[:, None] - landmarks[None], axis=-1)
    shared = -distances.min(axis=0).sum()
    gaps = np.linalg.norm(agents[:, None] - agents[None], axis=-1)
    collisions = ((gaps < 2 * rad) & ~np.eye(num_agents, dtype=bool)).sum(axis=1)
    return local_ratio * -collisions + (1 - local_ratio) * shared


def test_spaces_and_global_state(env):
    assert env.agents == ("agent_0", "agent_1", "agent_2")
    assert env.observation_spaces["agent_1"] == Box(-np.inf, np.inf, shape=(18,))
    assert env.action_spaces["agent_2"] == Discrete(5)
    assert env.state_space.shape == (54,)
    assert not env.has_action_masks  # MPE does not implement get_avail_actions
    state, observations, _ = env.reset(key=jax.random.key(0))
    assert env.action_masks(state, key=jax.random.key(0)) is None
    world = env.global_state(state, key=jax.random.key(0))
    np.testing.assert_array_equal(
        world, np.concatenate([observations[a] for a in env.agents])
    )


def test_steps_match_jaxmarl_and_keep_the_pre_reset_observation(env):
    raw = env.jaxmarl_env
    key = jax.random.key(7)
    state, observations, _ = env.reset(key=key)
    # `reset` draws the initial state with the first half of its key.
    raw_obs, raw_state = raw.reset(jax.random.split(key)[0])
    for a in env.agents:
        np.testing.assert_array_equal(observations[a], raw_obs[a])
    step = eqx.filter_jit(env.step)
    raw_step = jax.jit(raw.step)
    rng = np.random.default_rng(0)
    done_at = None
    for t in range(raw.max_steps + 1):
        actions = {a: jnp.int32(rng.integers(5)) for a in env.agents}
        step_key = jax.random.fold_in(key, t)
        state, observations, rewards, terminated, truncated, _ = step(
            state, actions, key=step_key
        )
        # JaxMARL's own step (with its auto-reset) from the same state.
        raw_obs_next, raw_state_next, raw_rewards, dones, _ = raw_step(
            step_key, raw_state, actions
        )
        hand = _hand_rewards(np.asarray(state.env_state.p_pos), len(env.agents))
        for i, a in enumerate(env.agents):
            np.testing.assert_allclose(rewards[a], raw_rewards[a], rtol=1e-6)
            np.testing.assert_allclose(rewards[a], hand[i], rtol=1e-5, atol=1e-6)
        assert bool(terminated) == bool(dones["__all__"])
        assert not bool(truncated)
        if bool(dones["__all__"]):
            done_at = t
            # JaxMARL has already reset; the adapter keeps the last observation.
            # (MPE is deterministic: no key dependence.)
            assert not np.allclose(observations["agent_0"], raw_obs_next["agent_0"])
            last, *_ = raw.step_env(step_key, raw_state, actions)
            for a in env.agents:
                np.testing.assert_allclose(observations[a], last[a], rtol=1e-6)
            break
        for a in env.agents:
            np.testing.assert_allclose(observations[a], raw_obs_next[a], rtol=1e-6)
        raw_state = raw_state_next
    # simple_spread's flag is set by the step taken at step count max_steps.
    assert done_at == raw.max_steps


def test_end_as_truncation_and_agent_batch(env):
    truncating = JaxMARLToLeraxEnv.from_name(NAME, end_as="truncation")
    state, _, _ = truncating.reset(key=jax.random.key(0))
    state = eqx.tree_at(lambda s: s.done, state, jnp.asarray(True))
    assert bool(truncating.truncate(state))
    assert not bool(truncating.terminal(state, key=jax.random.key(0)))
    batch = AgentBatchEnv(env, central_critic=True)
    _, stacked, _ = batch.reset(key=jax.random.key(0))
    _, observations, _ = env.reset(key=jax.random.key(0))
    # Agent i's row: its observation then its one-hot id; the state likewise.
    for i, a in enumerate(env.agents):
        np.testing.assert_array_equal(stacked["observation"][i, :18], observations[a])
        np.testing.assert_array_equal(stacked["observation"][i, 18:], np.eye(3)[i])
        np.testing.assert_array_equal(stacked["state"][i, 54:], np.eye(3)[i])
    with pytest.raises(ValueError, match="end_as"):
        JaxMARLToLeraxEnv.from_name(NAME, end_as="done")
    with pytest.raises(ValueError, match="unknown JaxMARL environment"):
        JaxMARLToLeraxEnv.from_name("MPE_simple_spred_v3")
