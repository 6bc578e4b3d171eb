"""`python -m lerax.plot RUN.csv [RUN2.csv ...] -o curve.png`: draw learning curves."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._curves import BANDS, plot_learning_curves


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and write the figure.

    Args:
        argv: The arguments (default: `sys.argv[1:]`).

    Returns:
        The exit status (0 on success, 1 on an input error).
    """
    parser = argparse.ArgumentParser(
        prog="python -m lerax.plot",
        description="Draw learning curves from CSV / JSON Lines training logs "
        "(one line per file; mean and a band over the seeds of a file).",
    )
    parser.add_argument("runs", nargs="+", help="CSV or JSONL files from lerax loggers")
    parser.add_argument("-o", "--output", required=True, help="image to write (.png)")
    parser.add_argument("--x", default="timesteps", help="x column (timesteps)")
    parser.add_argument("--y", default="episode_return", help="y column")
    parser.add_argument(
        "--band", default="minmax", choices=BANDS, help="band over seeds (minmax)"
    )
    parser.add_argument("--labels", nargs="+", help="one legend label per run")
    parser.add_argument("--title", help="figure title (default: the runs and y)")
    args = parser.parse_args(argv)
    try:
        plot_learning_curves(
            args.runs,
            x=args.x,
            y=args.y,
            band=args.band,
            labels=args.labels,
            title=args.title,
            output=args.output,
        )
    except (FileNotFoundError, KeyError, ValueError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
