"""Scale out with JAX itself: many seeds, hyperparameter sweeps, many devices.

`train_seeds` vmaps `learn` over seeds, `sweep` vmaps that over hyperparameter
configurations, and `select` takes one member out of the stack. `pbt` trains a
population whose worst members copy and perturb the best ones, and
`learn_with_curriculum` sets environment parameters during training, both
inside one compiled program; `RandomizeOnReset` draws an env parameter per
environment at every episode reset. Every seed/sweep entry point (and `learn` itself)
takes `mesh=`: a one-axis `jax.sharding.Mesh` over which the environments are
split.
"""

from ._curriculum import (
    AbstractCurriculum as AbstractCurriculum,
    CurriculumContext as CurriculumContext,
    CurriculumRun as CurriculumRun,
    DomainRandomization as DomainRandomization,
    PerformanceCurriculum as PerformanceCurriculum,
    ScheduledCurriculum as ScheduledCurriculum,
    learn_with_curriculum as learn_with_curriculum,
)
from ._pbt import (
    PBTResult as PBTResult,
    PBTState as PBTState,
    pbt as pbt,
    recent_mean_return as recent_mean_return,
)
from ._reset_randomization import (
    RandomizeOnReset as RandomizeOnReset,
    RandomizeOnResetState as RandomizeOnResetState,
)
from ._seeds import select as select, stack as stack, train_seeds as train_seeds
from ._sweep import (
    SweepResult as SweepResult,
    sweep as sweep,
    sweepable_fields as sweepable_fields,
)

__all__ = [
    "AbstractCurriculum",
    "CurriculumContext",
    "CurriculumRun",
    "DomainRandomization",
    "PBTResult",
    "PBTState",
    "PerformanceCurriculum",
    "RandomizeOnReset",
    "RandomizeOnResetState",
    "ScheduledCurriculum",
    "SweepResult",
    "learn_with_curriculum",
    "pbt",
    "recent_mean_return",
    "select",
    "stack",
    "sweep",
    "sweepable_fields",
    "train_seeds",
]
