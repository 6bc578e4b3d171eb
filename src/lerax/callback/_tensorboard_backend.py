"""A logging backend that writes TensorBoard event files (tensorboardX)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lerax._optional import import_extra

from ._logging_backend import AbstractLoggingBackend, finite_scalars


def _hparams_markdown(hyperparameters: dict[str, Any]) -> str:
    lines = ["| hyperparameter | value |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in sorted(hyperparameters.items())]
    return "\n".join(lines)


class TensorBoardBackend(AbstractLoggingBackend):
    """Write scalars to TensorBoard, one run directory per seed.

    Seed `i` writes to `<logdir>/seed_<i>` (also without `jax.vmap`, where the
    only seed is 0), so TensorBoard shows one run per seed. Each scalar is
    written against the timesteps; the hyperparameters are written once per run
    as a text summary (tag `hyperparameters`). Missing values are skipped.

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
        for seed, hp in enumerate(hyperparameters):
            self._writer(seed).add_text("hyperparameters", _hparams_markdown(hp), 0)

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
                summary_pb2.Summary.Value(tag=key, simple_value=float(value))
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
        """Flush and close every writer."""
        for writer in self._writers:
            writer.close()
        self._writers = []
