"""Reading logged runs and drawing their learning curves."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lerax._optional import import_extra

Source = str | Path | Mapping[str, Any]

BANDS = ("minmax", "stderr", "none")
# What the legend calls each band.
_BAND_NAMES = {"minmax": "min-max over seeds", "stderr": "±1 standard error"}


def _number(value: Any) -> float:
    if value is None or value == "":
        return math.nan
    return float(value)


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise FileNotFoundError(f"plot_learning_curves: no file {str(path)!r}.")
    if path.suffix in (".jsonl", ".ndjson"):
        with path.open() as f:
            return [json.loads(line) for line in f if line.strip()]
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def load_runs(source: Source, *, x: str, y: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """The `(x, y)` points of each seed of one logged run.

    Args:
        source: A CSV or JSON Lines file written by `CSVBackend` /
            `JSONLBackend` (rows of several seeds are told apart by their `seed`
            column), or a mapping with entries `x` and `y`: 1-D arrays (one
            seed) or 2-D arrays of shape `(seeds, points)` (for example
            records taken from a vmapped `learn_state`).
        x: The column (entry) for the horizontal axis.
        y: The column (entry) for the vertical axis.

    Returns:
        One `(x, y)` pair of 1-D float arrays per seed, without missing points.

    Raises:
        FileNotFoundError: If a path does not exist.
        KeyError: If the log has no column `x` or `y` (naming the ones it has).
        ValueError: If the arrays of a mapping have different shapes.
    """
    if isinstance(source, Mapping):
        for key in (x, y):
            if key not in source:
                raise KeyError(
                    f"plot_learning_curves: the log has no entry {key!r}; it has "
                    f"{sorted(source)}."
                )
        xs = np.atleast_2d(np.asarray(source[x], dtype=float))
        ys = np.atleast_2d(np.asarray(source[y], dtype=float))
        if xs.shape[0] == 1 and ys.shape[0] > 1:
            xs = np.broadcast_to(xs, ys.shape)
        if xs.shape != ys.shape:
            raise ValueError(
                f"plot_learning_curves: {x!r} has shape {xs.shape} but {y!r} has "
                f"shape {ys.shape}."
            )
        pairs = list(zip(xs, ys, strict=True))
    else:
        rows = _read_rows(Path(source))
        columns = set(rows[0]) if rows else set()
        for key in (x, y):
            if key not in columns:
                raise KeyError(
                    f"plot_learning_curves: {str(source)!r} has no column {key!r}; "
                    f"it has {sorted(columns)}."
                )
        seeds: dict[Any, list[tuple[float, float]]] = {}
        for row in rows:
            seeds.setdefault(row.get("seed", 0), []).append(
                (_number(row[x]), _number(row[y]))
            )
        pairs = [
            (np.array([p[0] for p in pts]), np.array([p[1] for p in pts]))
            for _, pts in sorted(seeds.items(), key=lambda item: float(item[0] or 0))
        ]
    out = []
    for xs, ys in pairs:
        keep = np.isfinite(xs) & np.isfinite(ys)
        out.append((np.asarray(xs[keep], float), np.asarray(ys[keep], float)))
    return out


def _aggregate(
    seeds: list[tuple[np.ndarray, np.ndarray]], band: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    grid = np.unique(np.concatenate([xs for xs, _ in seeds]))
    table = np.full((len(seeds), grid.size), np.nan)
    for i, (xs, ys) in enumerate(seeds):
        table[i, np.searchsorted(grid, xs)] = ys
    count = np.sum(np.isfinite(table), axis=0)
    grid, table, count = grid[count > 0], table[:, count > 0], count[count > 0]
    mean = np.nanmean(table, axis=0)
    if band == "minmax":
        low, high = np.nanmin(table, axis=0), np.nanmax(table, axis=0)
    elif band == "stderr":
        spread = np.zeros_like(mean)
        several = count > 1
        spread[several] = np.nanstd(table[:, several], axis=0, ddof=1) / np.sqrt(
            count[several]
        )
        low, high = mean - spread, mean + spread
    else:
        low = high = mean
    return grid, mean, low, high


def plot_learning_curves(
    paths_or_logs: Source | Sequence[Source],
    *,
    x: str = "timesteps",
    y: str = "episode_return",
    band: str = "minmax",
    labels: Sequence[str] | None = None,
    title: str | None = None,
    output: str | Path | None = None,
    ax: Any = None,
) -> Any:
    """Draw `y` against `x` for one or more logged runs.

    Each source is one run (one line). A run with several seeds (a CSV written
    under `jax.vmap`, or 2-D arrays) is drawn as the mean over seeds with a
    shaded band: `"minmax"` (default) shades from the lowest to the highest
    seed, `"stderr"` one standard error of the mean (sample standard deviation
    over seeds / sqrt(seeds)) either side, `"none"` draws no band. Seeds are
    aligned on their `x` values; missing points (no episode finished yet) are
    left out. The legend names each line ("run: mean of 4 seeds") and what its
    band is ("run: min-max over seeds", "run: ±1 standard error"); the default
    title names the runs and the plotted column ("run: episode_return").

    Args:
        paths_or_logs: A source or a sequence of sources: CSV / JSON Lines
            files from `CSVBackend` / `JSONLBackend`, or mappings of arrays (see
            `load_runs`).
        x: The horizontal axis's column.
        y: The vertical axis's column.
        band: `"minmax"`, `"stderr"` or `"none"`.
        labels: One legend label per source (default: the file names, or
            `run 0`, `run 1`, ...).
        title: The figure's title (default: the labels and `y`; `""` for none).
        output: Save the figure here (PNG, PDF, SVG by extension).
        ax: A matplotlib `Axes` to draw on (default: a new figure).

    Returns:
        The matplotlib `Figure`.

    Raises:
        ImportError: If matplotlib is not installed (`pip install
            'lerax[plot]'`).
        ValueError: If `band` is unknown, `labels` has the wrong length, or a
            source has no point to draw.
        KeyError: If a source lacks `x` or `y`.
        FileNotFoundError: If a path does not exist.
    """
    figure_module = import_extra(
        "matplotlib.figure", "plot", owner="plot_learning_curves"
    )
    if band not in BANDS:
        raise ValueError(
            f"plot_learning_curves: band must be one of {BANDS}, got {band!r}."
        )
    if isinstance(paths_or_logs, str | Path | Mapping):
        sources: list[Source] = [paths_or_logs]
    else:
        sources = list(paths_or_logs)
    if labels is None:
        labels = [
            Path(s).stem if isinstance(s, str | Path) else f"run {i}"
            for i, s in enumerate(sources)
        ]
    if len(labels) != len(sources):
        raise ValueError(
            f"plot_learning_curves: {len(labels)} labels for {len(sources)} runs."
        )
    if ax is None:
        figure = figure_module.Figure(figsize=(7, 4.5), layout="constrained")
        ax = figure.add_subplot()
    else:
        figure = ax.figure
    for source, label in zip(sources, labels, strict=True):
        seeds = [(xs, ys) for xs, ys in load_runs(source, x=x, y=y) if xs.size]
        if not seeds:
            raise ValueError(
                f"plot_learning_curves: run {label!r} has no finite ({x}, {y}) point."
            )
        grid, mean, low, high = _aggregate(seeds, band)
        n = len(seeds)
        line = ax.plot(
            grid, mean, label=label if n == 1 else f"{label}: mean of {n} seeds"
        )
        if n > 1 and band != "none":
            ax.fill_between(
                grid,
                low,
                high,
                color=line[0].get_color(),
                alpha=0.25,
                label=f"{label}: {_BAND_NAMES[band]}",
            )
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    ax.legend()
    if title is None:
        title = f"{', '.join(labels)}: {y}"
    if title:
        ax.set_title(title)
    if output is not None:
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(output, dpi=120)
    return figure
