"""`CraftaxToLeraxEnv`: Craftax environments as lerax environments.

Skipped, with the reason, when Craftax is not installed
(`pip install 'lerax[craftax]'`; CI installs it). Craftax compiles slowly on a
CPU, so the checks share few compiled programs on Craftax-Classic-Symbolic.
References: Craftax itself (the non-resetting env reset and stepped with the
same keys and actions gives the same observations, rewards and `done`), and
hand-made episode ends: a time-out (`max_timesteps`) is truncation, where
Craftax says discount 0; a dead player is termination, also at the time limit.
The rollout's reset (the adapter's declared `ResetWhereDone` scheme, through
`auto_reset`) is checked world by world against resets with each env's key.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

craftax_env = pytest.importorskip(
    "craftax.craftax_env",
    reason="Craftax is not installed (pip install 'lerax[craftax]')",
)

from lerax.algorithm import PPO  # noqa: E402
from lerax.compatibility.craftax import CRAFTAX_IDS, CraftaxToLeraxEnv  # noqa: E402
from lerax.env import ResetWhereDone, auto_reset, check_env  # noqa: E402
from lerax.policy import MLPActorCriticPolicy  # noqa: E402
from lerax.space import Box, Discrete  # noqa: E402

# Minutes of CPU: left out of `pytest`, run by `.ci/run` as `pytest -m craftax`.
pytestmark = pytest.mark.craftax

NAME = "Craftax-Classic-Symbolic-v1"
FAST_COMPILE = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}


def fast_jit(fn):
    return eqx.filter_jit(fn, compiler_options=FAST_COMPILE)


@pytest.fixture(scope="module")
def env():
    return CraftaxToLeraxEnv(NAME, max_timesteps=3)


@pytest.mark.parametrize("name", CRAFTAX_IDS)
def test_spaces_and_reset_shapes_follow_craftax(name):
    env = CraftaxToLeraxEnv(name)
    raw = craftax_env.make_craftax_env_from_name(name, auto_reset=False)
    theirs = raw.observation_space(raw.default_params)
    assert env.action_space == Discrete(raw.num_actions)
    assert isinstance(env.observation_space, Box)
    assert env.observation_space.shape == tuple(theirs.shape)
    assert float(env.observation_space.low.min()) == float(np.min(theirs.low))
    assert float(env.observation_space.high.max()) == float(np.max(theirs.high))
    if "Classic" in name:
        # Traced, not compiled (the full game's world generation traces for
        # minutes on a CPU): the observation has the space's shape and dtype.
        _, obs, _ = jax.eval_shape(lambda k: env.reset(key=k), jax.random.key(0))
        assert obs.shape == env.observation_space.shape
        assert obs.dtype == jnp.float32


def test_steps_match_craftax_and_time_outs_are_truncations(env):
    raw = env.craftax_env
    params = env.params
    actions = jnp.array([1, 2, 3, 4], jnp.int32)

    @fast_jit
    def run(env, key):
        keys = jax.random.split(key, 5)
        # lerax's `reset` gives `initial` the first half of a split key; the
        # step key reaches `transition` as the first of four.
        state, obs0, _ = env.reset(key=keys[0])
        raw_obs0, raw_state = raw.reset_env(
            jax.random.key_data(jax.random.split(keys[0])[0]), params
        )

        def body(carry, xs):
            state, raw_state = carry
            action, k = xs
            state, obs, reward, terminated, truncated, _ = env.step(
                state, action, key=k
            )
            raw_obs, raw_state, raw_reward, raw_done, info = raw.step_env(
                jax.random.key_data(jax.random.split(k, 4)[0]),
                raw_state,
                action,
                params,
            )
            ours = (obs, reward, terminated, truncated)
            theirs = (raw_obs, raw_reward, raw_done, info["discount"])
            return (state, raw_state), (ours, theirs)

        (last, _), (ours, theirs) = jax.lax.scan(
            body, (state, raw_state), (actions, keys[1:])
        )
        # A dead player past the time limit: termination (the clock aside, the
        # game is over), not truncation.
        health = last.craftax_state.player_health
        dead = eqx.tree_at(
            lambda s: s.craftax_state,
            last,
            last.craftax_state.replace(player_health=jnp.full_like(health, -9)),
        )
        _, _, _, dead_terminated, dead_truncated, _ = env.step(
            dead, actions[0], key=keys[1]
        )
        return (obs0, raw_obs0), ours, theirs, (dead_terminated, dead_truncated)

    (obs0, raw_obs0), ours, theirs, dead = run(env, jax.random.key(0))
    np.testing.assert_array_equal(obs0, raw_obs0)
    obs, reward, terminated, truncated = ours
    raw_obs, raw_reward, raw_done, raw_discount = theirs
    np.testing.assert_array_equal(obs, raw_obs)
    np.testing.assert_array_equal(reward, raw_reward)
    # max_timesteps=3: Craftax is done from the third step on with discount 0
    # (a living player here: no death, no lava in 4 steps from the start).
    np.testing.assert_array_equal(raw_done, [False, False, True, True])
    np.testing.assert_array_equal(raw_discount, [1.0, 1.0, 0.0, 0.0])
    np.testing.assert_array_equal(truncated, [False, False, True, True])
    np.testing.assert_array_equal(terminated, [False, False, False, False])
    assert bool(dead[0]) and not bool(dead[1])


def test_rollout_resets_generate_worlds_only_where_done(env):
    # The adapter declares `ResetWhereDone(reset_pool_size)`; lerax's rollout
    # resets through `auto_reset`. Reference: `env.reset` with each env's own
    # key where done, the stepped state elsewhere, whatever the pool size
    # (more done than the pool holds included: Craftax_Baselines#11).
    assert env.reset_scheme == ResetWhereDone()
    pooled_env = CraftaxToLeraxEnv(NAME, max_timesteps=3, reset_pool_size=1)
    assert pooled_env.reset_scheme == ResetWhereDone(pool_size=1)
    num_envs = 3

    @fast_jit
    def run(env, pooled_env, key):
        keys = jax.random.split(key, num_envs)
        states, obs, _ = jax.vmap(lambda k: env.reset(key=k))(keys)
        # Advance every env one step so "untouched" is not "a fresh world".
        states, obs, *_ = jax.vmap(lambda s, k: env.step(s, jnp.int32(1), key=k))(
            states, keys
        )
        reset_keys = jax.random.split(jax.random.key(99), num_envs)

        def reset(env, done):
            return jax.vmap(lambda s, o, d, k: auto_reset(env, s, o, d, key=k))(
                states, obs, done, reset_keys
            )

        two = jnp.array([True, False, True])
        one = jnp.array([False, True, False])
        fresh = jax.vmap(lambda k: env.reset(key=k)[1])(reset_keys)
        return (
            obs,
            fresh,
            reset(env, two),
            reset(pooled_env, two),
            reset(pooled_env, one),
            reset(pooled_env, jnp.zeros(num_envs, bool)),
        )

    obs, fresh, full, overflow, pooled, none = run(env, pooled_env, jax.random.key(3))
    expected = np.stack([fresh[0], obs[1], fresh[2]])
    np.testing.assert_array_equal(full[1], expected)
    np.testing.assert_array_equal(full[0].craftax_state.timestep, [0, 1, 0])
    # Pool of 1, two done: each gets the world of its own key, none shared.
    np.testing.assert_array_equal(overflow[1], expected)
    assert not np.array_equal(overflow[1][0], overflow[1][2])
    np.testing.assert_array_equal(pooled[1], np.stack([obs[0], fresh[1], obs[2]]))
    np.testing.assert_array_equal(none[1], obs)
    np.testing.assert_array_equal(none[0].craftax_state.timestep, [1, 1, 1])
    with pytest.raises(ValueError, match="reset_pool_size must be a positive int"):
        CraftaxToLeraxEnv(NAME, reset_pool_size=0)


def test_check_env_passes(env):
    check_env(env)


def test_bad_names_and_params_are_refused():
    with pytest.raises(ValueError, match="did you mean Craftax-Classic-Symbolic-v1"):
        CraftaxToLeraxEnv("Craftax-Classic-Symbolic-v2")
    with pytest.raises(ValueError, match="no parameter"):
        CraftaxToLeraxEnv(NAME, max_time_steps=3)


def test_ppo_trains_under_vmap_over_seeds(env):
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algo = PPO(num_envs=2, num_steps=4, num_epochs=1, num_batches=1)
    keys = jax.random.split(jax.random.key(1), 2)
    trained = jax.vmap(lambda k: algo.learn(env, policy, 8, key=k))(keys)
    before = jax.tree.leaves(eqx.filter(policy, eqx.is_inexact_array))
    after = jax.tree.leaves(eqx.filter(trained, eqx.is_inexact_array))
    for b, a in zip(before, after, strict=True):
        assert a.shape == (2, *b.shape)
        assert np.isfinite(np.asarray(a)).all()
    # One update per seed: the seeds' policies moved, and differently.
    assert any(not np.allclose(a[0], b) for a, b in zip(after, before, strict=True))
    assert any(not np.allclose(a[0], a[1]) for a in after)
