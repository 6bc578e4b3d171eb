"""Population-based training (`lerax.pbt`) and curricula (`learn_with_curriculum`).

The exploit-and-explore step is checked against a NumPy reference on scripted
fitnesses (given the same random draws); one small PPO population is trained
once per module and checked for bit-for-bit copies at an exploit step, range,
lineage, exact resume (in memory and through a file) and no recompilation; A2C
runs under `jax.vmap` over keys against unbatched runs. A curriculum's
parameter sequence is checked against its schedule.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lerax
from lerax.algorithm import A2C, PPO
from lerax.callback import AbstractLoggingBackend, LoggingCallback
from lerax.checkpoint import Checkpointer
from lerax.compatibility.gymnax import GymnaxToLeraxEnv
from lerax.policy import MLPActorCriticPolicy
from lerax.scale import (
    CurriculumContext,
    DomainRandomization,
    PerformanceCurriculum,
    RandomizeOnReset,
    ScheduledCurriculum,
    learn_with_curriculum,
    pbt,
)
from lerax.scale._pbt import _Search, exploit_draws, exploit_explore

ALGO = PPO(num_envs=2, num_steps=8, num_epochs=1, num_batches=1)
SEARCH = {"learning_rate": (1e-4, 1e-2), "entropy_loss_coefficient": (0.0, 0.05)}
K, INTERVAL, INTERVALS = 4, 2, 3
TOTAL = INTERVAL * INTERVALS * 16
SCRIPT = Path(__file__).parent / "scripts" / "pbt_devices.py"


class RecordingBackend(AbstractLoggingBackend):
    """Keeps every row a `LoggingCallback` writes."""

    def __init__(self):
        self.rows = []

    def start(self, hyperparameters):
        del hyperparameters

    def write(self, rows, columns):
        self.rows.extend(dict(r) for r in rows)

    def close(self):
        pass


@contextlib.contextmanager
def count_compiles():
    events = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(duration)

    jax.monitoring.register_event_duration_secs_listener(listener)
    try:
        yield events
    finally:
        jax.monitoring.unregister_event_duration_listener(listener)


def arrays(tree) -> list[np.ndarray]:
    return [
        np.asarray(
            jax.random.key_data(x)
            if jnp.issubdtype(x.dtype, jax.dtypes.prng_key)
            else x
        )
        for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))
    ]


def take(tree, k):
    return [x[k] for x in arrays(tree)]


@pytest.fixture(scope="module")
def env():
    return GymnaxToLeraxEnv.from_name("CartPole-v1")


@pytest.fixture(scope="module")
def runs(env, tmp_path_factory):
    # Every run logs (one recording backend each) and checkpoints (one
    # directory each): callbacks and checkpointers are array handles, so all
    # share one compiled program.
    directory = tmp_path_factory.mktemp("pbt")

    def make_policy(key):
        return MLPActorCriticPolicy(env=env, width_size=16, depth=1, key=key)

    backends = {}

    def run(name, checkpoints=None, **kwargs):
        backends[name] = RecordingBackend()
        logger = LoggingCallback([backends[name]])
        result = pbt(
            ALGO,
            env,
            make_policy,
            TOTAL,
            SEARCH,
            population_size=K,
            interval=INTERVAL,
            key=jax.random.key(3),
            callback=logger,
            checkpointer=Checkpointer(
                directory / (checkpoints or name), every_iterations=INTERVAL
            ),
            **kwargs,
        )
        logger.close()
        return result

    full = run("full")
    with count_compiles() as compiles:
        part = run("part", num_intervals=1)
        resumed = run("resumed", resume=part)
    part.save(directory / "population.npz")
    from_file = run("from_file", resume=directory / "population.npz")
    # Called again with the directory `part` wrote: continues from its checkpoint.
    from_checkpoint = run("from_checkpoint", checkpoints="part")
    return {
        "full": full,
        "part": part,
        "resumed": resumed,
        "from_file": from_file,
        "from_checkpoint": from_checkpoint,
        "checkpoint_steps": Checkpointer(
            directory / "part", every_iterations=INTERVAL
        ).steps(),
        "rows": {name: backend.rows for name, backend in backends.items()},
        "compiles": compiles,
    }


# ------------------------------------------------ exploit/explore vs NumPy


def numpy_exploit_explore(fitness, hypers, low, high, draws):
    population = fitness.shape[0]
    n = draws["choice"].shape[0]
    ranked = np.where(np.isnan(fitness), -np.inf, fitness)
    # Best first; ties keep the member order.
    order = sorted(range(population), key=lambda k: (-ranked[k], k))
    top, bottom = order[:n], order[population - n :]
    source = np.arange(population)
    for i, k in enumerate(bottom):
        source[k] = top[draws["choice"][i]]
    new = {}
    for name, values in hypers.items():
        out = values.copy()
        for k in bottom:
            if draws["resample"][name][k]:
                out[k] = draws["prior"][name][k]
            else:
                factor = 1.2 if draws["up"][name][k] else 0.8
                out[k] = np.clip(
                    np.float32(values[source[k]]) * np.float32(factor),
                    low[name],
                    high[name],
                )
        new[name] = out
    return source, new


@pytest.mark.parametrize("seed", range(4))
def test_exploit_explore_matches_numpy(seed):
    rng = np.random.default_rng(seed)
    population = 8
    fitness = rng.choice([1.0, 2.0, 3.0, np.nan], size=population)  # ties and NaN
    search = _Search(("lr", "ent"), (1e-4, 0.0), (1e-2, 0.05))
    hypers = {
        "lr": rng.uniform(1e-4, 1e-2, population).astype(np.float32),
        "ent": rng.uniform(0.0, 0.05, population).astype(np.float32),
    }
    draws = exploit_draws(jax.random.key(seed), search, population, 2, 0.3)
    source, new = exploit_explore(
        jnp.asarray(fitness),
        {k: jnp.asarray(v) for k, v in hypers.items()},
        search,
        draws,
    )
    numpy_draws = {
        "choice": np.asarray(draws.choice),
        "up": {k: np.asarray(v) for k, v in draws.up.items()},
        "resample": {k: np.asarray(v) for k, v in draws.resample.items()},
        "prior": {k: np.asarray(v) for k, v in draws.prior.items()},
    }
    ref_source, ref_new = numpy_exploit_explore(
        fitness,
        hypers,
        {"lr": 1e-4, "ent": 0.0},
        {"lr": 1e-2, "ent": 0.05},
        numpy_draws,
    )
    np.testing.assert_array_equal(np.asarray(source), ref_source)
    for name in hypers:
        np.testing.assert_allclose(np.asarray(new[name]), ref_new[name], rtol=1e-6)
        assert np.all(np.asarray(new[name]) >= search.low[search.names.index(name)])
        assert np.all(np.asarray(new[name]) <= search.high[search.names.index(name)])
    # The two worst (NaN ranks last) were replaced, from among the two best.
    assert (np.asarray(source) != np.arange(population)).sum() <= 2


# ------------------------------------------------------- a trained population


def test_copied_members_equal_their_source_bit_for_bit(runs):
    part = runs["part"]
    parents = part.parents[0]
    copied = [k for k in range(K) if parents[k] != k]
    assert len(copied) == 1  # floor(0.25 * 4)
    for k in copied:
        source = int(parents[k])
        for name in ("policy", "opt_state"):
            tree = getattr(part.state, name)
            for a, b in zip(take(tree, k), take(tree, source), strict=True):
                np.testing.assert_array_equal(a, b)
        # Its env state is its own, not the source's.
        env_a = take(part.state.step_state.env_state, k)
        env_b = take(part.state.step_state.env_state, source)
        assert any(not np.array_equal(a, b) for a, b in zip(env_a, env_b, strict=True))
    # The worst member (by the recorded fitness) is the one replaced.
    fitness = part.fitness[0]
    assert copied == [int(np.argsort(-fitness, kind="stable")[-1])]


def test_hyperparameters_stay_in_range_and_follow_the_rule(runs):
    full = runs["full"]
    history, parents = full.history, full.parents
    for name, (low, high) in SEARCH.items():
        values = history[name]
        assert values.shape == (INTERVALS, K)
        assert np.all(values >= np.float32(low)) and np.all(values <= np.float32(high))
        for t in range(INTERVALS - 1):
            for k in range(K):
                before, after = values[t, parents[t, k]], values[t + 1, k]
                if parents[t, k] == k:
                    assert after == values[t, k]
                else:
                    perturbed = [
                        np.clip(np.float32(before) * np.float32(f), low, high)
                        for f in (0.8, 1.2)
                    ]
                    # Perturbed, or resampled within the bounds.
                    assert np.isclose(after, perturbed, rtol=1e-6).any() or (
                        low <= after <= high
                    )
    assert np.all(parents[-1] == np.arange(K))  # no exploit after the last interval


def test_lineage_and_schedule_follow_the_copies(runs):
    full = runs["full"]
    best = full.best()
    assert best == int(np.nanargmax(full.fitness[-1]))
    chain = full.lineage(best)
    assert chain[-1] == best
    for t in range(INTERVALS - 1):
        assert full.parents[t, chain[t + 1]] == chain[t]
    schedule = full.schedule()
    for name in SEARCH:
        np.testing.assert_array_equal(
            schedule[name], [full.history[name][t, chain[t]] for t in range(INTERVALS)]
        )
    copies = full.copies()
    assert len(copies) == (INTERVALS - 1) * 1
    for row in copies:
        assert full.parents[row["interval"], row["member"]] == row["source"]
        assert row["iteration"] == (row["interval"] + 1) * INTERVAL


def test_plot_draws_the_lineage_schedule(runs, tmp_path):
    pytest.importorskip("matplotlib")
    full = runs["full"]
    figure = full.plot(tmp_path / "pbt.png")
    assert (tmp_path / "pbt.png").stat().st_size > 0
    axes = figure.axes
    assert len(axes) == len(SEARCH) + 1
    schedule = full.schedule()
    for ax, name in zip(axes, full.history, strict=False):
        bold = ax.lines[-1]  # the lineage, drawn last
        np.testing.assert_array_equal(bold.get_ydata(), schedule[name])


def test_resume_across_an_exploit_step_is_exact(runs):
    assert runs["part"].intervals_run == 1
    # The checkpoint after interval 0 (its exploit step done), then the rest.
    assert runs["checkpoint_steps"] == [INTERVAL * (t + 1) for t in range(INTERVALS)]
    for name in ("resumed", "from_file", "from_checkpoint"):
        for a, b in zip(
            arrays(runs["full"].pbt_state), arrays(runs[name].pbt_state), strict=True
        ):
            np.testing.assert_array_equal(a, b)


def test_partial_and_resumed_runs_compile_nothing(runs):
    assert runs["compiles"] == []


def test_logger_writes_one_row_per_member_per_iteration_with_lineage(runs):
    full = runs["full"]
    rows = runs["rows"]["full"]
    assert len(rows) == K * INTERVAL * INTERVALS
    by_key = {(r["seed"], r["iteration"]): r for r in rows}
    # NumPy reference of the lineage columns, from the recorded parents.
    source, copied_at = np.arange(K), np.full(K, -1)
    for t in range(INTERVALS):
        for i in range(t * INTERVAL + 1, (t + 1) * INTERVAL + 1):
            for k in range(K):
                row = by_key[(k, i)]
                assert row["pbt_source"] == source[k]
                assert row["pbt_copied_at"] == copied_at[k]
                for name in SEARCH:
                    expected = full.history[name][t, k]
                    assert row[f"pbt_{name}"] == pytest.approx(expected, rel=1e-6)
                # PPO's own log agrees on the rate the member trained with.
                assert row["learning_rate"] == pytest.approx(
                    full.history["learning_rate"][t, k], rel=1e-6
                )
        for k in range(K):
            if full.parents[t, k] != k:
                source[k], copied_at[k] = full.parents[t, k], (t + 1) * INTERVAL
    assert (copied_at >= 0).sum() >= 1  # some member did copy
    # The run continued from a checkpoint logs the iterations it ran.
    resumed = runs["rows"]["from_checkpoint"]
    assert sorted({r["iteration"] for r in resumed}) == list(
        range(INTERVAL + 1, INTERVAL * INTERVALS + 1)
    )
    for r in resumed:
        full_row = by_key[(r["seed"], r["iteration"])]
        for column in ("pbt_source", "pbt_copied_at", "episode_return"):
            assert r[column] == full_row[column]


def test_checkpoint_period_must_be_a_multiple_of_interval(env, tmp_path):
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    with pytest.raises(ValueError, match="every_iterations=3 is not a multiple"):
        pbt(
            ALGO,
            env,
            policy,
            TOTAL,
            SEARCH,
            population_size=K,
            interval=INTERVAL,
            key=jax.random.key(3),
            checkpointer=Checkpointer(tmp_path / "c", every_iterations=3),
        )


# ---------------------------------------------------------------- mesh=


@pytest.fixture(scope="module")
def two_devices(tmp_path_factory):
    out = tmp_path_factory.mktemp("pbt-devices")
    environment = dict(os.environ)
    environment["XLA_FLAGS"] = (
        environment.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
    )
    environment["JAX_DISABLE_MOST_OPTIMIZATIONS"] = "1"  # as `fast_compiles`
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(Path(lerax.__file__).parents[1]), environment.get("PYTHONPATH", "")]
    )
    subprocess.run(
        [sys.executable, str(SCRIPT), str(out)],
        env=environment,
        check=True,
        timeout=600,
    )
    facts = json.loads((out / "results.json").read_text())
    return facts, dict(np.load(out / "results.npz"))


def test_members_split_over_two_devices_train_like_one(two_devices, runs):
    facts, results = two_devices
    assert facts["device_count"] == 2
    assert facts["config"] == [K, INTERVAL, INTERVALS, TOTAL]
    # Each device holds half of the members.
    assert facts["policy_spec"] == "P('members',)"
    assert facts["policy_shard_rows"] == [K // 2]
    full = runs["full"]
    np.testing.assert_array_equal(results["parents"], full.parents)
    for name in SEARCH:
        np.testing.assert_allclose(
            results[f"history_{name}"], full.history[name], rtol=1e-6
        )
    np.testing.assert_allclose(results["fitness"], full.fitness, rtol=1e-5, atol=1e-6)
    for i, leaf in enumerate(arrays(full.state.policy)):
        np.testing.assert_allclose(results[f"policy_{i}"], leaf, rtol=1e-5, atol=1e-6)
    assert facts["logged_rows"] == K * INTERVAL * INTERVALS
    assert facts["population_error"] == (
        "pbt: population_size=3 does not divide over the mesh's 2 devices; "
        "choose population_size a multiple of 2."
    )


def test_a2c_population_under_vmap_over_keys(env):
    algo = A2C(num_envs=2, num_steps=8)
    policy = MLPActorCriticPolicy(
        env=env, width_size=16, depth=1, key=jax.random.key(0)
    )
    low, high = 1e-4, 1e-2

    def run(key):
        return pbt(
            algo,
            env,
            policy,
            4 * 16,
            {"learning_rate": (low, high)},
            population_size=2,
            interval=2,
            fraction=0.5,
            resample_probability=0.0,
            key=key,
        ).pbt_state

    batched = jax.vmap(run)(jax.random.split(jax.random.key(1), 2))
    parents = np.asarray(batched.parents)
    history = np.asarray(batched.history["learning_rate"])
    assert parents.shape == history.shape == (2, 2, 2)
    for i in range(2):
        # The worse of the two copies the better, whose rate it perturbs.
        fitness = np.asarray(batched.fitness)[i, 0]
        worst = int(np.argsort(-np.where(np.isnan(fitness), -np.inf, fitness))[-1])
        best = 1 - worst
        assert parents[i, 0, worst] == best and parents[i, 0, best] == best
        perturbed = np.clip(history[i, 0, best] * np.float32([0.8, 1.2]), low, high)
        assert np.isclose(history[i, 1, worst], perturbed, rtol=1e-6).any()
        np.testing.assert_array_equal(parents[i, 1], [0, 1])
    assert not np.array_equal(history[0], history[1])  # each key its own population


def test_bad_arguments_are_refused_before_compiling(env):
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    kwargs = dict(population_size=4, interval=2, key=jax.random.key(0))
    with pytest.raises(ValueError, match="num_envs"):
        pbt(ALGO, env, policy, TOTAL, {"num_envs": (1, 2)}, **kwargs)
    with pytest.raises(ValueError, match="gamma"):
        pbt(ALGO, env, policy, TOTAL, {"gamma": (0.9, 1.5)}, **kwargs)
    with pytest.raises(ValueError, match="low < high"):
        pbt(ALGO, env, policy, TOTAL, {"gamma": (0.99, 0.9)}, **kwargs)
    with pytest.raises(ValueError, match="multiple of interval"):
        pbt(ALGO, env, policy, 5 * 16, {"gamma": (0.9, 0.99)}, **kwargs)
    with pytest.raises(ValueError, match="fraction"):
        pbt(ALGO, env, policy, TOTAL, {"gamma": (0.9, 0.99)}, fraction=0.7, **kwargs)
    with pytest.raises(TypeError, match="algorithm"):
        pbt("PPO", env, policy, TOTAL, {"gamma": (0.9, 0.99)}, **kwargs)
    assert lerax.pbt is pbt


# -------------------------------------------------------------------- curricula


def test_performance_curriculum_advances_after_window_at_threshold(env):
    curriculum = PerformanceCurriculum(
        where=lambda e: e.params.gravity,
        levels=[1.0, 2.0, 3.0],
        threshold=10.0,
        window=2,
    )
    state = curriculum.init(env)
    returns = [20.0, 20.0, 20.0, 5.0, 20.0, 20.0, 20.0, 20.0]
    levels = []
    e = env
    for i, r in enumerate(returns):
        ctx = CurriculumContext(
            iteration=jnp.int32(i),
            progress=jnp.float32(i / len(returns)),
            recent_return=jnp.float32(r),
        )
        e, state = curriculum.update(e, state, ctx, key=jax.random.key(i))
        levels.append(float(e.params.gravity))
    # Hand trace: a level is trained 2 iterations before it may advance, and
    # only while the recent return is >= 10.
    assert levels == [1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0]


def test_domain_randomization_draws_within_range(env):
    curriculum = DomainRandomization(lambda e: e.params.gravity, 5.0, 15.0)
    ctx = CurriculumContext(
        iteration=jnp.int32(0), progress=jnp.float32(0), recent_return=jnp.nan
    )
    keys = jax.random.split(jax.random.key(0), 64)
    values = jax.vmap(
        lambda k: curriculum.update(env, None, ctx, key=k)[0].params.gravity
    )(keys)
    expected = jax.vmap(lambda k: jax.random.uniform(k, (), jnp.float32, 5.0, 15.0))(
        keys
    )
    np.testing.assert_array_equal(np.asarray(values), np.asarray(expected))
    with pytest.raises(ValueError, match="low must be < high"):
        DomainRandomization(lambda e: e.params.gravity, 2.0, 1.0)
    with pytest.raises(ValueError, match="array leaf"):
        ScheduledCurriculum(where=lambda e: e.name, schedule=lambda p: p).init(env)


# ------------------------------------------------- randomisation on reset


def numpy_uniform(key, low, high):
    # JAX's float32 uniform, re-derived in NumPy from the key's random bits:
    # 23 mantissa bits under the exponent of 1.0, minus 1, scaled to [low, high).
    bits = np.uint32(jax.random.bits(key, (), jnp.uint32))
    one_to_two = ((bits >> np.uint32(9)) | np.uint32(0x3F800000)).view(np.float32)
    unit = one_to_two - np.float32(1.0)
    value = unit * (np.float32(high) - np.float32(low)) + np.float32(low)
    return np.maximum(np.float32(low), value)


def test_randomize_on_reset_draws_each_episode_from_its_reset_key(env):
    wrapped = RandomizeOnReset(env, lambda e: e.params.gravity, 5.0, 15.0)
    num_envs, num_steps = 3, 60
    keys = jax.random.split(jax.random.key(7), (num_steps + 1, num_envs))
    step_keys = jax.random.split(jax.random.key(8), (num_steps, num_envs))

    @jax.jit
    def episodes(keys, step_keys):
        # Random actions; an environment whose episode ended starts a new one
        # with that step's reset key (what the rollout's auto-reset does).
        state, _, _ = jax.vmap(lambda k: wrapped.reset(key=k))(keys[0])

        def body(state, xs):
            reset_keys, step_keys = xs
            actions = jax.vmap(lambda k: jax.random.bernoulli(k).astype(jnp.int32))(
                step_keys
            )
            state, _, _, term, trunc, _ = jax.vmap(
                lambda s, a, k: wrapped.step(s, a, key=k)
            )(state, actions, step_keys)
            fresh, _, _ = jax.vmap(lambda k: wrapped.reset(key=k))(reset_keys)
            done = term | trunc
            state = jax.tree.map(
                lambda f, s: jnp.where(
                    jnp.reshape(done, done.shape + (1,) * (s.ndim - 1)), f, s
                ),
                fresh,
                state,
            )
            return state, (state.parameter, done)

        _, (parameters, dones) = jax.lax.scan(body, state, (keys[1:], step_keys))
        return state.parameter, parameters, dones

    first, parameters, dones = (np.asarray(x) for x in episodes(keys, step_keys))
    assert dones.sum() >= 3  # several episodes ended and were redrawn

    def drawn(reset_key):
        # `reset` splits its key (initial, observation); `initial` splits its
        # own (the draw, the inner episode).
        initial_key = jax.random.split(reset_key)[0]
        return numpy_uniform(jax.random.split(initial_key)[0], 5.0, 15.0)

    for e in range(num_envs):
        current = drawn(keys[0, e])
        assert first[e] == current
        for t in range(num_steps):
            if dones[t, e]:
                current = drawn(keys[t + 1, e])
            assert parameters[t, e] == current
    # The draws differ between environments and episodes.
    assert len(np.unique(parameters)) > num_envs


def test_randomize_on_reset_refuses_bad_arguments(env):
    with pytest.raises(ValueError, match="low must be < high"):
        RandomizeOnReset(env, lambda e: e.params.gravity, 2.0, 1.0)
    with pytest.raises(ValueError, match="array leaf"):
        RandomizeOnReset(env, lambda e: e.name, 0.0, 1.0)
    with pytest.raises(TypeError, match="env"):
        RandomizeOnReset("CartPole", lambda e: e.params.gravity, 0.0, 1.0)


def test_curriculum_and_reset_randomization_under_vmap_over_seeds(env):
    # One program: a scheduled force under `jax.vmap` over two seeds, on an env
    # whose gravity is drawn per environment at every reset.
    wrapped = RandomizeOnReset(env, lambda e: e.params.gravity, 5.0, 15.0)
    algo = A2C(num_envs=2, num_steps=8)
    policy = MLPActorCriticPolicy(
        env=wrapped, width_size=16, depth=1, key=jax.random.key(0)
    )
    num_iterations = 4

    def schedule(progress):
        return 10.0 - 5.0 * progress

    curriculum = ScheduledCurriculum(
        where=lambda e: e.env.params.force_mag, schedule=schedule
    )
    runs = jax.vmap(
        lambda key: learn_with_curriculum(
            algo, wrapped, policy, num_iterations * 16, curriculum, key=key
        )
    )(jax.random.split(jax.random.key(2), 2))
    expected = np.float32(10.0) - np.float32(5.0) * (
        np.arange(num_iterations, dtype=np.float32) / num_iterations
    )
    parameters = np.asarray(runs.parameters)
    assert parameters.shape == (2, num_iterations)
    for seed in range(2):
        np.testing.assert_allclose(parameters[seed], expected, rtol=1e-6)
    # The final env is the one of the last iteration.
    np.testing.assert_allclose(
        np.asarray(runs.state.env.env.params.force_mag), expected[-1], rtol=1e-6
    )
    gravity = np.asarray(runs.state.step_state.env_state.parameter)
    assert gravity.shape == (2, algo.num_envs)  # one draw per seed and env
    assert np.all((gravity >= 5.0) & (gravity < 15.0))
    assert len(np.unique(gravity)) == gravity.size
    # The env itself keeps its gravity; only the episodes' states carry draws.
    np.testing.assert_array_equal(
        np.asarray(runs.state.env.env.params.gravity),
        np.full(2, env.params.gravity),
    )
