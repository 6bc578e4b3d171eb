"""Algorithms: the on-policy core, PPO and A2C."""

from ._a2c import A2C as A2C
from ._actor_critic import AbstractActorCriticAlgorithm as AbstractActorCriticAlgorithm
from ._base import (
    AbstractAlgorithm as AbstractAlgorithm,
    AbstractAlgorithmState as AbstractAlgorithmState,
    AbstractStepState as AbstractStepState,
)
from ._nonfinite import NonFiniteError as NonFiniteError
from ._on_policy import AbstractOnPolicyAlgorithm as AbstractOnPolicyAlgorithm
from ._on_policy_state import (
    AbstractOnPolicyState as AbstractOnPolicyState,
    AbstractOnPolicyStepState as AbstractOnPolicyStepState,
    OnPolicyState as OnPolicyState,
    OnPolicyStepState as OnPolicyStepState,
)
from ._ppo import PPO as PPO, PPOStats as PPOStats
from ._reward_scaling import RewardNormalizerState as RewardNormalizerState

__all__ = [
    "A2C",
    "AbstractActorCriticAlgorithm",
    "AbstractAlgorithm",
    "AbstractAlgorithmState",
    "AbstractOnPolicyAlgorithm",
    "AbstractOnPolicyState",
    "AbstractOnPolicyStepState",
    "AbstractStepState",
    "NonFiniteError",
    "OnPolicyState",
    "OnPolicyStepState",
    "PPO",
    "PPOStats",
    "RewardNormalizerState",
]
