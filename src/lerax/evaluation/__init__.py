"""Evaluation: play whole episodes with a (trained) policy, in one compiled program."""

from ._evaluate import (
    EvaluationResult as EvaluationResult,
    evaluate_policy as evaluate_policy,
)

__all__ = ["EvaluationResult", "evaluate_policy"]
