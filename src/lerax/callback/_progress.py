"""Printing training progress from inside the compiled run."""

from __future__ import annotations

import math
import time

import equinox as eqx
import jax
from jaxtyping import Array, Key

from ._base import (
    AbstractCallbackState,
    IterationContext,
    ResetContext,
    check_log_keys,
)
from ._episode_statistics import AbstractEpisodeCallback
from ._recent_episodes import EpisodeTracker, rollout_of


class ProgressCallbackState(AbstractCallbackState):
    """The unfinished episodes, to report per-iteration means.

    Attributes:
        episodes: Each environment's unfinished episode (totals cleared every
            iteration).
    """

    episodes: EpisodeTracker


# Log entries shown by default, most telling first: a line keeps those that fit
# in `LINE_WIDTH` characters. Entries named `nonfinite_*` are diagnostics, shown
# (on a line of their own) only when they are not zero.
DEFAULT_COLUMNS = (
    "approx_kl",
    "clip_fraction",
    "explained_variance",
    "entropy_loss",
    "value_loss",
    "policy_loss",
    "learning_rate",
)
DIAGNOSTIC_PREFIX = "nonfinite_"
LINE_WIDTH = 100
_GAP = "  "


def progress_columns(
    log_keys: tuple[str, ...], num_iterations: int, total_timesteps: int
) -> tuple[tuple[str, int], ...]:
    """The default table of a `ProgressCallback`: `(name, width)` per column.

    `iter`, `steps` and `return` come first, then the log entries of
    `DEFAULT_COLUMNS` (in that order) and then the rest of the log, as many as
    fit in `LINE_WIDTH` characters; `nonfinite_*` entries are never columns.

    Args:
        log_keys: The entries of the algorithm's training log.
        num_iterations: The run's number of iterations.
        total_timesteps: The run's total timesteps.

    Returns:
        The columns, in order.
    """
    columns = [
        ("iter", max(4, 2 * len(str(num_iterations)) + 1)),
        ("steps", max(5, len(f"{total_timesteps:,}"))),
        ("return", 9),
    ]
    wanted = [k for k in DEFAULT_COLUMNS if k in log_keys]
    wanted += [k for k in log_keys if k not in wanted]
    width = sum(w for _, w in columns) + len(_GAP) * (len(columns) - 1)
    for key in wanted:
        if key.startswith(DIAGNOSTIC_PREFIX):
            continue
        cell = max(len(key), 9)
        if width + len(_GAP) + cell > LINE_WIDTH:
            continue
        columns.append((key, cell))
        width += len(_GAP) + cell
    return tuple(columns)


def progress_lines(
    columns: tuple[tuple[str, int], ...],
    iteration: int,
    num_iterations: int,
    timesteps: int,
    mean_return: float,
    log: dict[str, float],
    *,
    header: bool,
    diagnostics: bool,
) -> list[str]:
    """The printed lines of one progress report.

    Args:
        columns: `(name, width)` per column (`progress_columns`).
        iteration: Iterations done (from 1).
        num_iterations: The run's number of iterations.
        timesteps: Timesteps done.
        mean_return: The mean return of the episodes finished in the iteration
            (NaN when none finished: shown as `-`).
        log: The training log's values.
        header: Whether to print the column names first.
        diagnostics: Whether to add a line naming the non-zero `nonfinite_*`
            entries of `log` (when there is one).

    Returns:
        The lines (header, row, diagnostics), without newlines.
    """
    cells = []
    for name, width in columns:
        if name == "iter":
            text = f"{iteration}/{num_iterations}"
        elif name == "steps":
            text = f"{timesteps:,}"
        else:
            value = float(mean_return if name == "return" else log[name])
            text = f"{value:.4g}" if math.isfinite(value) else "-"
        cells.append(text.rjust(width))
    lines = []
    if header:
        lines.append(_GAP.join(name.rjust(width) for name, width in columns))
    lines.append(_GAP.join(cells))
    if diagnostics:
        bad = [
            f"{k} {float(v):.4g}"
            for k, v in log.items()
            if k.startswith(DIAGNOSTIC_PREFIX) and float(v) != 0
        ]
        if bad:
            lines.append(f"  iteration {iteration}: " + ", ".join(bad))
    return lines


class _Throttle:
    """Host-side memory shared by the prints of one callback (not part of any pytree).

    Attributes:
        last: When the last line was printed.
        compiling: Whether "compiling..." was printed and no line followed yet
            (so a second trace of the same run prints nothing).
        printed: The index of the last iteration printed (`None` before any):
            an iteration before it starts a new run, which prints the column
            names again.
    """

    def __init__(self) -> None:
        self.last = -math.inf
        self.compiling = False
        self.printed: int | None = None


class ProgressCallback(AbstractEpisodeCallback):
    """Print a table of progress, one row per iteration, at most every `min_interval` s.

    "compiling..." is printed (once, from Python) as soon as JAX starts tracing
    the run, so the screen is not silent while it compiles. Then a header line
    names the columns and each printed row holds the iteration, the timesteps so
    far, the mean return of the episodes completed in the iteration (`-` when
    none completed) and training statistics. By default the statistics are, of
    `approx_kl`, `clip_fraction`, `explained_variance`, `entropy_loss`,
    `value_loss`, `policy_loss`, `learning_rate` and then the rest of the log,
    those that fit in a line of 100 characters (for PPO, the first five); the
    `nonfinite_*` diagnostics are printed on a line of their own, and only when
    they are not zero. `keys` chooses the
    columns instead (all of them shown, whatever the width).

    Printing goes through `jax.debug.callback`; the first and last iterations
    always print. Under `jax.vmap` over seeds each seed prints its own row.

    Attributes:
        every: Consider printing every `every` iterations.
        min_interval: Minimum seconds between two printed rows.
        keys: The log entries to print (`None`: the concise default above).

    Raises:
        ValueError: If `every < 1` or `min_interval < 0`.
    """

    every: int = eqx.field(static=True, default=1)
    min_interval: float = eqx.field(static=True, default=0.0)
    keys: tuple[str, ...] | None = eqx.field(static=True, default=None)
    _throttle: _Throttle = eqx.field(static=True, default_factory=_Throttle)

    def __check_init__(self):
        if self.every < 1:
            raise ValueError(f"ProgressCallback: every must be >= 1, got {self.every}.")
        if self.min_interval < 0:
            raise ValueError(
                f"ProgressCallback: min_interval must be >= 0, got {self.min_interval}."
            )

    def reset(self, ctx: ResetContext, *, key: Key[Array, ""]) -> ProgressCallbackState:
        """Print "compiling..." (now, while JAX traces) and start with no episode.

        Args:
            ctx: The run's sizes.
            key: Ignored.

        Returns:
            An empty episode tracker.
        """
        if not self._throttle.compiling:
            # Printed by Python while tracing, not by the compiled program: it
            # appears before the compile starts. A second trace of the same run
            # (the checkpoint's structure check) prints nothing.
            print("compiling...", flush=True)
            self._throttle.compiling = True
        return ProgressCallbackState(episodes=EpisodeTracker.initial(ctx.num_envs))

    def _print(self, iteration, num_iterations, timesteps, mean_return, log) -> None:
        iteration = int(iteration)
        last = iteration + 1 == num_iterations
        now = time.monotonic()
        throttle = self._throttle
        new_run = throttle.printed is None or iteration < throttle.printed
        if not (
            iteration == 0
            or last
            or new_run
            or (
                (iteration + 1) % self.every == 0
                and now - throttle.last >= self.min_interval
            )
        ):
            return
        throttle.last = now
        throttle.compiling = False
        log = {k: float(v) for k, v in log.items()}
        timesteps = int(timesteps)
        total = timesteps * num_iterations // (iteration + 1)
        if self.keys is None:
            columns = progress_columns(tuple(log), num_iterations, total)
        else:
            columns = progress_columns((), num_iterations, total)[:3] + tuple(
                (k, max(len(k), 9)) for k in self.keys
            )
        lines = progress_lines(
            columns,
            iteration + 1,
            num_iterations,
            timesteps,
            float(mean_return),
            log,
            header=new_run,
            diagnostics=self.keys is None,
        )
        throttle.printed = iteration
        print("\n".join(lines), flush=True)

    def on_iteration(
        self, ctx: IterationContext, *, key: Key[Array, ""]
    ) -> ProgressCallbackState:
        """Print the iteration's line (host callback) and update the totals.

        Args:
            ctx: The iteration's data.
            key: Ignored.

        Returns:
            The updated totals.

        Raises:
            KeyError: If `keys` names an entry the training log lacks (raised
                while tracing, before anything runs).
        """
        state = ctx.state
        assert isinstance(state, ProgressCallbackState)
        episodes = state.episodes.observe(*rollout_of(ctx, "ProgressCallback"))
        mean_return, _ = episodes.means()
        if self.keys is not None:
            check_log_keys("ProgressCallback", self.keys, ctx.log)
        log = ctx.log if self.keys is None else {k: ctx.log[k] for k in self.keys}
        jax.debug.callback(
            lambda i, t, r, lg: self._print(i, ctx.num_iterations, t, r, lg),
            ctx.iteration,
            ctx.timesteps,
            mean_return,
            log,
        )
        return ProgressCallbackState(episodes=episodes.cleared())
