"""Evaluation: play whole episodes with a (trained) policy, in one compiled program."""

from ._evaluate import (
    EvaluationResult as EvaluationResult,
    evaluate_policy as evaluate_policy,
)
from ._team import (
    TeamEvaluationResult as TeamEvaluationResult,
    evaluate_team as evaluate_team,
)

__all__ = [
    "EvaluationResult",
    "TeamEvaluationResult",
    "evaluate_policy",
    "evaluate_team",
]
