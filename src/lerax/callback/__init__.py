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
from ._console_backend import ConsoleBackend as ConsoleBackend
from ._csv_backend import CSVBackend as CSVBackend, JSONLBackend as JSONLBackend
from ._empty import EmptyCallback as EmptyCallback
from ._episode_statistics import (
    AbstractEpisodeCallback as AbstractEpisodeCallback,
    EpisodeStatisticsCallback as EpisodeStatisticsCallback,
    EpisodeStatisticsState as EpisodeStatisticsState,
)
from ._eval import EvalCallback as EvalCallback, EvalState as EvalState
from ._list import (
    ListCallback as ListCallback,
    ListCallbackState as ListCallbackState,
    ListCallbackStepState as ListCallbackStepState,
)
from ._log_history import (
    LogHistoryCallback as LogHistoryCallback,
    LogHistoryState as LogHistoryState,
)
from ._logging import (
    LoggingCallback as LoggingCallback,
    LoggingState as LoggingState,
)
from ._logging_backend import AbstractLoggingBackend as AbstractLoggingBackend
from ._progress import (
    ProgressCallback as ProgressCallback,
    ProgressCallbackState as ProgressCallbackState,
)
from ._progress_bar import (
    ProgressBarCallback as ProgressBarCallback,
    ProgressBarState as ProgressBarState,
)
from ._recent_episodes import EpisodeTracker as EpisodeTracker
from ._tensorboard_backend import TensorBoardBackend as TensorBoardBackend
from ._wandb_backend import WandbBackend as WandbBackend

__all__ = [
    "AbstractCallback",
    "AbstractCallbackState",
    "AbstractCallbackStepState",
    "AbstractEpisodeCallback",
    "AbstractIterationCallback",
    "AbstractLoggingBackend",
    "CSVBackend",
    "ConsoleBackend",
    "EmptyCallback",
    "EmptyCallbackState",
    "EmptyCallbackStepState",
    "EpisodeStatisticsCallback",
    "EpisodeStatisticsState",
    "EpisodeTracker",
    "EvalCallback",
    "EvalState",
    "IterationContext",
    "JSONLBackend",
    "ListCallback",
    "ListCallbackState",
    "ListCallbackStepState",
    "LogHistoryCallback",
    "LogHistoryState",
    "LoggingCallback",
    "LoggingState",
    "ProgressBarCallback",
    "ProgressBarState",
    "ProgressCallback",
    "ProgressCallbackState",
    "ResetContext",
    "StepContext",
    "grow_records",
    "TensorBoardBackend",
    "WandbBackend",
]
