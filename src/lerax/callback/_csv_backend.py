"""Logging backends that write rows to a CSV or JSON Lines file."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import IO, Any

from ._logging_backend import AbstractLoggingBackend


def _plain(value: Any) -> Any:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return int(value) if value == int(value) and abs(value) < 2**53 else value


def _write_hyperparameters(path: Path, hyperparameters: list[dict[str, Any]]) -> None:
    runs = [
        {"seed": seed, **{k: _plain(v) for k, v in hp.items()}}
        for seed, hp in enumerate(hyperparameters)
    ]
    path.write_text(json.dumps(runs, indent=2) + "\n")


def sidecar_path(path: Path) -> Path:
    """Where a file backend writes the hyperparameters: `<name>.hparams.json`.

    Args:
        path: The log file.

    Returns:
        The sidecar's path, next to the log file.
    """
    return path.with_name(path.name + ".hparams.json")


class CSVBackend(AbstractLoggingBackend):
    """Write one CSV row per (seed, logged iteration), with a header line.

    Missing values (no episode finished yet, no evaluation yet) are empty
    cells. The hyperparameters of each seed go to a sidecar JSON file
    `<path>.hparams.json`. A new run truncates the file.

    Attributes:
        path: The CSV file.
    """

    def __init__(self, path: str | Path):
        """Create the backend.

        Args:
            path: The CSV file to write (its directory is created).
        """
        self.path = Path(path)
        self._file: IO[str] | None = None
        self._writer: Any = None

    def start(self, hyperparameters: list[dict[str, Any]]) -> None:
        """Truncate the file and write the hyperparameters sidecar.

        Args:
            hyperparameters: One dict per seed.
        """
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_hyperparameters(sidecar_path(self.path), hyperparameters)
        self._file = self.path.open("w", newline="")
        self._writer = None

    def write(self, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
        """Append the rows (the header comes before the first).

        Args:
            rows: One dict per seed.
            columns: The columns, in order.
        """
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a", newline="")
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=list(columns))
            if self._file.tell() == 0:
                self._writer.writeheader()
        for row in rows:
            self._writer.writerow(
                {
                    c: "" if _plain(row.get(c)) is None else _plain(row.get(c))
                    for c in columns
                }
            )
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
        self._file = None
        self._writer = None


class JSONLBackend(AbstractLoggingBackend):
    """Write one JSON object per (seed, logged iteration) and line.

    Missing values are `null`. The hyperparameters of each seed go to a sidecar
    JSON file `<path>.hparams.json`. A new run truncates the file.

    Attributes:
        path: The JSON Lines file.
    """

    def __init__(self, path: str | Path):
        """Create the backend.

        Args:
            path: The file to write (its directory is created).
        """
        self.path = Path(path)
        self._file: IO[str] | None = None

    def start(self, hyperparameters: list[dict[str, Any]]) -> None:
        """Truncate the file and write the hyperparameters sidecar.

        Args:
            hyperparameters: One dict per seed.
        """
        self.close()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        _write_hyperparameters(sidecar_path(self.path), hyperparameters)
        self._file = self.path.open("w")

    def write(self, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
        """Append one line per row.

        Args:
            rows: One dict per seed.
            columns: The columns, in order.
        """
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("a")
        for row in rows:
            self._file.write(
                json.dumps({c: _plain(row.get(c)) for c in columns}) + "\n"
            )
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        if self._file is not None:
            self._file.close()
        self._file = None
