"""Checkpoints: exact resume after a kill, fallback past a corrupt file, other runs.

The reference for every resumed run is an uninterrupted run with the same key:
the continued run must end with bit-for-bit the same parameters.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np
import pytest

from helpers import ChainEnv
from lerax.algorithm import PPO
from lerax.callback import EpisodeStatisticsCallback, ProgressCallback
from lerax.checkpoint import Checkpointer
from lerax.policy import MLPActorCriticPolicy

SCRIPT = Path(__file__).parent / "scripts" / "checkpoint_run.py"
ITERATION = 16  # num_envs * num_steps below
ALGO = PPO(num_envs=2, num_steps=8, num_epochs=2, num_batches=2)


def leaves(tree) -> list[np.ndarray]:
    def raw(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x = jax.random.key_data(x)
        return np.asarray(x)

    return [raw(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))]


def assert_identical(a, b) -> None:
    la, lb = leaves(a), leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def setup():
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    reference = ALGO.learn_state(
        env,
        policy,
        6 * ITERATION,
        key=jax.random.key(1),
        callback=EpisodeStatisticsCallback(),
    )
    return env, policy, reference


def learn(setup, directory, *, every=2, keep=3, algo=ALGO, callback=True):
    env, policy, _ = setup
    return algo.learn_state(
        env,
        policy,
        6 * ITERATION,
        key=jax.random.key(1),
        callback=EpisodeStatisticsCallback() if callback else None,
        checkpointer=Checkpointer(directory, every_iterations=every, keep=keep),
    )


def test_saves_every_n_and_the_last_iteration_and_keeps_the_newest(setup, tmp_path):
    state = learn(setup, tmp_path, every=4, keep=3)
    assert Checkpointer(tmp_path, every_iterations=4).steps() == [4, 6]
    assert_identical(state, setup[2])
    learn(setup, tmp_path / "b", every=1, keep=2)
    assert Checkpointer(tmp_path / "b", every_iterations=1).steps() == [5, 6]


def test_resume_from_an_earlier_checkpoint_is_bit_exact(setup, tmp_path, capfd, caplog):
    learn(setup, tmp_path)
    # As if the run had died while writing its checkpoint at iteration 4: drop
    # the later ones and leave the temporary directory orbax was writing.
    for step in (4, 6):
        os.system(f"rm -rf {tmp_path / str(step)}")
    stale = tmp_path / "4.orbax-checkpoint-tmp"
    stale.mkdir()
    (stale / "partial").write_bytes(b"\0" * 10)
    assert Checkpointer(tmp_path, every_iterations=2).steps() == [2]
    capfd.readouterr()
    with caplog.at_level("INFO"):
        state = learn(setup, tmp_path)
    assert int(state.iteration_count) == 6
    assert_identical(state, setup[2])  # callback records and key included
    # Said once, where it continued from; orbax removed the stale directory
    # without its "already exists" warning reaching the user.
    out, err = capfd.readouterr()
    said = [line for line in out.splitlines() if "resumed from" in line]
    assert said == [f"Checkpointer: resumed from iteration 2 of 6 ({tmp_path / '2'})"]
    assert not stale.exists()
    assert "already exists" not in err
    assert not [r for r in caplog.records if "already exists" in r.getMessage()]


def test_resumed_run_says_compiling_once_and_where_it_continues(setup, tmp_path, capfd):
    env, policy, _ = setup

    def run():
        return ALGO.learn_state(
            env,
            policy,
            6 * ITERATION,
            key=jax.random.key(1),
            callback=ProgressCallback(),
            checkpointer=Checkpointer(tmp_path, every_iterations=2),
        )

    run()
    for step in (4, 6):
        os.system(f"rm -rf {tmp_path / str(step)}")
    capfd.readouterr()
    run()  # traced twice (the checkpoint's structure check, then the run)
    lines = capfd.readouterr().out.splitlines()
    # The structure check traces the run before the checkpoint is read.
    assert lines[0] == "compiling..."
    assert lines[1].startswith("Checkpointer: resumed from iteration 2 of 6")
    assert lines[2].split()[:3] == ["iter", "steps", "return"]
    assert [line.split()[0] for line in lines[3:]] == ["3/6", "4/6", "5/6", "6/6"]


def test_only_the_stale_temporary_directory_warning_is_dropped(tmp_path, caplog):
    from absl import logging as absl_logging

    Checkpointer(tmp_path, every_iterations=1)
    message = (
        "Attempted to create temporary directory %s which already exists."
        " Removing existing directory since it is not finalized."
    )
    with caplog.at_level("WARNING"):
        absl_logging.warning(message, tmp_path / "3.orbax-checkpoint-tmp")
        absl_logging.warning(message, tmp_path / "elsewhere" / "3.tmp")
        absl_logging.warning("something else in %s", tmp_path)
    seen = [r.getMessage() for r in caplog.records]
    assert len(seen) == 2
    assert "elsewhere" in seen[0] and seen[1].startswith("something else")


def test_rerunning_a_finished_run_returns_its_final_state(setup, tmp_path):
    learn(setup, tmp_path)
    state = learn(setup, tmp_path)
    assert_identical(state, setup[2])


def test_truncated_newest_checkpoint_falls_back_with_a_warning(setup, tmp_path):
    learn(setup, tmp_path)
    newest = tmp_path / "6"
    files = [p for p in newest.rglob("*") if p.is_file()]
    biggest = max(files, key=lambda p: p.stat().st_size)
    with open(biggest, "r+b") as f:
        f.truncate(biggest.stat().st_size // 2)
    with pytest.warns(RuntimeWarning, match=r"checkpoint '.*/6' is unreadable"):
        state = learn(setup, tmp_path)
    assert_identical(state, setup[2])
    # The corrupt checkpoint is moved aside, never deleted.
    assert any(p.name.startswith("corrupt-6-") for p in tmp_path.iterdir())


def test_a_directory_of_another_run_raises_naming_what_differs(setup, tmp_path):
    learn(setup, tmp_path)
    other = PPO(num_envs=2, num_steps=8, num_epochs=2, num_batches=2, gamma=0.9)
    with pytest.raises(ValueError, match=r"different run(.|\n)*algorithm\.gamma"):
        learn(setup, tmp_path, algo=other)
    with pytest.raises(ValueError, match=r"different run(.|\n)*callback_state"):
        learn(setup, tmp_path, callback=False)


def test_checkpointer_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="every_iterations"):
        Checkpointer(tmp_path, every_iterations=0)
    with pytest.raises(ValueError, match="keep"):
        Checkpointer(tmp_path, every_iterations=1, keep=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="not a directory"):
        Checkpointer(tmp_path / "file", every_iterations=1)


def test_checkpointer_of_wrong_type_is_a_type_error(setup, tmp_path):
    env, policy, _ = setup
    with pytest.raises(TypeError, match="Checkpointer"):
        ALGO.learn(env, policy, ITERATION, key=jax.random.key(0), checkpointer="dir")


def test_vmapped_run_saves_all_seeds_and_resumes_exactly(setup, tmp_path):
    env, policy, _ = setup
    keys = jax.random.split(jax.random.key(3), 2)
    checkpointer = Checkpointer(tmp_path, every_iterations=3)

    def run(key):
        return ALGO.learn(
            env, policy, 6 * ITERATION, key=key, checkpointer=checkpointer
        )

    full = jax.block_until_ready(jax.vmap(run)(keys))
    checkpointer.wait()
    assert checkpointer.steps() == [3, 6]
    os.system(f"rm -rf {tmp_path / '6'}")
    resumed = jax.vmap(run)(keys)
    assert_identical(full, resumed)
    # Each seed is its own separate run (a vmapped and a single program round
    # differently in the last bits, so to float tolerance).
    alone = ALGO.learn(env, policy, 6 * ITERATION, key=keys[1])
    for x, y in zip(leaves(full), leaves(alone), strict=True):
        np.testing.assert_allclose(x[1], y, rtol=1e-5, atol=1e-6)


def _wait_for_step(directory: Path, step: int, process, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (directory / str(step) / "commit_success.txt").exists():
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended before step {step}")
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint {step} within {timeout} s")


def test_killed_twice_then_rerun_matches_an_uninterrupted_run(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    run = [sys.executable, str(SCRIPT)]
    uninterrupted = tmp_path / "uninterrupted.npz"
    reference = subprocess.Popen(
        [*run, str(tmp_path / "ref"), str(uninterrupted)], env=env
    )
    directory = tmp_path / "run"
    out = tmp_path / "resumed.npz"
    for step in (3, 8):
        process = subprocess.Popen([*run, str(directory), str(out), "0.3"], env=env)
        _wait_for_step(directory, step, process)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not out.exists()
    steps = Checkpointer(directory, every_iterations=1).steps()
    assert steps and max(steps) < 12  # killed before the end
    subprocess.run([*run, str(directory), str(out)], env=env, check=True)
    assert reference.wait() == 0
    with np.load(uninterrupted) as a, np.load(out) as b:
        assert a.files == b.files
        for name in a.files:
            np.testing.assert_array_equal(a[name], b[name])
