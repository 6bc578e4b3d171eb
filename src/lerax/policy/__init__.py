"""Policies: maps from observations to actions (and, for actor-critics, values).

Every policy is an Equinox module taking one unbatched observation; batch with
`jax.vmap`. Policies save and load with `serialize` / `deserialize`, which check
a structural fingerprint before loading any weights.

The built-in policies are final classes on two shared bases:
`AbstractFeedForwardActorCriticPolicy` (a trunk, then an actor and a critic head:
`MLPActorCriticPolicy`, `CNNActorCriticPolicy`) and
`AbstractRecurrentActorCriticPolicy` (an encoder, a recurrent cell, two heads:
`GRUActorCriticPolicy`, `LSTMActorCriticPolicy`, and MAPPO's
`GRUCentralCriticPolicy`). The abstract classes have no
dataclass fields of their own, so a concrete class's field order, and with it the
structure of its saved files, is the order it declares. Value-based algorithms
(`lerax.algorithm.PQN`) train an `AbstractQPolicy` (`MLPQPolicy`,
`CNNQPolicy`, `GRUQPolicy`), which acts greedily; `EpsilonGreedyPolicy`
wraps one to explore. `MLPPrivilegedCriticPolicy` (on
`AbstractPrivilegedActorCriticPolicy`) is the asymmetric actor-critic: its
critic reads the environment's critic observation in training
(`PrivilegedObservation`), its actor only the observation.
"""

from ._base import (
    AbstractActorCriticPolicy as AbstractActorCriticPolicy,
    AbstractPolicy as AbstractPolicy,
    AbstractPolicyState as AbstractPolicyState,
    NullPolicyState as NullPolicyState,
)
from ._central_critic import MLPCentralCriticPolicy as MLPCentralCriticPolicy
from ._cnn import CNNActorCriticPolicy as CNNActorCriticPolicy
from ._feedforward import (
    AbstractFeedForwardActorCriticPolicy as AbstractFeedForwardActorCriticPolicy,
)
from ._guard import check_env_and_policy as check_env_and_policy
from ._load import load as load
from ._mlp import MLPActorCriticPolicy as MLPActorCriticPolicy
from ._normalization import RunningMeanStd as RunningMeanStd
from ._per_agent import PerAgentPolicy as PerAgentPolicy
from ._privileged import (
    AbstractPrivilegedActorCriticPolicy as AbstractPrivilegedActorCriticPolicy,
    MLPPrivilegedCriticPolicy as MLPPrivilegedCriticPolicy,
    PrivilegedObservation as PrivilegedObservation,
    check_critic_observation as check_critic_observation,
)
from ._q import (
    AbstractQPolicy as AbstractQPolicy,
    CNNQPolicy as CNNQPolicy,
    EpsilonGreedyPolicy as EpsilonGreedyPolicy,
    GRUQPolicy as GRUQPolicy,
    MLPQPolicy as MLPQPolicy,
    epsilon_greedy as epsilon_greedy,
    masked_q_values as masked_q_values,
)
from ._recurrent import (
    AbstractRecurrentActorCriticPolicy as AbstractRecurrentActorCriticPolicy,
    GRUActorCriticPolicy as GRUActorCriticPolicy,
    LSTMActorCriticPolicy as LSTMActorCriticPolicy,
    RecurrentPolicyState as RecurrentPolicyState,
)
from ._recurrent_central_critic import (
    GRUCentralCriticPolicy as GRUCentralCriticPolicy,
)
from ._value_normalization import NormalizedValueMLP as NormalizedValueMLP

__all__ = [
    "AbstractActorCriticPolicy",
    "AbstractFeedForwardActorCriticPolicy",
    "AbstractPolicy",
    "AbstractPolicyState",
    "AbstractPrivilegedActorCriticPolicy",
    "AbstractQPolicy",
    "AbstractRecurrentActorCriticPolicy",
    "CNNActorCriticPolicy",
    "CNNQPolicy",
    "EpsilonGreedyPolicy",
    "GRUActorCriticPolicy",
    "GRUCentralCriticPolicy",
    "GRUQPolicy",
    "LSTMActorCriticPolicy",
    "MLPActorCriticPolicy",
    "MLPCentralCriticPolicy",
    "MLPPrivilegedCriticPolicy",
    "MLPQPolicy",
    "NormalizedValueMLP",
    "NullPolicyState",
    "PerAgentPolicy",
    "PrivilegedObservation",
    "RecurrentPolicyState",
    "RunningMeanStd",
    "check_critic_observation",
    "check_env_and_policy",
    "epsilon_greedy",
    "load",
    "masked_q_values",
]
