"""Progress bar, loggers and evaluation together, plain and under `jax.vmap`.

One small PPO run on the toy `ChainEnv` (2 envs x 8 steps, 4 iterations) with
`ProgressBarCallback` + `EvalCallback` + `LoggingCallback([CSV, TensorBoard,
W&B offline])`, once plain and once vmapped over 2 seeds; every file is read back
with an independent reader and compared with the state the run returned.
"""

import contextlib
import csv
import io
import math
import os

import equinox as eqx
import jax
import numpy as np
import pytest

from _host_readers import tensorboard_scalars, tensorboard_texts, wandb_run
from helpers import ChainEnv
from lerax.algorithm import PPO
from lerax.callback import (
    CSVBackend,
    EpisodeStatisticsCallback,
    EpisodeStatisticsState,
    EvalCallback,
    EvalState,
    JSONLBackend,
    LoggingCallback,
    LogHistoryCallback,
    ProgressBarCallback,
    TensorBoardBackend,
    WandbBackend,
)
from lerax.evaluation import evaluate_policy
from lerax.policy import MLPActorCriticPolicy

SIZES = dict(num_envs=2, num_steps=8, num_epochs=1, num_batches=2)
PER_ITERATION = 16
ITERATIONS = 4
EVERY = 2
LOG_KEYS = (
    "approx_kl",
    "clip_fraction",
    "entropy_loss",
    "epochs_run",
    "explained_variance",
    "learning_rate",
    "nonfinite_gradient",
    "nonfinite_loss",
    "policy_loss",
    "total_loss",
    "value_loss",
)
COLUMNS = [
    "seed",
    "iteration",
    "timesteps",
    "wall_time",
    "steps_per_second",
    "episode_return",
    "episode_length",
    "episodes",
    *LOG_KEYS,
    "eval_return_mean",
    "eval_return_std",
    "eval_length_mean",
    "eval_length_std",
]


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


@pytest.fixture(scope="module")
def wandb_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("wandb-home")
    names = ["WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"]
    saved = {k: os.environ.get(k) for k in [*names, "WANDB_SILENT", "WANDB_MODE"]}
    for k in names:
        os.environ[k] = str(root / k.lower())
    os.environ["WANDB_SILENT"] = "true"
    os.environ["WANDB_MODE"] = "offline"  # never the network
    yield root
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="module")
def setup():
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    return env, policy, PPO(**SIZES)


def make_callbacks(root, eval_env):
    logger = LoggingCallback(
        [
            CSVBackend(root / "run.csv"),
            JSONLBackend(root / "run.jsonl"),
            TensorBoardBackend(root / "tb"),
            WandbBackend(project="lerax-test", mode="offline", dir=str(root)),
        ]
    )
    out = io.StringIO()
    return out, [
        ProgressBarCallback(plain=True, min_interval=0.0, file=out),
        EvalCallback(eval_env, EVERY, num_episodes=3, logger=logger),
        logger,
        EpisodeStatisticsCallback(),
        LogHistoryCallback(LOG_KEYS),
    ]


@pytest.fixture(scope="module")
def plain_run(setup, wandb_env, tmp_path_factory):
    env, policy, algo = setup
    root = tmp_path_factory.mktemp("plain")
    out, callbacks = make_callbacks(root, ChainEnv())
    state = algo.learn_state(
        env,
        policy,
        ITERATIONS * PER_ITERATION,
        key=jax.random.key(3),
        callback=callbacks,
    )
    jax.block_until_ready(state)
    return root, out.getvalue(), state


@pytest.fixture(scope="module")
def vmap_run(setup, wandb_env, tmp_path_factory):
    env, policy, algo = setup
    root = tmp_path_factory.mktemp("vmap")
    out, callbacks = make_callbacks(root, ChainEnv())
    keys = jax.random.split(jax.random.key(4), 2)
    state = jax.vmap(
        lambda k: algo.learn_state(
            env, policy, ITERATIONS * PER_ITERATION, key=k, callback=callbacks
        )
    )(keys)
    jax.block_until_ready(state)
    return root, out.getvalue(), state, keys


def read_csv(path):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def cell(value):
    return math.nan if value == "" else float(value)


def check_run(root, state, num_seeds):
    fields, rows = read_csv(root / "run.csv")
    assert fields == COLUMNS
    assert [(int(r["seed"]), int(r["iteration"])) for r in rows] == [
        (s, i) for i in range(1, ITERATIONS + 1) for s in range(num_seeds)
    ]
    history = state.callback_state[LogHistoryCallback].history
    episodes = state.callback_state[EpisodeStatisticsState]
    evals = state.callback_state[EvalCallback]
    for r in rows:
        s, i = int(r["seed"]), int(r["iteration"])
        index = (s, i - 1) if num_seeds > 1 else (i - 1,)
        assert int(r["timesteps"]) == i * PER_ITERATION
        for k in LOG_KEYS:
            np.testing.assert_allclose(
                cell(r[k]), float(history[k][index]), rtol=1e-6, atol=1e-12
            )
        assert int(r["episodes"]) == int(episodes.episodes[index])
        if int(r["episodes"]) > 0:
            np.testing.assert_allclose(
                cell(r["episode_return"]), float(episodes.mean_return[index]), rtol=1e-6
            )
            np.testing.assert_allclose(
                cell(r["episode_length"]), float(episodes.mean_length[index]), rtol=1e-6
            )
        # Evaluations land on the row of the iteration they evaluated.
        if i % EVERY == 0:
            j = (s, i // EVERY - 1) if num_seeds > 1 else (i // EVERY - 1,)
            np.testing.assert_allclose(
                cell(r["eval_return_mean"]), float(evals.return_mean[j]), rtol=1e-6
            )
        else:
            assert r["eval_return_mean"] == ""
    return rows


def check_tensorboard(root, rows, num_seeds):
    for s in range(num_seeds):
        scalars = tensorboard_scalars(root / "tb" / f"seed_{s}")
        mine = [r for r in rows if int(r["seed"]) == s]
        # TensorBoard groups the columns as Stable-Baselines3 does.
        tags = {
            "episode_return": "rollout/episode_return",
            "episode_length": "rollout/episode_length",
            "eval_return_mean": "eval/return_mean",
            **{k: f"train/{k}" for k in LOG_KEYS},
        }
        for k, tag in tags.items():
            expected = {int(r["timesteps"]): cell(r[k]) for r in mine if r[k] != ""}
            got = scalars[tag]
            assert sorted(got) == sorted(expected), k
            for step, value in expected.items():
                np.testing.assert_allclose(got[step], value, rtol=1e-6, atol=1e-12)
        assert (
            "gamma" in tensorboard_texts(root / "tb" / f"seed_{s}")["hyperparameters"]
        )


def check_wandb(root, rows, num_seeds):
    files = sorted(root.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(files) == num_seeds
    by_seed = {}
    for path in files:
        config, history = wandb_run(path)
        seed = (
            config["seed"]["value"]
            if isinstance(config["seed"], dict)
            else config["seed"]
        )
        by_seed[seed] = (config, history)
    assert sorted(by_seed) == list(range(num_seeds))
    for s, (config, history) in by_seed.items():
        gamma = (
            config["gamma"]["value"]
            if isinstance(config["gamma"], dict)
            else config["gamma"]
        )
        np.testing.assert_allclose(gamma, 0.99, rtol=1e-6)
        mine = [r for r in rows if int(r["seed"]) == s]
        assert [h["timesteps"] for h in history] == [int(r["timesteps"]) for r in mine]
        for h, r in zip(history, mine, strict=True):
            for k in ("total_loss", "learning_rate", "episode_return"):
                if r[k] != "":
                    np.testing.assert_allclose(h[k], cell(r[k]), rtol=1e-6)


def test_plain_run_writes_csv_tensorboard_and_wandb(plain_run):
    root, _, state = plain_run
    rows = check_run(root, state, num_seeds=1)
    check_tensorboard(root, rows, num_seeds=1)
    check_wandb(root, rows, num_seeds=1)
    jsonl = (root / "run.jsonl").read_text().splitlines()
    assert len(jsonl) == len(rows)


def test_vmap_run_writes_one_row_per_seed_and_iteration(vmap_run):
    root, _, state, _ = vmap_run
    rows = check_run(root, state, num_seeds=2)
    check_tensorboard(root, rows, num_seeds=2)
    check_wandb(root, rows, num_seeds=2)


def test_vmap_rows_of_a_seed_are_that_seeds_run(setup, vmap_run, tmp_path):
    # Seed 1's rows must be those of a plain run with seed 1's key: no mixing.
    env, policy, algo = setup
    root, _, _, keys = vmap_run
    _, callbacks = make_callbacks(tmp_path, ChainEnv())
    algo.learn_state(
        env, policy, ITERATIONS * PER_ITERATION, key=keys[1], callback=callbacks
    )
    callbacks[2].close()
    _, batched = read_csv(root / "run.csv")
    _, single = read_csv(tmp_path / "run.csv")
    for b, s in zip([r for r in batched if r["seed"] == "1"], single, strict=True):
        for k in ("episode_return", "episodes", "total_loss", "eval_return_mean"):
            np.testing.assert_allclose(cell(b[k]), cell(s[k]), rtol=2e-4, atol=1e-6)


def test_hyperparameters_are_written_once_per_seed(vmap_run):
    import json

    root, _, _, _ = vmap_run
    runs = json.loads((root / "run.csv.hparams.json").read_text())
    assert [r["seed"] for r in runs] == [0, 1]
    assert runs[0]["num_envs"] == 2 and runs[0]["num_iterations"] == ITERATIONS
    assert runs[0]["gamma"] == pytest.approx(0.99)


def test_eval_history_and_best_policy(setup, plain_run, vmap_run):
    env, policy, algo = setup
    _, _, state = plain_run
    evals = state.callback_state[EvalState]
    assert evals.return_mean.shape == (ITERATIONS // EVERY,)
    np.testing.assert_array_equal(evals.iteration, [2, 4])
    np.testing.assert_array_equal(evals.timesteps, [32, 64])
    best = int(np.argmax(np.asarray(evals.return_mean)))  # first of the maxima
    assert int(evals.best_iteration) == int(evals.iteration[best])
    assert float(evals.best_return) == float(np.max(evals.return_mean))
    # ChainEnv and a deterministic policy: replaying the best policy gives its
    # recorded return exactly.
    replay = evaluate_policy(ChainEnv(), evals.best_policy, key=jax.random.key(9))
    assert float(np.mean(replay.returns)) == pytest.approx(float(evals.best_return))
    # The best policy is the policy the run had after that iteration.
    short = algo.learn(
        env, policy, int(evals.best_iteration) * PER_ITERATION, key=jax.random.key(3)
    )
    for a, b in zip(
        jax.tree.leaves(eqx.filter(evals.best_policy, eqx.is_array)),
        jax.tree.leaves(eqx.filter(short, eqx.is_array)),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    _, _, batched, _ = vmap_run
    assert batched.callback_state[EvalCallback].return_mean.shape == (2, 2)


def test_progress_bar_one_line_per_iteration_after_compiling(plain_run, vmap_run):
    # The plain and vmapped runs share one trace (vmap traces per seed), so
    # "compiling..." opens the output of whichever ran first, and only that one.
    texts = [plain_run[1], vmap_run[1]]
    compiled = [text.splitlines()[0] == "compiling..." for text in texts]
    assert sum(compiled) == 1
    for text in texts:
        lines = [line for line in text.splitlines() if line != "compiling..."]
        assert lines[0] == "running the first iteration..."
        assert len(lines) == 1 + ITERATIONS  # one line per iteration, one bar
        assert lines[-1].startswith("[100%] 64/64 steps")
        assert "steps/s" in lines[-1] and "elapsed" in lines[-1]
        assert "left" in lines[-1]
    state = vmap_run[2]
    returns = np.asarray(state.callback_state[EpisodeStatisticsState].mean_return)
    last = returns[:, -1]
    assert f"return {last.mean():.4g} [{last.min():.4g}, {last.max():.4g}]" in lines[-1]


def test_second_learn_with_new_callbacks_compiles_nothing(setup, plain_run, tmp_path):
    env, policy, algo = setup
    _, callbacks = make_callbacks(tmp_path, ChainEnv())
    with count_compiles() as compiles:
        state = algo.learn_state(
            env,
            policy,
            ITERATIONS * PER_ITERATION,
            key=jax.random.key(5),
            callback=callbacks,
        )
        jax.block_until_ready(state)
    assert compiles == []
    _, rows = read_csv(tmp_path / "run.csv")
    assert len(rows) == ITERATIONS
