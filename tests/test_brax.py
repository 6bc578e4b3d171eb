"""`BraxToLeraxEnv`: Brax environments as lerax environments.

Skipped, with the reason, when Brax is not installed (`pip install lerax[brax]`).
The reference is Brax itself: the adapter's observations and rewards must be
those of the raw Brax env reset with the key's data and stepped with the same
actions; termination (Brax's `done`, a fallen pendulum) and truncation (the
episode limit) are checked on the inverted pendulum by its rules. Brax programs
are slow to compile, so everything runs in two compiled functions.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

brax_envs = pytest.importorskip(
    "brax.envs", reason="Brax is not installed (pip install lerax[brax])"
)

from lerax.compatibility.brax import BraxToLeraxEnv  # noqa: E402

FAST_COMPILE = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}
NAMES = ("inverted_pendulum", "hopper", "ant")
NUM_ENVS = 2


@pytest.fixture(scope="module")
def envs():
    # hopper and ant on the spring backend: the same API, half the compile time.
    return {
        name: BraxToLeraxEnv(name, backend=None if name == NAMES[0] else "spring")
        for name in NAMES
    }


def test_reset_and_step_under_jit_and_vmap_match_brax(envs):
    def run(envs, key):
        out = {}
        for name, env in envs.items():
            keys = jax.random.split(jax.random.fold_in(key, len(name)), NUM_ENVS)
            actions = jax.random.uniform(
                key, (NUM_ENVS, env.action_space.shape[0]), minval=-1, maxval=1
            )

            def episode(k, a, env=env):
                state, obs0, _ = env.reset(key=k)
                state, obs1, reward, terminated, truncated, _ = env.step(
                    state, a, key=k
                )
                return (obs0, obs1), reward, (terminated, truncated)

            def reference(k, a, raw=env.brax_env):
                # `reset` gives `initial` the first half of a split key.
                s0 = raw.reset(jax.random.key_data(jax.random.split(k)[0]))
                s1 = raw.step(s0, a)
                return (s0.obs, s1.obs), s1.reward

            ours = jax.vmap(episode)(keys, actions)
            theirs = jax.vmap(reference)(keys, actions)
            out[name] = (ours, theirs)
        return out

    results = eqx.filter_jit(run, compiler_options=FAST_COMPILE)(
        envs, jax.random.key(0)
    )
    for name, ((obs, rewards, flags), (ref_obs, ref_rewards)) in results.items():
        env = envs[name]
        for o, ref in zip(obs, ref_obs, strict=True):
            assert o.shape == (NUM_ENVS, *env.observation_space.shape)
            assert o.dtype == jnp.float32
            np.testing.assert_allclose(o, ref, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(rewards, ref_rewards, rtol=1e-6, atol=1e-6)
        assert np.isfinite(np.asarray(obs)).all()
        # One step from a reset: nothing ends (episode_length is 1000).
        assert not np.asarray(flags).any(), name


def test_termination_and_truncation_stay_distinct(envs):
    falls = envs["inverted_pendulum"]
    limited = BraxToLeraxEnv(falls.brax_env, episode_length=3)

    def play(env, action, steps):
        state, _, _ = env.reset(key=jax.random.key(1))

        def body(state, _):
            state, _, reward, terminated, truncated, _ = env.step(
                state, action, key=jax.random.key(2)
            )
            return state, (reward, terminated, truncated)

        return jax.lax.scan(body, state, length=steps)[1]

    @eqx.filter_jit
    def both(falls, limited):
        return play(falls, jnp.ones(1), 20), play(limited, jnp.zeros(1), 3)

    (rewards, terminated, truncated), (_, term3, trunc3) = both(falls, limited)
    # Pushing one way tips the pole past 0.2 rad: termination, not truncation.
    first = int(np.argmax(terminated))
    assert terminated[first]
    assert not truncated.any()
    np.testing.assert_array_equal(rewards[: first + 1], 1.0)  # +1 per step alive
    # Three unforced steps with episode_length=3: the pole, reset near upright,
    # stays up; truncation at the third step, not before.
    np.testing.assert_array_equal(trunc3, [False, False, True])
    assert not term3.any()


def test_bad_arguments_are_refused(envs):
    with pytest.raises(ValueError, match="unknown Brax environment 'nope'"):
        BraxToLeraxEnv("nope")
    with pytest.raises(ValueError, match="episode_length must be a positive int"):
        BraxToLeraxEnv("inverted_pendulum", episode_length=0)
    wrapped = brax_envs.create("inverted_pendulum", episode_length=10)
    with pytest.raises(ValueError, match="wrapped Brax env"):
        BraxToLeraxEnv(wrapped)
    with pytest.raises(TypeError, match="Brax env name or a"):
        BraxToLeraxEnv(3)


def test_check_env_passes_and_ppo_trains_under_vmap_over_seeds():
    # The adapter contract (`check_env`, the critic observation included) and
    # a vmapped learn over two seeds on the cheapest Brax env, with a
    # privileged critic on the full physics state; a short episode limit so
    # truncations happen.
    from lerax.algorithm import PPO
    from lerax.env import check_env
    from lerax.policy import MLPPrivilegedCriticPolicy

    env = BraxToLeraxEnv("inverted_pendulum", episode_length=3, full_state_critic=True)
    check_env(env)

    # The critic observation is Brax's pipeline state (q, qd), read directly.
    def critic_and_state(key):
        pipeline = env.initial(key=key).brax_state.pipeline_state
        state = env.initial(key=key)
        return env.critic_observation(state, key=key), (pipeline.q, pipeline.qd)

    critic, (q, qd) = jax.jit(critic_and_state)(jax.random.key(2))
    np.testing.assert_array_equal(critic, np.concatenate([q, qd]))
    assert env.critic_observation_space.shape == (
        env.brax_env.sys.q_size() + env.brax_env.sys.qd_size(),
    )
    assert BraxToLeraxEnv("inverted_pendulum").critic_observation_space is None
    policy = MLPPrivilegedCriticPolicy(env, key=jax.random.key(0))
    algo = PPO(num_envs=2, num_steps=4, num_epochs=1, num_batches=1)
    keys = jax.random.split(jax.random.key(1), 2)
    trained = jax.vmap(lambda k: algo.learn(env, policy, 8, key=k))(keys)
    before = jax.tree.leaves(eqx.filter(policy, eqx.is_inexact_array))
    after = jax.tree.leaves(eqx.filter(trained, eqx.is_inexact_array))
    for b, a in zip(before, after, strict=True):
        assert a.shape == (2, *b.shape)
        assert np.isfinite(np.asarray(a)).all()
    # One update per seed, different per seed.
    assert any(not np.allclose(a[0], a[1]) for a in after)
