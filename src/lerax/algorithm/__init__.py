"""Algorithms: the on-policy core, PPO, A2C and PQN, and the parts to write your own.

`actor_critic_step`, `gae_post_collect`, `evaluate_buffer`,
`explained_variance`, `filter_scan`, `guarded_update` and `hyperparameter` are
the building blocks PPO and A2C are made of, public so that a new algorithm
needs no private import. PPO's policy term is a module, an
`AbstractPolicyObjective` (`ClippedSurrogate`, `DPO`, `SPO`, `KLPenalty`,
`LearnedDrift`, or your own): see docs/objectives.md. `run_on_policy` is the
whole run as one compiled, vmappable program (what `learn` runs; `lerax.scale`
vmaps it) and `raise_if_faulted` raises the `NonFiniteError` a finished run recorded.
"""

from ._a2c import A2C as A2C
from ._actor_critic import (
    AbstractActorCriticAlgorithm as AbstractActorCriticAlgorithm,
    actor_critic_step as actor_critic_step,
    evaluate_buffer as evaluate_buffer,
    explained_variance as explained_variance,
    gae_post_collect as gae_post_collect,
)
from ._base import (
    AbstractAlgorithm as AbstractAlgorithm,
    AbstractAlgorithmState as AbstractAlgorithmState,
    AbstractStepState as AbstractStepState,
)
from ._driver import run_on_policy as run_on_policy
from ._guard import raise_if_faulted as raise_if_faulted
from ._hyperparameter import hyperparameter as hyperparameter
from ._kl_adaptive import KLAdaptiveLR as KLAdaptiveLR
from ._multi_agent import (
    IPPO as IPPO,
    MAPPO as MAPPO,
    AbstractMultiAgentPPO as AbstractMultiAgentPPO,
)
from ._nonfinite import (
    NonFiniteError as NonFiniteError,
    guarded_update as guarded_update,
)
from ._objective import (
    AbstractDriftObjective as AbstractDriftObjective,
    AbstractPolicyObjective as AbstractPolicyObjective,
    AbstractStatefulObjective as AbstractStatefulObjective,
    ObjectiveInputs as ObjectiveInputs,
)
from ._objectives import (
    DPO as DPO,
    SPO as SPO,
    ClippedSurrogate as ClippedSurrogate,
    KLPenalty as KLPenalty,
    LearnedDrift as LearnedDrift,
)
from ._on_policy import AbstractOnPolicyAlgorithm as AbstractOnPolicyAlgorithm
from ._on_policy_state import (
    AbstractOnPolicyState as AbstractOnPolicyState,
    AbstractOnPolicyStepState as AbstractOnPolicyStepState,
    OnPolicyState as OnPolicyState,
    OnPolicyStepState as OnPolicyStepState,
)
from ._ppo import PPO as PPO
from ._ppo_loss import PPOStats as PPOStats
from ._pqn import PQN as PQN, q_step as q_step
from ._reward_scaling import RewardNormalizerState as RewardNormalizerState
from ._scan import filter_scan as filter_scan

__all__ = [
    "A2C",
    "DPO",
    "SPO",
    "AbstractActorCriticAlgorithm",
    "AbstractAlgorithm",
    "AbstractAlgorithmState",
    "AbstractMultiAgentPPO",
    "AbstractDriftObjective",
    "AbstractOnPolicyAlgorithm",
    "AbstractOnPolicyState",
    "AbstractOnPolicyStepState",
    "AbstractPolicyObjective",
    "AbstractStatefulObjective",
    "AbstractStepState",
    "IPPO",
    "MAPPO",
    "ClippedSurrogate",
    "KLPenalty",
    "LearnedDrift",
    "KLAdaptiveLR",
    "NonFiniteError",
    "ObjectiveInputs",
    "OnPolicyState",
    "OnPolicyStepState",
    "PPO",
    "PPOStats",
    "PQN",
    "RewardNormalizerState",
    "actor_critic_step",
    "evaluate_buffer",
    "explained_variance",
    "filter_scan",
    "gae_post_collect",
    "guarded_update",
    "hyperparameter",
    "q_step",
    "raise_if_faulted",
    "run_on_policy",
]
