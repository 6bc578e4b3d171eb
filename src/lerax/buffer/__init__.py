"""Rollout storage and the advantage estimates and returns computed from it."""

from ._gae import generalized_advantage_estimate as generalized_advantage_estimate
from ._q_lambda import q_lambda_returns as q_lambda_returns
from ._rollout import RolloutBuffer as RolloutBuffer

__all__ = ["RolloutBuffer", "generalized_advantage_estimate", "q_lambda_returns"]
