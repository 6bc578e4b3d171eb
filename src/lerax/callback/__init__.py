"""Callbacks: pytree state threaded through the compiled training run."""

from ._base import (
    AbstractCallback as AbstractCallback,
    AbstractCallbackState as AbstractCallbackState,
    AbstractCallbackStepState as AbstractCallbackStepState,
    AbstractIterationCallback as AbstractIterationCallback,
    EmptyCallbackState as EmptyCallbackState,
    EmptyCallbackStepState as EmptyCallbackStepState,
    IterationContext as IterationContext,
    ResetContext as ResetContext,
    StepContext as StepContext,
    grow_records as grow_records,
)
from ._empty import EmptyCallback as EmptyCallback
from ._episode_statistics import (
    EpisodeStatisticsCallback as EpisodeStatisticsCallback,
    EpisodeStatisticsState as EpisodeStatisticsState,
    EpisodeStatisticsStepState as EpisodeStatisticsStepState,
)
from ._list import (
    ListCallback as ListCallback,
    ListCallbackState as ListCallbackState,
    ListCallbackStepState as ListCallbackStepState,
)
from ._log_history import (
    LogHistoryCallback as LogHistoryCallback,
    LogHistoryState as LogHistoryState,
)
from ._progress import (
    ProgressCallback as ProgressCallback,
    ProgressCallbackState as ProgressCallbackState,
)

__all__ = [
    "AbstractCallback",
    "AbstractCallbackState",
    "AbstractCallbackStepState",
    "AbstractIterationCallback",
    "EmptyCallback",
    "EmptyCallbackState",
    "EmptyCallbackStepState",
    "EpisodeStatisticsCallback",
    "EpisodeStatisticsState",
    "EpisodeStatisticsStepState",
    "IterationContext",
    "ListCallback",
    "ListCallbackState",
    "ListCallbackStepState",
    "LogHistoryCallback",
    "LogHistoryState",
    "ProgressCallback",
    "ProgressCallbackState",
    "ResetContext",
    "StepContext",
    "grow_records",
]
