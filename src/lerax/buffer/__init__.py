"""Rollout storage and the advantage estimates computed from it."""

from ._gae import generalized_advantage_estimate as generalized_advantage_estimate
from ._rollout import RolloutBuffer as RolloutBuffer

__all__ = ["RolloutBuffer", "generalized_advantage_estimate"]
