"""Scale out with JAX itself: many seeds, hyperparameter sweeps, many devices.

`train_seeds` vmaps `learn` over seeds, `sweep` vmaps that over hyperparameter
configurations, and `select` takes one member out of the stack. Every entry point
(and `learn` itself) takes `mesh=`: a one-axis `jax.sharding.Mesh` over which the
environments are split.
"""

from ._seeds import select as select, stack as stack, train_seeds as train_seeds
from ._sweep import (
    SweepResult as SweepResult,
    sweep as sweep,
    sweepable_fields as sweepable_fields,
)

__all__ = ["SweepResult", "select", "stack", "sweep", "sweepable_fields", "train_seeds"]
