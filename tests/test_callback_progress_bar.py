"""The progress bar: its text, rich and plain displays, and closing cleanly."""

import io
import math
import re

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
    assert text.endswith("| -:--:-- left | - steps/s | return -")
    # Measured from the first report: 100 steps in 10 s, 50 steps left.
    _, rate, left = status_line(
        150, 200, 20.0, np.array([1.0]), since=(50, 10.0), now=20.0
    )
    assert rate == 10.0 and left == 5.0
    text, _, _ = status_line(3600, 7200, 3600.0, np.array([12.5]))
    assert "1:00:00 elapsed | 1:00:00 left | 1 steps/s | return 12.5" in text


def test_status_line_drops_parts_to_fit_a_width_never_cuts_values():
    full, _, _ = status_line(63488, 65536, 10.0, np.array([245.25]))
    assert full == (
        "63,488/65,536 steps | 0:00:10 elapsed | 0:00:00 left | 6,349 steps/s | "
        "return 245.2"
    )
    # Dropped in this order: elapsed, then the rate, then the time left.
    text, _, _ = status_line(63488, 65536, 10.0, np.array([245.25]), width=66)
    assert text == "63,488/65,536 steps | 0:00:00 left | 6,349 steps/s | return 245.2"
    text, _, _ = status_line(63488, 65536, 10.0, np.array([245.25]), width=50)
    assert text == "63,488/65,536 steps | 0:00:00 left | return 245.2"
    text, _, _ = status_line(63488, 65536, 10.0, np.array([245.25]), width=10)
    assert text == "63,488/65,536 steps | return 245.2"


def _screen_lines(text: str) -> list[str]:
    # What a terminal shows: rich redraws a line after a carriage return and
    # moves the cursor with escape sequences (not printed characters).
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return [part for line in text.split("\n") for part in line.split("\r")]


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


def test_rich_bar_fits_80_columns_by_dropping_parts(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = FakeTerminal()
    host = ProgressBarCallback(file=out).host
    host.compiling(65536)
    host.receive("start", {"total_timesteps": np.array([65536])}, 1)
    for i in (1, 2, 31, 32):
        host.receive(
            "iteration",
            data(i, num_iterations=32, per_iteration=2048, returns=(245.25,)),
            1,
        )
    lines = [line for line in _screen_lines(out.getvalue()) if line.strip()]
    assert lines and max(len(line) for line in lines) <= 80
    assert not any("\u2026" in line for line in lines)  # rich's ellipsis: a cut
    assert any(
        "65,536/65,536 steps" in line and "return 245.2" in line for line in lines
    )


def test_compiling_twice_before_the_run_shows_it_once():
    out = io.StringIO()
    host = ProgressBarCallback(file=out).host
    host.compiling(64)
    host.compiling(64)  # the checkpoint's structure check traces the start too
    host.receive("start", {"total_timesteps": np.array([64])}, 1)
    assert out.getvalue().splitlines() == [
        "compiling...",
        "running the first iteration...",
    ]
    host.receive("iteration", data(4), 1)
    host.compiling(64)  # a new run compiles: shown again
    assert out.getvalue().splitlines()[-1] == "compiling..."


def test_rate_after_resuming_from_a_checkpoint_counts_one_iteration(monkeypatch):
    # A run continued at iteration 52 of 64: the first report covers one
    # iteration of this process (16 steps), not the 52 * 16 resumed ones.
    clock = iter([100.0, 102.0, 104.0])
    monkeypatch.setattr(
        "lerax.callback._progress_bar.delivery_time", lambda: next(clock)
    )
    out = io.StringIO()
    host = ProgressBarCallback(file=out, min_interval=0.0).host
    host.receive("start", {"total_timesteps": np.array([64 * 16])}, 1)
    host.receive("iteration", data(53, num_iterations=64), 1)
    host.receive("iteration", data(54, num_iterations=64), 1)
    lines = out.getvalue().splitlines()
    assert "| 8 steps/s |" in lines[1]  # 16 steps in 2 s
    assert "| 8 steps/s |" in lines[2]  # measured from the first report


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
