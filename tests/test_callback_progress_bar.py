"""The progress bar: its text, rich and plain displays, and closing cleanly."""

import io
import math

import jax
import numpy as np
import pytest

import lerax._optional
from helpers import ChainEnv
from lerax.algorithm import PPO
from lerax.callback import ProgressBarCallback
from lerax.callback._progress_bar import _OPEN_BARS, status_line
from lerax.policy import MLPActorCriticPolicy


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_status_line_by_hand():
    text, rate, left = status_line(50, 100, 10.0, np.array([1.0, np.nan, 3.0]))
    assert rate == 5.0 and left == 10.0
    assert text == (
        "50/100 steps | 0:00:10 elapsed | 0:00:10 left | 5 steps/s | "
        "return 2 [1, 3] over 3 seeds"
    )
    text, _, left = status_line(0, 100, 0.0, np.array([np.nan]))
    assert math.isinf(left)
    assert text.endswith("| -:--:-- left | nan steps/s | return -")
    # Measured from the first report: 100 steps in 10 s, 50 steps left.
    _, rate, left = status_line(
        150, 200, 20.0, np.array([1.0]), since=(50, 10.0), now=20.0
    )
    assert rate == 10.0 and left == 5.0
    text, _, _ = status_line(3600, 7200, 3600.0, np.array([12.5]))
    assert "1:00:00 elapsed | 1:00:00 left | 1 steps/s | return 12.5" in text


def data(iteration, num_iterations=4, per_iteration=16, returns=(1.0,)):
    return {
        "iteration": np.full(len(returns), iteration),
        "num_iterations": np.full(len(returns), num_iterations),
        "timesteps": np.full(len(returns), iteration * per_iteration),
        "total_timesteps": np.full(len(returns), num_iterations * per_iteration),
        "episode_return": np.asarray(returns),
    }


def test_a_terminal_gets_a_rich_bar_that_closes_after_the_last_iteration(
    monkeypatch,
):
    monkeypatch.setenv("COLUMNS", "200")
    out = FakeTerminal()
    bar = ProgressBarCallback(file=out)
    host = bar.host
    host.compiling(64)
    assert host._progress is not None  # rich, because the output is a terminal
    assert "compiling..." in out.getvalue()
    host.receive("start", {"total_timesteps": np.array([64])}, 1)
    for i in range(1, 5):
        host.receive("iteration", data(i, returns=(1.0, 2.0)), 2)
    assert host._progress is None and host not in _OPEN_BARS
    assert "64/64 steps" in out.getvalue()
    assert "return 1.5 [1, 2] over 2 seeds" in out.getvalue()


def test_not_a_terminal_gets_plain_lines_throttled():
    out = io.StringIO()
    bar = ProgressBarCallback(file=out, min_interval=3600.0)
    host = bar.host
    host.compiling(64)
    host.receive("start", {"total_timesteps": np.array([64])}, 1)
    for i in range(1, 5):
        host.receive("iteration", data(i), 1)
    lines = out.getvalue().splitlines()
    # The first report prints, the next two are throttled, the last always prints.
    assert lines[:2] == ["compiling...", "running the first iteration..."]
    assert [line[:6] for line in lines[2:]] == ["[ 25%]", "[100%]"]


def test_context_manager_closes_the_bar_on_an_exception():
    out = FakeTerminal()
    with pytest.raises(KeyboardInterrupt):
        with ProgressBarCallback(file=out) as bar:
            bar.host.compiling(100)
            assert bar.host in _OPEN_BARS
            raise KeyboardInterrupt
    assert bar.host._progress is None and bar.host not in _OPEN_BARS


def test_rich_bar_during_a_real_run(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    env = ChainEnv()
    policy = MLPActorCriticPolicy(env=env, key=jax.random.key(0))
    algo = PPO(num_envs=2, num_steps=8, num_epochs=1, num_batches=2)
    out = FakeTerminal()
    bar = ProgressBarCallback(plain=False, file=out)
    jax.block_until_ready(
        algo.learn(env, policy, 48, key=jax.random.key(1), callback=bar)
    )
    text = out.getvalue()
    assert "compiling..." in text and "48/48 steps" in text
    assert bar.host._progress is None


def test_missing_rich_names_the_extra(monkeypatch):
    real = lerax._optional.importlib.import_module

    def fake(name, *args):
        if name.startswith("rich"):
            raise ImportError("no rich")
        return real(name, *args)

    monkeypatch.setattr(lerax._optional.importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r"pip install 'lerax\[progress\]'"):
        ProgressBarCallback(plain=False)


def test_bad_min_interval_is_rejected():
    with pytest.raises(ValueError, match="min_interval must be >= 0, got -1"):
        ProgressBarCallback(min_interval=-1)
