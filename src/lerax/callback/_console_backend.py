"""A logging backend that prints a compact table."""

from __future__ import annotations

import math
import sys
from typing import Any, TextIO

from ._logging_backend import AbstractLoggingBackend


def _format(value: Any) -> str:
    if value is None:
        return "-"
    value = float(value)
    if not math.isfinite(value):
        return "-"
    if value == int(value) and abs(value) < 1e12:
        return f"{int(value):,}"
    return f"{value:.4g}"


class ConsoleBackend(AbstractLoggingBackend):
    """Print each logged row as a small table (one value column per seed).

    With more than `max_columns` seeds the table shows the mean, min and max
    over seeds instead.

    Attributes:
        file: Where to print (standard output by default).
        max_columns: The most seeds shown one column each.
    """

    def __init__(self, file: TextIO | None = None, max_columns: int = 4):
        """Create the backend.

        Args:
            file: Where to print; `None` means `sys.stdout` at print time.
            max_columns: The most seeds shown one column each.

        Raises:
            ValueError: If `max_columns` < 1.
        """
        if max_columns < 1:
            raise ValueError(
                f"ConsoleBackend: max_columns must be >= 1, got {max_columns}."
            )
        self.file = file
        self.max_columns = max_columns

    def start(self, hyperparameters: list[dict[str, Any]]) -> None:
        """Nothing to open.

        Args:
            hyperparameters: Ignored.
        """

    def write(self, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
        """Print the rows as one table.

        Args:
            rows: One dict per run.
            columns: The columns, in order.
        """
        names = [c for c in columns if c != "seed"]
        if len(rows) <= self.max_columns:
            headers = (
                [f"seed {r['seed']}" for r in rows] if len(rows) > 1 else ["value"]
            )
            cells = [[_format(r.get(c)) for r in rows] for c in names]
        else:
            headers = ["mean", "min", "max"]
            cells = []
            for c in names:
                vals = [float(r[c]) for r in rows if r.get(c) is not None]
                vals = [v for v in vals if math.isfinite(v)]
                if vals:
                    cells.append(
                        [
                            _format(sum(vals) / len(vals)),
                            _format(min(vals)),
                            _format(max(vals)),
                        ]
                    )
                else:
                    cells.append(["-"] * 3)
        key_width = max(len(n) for n in names)
        widths = [
            max(len(h), *(len(row[j]) for row in cells)) for j, h in enumerate(headers)
        ]
        rule = "-" * (key_width + sum(w + 3 for w in widths) + 1)
        lines = [
            rule,
            " " * key_width
            + " | "
            + " | ".join(h.rjust(w) for h, w in zip(headers, widths, strict=True)),
        ]
        for name, row in zip(names, cells, strict=True):
            lines.append(
                name.ljust(key_width)
                + " | "
                + " | ".join(v.rjust(w) for v, w in zip(row, widths, strict=True))
            )
        lines.append(rule)
        print("\n".join(lines), file=self.file or sys.stdout, flush=True)

    def close(self) -> None:
        """Nothing to close."""
