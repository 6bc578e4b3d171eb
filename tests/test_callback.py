"""Callbacks carry their state through the compiled run and see the right data."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jaxtyping import Array, Int

from helpers import ChainEnv
from lerax.algorithm import PPO
from lerax.callback import (
    AbstractCallback,
    AbstractCallbackState,
    AbstractCallbackStepState,
    EpisodeStatisticsCallback,
    LogHistoryCallback,
    ProgressCallback,
)
from lerax.callback._progress import progress_columns, progress_lines
from lerax.env import TransformReward
from lerax.policy import MLPActorCriticPolicy

NUM_ENVS, NUM_STEPS, ITERATIONS = 2, 10, 3


@pytest.fixture(scope="module")
def env():
    # Never terminates (the goal is 100 cells away); truncated every 5 steps; every
    # reward is 1. So each env completes exactly 2 episodes of return 5 per
    # 10-step iteration, whatever the policy does.
    return TransformReward(ChainEnv(length=100, max_steps=5), lambda r: r * 0 + 1)


@pytest.fixture(scope="module")
def policy(env):
    return MLPActorCriticPolicy(env=env, key=jax.random.key(0))


@pytest.fixture(scope="module")
def algo():
    return PPO(num_envs=NUM_ENVS, num_steps=NUM_STEPS, num_epochs=1, num_batches=2)


class StepCountState(AbstractCallbackState):
    totals: Int[Array, " num_iterations"]


class StepCountStepState(AbstractCallbackStepState):
    steps: Int[Array, ""]


class StepCounter(AbstractCallback):
    """A user-written callback: counts steps per env, records totals per iteration."""

    def reset(self, ctx, *, key):
        return StepCountState(totals=jnp.zeros(ctx.num_iterations, jnp.int32))

    def step_reset(self, *, key):
        return StepCountStepState(steps=jnp.zeros((), jnp.int32))

    def on_step(self, ctx, *, key):
        return StepCountStepState(steps=ctx.state.steps + 1)

    def on_iteration(self, ctx, *, key):
        total = jnp.sum(ctx.step_states.steps)
        return StepCountState(totals=ctx.state.totals.at[ctx.iteration].set(total))


def test_episode_statistics_records_returns_into_state(env, policy, algo):
    state = algo.learn_state(
        env,
        policy,
        ITERATIONS * NUM_ENVS * NUM_STEPS,
        key=jax.random.key(0),
        callback=EpisodeStatisticsCallback(),
    )
    stats = state.callback_state
    np.testing.assert_array_equal(stats.mean_return, [5.0] * ITERATIONS)
    np.testing.assert_array_equal(stats.mean_length, [5.0] * ITERATIONS)
    np.testing.assert_array_equal(stats.episodes, [2 * NUM_ENVS] * ITERATIONS)


def test_list_of_callbacks_each_keep_their_own_state(env, policy, algo, capfd):
    state = algo.learn_state(
        env,
        policy,
        ITERATIONS * NUM_ENVS * NUM_STEPS,
        key=jax.random.key(0),
        callback=[StepCounter(), EpisodeStatisticsCallback(), ProgressCallback()],
    )
    counter, stats, _ = state.callback_state.states
    # Step counts are cumulative: 20, 40, 60 steps over both envs.
    np.testing.assert_array_equal(
        counter.totals, NUM_ENVS * NUM_STEPS * np.arange(1, ITERATIONS + 1)
    )
    np.testing.assert_array_equal(stats.mean_return, [5.0] * ITERATIONS)
    lines = capfd.readouterr().out.splitlines()
    # "compiling..." once, from Python while tracing, then a header and a row
    # per iteration (ITERATIONS is small: every row prints).
    assert lines[0] == "compiling..."
    assert lines[1].split() == [
        "iter",
        "steps",
        "return",
        "approx_kl",
        "clip_fraction",
        "explained_variance",
        "entropy_loss",
        "value_loss",
    ]
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == ITERATIONS
    for i, row in enumerate(rows, start=1):
        assert row[:3] == [f"{i}/{ITERATIONS}", f"{20 * i}", "5"]
        assert len(row) == 8
    assert max(len(line) for line in lines) <= 100


def test_episode_statistics_under_vmap_over_seeds(env, policy, algo):
    def run(key):
        return algo.learn_state(
            env,
            policy,
            ITERATIONS * NUM_ENVS * NUM_STEPS,
            key=key,
            callback=EpisodeStatisticsCallback(),
        ).callback_state.mean_return

    returns = jax.vmap(run)(jax.random.split(jax.random.key(1), 3))
    np.testing.assert_array_equal(returns, np.full((3, ITERATIONS), 5.0))


def test_progress_lines_by_hand():
    log = {
        "approx_kl": 0.0123456,
        "value_loss": 16.25,
        "total_loss": 8.0,
        "nonfinite_loss": 0.0,
        "nonfinite_gradient": 0.0,
    }
    columns = progress_columns(tuple(log), 64, 131072)
    assert [name for name, _ in columns] == [
        "iter",
        "steps",
        "return",
        "approx_kl",
        "value_loss",
        "total_loss",
    ]
    lines = progress_lines(
        columns, 3, 64, 6144, np.nan, log, header=True, diagnostics=True
    )
    assert lines == [
        " iter    steps     return  approx_kl  value_loss  total_loss",
        " 3/64    6,144          -    0.01235       16.25           8",
    ]
    # Diagnostics only when not zero, on a line of their own.
    bad = dict(log, nonfinite_gradient=2.0)
    lines = progress_lines(
        columns, 3, 64, 6144, 20.5, bad, header=False, diagnostics=True
    )
    assert lines == [
        " 3/64    6,144       20.5    0.01235       16.25           8",
        "  iteration 3: nonfinite_gradient 2",
    ]
    # Columns that do not fit 100 characters are left out, in priority order.
    wide = {f"entry_number_{i:02d}": 1.0 for i in range(10)}
    columns = progress_columns(tuple(wide), 128, 2**17)
    width = len(
        progress_lines(
            columns, 1, 128, 1024, 1.0, wide, header=True, diagnostics=False
        )[0]
    )
    assert width <= 100 < width + 2 + len("entry_number_00")
    assert [n for n, _ in columns][3:] == [f"entry_number_{i:02d}" for i in range(4)]


def test_progress_callback_validates_its_arguments():
    with pytest.raises(ValueError, match="every"):
        ProgressCallback(every=0)
    with pytest.raises(ValueError, match="min_interval"):
        ProgressCallback(min_interval=-1.0)


def test_empty_callback_adds_no_state(env, policy, algo):
    state = algo.learn_state(env, policy, NUM_ENVS * NUM_STEPS, key=jax.random.key(0))
    assert jax.tree.leaves(state.callback_state) == []
    assert (
        jax.tree.leaves(eqx.filter(state.step_state.callback_state, eqx.is_array)) == []
    )


HOST_LOG: list[tuple[int, dict[str, float]]] = []


class HostLogRecorder(AbstractCallback):
    """A reference path for the log: copies it to a host list by host callback."""

    def reset(self, ctx, *, key):
        return StepCountState(totals=jnp.zeros(1, jnp.int32))

    def step_reset(self, *, key):
        return StepCountStepState(steps=jnp.zeros((), jnp.int32))

    def on_step(self, ctx, *, key):
        return ctx.state

    def on_iteration(self, ctx, *, key):
        jax.debug.callback(
            lambda i, log: HOST_LOG.append(
                (int(i), {k: float(v) for k, v in log.items()})
            ),
            ctx.iteration,
            ctx.log,
        )
        return ctx.state


LOG_KEYS = ("policy_loss", "value_loss", "total_loss", "approx_kl")


def test_log_history_records_every_iteration_of_the_log(env, policy, algo):
    HOST_LOG.clear()
    state = algo.learn_state(
        env,
        policy,
        ITERATIONS * NUM_ENVS * NUM_STEPS,
        key=jax.random.key(0),
        callback=[LogHistoryCallback(LOG_KEYS), HostLogRecorder()],
    )
    history = state.callback_state.states[0].history
    assert sorted(history) == sorted(LOG_KEYS)
    assert sorted(i for i, _ in HOST_LOG) == list(range(ITERATIONS))
    by_iteration = dict(HOST_LOG)
    for k in LOG_KEYS:
        assert history[k].shape == (ITERATIONS,)
        np.testing.assert_array_equal(
            np.asarray(history[k]),
            np.array([by_iteration[i][k] for i in range(ITERATIONS)], np.float32),
        )
    # The log is a mean over minibatches, and the loss is linear in its parts:
    # total = policy + value_loss_coefficient * value (entropy coefficient 0).
    np.testing.assert_allclose(
        history["total_loss"],
        history["policy_loss"] + 0.5 * history["value_loss"],
        rtol=1e-5,
        atol=1e-6,
    )
    assert np.all(np.asarray(history["approx_kl"]) >= 0)


def test_log_history_under_vmap_over_seeds(env, policy, algo):
    def run(key):
        return algo.learn_state(
            env,
            policy,
            ITERATIONS * NUM_ENVS * NUM_STEPS,
            key=key,
            callback=LogHistoryCallback("value_loss"),
        ).callback_state.history["value_loss"]

    keys = jax.random.split(jax.random.key(3), 2)
    batched = jax.vmap(run)(keys)
    assert batched.shape == (2, ITERATIONS)
    np.testing.assert_allclose(batched[1], run(keys[1]), rtol=1e-5)
    assert not np.allclose(batched[0], batched[1])


def test_log_history_and_progress_reject_unknown_entries(env, policy, algo):
    for callback in (
        LogHistoryCallback(("approx_kl", "nope")),
        ProgressCallback(keys=("nope",)),
    ):
        with pytest.raises(KeyError, match="no entry \\['nope'\\].*approx_kl"):
            algo.learn_state(
                env,
                policy,
                NUM_ENVS * NUM_STEPS,
                key=jax.random.key(0),
                callback=callback,
            )
    with pytest.raises(ValueError, match="at least one"):
        LogHistoryCallback(())
    with pytest.raises(ValueError, match="duplicate"):
        LogHistoryCallback(("approx_kl", "approx_kl"))
