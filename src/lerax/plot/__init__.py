"""Learning curves from training logs (`pip install 'lerax[plot]'` for matplotlib)."""

from ._curves import (
    load_runs as load_runs,
    plot_learning_curves as plot_learning_curves,
)

__all__ = ["load_runs", "plot_learning_curves"]
