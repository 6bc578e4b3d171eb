"""A progress bar for the compiled training run (rich, or plain lines)."""

from __future__ import annotations

import atexit
import math
import sys
import weakref
from typing import Any, TextIO

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int, Key

from lerax._host import delivery_time, emit, lookup, register, settle
from lerax._optional import import_extra

from ._base import (
    AbstractCallbackState,
    IterationContext,
    ResetContext,
)
from ._episode_statistics import AbstractEpisodeCallback
from ._recent_episodes import RecentEpisodes

_OPEN_BARS: weakref.WeakSet = weakref.WeakSet()


@atexit.register
def _close_open_bars() -> None:
    settle()
    for bar in list(_OPEN_BARS):
        bar.close()


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "-:--:--"
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _returns_text(returns: np.ndarray) -> str:
    finite = returns[np.isfinite(returns)]
    if finite.size == 0:
        return "return -"
    if returns.size == 1:
        return f"return {float(finite[0]):.4g}"
    return (
        f"return {float(finite.mean()):.4g} "
        f"[{float(finite.min()):.4g}, {float(finite.max()):.4g}] "
        f"over {returns.size} seeds"
    )


def status_line(
    done: int,
    total: int,
    elapsed: float,
    returns: np.ndarray,
    *,
    since: tuple[int, float] | None = None,
    now: float = 0.0,
    rate: float | None = None,
    width: int | None = None,
) -> tuple[str, float, float]:
    """The text of one progress report.

    The parts are, in order: timesteps, elapsed, left, steps/s, return. With a
    `width`, parts are dropped (elapsed first, then steps/s, then the time left)
    until the text fits; values are never cut.

    Args:
        done: Timesteps done (of one run).
        total: Timesteps of the whole run.
        elapsed: Seconds since the run started (compilation excluded).
        returns: The recent mean return of each run (NaN where none finished).
        since: `(timesteps, time)` of the first report, if any: the rate is then
            measured from it, which leaves out the start-up of the first
            iteration.
        now: The current time (same clock as `since`).
        rate: The steps per second to show when `since` gives none (default:
            `done / elapsed`).
        width: The most characters the text may take (`None`: no limit).

    Returns:
        The text, the steps per second and the estimated seconds left.
    """
    if since is not None and now > since[1] and done > since[0]:
        rate = (done - since[0]) / (now - since[1])
    elif rate is None:
        rate = done / elapsed if elapsed > 0 else math.nan
    left = (total - done) / rate if rate > 0 else math.inf
    rate_text = f"{rate:,.0f}" if math.isfinite(rate) else "-"
    parts = {
        "steps": f"{done:,}/{total:,} steps",
        "elapsed": f"{_clock(elapsed)} elapsed",
        "left": f"{_clock(left)} left",
        "rate": f"{rate_text} steps/s",
        "return": _returns_text(returns),
    }
    for drop in ("elapsed", "rate", "left"):
        if width is None or len(" | ".join(parts.values())) <= width:
            break
        del parts[drop]
    return " | ".join(parts.values()), rate, left


def _bar_width(terminal_width: int) -> int:
    # Narrow terminals get a shorter bar, leaving room for the status text.
    return 24 if terminal_width >= 110 else 12


class ProgressBarHost:
    """The host side of a `ProgressBarCallback`: the display and the run's clock.

    Attributes:
        plain: Print plain lines instead of a rich bar (`None`: decide by whether
            the output is a terminal when the run starts).
        min_interval: Seconds between two plain lines (the first and last
            always print).
        file: Where to write (standard output by default).
    """

    def __init__(self, plain: bool | None, min_interval: float, file: TextIO | None):
        self.plain = plain
        self.min_interval = min_interval
        self.file = file
        self._progress: Any = None
        self._task: Any = None
        self._open = False
        self._use_plain = True
        self._start_time = 0.0
        self._first: tuple[int, float] | None = None
        self._compiling = False
        self._last_line = -math.inf
        self.lines: list[str] = []
        # Drawn by the background delivery thread, off the compiled run's path.
        self.asynchronous = True

    def _out(self) -> TextIO:
        return self.file or sys.stdout

    def _show(self, total: int, status: str) -> None:
        self.close()
        out = self._out()
        self._use_plain = (
            self.plain if self.plain is not None else not getattr(out, "isatty", bool)()
        )
        self._open = True
        _OPEN_BARS.add(self)
        if self._use_plain:
            self._print(status)
            return
        progress = import_extra(
            "rich.progress", "progress", owner="ProgressBarCallback"
        )
        console = import_extra("rich.console", "progress", owner="ProgressBarCallback")
        terminal = console.Console(file=out)
        self._progress = progress.Progress(
            progress.TextColumn("{task.description}"),
            progress.BarColumn(bar_width=_bar_width(terminal.width)),
            progress.TextColumn("{task.fields[status]}"),
            console=terminal,
            auto_refresh=False,
            # On standard output, other prints (a ConsoleBackend's tables) go
            # above the bar; `close` (at the end, or from the context manager or
            # at exit) undoes the redirection.
            redirect_stdout=self.file is None,
            redirect_stderr=False,
        )
        self._task = self._progress.add_task("training", total=total, status=status)
        self._progress.start()
        self._progress.refresh()

    def _print(self, line: str) -> None:
        self.lines.append(line)
        print(line, file=self._out(), flush=True)

    def compiling(self, total: int) -> None:
        """Show that the run is compiling (called while JAX traces the run).

        A second trace of the same run before it starts (the checkpoint's
        structure check traces the run's start too) shows nothing new.

        Args:
            total: The run's total timesteps.
        """
        if self._compiling and self._open:
            return
        self._show(total, "compiling...")
        self._compiling = True

    def receive(self, event: str, data: dict[str, np.ndarray], num_runs: int) -> None:
        """Handle a delivery from the compiled run.

        Args:
            event: `"start"` or `"iteration"`.
            data: The values, each with a leading axis of length `num_runs`.
            num_runs: The number of runs (seeds) in the batch.
        """
        total = int(data["total_timesteps"][0])
        self._compiling = False
        if event == "start":
            status = "running the first iteration..."
            if not self._open:
                self._show(total, status)
            elif self._use_plain:
                self._print(status)
            else:
                self._progress.update(self._task, status=status)
                self._progress.refresh()
            self._start_time = delivery_time()
            self._first = None
            self._last_line = -math.inf
            return
        if not self._open:
            self._show(total, "resuming...")
            self._start_time = delivery_time()
            self._first = None
        done = int(data["timesteps"][0])
        iteration = int(data["iteration"][0])
        last = iteration >= int(data["num_iterations"][0])
        now = delivery_time()
        elapsed = now - self._start_time
        # The first report after the start covers one iteration, also when the
        # run continues from a checkpoint: its rate counts one iteration's
        # steps, never the resumed ones.
        first_rate = done / max(iteration, 1) / elapsed if elapsed > 0 else math.nan
        text, _, _ = status_line(
            done,
            total,
            elapsed,
            np.asarray(data["episode_return"]),
            since=self._first,
            now=now,
            rate=first_rate,
            width=None if self._use_plain else self._status_width(),
        )
        if self._first is None:
            self._first = (done, now)
        if self._use_plain:
            if last or now - self._last_line >= self.min_interval:
                self._last_line = now
                self._print(f"[{100 * done / max(total, 1):3.0f}%] {text}")
        else:
            self._progress.update(self._task, completed=done, status=text)
            self._progress.refresh()
        if last:
            self.close()

    def _status_width(self) -> int:
        # What the rich bar leaves for the status text on this terminal.
        width = self._progress.console.width
        return width - len("training") - _bar_width(width) - 3

    def close(self) -> None:
        """Stop the display (safe to call twice)."""
        if self._progress is not None:
            self._progress.stop()
        self._progress = None
        self._task = None
        self._open = False
        _OPEN_BARS.discard(self)


class _TraceHook:
    """Reaches the host object while JAX traces (not compared: never recompiles)."""

    def __init__(self, host: ProgressBarHost):
        self.host = host

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _TraceHook)

    def __hash__(self) -> int:
        return hash(_TraceHook)


class ProgressBarState(AbstractCallbackState):
    """What a `ProgressBarCallback` carries: the episode totals at the last report.

    Attributes:
        episodes: Totals and latest means of finished episodes.
    """

    episodes: RecentEpisodes


class ProgressBarCallback(AbstractEpisodeCallback):
    """A progress bar: timesteps, elapsed and remaining time, steps/s, return.

    While JAX compiles the run the bar reads "compiling...", so the screen is
    never silent; after each iteration it shows the timesteps done of the total,
    the time elapsed since the run started (compilation excluded) and an
    estimate of the time left, env steps per second (of one run) and the mean
    return of the episodes finished in the iteration (the latest such mean when
    none finished). Under `jax.vmap` over N seeds there is ONE bar, showing the
    mean return over seeds and its min and max.

    The bar is drawn with rich (`pip install 'lerax[progress]'`) when the output
    is a terminal, and as plain lines otherwise (CI logs stay readable). It
    closes itself after the last iteration; to close it also on an exception or
    Ctrl-C, use the callback as a context manager:

        with ProgressBarCallback() as bar:
            policy = algo.learn(env, policy, 100_000, key=key, callback=bar)

    The display lives on the host (this Module holds an integer handle to it),
    so a new `ProgressBarCallback` reuses the compiled program.

    Attributes:
        handle: The handle of the host-side display (an int32 array).
    """

    handle: Int[Array, ""]
    _trace: _TraceHook = eqx.field(static=True, repr=False)

    def __init__(
        self,
        *,
        plain: bool | None = None,
        min_interval: float = 5.0,
        file: TextIO | None = None,
    ):
        """Create the callback.

        Args:
            plain: `True` for plain lines, `False` for the rich bar, `None` to
                choose by whether the output is a terminal.
            min_interval: Seconds between two plain lines (the first and last
                iterations always print).
            file: Where to write; `None` means standard output.

        Raises:
            ValueError: If `min_interval` is negative.
            ImportError: If `plain=False` and rich is not installed.
        """
        if not min_interval >= 0:
            raise ValueError(
                f"ProgressBarCallback: min_interval must be >= 0, got {min_interval}."
            )
        if plain is False:
            import_extra("rich.progress", "progress", owner="ProgressBarCallback")
        host = ProgressBarHost(plain, float(min_interval), file)
        self.handle = register(host)
        self._trace = _TraceHook(host)

    @property
    def host(self) -> ProgressBarHost:
        """The host-side display."""
        return lookup(self.handle)

    def close(self) -> None:
        """Stop the display now (after drawing what the run has sent)."""
        settle()
        self.host.close()

    def __enter__(self) -> ProgressBarCallback:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> ProgressBarState:
        """Show "compiling..." (now, while tracing) and start the clock (at run time).

        Args:
            ctx: The run's sizes.
            key: Ignored.

        Returns:
            Zero episode totals.
        """
        self._trace.host.compiling(ctx.total_timesteps)
        emit(
            self.handle, "start", {"total_timesteps": jnp.asarray(ctx.total_timesteps)}
        )
        return ProgressBarState(episodes=RecentEpisodes.initial(ctx.num_envs))

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> ProgressBarState:
        """Send the iteration's progress to the display.

        Args:
            ctx: The iteration's data.
            key: Ignored.

        Returns:
            The episode totals at this report.
        """
        state = ctx.state
        assert isinstance(state, ProgressBarState)
        episodes, metrics = state.episodes.observe(ctx, "ProgressBarCallback").report()
        total = ctx.num_iterations * (
            ctx.timesteps // jnp.maximum(ctx.iteration + 1, 1)
        )
        emit(
            self.handle,
            "iteration",
            {
                "iteration": ctx.iteration + 1,
                "num_iterations": jnp.asarray(ctx.num_iterations),
                "timesteps": ctx.timesteps,
                "total_timesteps": total,
                "episode_return": metrics["episode_return"],
            },
            final=ctx.iteration + 1 >= ctx.num_iterations,
        )
        return ProgressBarState(episodes=episodes)
