"""A logging backend that writes TensorBoard event files (tensorboardX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lerax._optional import import_extra

from ._logging_backend import AbstractLoggingBackend, finite_scalars

# Columns grouped as Stable-Baselines3 groups its TensorBoard tags; the rest of a
# row (the algorithm's training log) goes under `train/`.
_ROLLOUT = ("episode_return", "episode_length", "episodes")
_TIME = ("wall_time", "steps_per_second")
# The metrics the HParams panel lists next to each run's hyperparameters.
_HPARAMS_METRICS = ("rollout/episode_return", "eval/return_mean")


def tensorboard_tag(column: str) -> str:
    """The TensorBoard tag of a logged column.

    `episode_return`, `episode_length`, `episodes` go under `rollout/`;
    `wall_time` and `steps_per_second` under `time/`; `eval_*` columns under
    `eval/` without the prefix (`eval_return_mean` -> `eval/return_mean`);
    everything else (the algorithm's training log) under `train/`.

    Args:
        column: A column of a `LoggingCallback` row.

    Returns:
        The tag, `group/name`.
    """
    if column in _ROLLOUT:
        return f"rollout/{column}"
    if column in _TIME:
        return f"time/{column}"
    if column.startswith("eval_"):
        return f"eval/{column.removeprefix('eval_')}"
    return f"train/{column}"


def _hparams_markdown(hyperparameters: dict[str, Any]) -> str:
    lines = ["| hyperparameter | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in sorted(hyperparameters.items())]
    return "\n".join(lines)


class TensorBoardBackend(AbstractLoggingBackend):
    """Write scalars to TensorBoard, one run directory per seed.

    Seed `i` writes to `<logdir>/seed_<i>` (also without `jax.vmap`, where the
    only seed is 0), so TensorBoard shows one run per seed. Each scalar is
    written against the timesteps, under a tag grouped as Stable-Baselines3
    groups its own (`tensorboard_tag`): `rollout/episode_return`,
    `train/approx_kl`, `eval/return_mean`, `time/steps_per_second`, ... (CSV
    and JSON Lines files keep the plain column names). The hyperparameters are
    written once per run for TensorBoard's HParams panel (with
    `rollout/episode_return` and `eval/return_mean` as its metrics) and as a
    text summary (tag `hyperparameters`). Missing values are skipped.

    Attributes:
        logdir: The parent directory of the run directories.
    """

    def __init__(self, logdir: str | Path):
        """Create the backend.

        Args:
            logdir: The parent directory of the run directories.

        Raises:
            ImportError: If tensorboardX is not installed (`pip install
                'lerax[tensorboard]'`).
        """
        self._tbx = import_extra(
            "tensorboardX", "tensorboard", owner="TensorBoardBackend"
        )
        self.logdir = Path(logdir)
        self._writers: list[Any] = []

    def _writer(self, seed: int):
        while len(self._writers) <= seed:
            path = self.logdir / f"seed_{len(self._writers)}"
            # Flushed by the writer's own thread (every 10 s) and at `close`,
            # never inside the training loop's host callback.
            self._writers.append(
                self._tbx.SummaryWriter(logdir=str(path), flush_secs=10)
            )
        return self._writers[seed]

    def start(self, hyperparameters: list[dict[str, Any]]) -> None:
        """Open one writer per seed and write its hyperparameters.

        Args:
            hyperparameters: One dict per seed.
        """
        self.close()
        summary = import_extra(
            "tensorboardX.summary", "tensorboard", owner="TensorBoardBackend"
        )
        for seed, hp in enumerate(hyperparameters):
            writer = self._writer(seed)
            writer.add_text("hyperparameters", _hparams_markdown(hp), 0)
            # The HParams plugin: the experiment (which hyperparameters and
            # metrics exist) and this run's values; the run's end is written
            # by `close`.
            experiment, start, _ = summary.hparams(
                {
                    k: v
                    for k, v in hp.items()
                    if isinstance(v, bool | int | float | str)
                },
                dict.fromkeys(_HPARAMS_METRICS),
            )
            writer._get_file_writer().add_summary(experiment)
            writer._get_file_writer().add_summary(start)

    def write(self, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
        """Write each seed's finite values at its timesteps.

        Args:
            rows: One dict per seed.
            columns: Ignored (each value is its own scalar series).
        """
        summary_pb2 = import_extra(
            "tensorboardX.proto.summary_pb2", "tensorboard", owner="TensorBoardBackend"
        )
        for row in rows:
            writer = self._writer(int(row["seed"]))
            step = int(row["timesteps"])
            values = [
                summary_pb2.Summary.Value(
                    tag=tensorboard_tag(key), simple_value=float(value)
                )
                for key, value in finite_scalars(row).items()
                if key != "timesteps"
            ]
            # One event holding every scalar of the row, not one event per
            # scalar (`add_scalar`): a fraction of the host work per iteration.
            # TensorBoard reads each tag of it as its own series.
            writer._get_file_writer().add_summary(
                summary_pb2.Summary(value=values), step
            )

    def close(self) -> None:
        """Mark each run finished for the HParams panel, flush and close."""
        if self._writers:
            summary = import_extra(
                "tensorboardX.summary", "tensorboard", owner="TensorBoardBackend"
            )
            _, _, end = summary.hparams({}, {})
        for writer in self._writers:
            writer._get_file_writer().add_summary(end)
            writer.close()
        self._writers = []
