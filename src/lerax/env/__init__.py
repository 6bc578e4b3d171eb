"""Environments and wrappers: pure, jit- and vmap-friendly Equinox modules."""

from ._action_wrappers import (
    ClipAction as ClipAction,
    RescaleAction as RescaleAction,
    clip_to_action_space as clip_to_action_space,
)
from ._base import (
    AbstractEnv as AbstractEnv,
    AbstractEnvLike as AbstractEnvLike,
    AbstractEnvLikeState as AbstractEnvLikeState,
    AbstractEnvState as AbstractEnvState,
)
from ._check import EnvCheckError as EnvCheckError, check_env as check_env
from ._guard import require_env as require_env
from ._multi_agent import (
    AbstractMultiAgentEnv as AbstractMultiAgentEnv,
    AgentBatchEnv as AgentBatchEnv,
    AgentBatchState as AgentBatchState,
    require_homogeneous as require_homogeneous,
)
from ._observation_wrappers import (
    FlattenObservation as FlattenObservation,
    TransformObservation as TransformObservation,
)
from ._reset import ResetWhereDone as ResetWhereDone, auto_reset as auto_reset
from ._reward_wrappers import TransformReward as TransformReward
from ._time_limit import TimeLimit as TimeLimit, TimeLimitState as TimeLimitState
from ._wrapper import (
    AbstractActionWrapper as AbstractActionWrapper,
    AbstractObservationWrapper as AbstractObservationWrapper,
    AbstractRewardWrapper as AbstractRewardWrapper,
    AbstractWrapper as AbstractWrapper,
)

__all__ = [
    "AbstractActionWrapper",
    "AbstractEnv",
    "AbstractEnvLike",
    "AbstractEnvLikeState",
    "AbstractEnvState",
    "AbstractMultiAgentEnv",
    "AbstractObservationWrapper",
    "AbstractRewardWrapper",
    "AbstractWrapper",
    "AgentBatchEnv",
    "AgentBatchState",
    "ClipAction",
    "EnvCheckError",
    "FlattenObservation",
    "RescaleAction",
    "ResetWhereDone",
    "TimeLimit",
    "TimeLimitState",
    "TransformObservation",
    "TransformReward",
    "auto_reset",
    "check_env",
    "clip_to_action_space",
    "require_env",
    "require_homogeneous",
]
